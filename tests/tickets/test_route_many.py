"""Bulk routing (route_many): the same answers as the single-point ``route``, row for row, on both backends:
a shared edge (smallest code, "boundary"), 10 m outside the street (snapped, ≈10 m), 60 m outside
("outside"), coordinates that are no lon-lat ("invalid"), and 2,000 random points across the town."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import settings
from geo.errors import OutsideAreaError, ValidationError
from geo.place import projection
from geo.tickets import routing, service as ts


def as_routing(row) -> ts.Routing | str:
    """A route_many row as route's answer (a Routing), or the flag where route refuses."""
    if row.flag in (routing.OUTSIDE, routing.INVALID):
        assert pd.isna(row.grid_id) and pd.isna(row.community_id) and math.isnan(row.distance_m)
        return row.flag
    return ts.Routing(int(row.grid_id), int(row.community_id), int(row.street_id), row.flag, float(row.distance_m),
                      workflow=row.workflow)


def single(engine, lon: float, lat: float) -> ts.Routing | str:
    try:
        return ts.route(engine, lon, lat)
    except OutsideAreaError:
        return routing.OUTSIDE
    except ValidationError:
        return routing.INVALID


def assert_same(engine, lon, lat) -> pd.DataFrame:
    many = ts.route_many(engine, lon, lat)
    assert list(many.columns) == list(routing.COLUMNS) and len(many) == len(lon)
    for i, row in enumerate(many.itertuples()):
        got, want = as_routing(row), single(engine, lon[i], lat[i])
        assert got == want, (i, lon[i], lat[i], got, want)
        if isinstance(want, ts.Routing):  # Routing's == leaves the loop out
            assert got.workflow == want.workflow
    return many


def two_grid_vertex(grids: list[dict]) -> tuple[tuple[float, float], list[dict]]:
    """A vertex on the edge shared by exactly two grids (not a corner of three)."""
    owners: dict[tuple[float, float], list[dict]] = {}
    for g in grids:
        for c in set(g["geom"].exterior.coords):
            owners.setdefault(c, []).append(g)
    return next((c, o) for c, o in sorted(owners.items()) if len(o) == 2)


def outside_by(grids: list[dict], metres: float) -> tuple[float, float, float]:
    """A point ``metres`` outside the town's outer edge (off the middle of its longest side); its lon, lat and
    its true distance to the nearest grid, measured as route measures."""
    metric = projection.to_metric(gpd.GeoDataFrame(geometry=[g["geom"] for g in grids], crs=settings.STORAGE_CRS))
    town = shapely.union_all(metric.geometry.to_numpy())
    ring = np.asarray(town.exterior.coords)
    k = int(np.argmax(np.hypot(*np.diff(ring, axis=0).T)))
    (x0, y0), (x1, y1) = ring[k], ring[k + 1]
    mx, my, length = (x0 + x1) / 2, (y0 + y1) / 2, math.hypot(x1 - x0, y1 - y0)
    nx, ny = (y1 - y0) / length, -(x1 - x0) / length
    if town.covers(shapely.Point(mx + nx, my + ny)):  # the other side is outward
        nx, ny = -nx, -ny
    p = shapely.Point(mx + nx * metres, my + ny * metres)
    lon, lat = projection.metric_to_lonlat([p.x], [p.y])
    return float(lon[0]), float(lat[0]), float(shapely.distance(metric.geometry.to_numpy(), p).min())


def test_shared_edge_goes_to_the_smaller_code_flagged(engine, small_town):
    (lon, lat), owners = two_grid_vertex(small_town["grid"])
    assert all(o["geom"].covers(shapely.Point(lon, lat)) for o in owners)
    many = assert_same(engine, [lon], [lat])
    assert many.loc[0, "flag"] == "boundary" and many.loc[0, "distance_m"] == 0.0
    assert many.loc[0, "grid_id"] == min(owners, key=lambda o: o["code"])["id"]
    assert many.loc[0, "grid_id"] != max(owners, key=lambda o: o["code"])["id"]


def test_ten_metres_out_snaps_sixty_metres_out_is_outside(engine, small_town):
    lon10, lat10, d10 = outside_by(small_town["grid"], 10.0)
    lon60, lat60, d60 = outside_by(small_town["grid"], 60.0)
    assert d10 == pytest.approx(10.0, abs=0.01) and d60 == pytest.approx(60.0, abs=0.01)
    many = assert_same(engine, [lon10, lon60], [lat10, lat60])
    assert many.loc[0, "flag"] == "snapped" and many.loc[0, "distance_m"] == pytest.approx(10.0, abs=0.01)
    assert many.loc[1, "flag"] == "outside" and pd.isna(many.loc[1, "grid_id"])


def test_coordinates_that_are_no_lonlat_are_invalid_and_the_batch_goes_on(engine, small_town):
    inside = small_town["grid"][0]["geom"].representative_point()
    lon = [np.nan, 200.0, 104.06, np.inf, inside.x]
    lat = [30.66, 30.66, 95.0, 30.66, inside.y]
    many = assert_same(engine, lon, lat)
    assert many["flag"].tolist() == ["invalid"] * 4 + [None]
    assert many["grid_id"].isna().tolist() == [True] * 4 + [False]
    assert many.loc[4, "grid_id"] == small_town["grid"][0]["id"]
    nothing = ts.route_many(engine, [np.nan], [np.nan])  # no valid point: no box to read, no error
    assert nothing["flag"].tolist() == ["invalid"]


