"""Bulk routing: many reported points to their grids at once, by the desk's own rule.

The rule is ``geo.tickets.service.route``'s, point for point:

- a point covered by one grid (boundary included) goes to it;
- a point covered by several (on a shared edge or corner) goes to the grid with the smallest
  code, flagged ``"boundary"``;
- a point outside every grid but within ``tolerance_m`` of one goes to the nearest (metres in
  geo.place.projection's metric CRS; equal distances: the smallest code), flagged ``"snapped"``
  with its distance. The candidates are the grids meeting a box of ``pad_degrees(tolerance_m)``
  around the point, as ``route`` reads them;
- anything farther is ``"outside"``, a coordinate that is no longer/latitude ``"invalid"``;
  neither raises: a batch keeps its other points.

``route_points`` is the array core over grids held in memory (a GeoDataFrame); ``service.route_many``
reads the grids near the points from the database and calls it, and bench/routing_bench.py times
this same function against geopandas ``sjoin``. Whole-array shapely calls only: the covering step is
one STRtree query of the grids against a tree of the points (each grid prepared once, as geopandas
does for ``within``); the snapping step runs on the few points left over, again in one query.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.errors import ValidationError
from geo.place import projection

#: Flags of a routed point (None: inside exactly one grid).
BOUNDARY, SNAPPED, OUTSIDE, INVALID = "boundary", "snapped", "outside", "invalid"
#: The frame ``route_points`` returns, one row per input point in input order.
COLUMNS = ("grid_id", "community_id", "street_id", "flag", "distance_m", "workflow")
#: The grid columns ``route_points`` reads (plus the geometry, lon-lat).
GRID_COLUMNS = ("id", "code", "community_id", "street_id", "workflow")


def pad_degrees(tolerance_m: float) -> float:
    """Half the side of the box searched for a grid to snap to, in degrees: wide enough everywhere in
    China (1° of longitude is 96 km at 30°N but 65 km at 54°N, Mohe; a box of tolerance / 90 km, used
    before, missed a grid 28 m away in Harbin or Beijing)."""
    return tolerance_m / 60_000


def valid_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which pairs are a longitude and a latitude at all (finite, within ±180 / ±90)."""
    return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)


