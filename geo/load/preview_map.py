"""An import's preview and its report on the offline map: the street as it would be (grids,
buildings, roads, facilities, cameras) and every finding with a place, coloured by severity.

Kept apart from the rules (geo.load.checks, geo.load.plan) as boundaries_map is from
boundaries. No tiles: the street's own outlines are the background, so it works offline.
"""
from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd
import shapely

from geo.i18n import t
from geo.io import plain
from geo.load.checks import Finding
from geo.maps import offline

SEVERITY_COLOURS = {"error": "#b91c1c", "warning": "#d97706", "info": "#2563eb"}
STYLES = {"street": {"color": "#111827", "weight": 3, "fillOpacity": 0.0},
          "community": {"color": "#7c3aed", "weight": 2, "fillOpacity": 0.0, "dashArray": "6 4"},
          "grid": {"color": "#1d4ed8", "weight": 1.5, "fillColor": "#93c5fd", "fillOpacity": 0.15},
          "building": {"color": "#4b5563", "weight": 0.5, "fillColor": "#9ca3af", "fillOpacity": 0.7},
          "road": {"color": "#9ca3af", "weight": 1}}
#: The most features a preview layer draws (a district's buildings would make the page heavy).
MAX_FEATURES = 5000


def preview(after: dict[str, pd.DataFrame], findings: list[Finding], *, lang: str = "zh") -> folium.Map:
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    bounds = None
    for layer in ("road", "street", "community", "grid", "building"):
        frame = after.get(layer)
        if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
            continue
        frame = frame[frame.geometry.notna()].head(MAX_FEATURES)
        cols = [c for c in ("code", "name") if c in frame]
        data = plain.html_columns(frame[[*cols, "geometry"]].astype({c: str for c in cols}), cols)
        style = STYLES[layer]
        folium.GeoJson(data.to_json(drop_id=True), name=t(f"load.layer_{layer}", lang),
                       style_function=lambda f, s=style: s,
                       tooltip=folium.GeoJsonTooltip(cols, [t(f"load.field_{c}", lang) for c in cols]) if cols and
                       layer in ("grid", "community", "building") else None).add_to(m)
        if layer in ("street", "community", "grid") and bounds is None:
            bounds = frame.total_bounds
    for layer, colour in (("facility", "#059669"), ("camera", "#0f172a")):
        frame = after.get(layer)
        if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
            continue
        group = folium.FeatureGroup(name=t(f"load.layer_{layer}", lang))
        for r in frame[frame.geometry.notna()].head(MAX_FEATURES).itertuples():
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=3, color=colour, fill=True,
                                tooltip=plain.html(getattr(r, "name", ""))).add_to(group)
        group.add_to(m)
    problems = folium.FeatureGroup(name=t("load.map_findings", lang))
    for f in findings:
        where = f.point
        if where is None:
            continue
        colour = SEVERITY_COLOURS[f.severity]
        if f.geometry is not None and shapely.get_type_id(f.geometry) in (3, 6):
            folium.GeoJson(gpd.GeoSeries([f.geometry]).to_json(), style_function=lambda _, c=colour: {
                "color": c, "weight": 2, "fillColor": c, "fillOpacity": 0.45}).add_to(problems)
        folium.CircleMarker([where[1], where[0]], radius=7, color=colour, weight=3, fill=True, fill_opacity=0.8,
                            tooltip=plain.html(f.message(lang))).add_to(problems)
    problems.add_to(m)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    folium.LayerControl(collapsed=True).add_to(m)
    return offline.localise(m)
