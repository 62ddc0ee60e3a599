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
    """Half the side of the box searched for a grid to snap to: generous in degrees at Chinese
    latitudes (1° of latitude ≈ 111 km; of longitude ≈ 96 km at 30°N)."""
    return tolerance_m / 90_000


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
    n = len(x)
    grids = _usable(grids)
    geoms = grids.geometry.to_numpy()
    best = np.full(n, -1)  # position in ``grids`` (sorted by code), -1: none
    covering = np.zeros(n, dtype=np.int64)
    distance = np.full(n, np.nan)
    ok = np.flatnonzero(valid_lonlat(x, y))
    if len(ok) and len(grids):
        gi, pi = shapely.STRtree(shapely.points(x[ok], y[ok])).query(geoms, predicate="covers")
        covering[ok] = np.bincount(pi, minlength=len(ok))
        first = np.full(len(ok), len(grids))
        np.minimum.at(first, pi, gi)  # the smallest code among the covering grids
        hit = first < len(grids)
        best[ok[hit]] = first[hit]
        distance[ok[hit]] = 0.0
        rest = ok[~hit]
        if len(rest):
            near, dist = _snap(geoms, x[rest], y[rest], tolerance_m)
            best[rest] = near
            distance[rest] = dist
    return _frame(grids, best, covering, distance, valid_lonlat(x, y))


def _usable(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The grids with land, sorted by code (position order = code order: the smallest position wins)."""
    missing = [c for c in GRID_COLUMNS if c not in grids.columns]
    if missing:
        raise ValidationError(f"grids lack columns: {', '.join(missing)}")
    geoms = grids.geometry.to_numpy()
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = grids[keep]
    return out.iloc[np.argsort(out["code"].astype(str).to_numpy(), kind="stable")].reset_index(drop=True)


def _snap(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """For points outside every grid: the nearest grid within ``tolerance_m`` (position, -1: none) and
    its distance in metres (NaN: none). Candidates and measure as ``service.route``'s."""
    best, dist = np.full(len(x), -1), np.full(len(x), np.nan)
    pad = pad_degrees(tolerance_m)
    pi, gi = shapely.STRtree(geoms).query(shapely.box(x - pad, y - pad, x + pad, y + pad), predicate="intersects")
    if not len(pi):
        return best, dist
    cand = np.unique(gi)
    metric = projection.to_metric(gpd.GeoDataFrame(geometry=geoms[cand], crs=settings.STORAGE_CRS))
    mx, my = projection.lonlat_to_metric(x, y)
    d = shapely.distance(metric.geometry.to_numpy()[np.searchsorted(cand, gi)], shapely.points(mx[pi], my[pi]))
    order = np.lexsort((gi, d, pi))  # per point: nearest first, then the smallest code
    first = order[np.r_[True, pi[order][1:] != pi[order][:-1]]]
    take = first[d[first] <= tolerance_m]
    best[pi[take]] = gi[take]
    dist[pi[take]] = d[take]
    return best, dist


def _frame(grids: gpd.GeoDataFrame, best: np.ndarray, covering: np.ndarray, distance: np.ndarray,
           valid: np.ndarray) -> pd.DataFrame:
    found = best >= 0
    at = np.where(found, best, 0)

    def column(name: str) -> pd.Series:
        values = grids[name].to_numpy()[at] if len(grids) else np.zeros(len(best), dtype=np.int64)
        return pd.Series(pd.array(np.where(found, values, 0), dtype="Int64")).where(found, pd.NA)

    flag = np.full(len(best), None, dtype=object)
    flag[covering > 1] = BOUNDARY
    flag[found & (covering == 0)] = SNAPPED
    flag[valid & ~found] = OUTSIDE
    flag[~valid] = INVALID
    per_grid = np.array([k if isinstance(k, str) and k else None for k in grids["workflow"]] + [None],
                        dtype=object)  # NaN or "": the default loop (None); the last: no grid
    loops = per_grid[np.where(found, best, len(grids))]
    return pd.DataFrame({
        "grid_id": column("id"), "community_id": column("community_id"), "street_id": column("street_id"),
        "flag": pd.Series(flag, dtype=object), "distance_m": distance,  # object: None stays None (inside;
        "workflow": pd.Series(loops, dtype=object),                         # the default loop), as in Routing
    })
