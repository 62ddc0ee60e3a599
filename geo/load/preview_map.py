"""An import's preview and its report on the offline map: the street as it would be (grids,
buildings, roads, facilities, cameras) and every finding with a place, coloured by severity.

Kept apart from the rules (geo.load.checks, geo.load.plan) as boundaries_map is from
boundaries. No tiles: the street's own outlines are the background, so it works offline.
"""
from __future__ import annotations

import json
import math

import folium
from branca.element import MacroElement, Template
import geopandas as gpd
import pandas as pd
import shapely

from geo.i18n import t
from geo.io import plain
from geo.load.checks import Finding
from geo.maps import leaflet, offline

SEVERITY_COLOURS = {"error": "#b91c1c", "warning": "#d97706", "info": "#2563eb"}
STYLES = {"community": {"color": "#7c3aed", "weight": 2, "fillOpacity": 0.0, "dashArray": "6 4"},
          "grid": {"color": "#1d4ed8", "weight": 1.5, "fillColor": "#93c5fd", "fillOpacity": 0.15},
          "building": {"color": "#4b5563", "weight": 0.5, "fillColor": "#9ca3af", "fillOpacity": 0.7}}
#: The most features a preview layer draws (a district's buildings would make the page heavy).
MAX_FEATURES = 5000


def view(after: dict[str, pd.DataFrame], *, width_px: int = 900, height_px: int = 520
         ) -> tuple[list[float], float] | None:
    """Centre [lat, lon] and zoom that show the street whole in a frame of this size (Web Mercator)."""
    frame = after.get("street")
    if not isinstance(frame, gpd.GeoDataFrame) or not len(frame) or frame.geometry.isna().all():
        return None
    x0, y0, x1, y1 = (float(v) for v in frame.total_bounds)
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    zoom_x = math.log2(width_px * 360 / (256 * max(x1 - x0, 1e-9)))
    zoom_y = math.log2(height_px * 2 * math.pi / (256 * max(merc(y1) - merc(y0), 1e-12)))
    return [(y0 + y1) / 2, (x0 + x1) / 2], max(1.0, min(zoom_x, zoom_y, 19.0) - 0.25)


def preview(after: dict[str, pd.DataFrame], findings: list[Finding], *, lang: str = "zh") -> folium.Map:
    base = {}
    for layer, key, cols in (("street", "street", ["name"]), ("road", "roads", ["kind", "name"])):
        frame = after.get(layer)
        if isinstance(frame, gpd.GeoDataFrame) and len(frame) and frame.geometry.notna().any():
            frame = frame[frame.geometry.notna()]
            base[key] = gpd.GeoDataFrame(frame[cols].fillna("").astype(str), geometry=frame.geometry.values,
                                         crs=frame.crs)
    m = leaflet.street_map(base, basemap="offline", lang=lang, frame="street" if "street" in base else None)
    for layer in ("community", "grid", "building"):
        frame = after.get(layer)
        if not isinstance(frame, gpd.GeoDataFrame) or not len(frame):
            continue
        frame = frame[frame.geometry.notna()].head(MAX_FEATURES)
        cols = [c for c in ("code", "name") if c in frame]
        data = plain.html_columns(gpd.GeoDataFrame(frame[cols].fillna("").astype(str), geometry=frame.geometry.values,
                                                   crs=frame.crs), cols)
        style = STYLES[layer]
        folium.GeoJson(data.to_json(drop_id=True), name=t(f"load.layer_{layer}", lang),
                       style_function=lambda f, s=style: s,
                       tooltip=folium.GeoJsonTooltip(cols, [t(f"load.field_{c}", lang) for c in cols]) if cols
                       else None).add_to(m)
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
    street = base.get("street")
    if street is not None:
        x0, y0, x1, y1 = (float(v) for v in street.total_bounds)
        m.add_child(_Refit([[y0, x0], [y1, x1]]))
    return offline.localise(leaflet.layer_control_last(m))


class _Refit(MacroElement):
    """Fit the street again once the frame has its real size: a map drawn below the fold is laid
    out at a size Leaflet never hears about, and opens off-centre."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }}, bounds = {{ this.bounds }};
            function refit() { map.invalidateSize(); map.fitBounds(bounds); }
            setTimeout(refit, 300);
            window.addEventListener("resize", refit);
        })();
    {% endmacro %}""")

    def __init__(self, bounds) -> None:
        super().__init__()
        self.bounds = json.dumps(bounds)
