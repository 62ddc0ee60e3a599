"""Benchmark: bulk routing (geo.tickets.routing.route_points, the core of service.route_many) against
geopandas ``sjoin(points, grids, predicate="within")``.

    python -m bench.routing_bench                          # 20,000 grids; 10 k, 100 k and 1 M points
    python -m bench.routing_bench --grids 2000 --points 50000   # one quick row

The grids are a realistic tessellation: the Voronoi cells (shapely.voronoi_polygons) of random seeds
over a 30 × 30 km square around Chengdu (104.06°E, 30.66°N), irregular polygons of ~0.045 km² each at
20 k grids, coded in random order. The points are uniform over the square plus ~200 m on every side,
so a few fall just outside (snapped, within 30 m) or far outside.

Both sides start from the same inputs, lon and lat arrays and the grids' GeoDataFrame, and end with
each point's grid: sjoin builds its points frame (points_from_xy) and its tree inside the timing
(geopandas answers "within" with a tree over the points queried by each prepared grid), ours builds
its points and trees inside too, and does more: boundary points (several grids: the smallest code),
snapping within 30 m in metres (UTM), flags, ids of community and street. Each figure is the
minimum of 3 runs in this process (time.perf_counter).

The answers must agree wherever sjoin finds exactly one grid (the script exits 1 if not); the points
sjoin finds in no grid are counted by what route_points says of them (on an edge, snapped, outside).
With ``--url`` (a district or the city in PostGIS) it times service.route_many itself on batches of
12345 orders spread over the whole database: the grids found near each point by one join against the
GiST index, against reading every grid in the batch's bounding box (the path above JOIN_MAX_POINTS),
same answers required.

    python -m bench.routing_bench --url postgresql+psycopg://…/shequ_city

Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo import settings  # noqa: E402
from geo.tickets import routing  # noqa: E402

CENTRE = (104.06, 30.66)
SIDE_M = 30_000.0
EDGE_DEG = 0.002  # points fall this far past the square (≈ 200 m)
TOLERANCE_M = 30.0
REPEAT = 3


def square() -> tuple[float, float, float, float]:
    """The 30 × 30 km square around CENTRE, in degrees."""
    lon, lat = CENTRE
    half_x = SIDE_M / 2 / (111_320 * np.cos(np.radians(lat)))
    half_y = SIDE_M / 2 / 110_574
    return lon - half_x, lat - half_y, lon + half_x, lat + half_y


def tessellation(n: int, seed: int = 15) -> gpd.GeoDataFrame:
    """``n`` irregular grids tiling the square (Voronoi cells of random seeds), coded in random order,
    100 grids to a community, 20 communities to a street."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = square()
    seeds = shapely.multipoints(np.c_[rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    frame = shapely.box(x0, y0, x1, y1)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame)
    codes = rng.permutation(len(cells))
    return gpd.GeoDataFrame({
        "id": np.arange(1, len(cells) + 1), "code": [f"510104{c:06d}" for c in codes],
        "community_id": codes // 100 + 1, "street_id": codes // 2000 + 1, "workflow": None,
    }, geometry=cells, crs=settings.STORAGE_CRS)


def random_points(n: int, seed: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = square()
    return rng.uniform(x0 - EDGE_DEG, x1 + EDGE_DEG, n), rng.uniform(y0 - EDGE_DEG, y1 + EDGE_DEG, n)


def with_sjoin(grids: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=settings.STORAGE_CRS)
    return gpd.sjoin(points, grids[["id", "geometry"]], predicate="within")


def ours(grids: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    return routing.route_points(grids, lon, lat, tolerance_m=TOLERANCE_M)


def best_of(fn, *args) -> tuple[float, object]:
    times, out = [], None
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def compare(joined: pd.DataFrame, routed: pd.DataFrame) -> dict[str, int]:
    """Agreement where sjoin found exactly one grid; what we say of the points it found in none."""
    hits = joined.index.value_counts()
    one = hits.index[hits.to_numpy() == 1].to_numpy()
    theirs = joined.loc[one, "id"].to_numpy()
    mine = routed["grid_id"].to_numpy(dtype="float64", na_value=np.nan)[one]
    none = np.setdiff1d(np.arange(len(routed)), hits.index.to_numpy())
    flags = routed["flag"].iloc[none].fillna("inside").value_counts()
    return dict(one=len(one), agree=int((mine == theirs).sum()), several=int((hits.to_numpy() > 1).sum()),
                none=len(none), boundary=int(flags.get("boundary", 0)), snapped=int(flags.get("snapped", 0)),
                outside=int(flags.get("outside", 0)), inside=int(flags.get("inside", 0)))


def run(grids: gpd.GeoDataFrame, n_points: int) -> dict:
    lon, lat = random_points(n_points)
    sjoin_s, joined = best_of(with_sjoin, grids, lon, lat)
    ours_s, routed = best_of(ours, grids, lon, lat)
    return dict(points=n_points, grids=len(grids), sjoin_s=sjoin_s, ours_s=ours_s, **compare(joined, routed))


def on_database(url: str, batches=(100, 1_000, 10_000)) -> int:
    """route_many on a real database: the join near the points against the bounding-box read."""
    from unittest import mock

    import numpy as np
    from sqlalchemy import select

    from geo.db import store
    from geo.db.schema import Grid
    from geo.tickets import service

    engine = store.make_engine(url)
    ids = store.read_frame(engine, select(Grid.id).where(Grid.geom.is_not(None)))["id"].to_numpy()
    print(f"{len(ids):,} grids in {url.rsplit('/', 1)[-1]}; each figure the minimum of {REPEAT} runs")
    print(f"{'orders':>8} {'ours s':>8} {'box s':>8} {'ours/box':>9}   (ours: the join up to JOIN_MAX_POINTS, then the box)")
    rng = np.random.default_rng(15)
    for n in batches:
        picks = rng.choice(ids, size=min(n, len(ids)), replace=False)  # one order in each of n grids
        g = store.read_layer(engine, Grid, where=Grid.id.in_(picks.tolist()), columns=["id", "geom"])
        pts = g.geometry.representative_point()
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
        join_s, joined = best_of(lambda: service.route_many(engine, x, y))
        with mock.patch.object(service, "JOIN_MAX_POINTS", 0):
            box_s, boxed = best_of(lambda: service.route_many(engine, x, y))
        if not joined.equals(boxed):
            print("MISMATCH between the two paths")
            return 1
        print(f"{n:>8,} {join_s:>8.3f} {box_s:>8.3f} {join_s / box_s:>8.2f}×")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="time service.route_many on this database instead (see above)")
    ap.add_argument("--grids", type=int, default=20_000, help="grids in the tessellation (default 20,000)")
    ap.add_argument("--points", type=int, action="append",
                    help="points to route (repeatable; default 10,000, 100,000 and 1,000,000)")
    args = ap.parse_args(argv)
    if args.url:
        return on_database(args.url)
    t0 = time.perf_counter()
    grids = tessellation(args.grids)
    vertices = int(shapely.get_num_coordinates(grids.geometry.to_numpy()).sum())
    print(f"{len(grids):,} grids (Voronoi cells over {SIDE_M / 1000:.0f} × {SIDE_M / 1000:.0f} km, "
          f"{vertices / len(grids):.1f} vertices each), built in {time.perf_counter() - t0:.1f} s; "
          f"each figure the minimum of {REPEAT} runs; tolerance {TOLERANCE_M:.0f} m")
    print(f"{'points':>10} {'sjoin s':>9} {'ours s':>9} {'ours/sjoin':>10}   agreement where sjoin found one grid;"
          " points sjoin found in none (ours: edge / snapped / outside)")
    problems = 0
    for n in args.points or [10_000, 100_000, 1_000_000]:
        r = run(grids, n)
        problems += r["one"] - r["agree"] + r["inside"]
        print(f"{r['points']:>10,} {r['sjoin_s']:>9.3f} {r['ours_s']:>9.3f} {r['ours_s'] / r['sjoin_s']:>9.2f}×"
              f"   {r['agree']:,}/{r['one']:,} agree; {r['several']:,} in several; {r['none']:,} in none "
              f"({r['boundary']:,} / {r['snapped']:,} / {r['outside']:,})")
    if problems:
        print(f"MISMATCH: {problems} points routed differently from sjoin")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
