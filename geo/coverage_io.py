"""Exports of a coverage result: GeoJSON for GIS tools, an Excel table by grid for the office.

Kept apart from the analysis (geo.coverage) so the analysis never knows
about file formats.
"""
from __future__ import annotations

import io

import geopandas as gpd
import pandas as pd

from geo import catalogue, coverage
from geo.i18n import t


def to_geojson(result: coverage.CoverageResult, sites: gpd.GeoDataFrame | None = None) -> str:
    """One FeatureCollection: service areas, blind buildings, blind grids, proposed sites (lon-lat)."""
    parts = [result.service_areas().assign(layer="service_area"),
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
              "elderly_share": t("coverage.elderly_share", lang)}
    summary = result.summary().reset_index()
    summary["type"] = [catalogue.FACILITY_TYPES[k].name(lang) if k in catalogue.FACILITY_TYPES
                       else t("coverage.required", lang) for k in summary["type"]]
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        summary.rename(columns=rename | {"type": t("field.type", lang)}).to_excel(
            xl, sheet_name=t("coverage.sheet_summary", lang), index=False)
        for level in ("grid", "community", "street"):
            result.by_area(level).rename(columns=rename).to_excel(
                xl, sheet_name=t(f"coverage.sheet_{level}", lang), index=False)
    return buf.getvalue()
