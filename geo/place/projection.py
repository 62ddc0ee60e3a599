"""The one projection helper: every distance, area and buffer is measured here.

Geometries are stored in lon-lat (settings.STORAGE_CRS); metres only exist in a
metric CRS. Coverage, networks and siting call ``to_metric`` on the way in and
``to_storage`` on the way out, so no module ever buffers degrees.

Which metric CRS: the UTM zone that holds the data (``metric_crs_for``), chosen
once per plan from its centroid. A fixed zone is only right near its central
meridian: UTM 48N (settings.METRIC_CRS, the fallback and the demo's zone) at
117°E (Beijing) stretches distances by about 1.3 %, at 120°E by 2 %. UTM's
6° zones keep the scale error under 0.1 % everywhere a street can be; a
city that measures in CGCS2000 3° Gauss–Krüger passes that CRS as ``crs``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer

from geo import settings
from geo.errors import ValidationError


def utm_crs(lon: float, lat: float) -> str:
    """The UTM zone holding ``(lon, lat)`` as an EPSG code (326xx north, 327xx south)."""
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90:
        raise ValidationError(f"not a longitude/latitude: {lon}, {lat}")
    zone = int((float(lon) + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def metric_crs_for(gdf: gpd.GeoDataFrame | None) -> str:
    """The metric CRS for measuring ``gdf``: the UTM zone of its centre (fallback: settings)."""
    if gdf is None or not len(gdf) or gdf.crs is None:
        return settings.METRIC_CRS
    x0, y0, x1, y1 = gdf.total_bounds
    if not np.isfinite([x0, y0, x1, y1]).all():
        return settings.METRIC_CRS
    if not CRS(gdf.crs).is_geographic:
        x0, y0, x1, y1 = _transformer(str(gdf.crs), settings.STORAGE_CRS).transform_bounds(x0, y0, x1, y1)
    return utm_crs((x0 + x1) / 2, (y0 + y1) / 2)


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(gdf: gpd.GeoDataFrame, *, what: str = "layer", crs: str | None = None) -> gpd.GeoDataFrame:
    """``gdf`` in ``crs`` (default settings.METRIC_CRS); refuses data without a CRS
    (we cannot guess degrees vs metres)."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise ValidationError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise ValidationError(f"{what} has no CRS; set one (lon-lat is EPSG:4326) before measuring")
    crs = crs or settings.METRIC_CRS
    if CRS(gdf.crs) == CRS(crs):
        return gdf
    return gdf.to_crs(crs)


def to_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` back in lon-lat for storing and drawing."""
    if gdf.crs is not None and CRS(gdf.crs) == CRS(settings.STORAGE_CRS):
        return gdf
    return gdf.to_crs(settings.STORAGE_CRS)


def lonlat_to_metric(lon, lat, *, crs: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of lon/lat → metric x/y (for points kept as columns, e.g. entrances)."""
    tf = _transformer(settings.STORAGE_CRS, crs or settings.METRIC_CRS)
    x, y = tf.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def metric_to_lonlat(x, y, *, crs: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    tf = _transformer(crs or settings.METRIC_CRS, settings.STORAGE_CRS)
    lon, lat = tf.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def padded_box(bounds: Iterable[Sequence[float]], pad_m: float) -> tuple[float, ...] | None:
    """The lon-lat box (x0, y0, x1, y1) around every finite ``bounds``, grown by at least ``pad_m`` metres each way
    (a degree of latitude is at least 110.5 km; a degree of longitude measured at the edge nearer the pole)."""
    boxes = np.array([b for b in bounds if np.isfinite(b).all()], float).reshape(-1, 4)
    if not len(boxes):
        return None
    x0, y0 = boxes[:, :2].min(axis=0)
    x1, y1 = boxes[:, 2:].max(axis=0)
    dlat = pad_m / 110_500.0
    dlon = pad_m / (111_320.0 * max(0.01, np.cos(np.radians(min(89.0, max(abs(y0), abs(y1)) + dlat)))))
    return (float(x0 - dlon), float(y0 - dlat), float(x1 + dlon), float(y1 + dlat))
