"""A door for every building: where coverage counts its people from and which grid it is in.

A building that comes with an entrance keeps it. One without gets the point of its outline
nearest to the nearest walkable line (within geo.coverage.network.SNAP_M): people leave a
building on the side facing the path. One with no line that near falls back to the rule
coverage already uses (geo.coverage.coverage.entrances: a point inside the footprint). A
point-only building is its own door. Which rule gave each door is returned, so the report
can say so.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.coverage import coverage, network
from geo.place import projection


def fill(buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None, *, snap_m: float = network.SNAP_M
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, how) of every building's door; ``how`` is "file", "road", "inside" or "" (none)."""
    geoms = buildings.geometry.values
    lon = pd.to_numeric(buildings.get("entrance_lon"), errors="coerce")
    lat = pd.to_numeric(buildings.get("entrance_lat"), errors="coerce")
    lon = np.full(len(buildings), np.nan) if lon is None else np.asarray(lon, float).copy()
    lat = np.full(len(buildings), np.nan) if lat is None else np.asarray(lat, float).copy()
    how = np.where(np.isfinite(lon) & np.isfinite(lat), "file", "").astype(object)
    points = (shapely.get_type_id(geoms) == 0) & (how == "")
    lon[points], lat[points] = shapely.get_x(geoms[points]), shapely.get_y(geoms[points])
    how[points] = "file"
    todo = np.flatnonzero((how == "") & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if len(todo) and roads is not None and len(roads):
        crs = projection.metric_crs_for(buildings)
        foot = projection.to_metric(buildings.iloc[todo], crs=crs).geometry.values
        lines = projection.to_metric(roads, crs=crs).geometry.values
        tree = shapely.STRtree(lines)
        (which, road), _ = tree.query_nearest(foot, max_distance=snap_m, return_distance=True, all_matches=False)
        if len(which):
            door = shapely.get_point(shapely.shortest_line(shapely.get_exterior_ring(
                shapely.get_geometry(foot[which], 0)), lines[road]), 0)
            x, y = projection.metric_to_lonlat(shapely.get_x(door), shapely.get_y(door), crs=crs)
            rows = todo[which]
            lon[rows], lat[rows], how[rows] = x, y, "road"
    rest = how == ""
    if rest.any():
        x, y, filled = coverage.entrances(pd.Series(lon[rest]), pd.Series(lat[rest]), geoms[rest])
        lon[rest], lat[rest] = x, y
        how[np.flatnonzero(rest)[filled]] = "inside"
    return lon, lat, how.astype(str)
