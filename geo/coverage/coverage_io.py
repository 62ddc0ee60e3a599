"""Files in and out of coverage planning: a planner's own road network in (GeoJSON,
GeoPackage, OpenStreetMap .osm.pbf), GeoJSON and an Excel table by grid out.

Kept apart from the analysis (geo.coverage.coverage) so the analysis never knows
about file formats.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo import settings
from geo.place import catalogue, projection
from geo.coverage import coverage
from geo.io import export, vector_files
from geo.errors import ValidationError
from geo.i18n import t

#: File formats the road uploader takes (geo.io.vector_files keys: .geojson/.json, .gpkg, .osm.pbf).
ROAD_FORMATS = ("geojson", "gpkg", "osm_pbf")
#: Imported roads must come within this of the town (else: a wrong CRS or another place).
NEAR_TOWN_M = 2000.0


class RoadFileError(ValidationError):
    """A road file that cannot be used; ``key`` and ``params`` give the i18n message."""

    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params
        super().__init__(self.message("en"))

    def message(self, lang: str = "zh") -> str:
        params = {k: v.reason(lang) if isinstance(v, vector_files.FileRefused) else v for k, v in self.params.items()}
        return t(f"coverage.roads_err_{self.key}", lang).format(**params)


def read_roads_upload(name: str, data: bytes, *, town: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Road and footpath lines (lon-lat) from an uploaded file, read through geo.io.vector_files
    (declared format confirmed by content, one driver, nothing outside the upload) and
    checked for what goes wrong with real files: a format we do not read, a file that is
    not what it says or cannot be read (the reason, never its content), no CRS,
    coordinates that are not longitude/latitude after reprojection (a wrong CRS), no
    lines at all, or lines nowhere near ``town`` (the buildings). Raises RoadFileError
    with a message key."""
    shown = vector_files.quote(name)
    try:
        lines = vector_files.read_vector(data, name, formats=ROAD_FORMATS)
    except vector_files.FileRefused as exc:
        if exc.key == "format":
            raise RoadFileError("format", name=shown, kinds=vector_files.kinds(ROAD_FORMATS)) from None
        if exc.key == "no_geometry":
            raise RoadFileError("no_lines", name=shown) from None
        raise RoadFileError("broken", name=shown, detail=exc) from None
    name = shown
    if not len(lines) or lines.geometry is None:
        raise RoadFileError("no_lines", name=name)
    if lines.crs is None:
        raise RoadFileError("no_crs", name=name)
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty]
    lines = lines[lines.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    if not len(lines):
        raise RoadFileError("no_lines", name=name)
    if not CRS(lines.crs).is_geographic:  # metres in some projection: to lon-lat first
        lines = lines.to_crs(settings.STORAGE_CRS)
    x0, y0, x1, y1 = lines.total_bounds
    if not (np.isfinite([x0, y0, x1, y1]).all() and -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise RoadFileError("crs", name=name, crs=vector_files.cut(CRS(lines.crs).to_string()))
    lines = lines.to_crs(settings.STORAGE_CRS)
    if town is not None and len(town):
        crs = projection.metric_crs_for(town)
        gap = float(projection.to_metric(town, crs=crs).union_all().envelope.distance(
            projection.to_metric(lines, crs=crs).union_all().envelope))
        if gap > NEAR_TOWN_M:
            raise RoadFileError("far", name=name, km=gap / 1000)
    return lines.reset_index(drop=True)


def to_geojson(result: coverage.CoverageResult, sites: gpd.GeoDataFrame | None = None, *,
               areas: gpd.GeoDataFrame | None = None) -> str:
    """One FeatureCollection: service areas, blind buildings, blind grids, proposed sites (lon-lat).
    ``areas``: the result's service areas when the caller has them already."""
    areas = result.service_areas() if areas is None else areas
    parts = [areas.assign(layer="service_area"),
             result.blind_buildings().drop(columns=["reachable"]).assign(layer="blind_building"),
             result.blind_areas()[["id", "name", "residents", "covered", "uncovered", "share", "geometry"]]
             .assign(layer="grid")]
    if sites is not None and len(sites):
        parts.append(sites.assign(layer="proposed_site"))
    frames = [p for p in parts if len(p)]
    if not frames:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326").to_json()
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs)
    return out.to_json(drop_id=True, na="null", ensure_ascii=False)


def to_excel(result: coverage.CoverageResult, *, lang: str = "zh") -> bytes:
    """Workbook: summary sheet (per type) and one sheet per level (grid, community, street)."""
    rename = {"name": t("field.name", lang), "code": t("field.code", lang),
              "residents": t("field.residents", lang), "covered": t("coverage.covered", lang),
              "share": t("coverage.share", lang), "elderly_alone": t("coverage.elderly_alone", lang),
              "elderly_covered": t("coverage.elderly_covered", lang),
              "elderly_share": t("coverage.elderly_share", lang), "buildings": t("coverage.buildings", lang),
              "buildings_covered": t("coverage.buildings_covered", lang), "id": t("field.id", lang)}
    summary = result.summary().reset_index()
    summary["type"] = [catalogue.FACILITY_TYPES[k].name(lang) if k in catalogue.FACILITY_TYPES
                       else t("coverage.required", lang) for k in summary["type"]]
    sheets = {t("coverage.sheet_summary", lang): summary.rename(columns=rename | {"type": t("field.type", lang)})}
    for level in ("grid", "community", "street"):
        sheets[t(f"coverage.sheet_{level}", lang)] = result.by_area(level).rename(columns=rename)
    return export.excel_bytes(sheets)  # names come from the database and uploads: formulas neutralised there
