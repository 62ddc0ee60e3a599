"""Where a layer's coordinates really are: its CRS, Gauss–Krüger zones, and GCJ-02 / BD-09.

What offices hand over, and what is done with it:

- a declared CRS (GeoPackage, Shapefile .prj, GeoJSON ``crs``) is believed and reprojected
  through pyproj, e.g. CGCS2000 3° Gauss–Krüger (EPSG:4513–4533 with the zone number in x,
  4534–4554 without) and 6° (EPSG:4491–4501 / 4502–4512), or Web Mercator (EPSG:3857);
- no CRS (a Shapefile without .prj, an Excel list of points) and coordinates in metres: the
  Gauss–Krüger zone is read from an x with its zone number (8 digits), else each zone near the
  street is tried and the one that lands the layer on the street's other layers is taken, and
  said so; with nothing to compare against, the person is asked to choose;
- longitude/latitude: Gaode/Tencent (GCJ-02) and Baidu (BD-09) coordinates look the same as
  WGS 84 but sit 250–1,400 m off. With ``auto``, each reading (as is, from GCJ-02, from BD-09)
  is scored against the street's other layers (the share of features inside them, and for
  outlines how well the areas agree); a conversion is proposed when it fits clearly better;
- a person may always say which it is (``choice``: wgs84 / gcj02 / bd09 / EPSG:code).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo import settings
from geo.errors import ValidationError
from geo.i18n import t
from geo.place import coords, projection

#: What a person may choose for a layer.
CHOICES = ("auto", "wgs84", "gcj02", "bd09")
#: A datum reading must score this much better than "as is" to be proposed (0–2 scale).
DETECT_MARGIN = 0.05
#: Web Mercator: x/y beyond this many metres are not Gauss–Krüger.
MERCATOR = "EPSG:3857"


class PositionError(ValidationError):
    """A layer whose coordinates cannot be placed; ``key`` and ``params`` give the message."""

    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params
        super().__init__(f"{self.message('zh')} / {self.message('en')}")

    def message(self, lang: str = "zh") -> str:
        return t(f"load.pos_{self.key}", lang).format(**self.params)


@dataclass
class Placement:
    """How a layer was placed: the CRS used (and where it came from) and the datum it was in."""

    crs: str
    source: str  # file / chosen / zone_from_x / zone_matched / lonlat
    datum: str = "wgs84"
    detected: bool = False  # the datum was found by comparing with the street's other layers
    offset_m: float = 0.0  # how far the conversion moved the layer
    scores: dict[str, float] = field(default_factory=dict)

    def message(self, layer_label: str, lang: str = "zh") -> str:
        if self.detected:
            return t("load.pos_detected", lang).format(layer=layer_label, datum=t(f"load.datum_{self.datum}", lang),
                                                       m=self.offset_m)
        if self.source in ("zone_from_x", "zone_matched"):
            return t(f"load.pos_{self.source}", lang).format(layer=layer_label, crs=self.crs,
                                                              name=CRS(self.crs).name)
        if self.datum != "wgs84":
            return t("load.pos_converted", lang).format(layer=layer_label, datum=t(f"load.datum_{self.datum}", lang),
                                                        m=self.offset_m)
        return ""


def gk_epsg(cm: int, *, three: bool, prefixed_zone: int | None = None) -> int:
    """The EPSG code of a CGCS2000 Gauss–Krüger CRS: by central meridian, or by zone with the
    zone number in x (3°: zones 25–45 → 4513–4533, CM 75–135°E → 4534–4554; 6°: zones 13–23 →
    4491–4501, CM 75–135°E → 4502–4512)."""
    if prefixed_zone is not None:
        return (4513 + prefixed_zone - 25) if three else (4491 + prefixed_zone - 13)
    return (4534 + (cm - 75) // 3) if three else (4502 + (cm - 75) // 6)


def _is_lonlat(bounds) -> bool:
    x0, y0, x1, y1 = bounds
    return bool(np.isfinite(bounds).all() and -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90)


def zone_candidates(bounds, ref_lon: float | None) -> list[str]:
    """Gauss–Krüger CRSs that could hold metre coordinates with these bounds."""
    x0, _, x1, _ = bounds
    zone = int(x0 // 1_000_000)
    if zone == int(x1 // 1_000_000) and 25 <= zone <= 45:
        return [f"EPSG:{gk_epsg(0, three=True, prefixed_zone=zone)}"]
    if zone == int(x1 // 1_000_000) and 13 <= zone <= 23:
        return [f"EPSG:{gk_epsg(0, three=False, prefixed_zone=zone)}"]
    if not (0 < x0 and x1 < 1_000_000):
        return [MERCATOR] if abs(x0) < 20_037_509 else []
    if ref_lon is None:
        return []
    three = [cm for cm in range(75, 136, 3) if abs(cm - ref_lon) <= 3]
    six = [cm for cm in range(75, 136, 6) if abs(cm - ref_lon) <= 6]
    return [f"EPSG:{gk_epsg(cm, three=True)}" for cm in three] + [f"EPSG:{gk_epsg(cm, three=False)}" for cm in six]


def place(gdf: gpd.GeoDataFrame, *, choice: str = "auto", reference: gpd.GeoDataFrame | None = None,
          polygons: bool = False) -> tuple[gpd.GeoDataFrame, Placement]:
    """``gdf`` in WGS 84 longitude/latitude and how it got there.

    ``reference``: the street's area outlines already placed (lon-lat), to tell a zone or a
    datum by; ``polygons``: the layer is itself an area layer (scored by overlap too).
    Raises PositionError when the coordinates cannot be placed.
    """
    declared = gdf.attrs.get("crs_declared", True) and gdf.crs is not None
    ref = _reference(reference)
    if choice.upper().startswith("EPSG:"):
        try:
            crs = CRS(choice.upper())
        except CRSError:
            raise PositionError("bad_epsg", code=choice[:20]) from None
        out = gdf.set_crs(crs, allow_override=True).to_crs(settings.STORAGE_CRS)
        _check_lonlat(out, choice)
        return out, Placement(crs.to_string(), "chosen")
    if choice not in CHOICES:
        raise PositionError("bad_choice", choice=str(choice)[:20])
    if declared and not CRS(gdf.crs).is_geographic:
        out = gdf.to_crs(settings.STORAGE_CRS)
        _check_lonlat(out, CRS(gdf.crs).to_string())
        return out, Placement(CRS(gdf.crs).to_string(), "file")
    bounds = gdf.total_bounds
    if declared or _is_lonlat(bounds):
        out = gdf.set_crs(settings.STORAGE_CRS, allow_override=True)
        if declared:
            out = gdf.to_crs(settings.STORAGE_CRS)
        return _datum(out, choice, ref, polygons, source="file" if declared else "lonlat")
    ref_lon = float(np.mean(ref.bounds[0::2])) if ref is not None else None
    candidates = zone_candidates(bounds, ref_lon)
    if not candidates:
        raise PositionError("metres_unknown", x=bounds[0], y=bounds[1])
    if len(candidates) == 1 and candidates[0] != MERCATOR:
        out = gdf.set_crs(candidates[0], allow_override=True).to_crs(settings.STORAGE_CRS)
        _check_lonlat(out, candidates[0])
        return out, Placement(candidates[0], "zone_from_x")
    if ref is None:
        raise PositionError("metres_unknown", x=bounds[0], y=bounds[1])
    tried = {}
    for crs in candidates:
        moved = gdf.set_crs(crs, allow_override=True).to_crs(settings.STORAGE_CRS)
        if _is_lonlat(moved.total_bounds):
            tried[crs] = (_score(moved.geometry.values, ref, polygons), moved)
    best = max(tried, key=lambda c: tried[c][0], default=None)
    if best is None or tried[best][0] <= 0:
        raise PositionError("metres_unknown", x=bounds[0], y=bounds[1])
    return tried[best][1], Placement(best, "zone_matched", scores={k: v[0] for k, v in tried.items()})


def _check_lonlat(gdf: gpd.GeoDataFrame, crs: str) -> None:
    if not _is_lonlat(gdf.total_bounds):
        raise PositionError("not_lonlat", crs=crs[:40])


def _reference(reference: gpd.GeoDataFrame | None):
    if reference is None or not len(reference):
        return None
    geoms = reference.geometry.values
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    return shapely.union_all(shapely.make_valid(geoms)) if len(geoms) else None


def _datum(gdf: gpd.GeoDataFrame, choice: str, ref, polygons: bool, *, source: str
           ) -> tuple[gpd.GeoDataFrame, Placement]:
    """Longitude/latitude in the chosen datum, or the one that fits the reference best."""
    if choice in coords.DATUMS:
        moved = _convert(gdf, choice)
        return moved, Placement(settings.STORAGE_CRS, source, choice, offset_m=_offset(gdf, moved))
    if ref is None:
        return gdf, Placement(settings.STORAGE_CRS, source)
    readings = {d: _convert(gdf, d) for d in coords.DATUMS}
    scores = {d: _score(g.geometry.values, ref, polygons) for d, g in readings.items()}
    best = max(scores, key=scores.get)
    if best == "wgs84" or scores[best] - scores["wgs84"] < DETECT_MARGIN:
        return gdf, Placement(settings.STORAGE_CRS, source, scores=scores)
    return readings[best], Placement(settings.STORAGE_CRS, source, best, detected=True,
                                     offset_m=_offset(gdf, readings[best]), scores=scores)


def _convert(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    if datum == "wgs84":
        return gdf
    return gdf.set_geometry(coords.convert(gdf.geometry.values, datum, "wgs84"), crs=settings.STORAGE_CRS)


def _offset(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> float:
    """Median distance (metres) the conversion moved the layer's features."""
    if not len(before):
        return 0.0
    a, b = shapely.point_on_surface(before.geometry.values), shapely.point_on_surface(after.geometry.values)
    crs = projection.metric_crs_for(before)
    ax, ay = projection.lonlat_to_metric(shapely.get_x(a), shapely.get_y(a), crs=crs)
    bx, by = projection.lonlat_to_metric(shapely.get_x(b), shapely.get_y(b), crs=crs)
    return float(np.nanmedian(np.hypot(bx - ax, by - ay)))


def _score(geoms: np.ndarray, ref, polygons: bool) -> float:
    """How well a reading of a layer sits on the reference area: the share of its features
    inside it, plus, for area layers, how well the two areas agree (intersection over union)."""
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if not len(geoms):
        return 0.0
    inside = float(np.mean(shapely.covers(ref, shapely.point_on_surface(geoms))))
    if not polygons:
        return inside
    mine = shapely.union_all(shapely.make_valid(geoms))
    union = shapely.area(shapely.union(mine, ref))
    return inside + (float(shapely.area(shapely.intersection(mine, ref)) / union) if union > 0 else 0.0)
