"""The one projection helper: every distance, area and buffer is measured here.

Geometries are stored in lon-lat (settings.STORAGE_CRS); metres only exist in
settings.METRIC_CRS. Coverage, networks and siting call ``to_metric`` on the
way in and ``to_storage`` on the way out, so no module ever buffers degrees.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer

from geo import settings
from geo.errors import ValidationError


def to_metric(gdf: gpd.GeoDataFrame, *, what: str = "layer") -> gpd.GeoDataFrame:
    """``gdf`` in the metric CRS; refuses data without a CRS (we cannot guess degrees vs metres)."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise ValidationError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise ValidationError(f"{what} has no CRS; set one (lon-lat is EPSG:4326) before measuring")
    if CRS(gdf.crs) == CRS(settings.METRIC_CRS):
        return gdf
    return gdf.to_crs(settings.METRIC_CRS)


def to_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` back in lon-lat for storing and drawing."""
    if gdf.crs is not None and CRS(gdf.crs) == CRS(settings.STORAGE_CRS):
        return gdf
    return gdf.to_crs(settings.STORAGE_CRS)


def lonlat_to_metric(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of lon/lat → metric x/y (for points kept as columns, e.g. entrances)."""
    tf = Transformer.from_crs(settings.STORAGE_CRS, settings.METRIC_CRS, always_xy=True)
    x, y = tf.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def metric_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    tf = Transformer.from_crs(settings.METRIC_CRS, settings.STORAGE_CRS, always_xy=True)
    lon, lat = tf.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