def test_two_thousand_random_points_agree_with_route_row_for_row(engine, small_town):
    x0, y0, x1, y1 = shapely.union_all([g["geom"] for g in small_town["grid"]]).bounds
    rng = np.random.default_rng(15)
    pad = 0.0008  # ~80 m past the town's box: some snapped, some outside
    lon = rng.uniform(x0 - pad, x1 + pad, 2000)
    lat = rng.uniform(y0 - pad, y1 + pad, 2000)
    with engine.connect() as conn:  # a Connection, as route takes inside a caller's transaction
        many = ts.route_many(conn, lon, lat)
    flags = many["flag"].fillna("inside").value_counts()
    assert flags["inside"] > 500 and flags["snapped"] > 10 and flags["outside"] > 100
    assert set(many.loc[many["workflow"].notna(), "workflow"]) == {"erqi"}  # the town's other loop, carried
    assert (many["flag"] == "snapped").eq(many["distance_m"] > 0).all()
    assert many["distance_m"].max() <= ts.ROUTING_TOLERANCE_M
    assert_same(engine, lon, lat)


@pytest.mark.postgis
def test_on_postgis_a_sparse_batch_reads_only_the_grids_near_its_points(postgis_url, small_town, monkeypatch):
    """Two orders at opposite corners of the town: PostGIS finds the grids near each point (one join of the
    points against the grid index) and hands only those to the router, not every grid of the box between
    them; the answers stay route's."""
    grids = sorted(small_town["grid"], key=lambda g: g["geom"].centroid.x + g["geom"].centroid.y)
    a, b = grids[0]["geom"].representative_point(), grids[-1]["geom"].representative_point()
    handed = []
    real = routing.route_points
    monkeypatch.setattr(routing, "route_points", lambda g, *a, **k: handed.append(len(g)) or real(g, *a, **k))
    from geo.db import store

    engine = store.make_engine(postgis_url)
    store.load_town(engine, small_town)
    many = assert_same(engine, [a.x, b.x], [a.y, b.y])
    engine.dispose()
    assert many["grid_id"].tolist() == [grids[0]["id"], grids[-1]["id"]]
    assert handed and handed[0] <= 10 < len(grids), (handed, len(grids))  # each point and its neighbours only


# --------------------------------------------------------------------------- the array core, no database

def squares(codes=("B", "A"), empty_code=None) -> gpd.GeoDataFrame:
    """Two 0.01° squares side by side (west code B, east code A), in community 1 and 2."""
    geoms = [shapely.box(104.00, 30.00, 104.01, 30.01), shapely.box(104.01, 30.00, 104.02, 30.01)]
    rows = dict(id=[10, 20], code=list(codes), community_id=[1, 2], street_id=[7, 7], workflow=[None, "erqi"])
    if empty_code:
        geoms.append(shapely.Polygon())
        for k, v in dict(id=30, code=empty_code, community_id=3, street_id=7, workflow=None).items():
            rows[k].append(v)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=settings.STORAGE_CRS)


def test_route_points_on_two_squares():
    """Inside B (west), on the shared edge (A, the smaller code), 0.0001° north of A (≈11 m, snapped),
    0.0002° east of A (≈19 m, snapped), 0.001° east (≈96 m, outside), a latitude past the pole (invalid);
    the emptied grid "0" (retired: no land) holds nothing although its code is the smallest."""
    lon = [104.005, 104.01, 104.0150, 104.0202, 104.021, 104.005]
    lat = [30.005, 30.005, 30.0101, 30.005, 30.005, -91.0]
    out = routing.route_points(squares(empty_code="0"), lon, lat, tolerance_m=30.0)
    assert out["grid_id"].tolist() == [10, 20, 20, 20, pd.NA, pd.NA]
    assert out["community_id"].tolist() == [1, 2, 2, 2, pd.NA, pd.NA]
    assert out["flag"].tolist() == [None, "boundary", "snapped", "snapped", "outside", "invalid"]
    assert out["workflow"].tolist() == [None, "erqi", "erqi", "erqi", None, None]
    assert out["distance_m"].tolist()[:2] == [0.0, 0.0] and out["distance_m"].isna().tolist()[4:] == [True, True]
    assert out.loc[2, "distance_m"] == pytest.approx(11.1, abs=0.2)
    assert out.loc[3, "distance_m"] == pytest.approx(19.3, abs=0.3)
    # a tolerance of 15 m keeps the first snap and drops the second
    assert routing.route_points(squares(), lon, lat, tolerance_m=15.0)["flag"].tolist()[2:4] == ["snapped", "outside"]


def test_a_grid_28_metres_away_is_found_in_the_north_too():
    """At 45°N (Harbin) 1° of longitude is 79 km: a point 0.00035° east of the squares is 27.5 m out and
    snaps; the search box once assumed 90 km per degree and found no grid there."""
    north = squares().set_geometry(squares().geometry.translate(yoff=15.0))
    out = routing.route_points(north, [104.02035], [45.005], tolerance_m=30.0)
    assert out.loc[0, "flag"] == "snapped" and out.loc[0, "grid_id"] == 20
    assert out.loc[0, "distance_m"] == pytest.approx(27.5, abs=0.5)


def test_route_points_equal_distances_go_to_the_smaller_code():
    """A point due south of the shared edge is equally near both squares: A (east, the smaller code) wins."""
    out = routing.route_points(squares(), [104.01], [29.9999], tolerance_m=30.0)
    assert out.loc[0, "grid_id"] == 20 and out.loc[0, "flag"] == "snapped"
    out = routing.route_points(squares(codes=("A", "B")), [104.01], [29.9999], tolerance_m=30.0)
    assert out.loc[0, "grid_id"] == 10