def as_arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """``lon`` and ``lat`` as float arrays of one length (text that is no number refused)."""
    try:
        x, y = np.asarray(lon, dtype=float).ravel(), np.asarray(lat, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValidationError("经纬度须为数字 / longitude and latitude must be numbers") from None
    if x.shape != y.shape:
        raise ValidationError(f"经度 {len(x)} 个、纬度 {len(y)} 个，数量须相同 / lon and lat differ in length")
    return x, y


def route_points(grids: gpd.GeoDataFrame, lon, lat, *, tolerance_m: float) -> pd.DataFrame:
    """Each point's grid, community, street, flag, distance and the community's ticket loop.

    ``grids``: columns GRID_COLUMNS and lon-lat polygons (every grid that may hold or be near a
    point; a grid with no geometry, as a retired one, holds nothing). Returns COLUMNS, one row per
    point, in order; ``grid_id`` is NA for points ``"outside"`` or ``"invalid"``.
    """
    x, y = as_arrays(lon, lat)
    missing = [c for c in GRID_COLUMNS if c not in grids.columns]
    if missing:
        raise ValidationError(f"grids lack columns: {', '.join(missing)}")
    geoms = grids.geometry.to_numpy()  # empty or missing ones: the trees skip them
    codes = grids["code"].to_numpy()
    n = len(x)
    valid = valid_lonlat(x, y)
    best = np.full(n, -1)  # row of ``grids``, -1: none
    covering = np.zeros(n, dtype=np.int64)
    distance = np.full(n, np.nan)
    ok = np.flatnonzero(valid)
    if len(ok) and len(grids):
        found, covering[ok] = _covering(geoms, codes, x[ok], y[ok])
        best[ok] = found
        distance[ok[found >= 0]] = 0.0
        rest = ok[found < 0]
        if len(rest):
            best[rest], distance[rest] = _snap(geoms, codes, x[rest], y[rest], tolerance_m)
    return _frame(grids, best, covering, distance, valid)


def _covering(geoms: np.ndarray, codes: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: the covering grid with the smallest code (-1: none) and how many cover it. A tree over
    the points queried by each grid, prepared once (cheaper than a tree over the grids queried by each
    point: geopandas' sjoin answers "within" the same way)."""
    # for a point, "intersects" a polygon is "covered by" it (inside or on its edge), and GEOS answers it
    # faster than "covers"
    gi, pi = shapely.STRtree(shapely.points(x, y)).query(geoms, predicate="intersects")
    count = np.bincount(pi, minlength=len(x))
    best = np.full(len(x), -1)
    best[pi] = gi  # right where one grid covers the point; the few on an edge are settled next
    several = count[pi] > 1
    if several.any():
        g, p = gi[several], pi[several]
        best[np.unique(p)] = _first_per_point(p, _code_rank(codes, g), g)
    return best, count


def _snap(geoms: np.ndarray, codes: np.ndarray, x: np.ndarray, y: np.ndarray,
          tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """For points outside every grid: the nearest grid within ``tolerance_m`` (-1: none) and its distance
    in metres (NaN: none). Candidates and measure as ``service.route``'s: the grids meeting the point's
    box of pad_degrees, measured in geo.place.projection's metric CRS."""
    best, dist = np.full(len(x), -1), np.full(len(x), np.nan)
    pad = pad_degrees(tolerance_m)
    boxes = shapely.box(x - pad, y - pad, x + pad, y + pad)
    gi, pi = shapely.STRtree(boxes).query(geoms)  # the few boxes in a tree: each grid looks itself up
    meets = shapely.intersects(geoms[gi], boxes[pi])
    gi, pi = gi[meets], pi[meets]
    if not len(pi):
        return best, dist
    cand, at = np.unique(gi, return_inverse=True)
    metric = projection.to_metric(gpd.GeoDataFrame(geometry=geoms[cand], crs=settings.STORAGE_CRS))
    mx, my = projection.lonlat_to_metric(x, y)
    d = shapely.distance(metric.geometry.to_numpy()[at], shapely.points(mx[pi], my[pi]))
    order = np.lexsort((_code_rank(codes, gi), d, pi))  # per point: nearest first, then the smallest code
    first = order[np.r_[True, pi[order][1:] != pi[order][:-1]]]
    take = first[d[first] <= tolerance_m]
    best[pi[take]] = gi[take]
    dist[pi[take]] = d[take]
    return best, dist


def _code_rank(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For grid ``rows``: their codes' order among themselves (smaller code, smaller rank)."""
    u, at = np.unique(rows, return_inverse=True)
    rank = np.empty(len(u), dtype=np.int64)
    rank[np.argsort(codes[u].astype(str), kind="stable")] = np.arange(len(u))
    return rank[at]


def _first_per_point(points: np.ndarray, key: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For pairs (point, row): each point's row of the smallest ``key``, in the order of ``np.unique(points)``."""
    order = np.lexsort((key, points))
    lead = order[np.r_[True, points[order][1:] != points[order][:-1]]]
    return rows[lead]


def _frame(grids: gpd.GeoDataFrame, best: np.ndarray, covering: np.ndarray, distance: np.ndarray,
           valid: np.ndarray) -> pd.DataFrame:
    found = best >= 0
    at = np.where(found, best, 0)

    def column(name: str) -> pd.arrays.IntegerArray:
        values = grids[name].to_numpy(dtype=np.int64)[at] if len(grids) else np.zeros(len(best), dtype=np.int64)
        return pd.arrays.IntegerArray(values, ~found)

    flag = np.full(len(best), None, dtype=object)
    flag[covering > 1] = BOUNDARY
    flag[found & (covering == 0)] = SNAPPED
    flag[valid & ~found] = OUTSIDE
    flag[~valid] = INVALID
    rows, back = np.unique(best, return_inverse=True)  # the loop of each grid found (NaN or "": the default)
    per_row = np.array([None] + [k if isinstance(k, str) and k else None
                                 for k in grids["workflow"].to_numpy(dtype=object)[rows[rows >= 0]]], dtype=object)
    loops = per_row[back + (0 if len(rows) and rows[0] < 0 else 1)]
    return pd.DataFrame({
        "grid_id": column("id"), "community_id": column("community_id"), "street_id": column("street_id"),
        "flag": pd.Series(flag, dtype=object), "distance_m": distance,  # object: None stays None (inside;
        "workflow": pd.Series(loops, dtype=object),                         # the default loop), as in Routing
    })
