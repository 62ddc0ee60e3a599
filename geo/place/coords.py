"""China's map coordinates: WGS 84 / CGCS2000 ↔ GCJ-02 (Gaode/AMap, Tencent) ↔ BD-09 (Baidu).

Official data is in CGCS2000, within centimetres of WGS 84, and that is what
the store holds. Gaode and Tencent tiles are drawn in GCJ-02, a datum
deliberately offset from WGS 84 by a few hundred metres inside China, so data
laid over them must be shifted first and a click on them shifted back. The
conversion is the published one (Krasovsky ellipsoid a = 6378245.0,
ee = 0.00669342162296594323, DOMAIN.md "Coordinates") and applies only inside
China's bounding box; outside it GCJ-02 equals WGS 84.

BD-09 (Baidu) is GCJ-02 turned and stretched a little more and moved by the
Baidu offsets 0.0065 / 0.006 (DOMAIN.md). Its published inverse is a one-step
approximation off by up to ~1 m; here both inverses are iterated until they
undo the forward formula to well under a millimetre, so a round trip
WGS 84 → BD-09 → WGS 84 comes back within 1 cm (tests/place/test_coords.py).

Everything is vectorised over numpy arrays; ``to_gcj02`` / ``to_wgs84`` (and
``convert`` between any two datums) shift whole geometries (any type) with shapely.
"""
from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike

A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
#: lon/lat box outside which GCJ-02 is WGS 84 (the rule every implementation uses)
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
#: Inverse iterations: each one shrinks the error about a thousandfold; 3 reach < 1 mm.
INVERSE_ROUNDS = 3
#: Baidu's constants: the angle factor x_pi = π·3000/180 and the offsets in degrees.
X_PI = np.pi * 3000.0 / 180.0
BD_DLON, BD_DLAT = 0.0065, 0.006
#: The datums a file may be in (what ``convert`` takes): CGCS2000 is stored unchanged as WGS 84.
DATUMS = ("wgs84", "gcj02", "bd09")


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where (lon, lat) lies inside the box where GCJ-02 differs from WGS 84."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    x0, y0, x1, y1 = CHINA_BOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS 84 in degrees at (lon, lat), zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
             + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
             + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (A / sqrt_magic * np.cos(rad) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, d_lon, 0.0), np.where(inside, d_lat, 0.0)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 (or CGCS2000) longitude/latitude → GCJ-02."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    d_lon, d_lat = _offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84, by fixed-point iteration (the offset changes slowly with position)."""
    g_lon, g_lat = np.asarray(lon, float), np.asarray(lat, float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(INVERSE_ROUNDS):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        w_lon, w_lat = w_lon - (f_lon - g_lon), w_lat - (f_lat - g_lat)
    return w_lon, w_lat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (Baidu), the published forward formula."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + BD_DLON, z * np.sin(theta) + BD_DLAT


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02: the published one-step inverse, then refined by fixed-point rounds
    against the forward formula (the one-step inverse alone is off by up to ~1 m)."""
    b_lon, b_lat = np.asarray(lon, float), np.asarray(lat, float)
    x, y = b_lon - BD_DLON, b_lat - BD_DLAT
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(INVERSE_ROUNDS):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        g_lon, g_lat = g_lon - (f_lon - b_lon), g_lat - (f_lat - b_lat)
    return g_lon, g_lat


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 (or CGCS2000) → BD-09, through GCJ-02. Outside China only the Baidu part applies,
    as Baidu's own API does."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS 84 (what the store holds), through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_CONVERSIONS = {
    ("gcj02", "wgs84"): gcj02_to_wgs84, ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("bd09", "wgs84"): bd09_to_wgs84, ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02, ("gcj02", "bd09"): gcj02_to_bd09,
}


def convert_lonlat(lon: ArrayLike, lat: ArrayLike, src: str, dst: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Arrays of lon/lat from datum ``src`` to ``dst`` (each one of DATUMS)."""
    for d in (src, dst):
        if d not in DATUMS:
            raise ValueError(f"unknown datum {d!r}; known: {', '.join(DATUMS)}")
    if src == dst:
        return np.asarray(lon, float), np.asarray(lat, float)
    return _CONVERSIONS[(src, dst)](lon, lat)


def convert(geoms, src: str, dst: str = "wgs84"):
    """Shapely geometry or array of geometries from datum ``src`` to ``dst`` (e.g. a Baidu file to the store)."""
    if src == dst:
        return geoms
    return _shift(geoms, lambda x, y: convert_lonlat(x, y, src, dst))


def _shift(geoms, fn):
    def move(xy: np.ndarray) -> np.ndarray:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    return shapely.transform(geoms, move)


def to_gcj02(geoms):
    """Shapely geometry or array of geometries, WGS 84 → GCJ-02 (for Gaode/Tencent tiles)."""
    return _shift(geoms, wgs84_to_gcj02)


def to_wgs84(geoms):
    """Shapely geometry or array of geometries, GCJ-02 → WGS 84 (what the store holds)."""
    return _shift(geoms, gcj02_to_wgs84)
