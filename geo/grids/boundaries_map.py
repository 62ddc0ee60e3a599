"""The preview of a grid adjustment on the offline map: old boundary dashed, new filled,
the buildings that change grid in red, over the community's grids and roads.

Kept apart from geo.grids.boundaries (the rules) as coverage_map is from coverage.
"""
from __future__ import annotations

import folium
import geopandas as gpd
from sqlalchemy import Engine, select

from geo.maps import layers, leaflet, offline
from geo.io import plain
from geo.db import store
from geo.grids.boundaries import Plan
from geo.i18n import t
from geo.db.schema import Community, Road

OLD_STYLE = {"color": "#222222", "weight": 3, "dashArray": "8 6", "fillOpacity": 0}
NEW_STYLE = {"color": "#1d4ed8", "weight": 2, "fillColor": "#3b82f6", "fillOpacity": 0.25}
MOVE_STYLE = {"color": "#b91c1c", "weight": 2, "fillColor": "#ef4444", "fillOpacity": 0.85}


def preview_layers(engine: Engine, plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """The community's grids and the roads around the changed ones (geo.maps.leaflet.street_map layers)."""
    street = store.read_frame(engine, select(Community.street_id).where(Community.id == plan.community_id))
    grids = layers.grids(engine, int(street["street_id"].iloc[0]))  # that street's grids only, not the district's
    area = plan.old.union_all().union(plan.new.union_all()).envelope
    return {"grids": grids[grids["community_id"] == plan.community_id].reset_index(drop=True),
            "roads": store.read_layer(engine, Road, where=Road.id.in_(store.ids_intersecting(engine, Road, area))),
            "changed": plan.new}


def preview_map(base: dict[str, gpd.GeoDataFrame], plan: Plan, *, lang: str = "zh") -> folium.Map:
    """The offline map framed on the changed grids, with the old and new outlines and the moves."""
    m = leaflet.street_map(base, basemap="offline", lang=lang, frame="changed")
    _outline(m, plan.new, t("boundaries.layer_new", lang), NEW_STYLE, lang)
    _outline(m, plan.old, t("boundaries.layer_old", lang), OLD_STYLE, lang)
    if len(plan.moves):
        moves = plain.html_columns(plan.moves[["name", "from_code", "to_code", "households", "residents",
                                               "geometry"]], ["name", "from_code", "to_code"])
        folium.GeoJson(moves.to_json(drop_id=True), name=t("boundaries.layer_moves", lang),
                       style_function=lambda f: MOVE_STYLE,
                       tooltip=folium.GeoJsonTooltip(
                           ["name", "from_code", "to_code", "residents"],
                           [t("field.name", lang), t("boundaries.col_from", lang), t("boundaries.col_to", lang),
                            t("field.residents", lang)])).add_to(m)
    return offline.localise(leaflet.layer_control_last(m))


def _outline(m: folium.Map, gdf: gpd.GeoDataFrame, name: str, style: dict, lang: str) -> None:
    folium.GeoJson(plain.html_columns(gdf[["code", "name", "geometry"]], ["code", "name"]).to_json(drop_id=True),
                   name=name,
                   style_function=lambda f: style, interactive=style is NEW_STYLE,
                   tooltip=folium.GeoJsonTooltip(["code", "name"], [t("field.code", lang), t("field.name", lang)])
                   if style is NEW_STYLE else None).add_to(m)


# --------------------------------------------------------------------------- editing and proposals

SKETCH_STYLE = {"color": "#d00000", "weight": 4, "dashArray": "6 4"}
OK_STYLE = {"color": "#1b7f3b", "weight": 2, "fillColor": "#2e9e50", "fillOpacity": 0.18}
OUT_STYLE = {"color": "#b91c1c", "weight": 3, "fillColor": "#ef4444", "fillOpacity": 0.25}
CHOSEN_STYLE = {"color": "#1d4ed8", "weight": 4, "fillColor": "#3b82f6", "fillOpacity": 0.2}


def edit_layers(engine: Engine, community_id: int) -> dict[str, gpd.GeoDataFrame]:
    """What an editing map draws: the community's live grids (with households, residents and whether
    they meet the rule) and its roads and buildings."""
    from geo.grids import rules
    from geo.access import roles
    from geo.db.schema import Building, Grid

    check = rules.report(engine, roles.Scope("community", community_id=community_id))
    grids = store.read_layer(engine, Grid, columns=["id", "code", "name", "grid_type", "geom"],
                             where=(Grid.community_id == community_id) & Grid.retired_at.is_(None))
    grids = grids.merge(check.grids[["code", "households", "residents", "within"]], on="code", how="left")
    grids = grids.sort_values("code").reset_index(drop=True)  # pickers list grids by code
    outline = store.read_frame(engine, select(Community.geom).where(Community.id == community_id))["geom"].iloc[0]
    roads = store.read_layer(engine, Road, columns=["id", "kind", "name", "geom"],
                             where=Road.id.in_(store.ids_intersecting(engine, Road, outline)))
    buildings = store.read_layer(engine, Building, columns=["id", "name", "grid_id", "households", "geom"],
                                 where=Building.grid_id.in_([int(i) for i in grids["id"]]))
    return {"grids": grids, "roads": roads[roads["kind"] != "footway"], "buildings": buildings}


def sketch_map(base: dict[str, gpd.GeoDataFrame], points: list[tuple[float, float]], *, shape: str = "line",
               chosen: list[str] = (), lang: str = "zh") -> folium.Map:
    """The editing map: grids coloured by the rule (red: outside the bounds), labelled code · households,
    the chosen grids in blue, and the sketch so far (clicked points, joined as a cutting line or a
    closed outline). Nothing on it catches a click, so every click reaches the map (st_folium's
    last_clicked) and becomes the next point."""
    m = leaflet.street_map({"roads": base["roads"], "frame": base["grids"]}, basemap="offline", lang=lang,
                           frame="frame")
    grids_layer(m, base["grids"], lang, chosen=chosen, name=t("layer.grids", lang))
    if len(base.get("buildings", [])):
        folium.GeoJson(base["buildings"][["geometry"]].to_json(drop_id=True), name=t("layer.buildings", lang),
                       interactive=False, style_function=lambda f: {"color": "#777", "weight": 0.5,
                                                                    "fillColor": "#bbb", "fillOpacity": 0.6}).add_to(m)
    if points:
        latlon = [[lat, lon] for lon, lat in points]
        group = folium.FeatureGroup(t("gridplan.layer_sketch", lang)).add_to(m)
        if len(latlon) > 1:
            line = latlon + latlon[:1] if shape == "polygon" and len(latlon) > 2 else latlon
            folium.PolyLine(line, interactive=False, **SKETCH_STYLE).add_to(group)
        for k, ll in enumerate(latlon, start=1):
            folium.CircleMarker(ll, radius=6, color="#d00000", fill=True, fill_opacity=1, interactive=False,
                                weight=2).add_to(group)
            folium.Marker(ll, interactive=False, icon=folium.DivIcon(
                html=f'<div class="sq-sketch-n">{k}</div>', icon_size=(18, 18), icon_anchor=(-4, 18),
                class_name="")).add_to(group)
    m.get_root().header.add_child(folium.Element(
        "<style>.sq-sketch-n{font:bold 13px/18px sans-serif;color:#d00000;text-shadow:0 0 3px #fff}</style>"))
    return offline.localise(leaflet.layer_control_last(m))


def grids_layer(m: folium.Map, grids: gpd.GeoDataFrame, lang: str, *, chosen=(), name: str = "") -> None:
    """Grids as outlines that catch no click, green within the rule, red outside it, labelled with their
    code's grid number and households (and people)."""
    def style(f: dict) -> dict:
        if f["properties"]["code"] in chosen:
            return CHOSEN_STYLE
        return OK_STYLE if f["properties"].get("within", True) else OUT_STYLE
    cols = [c for c in ("code", "households", "residents", "within") if c in grids.columns]
    data = plain.html_columns(grids[cols + ["geometry"]], ["code"])
    folium.GeoJson(data.to_json(drop_id=True, na="null"), name=name or t("layer.grids", lang), interactive=False,
                   style_function=style).add_to(m)
    group = folium.FeatureGroup(t("layer.grid_labels", lang)).add_to(m)
    for row in grids.itertuples():
        number = plain.html(str(row.code)[-3:])
        count = f"{int(row.households)} {t('gridplan.hh_unit', lang)}" if hasattr(row, "households") else ""
        html = (f'<div class="sq-grid-label" style="font-weight:bold">{number}<br>'
                f'<span style="font-weight:normal">{count}</span></div>')
        folium.Marker(leaflet._latlon(row.geometry.representative_point()), interactive=False,
                      icon=folium.DivIcon(html=html, icon_size=(90, 32), icon_anchor=(45, 16),
                                          class_name="")).add_to(group)


def proposal_map(grids: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, lang: str = "zh") -> folium.Map:
    """Grids (current ones, or a proposal) on the offline map, coloured by the rule, labelled with households."""
    m = leaflet.street_map({"roads": roads, "frame": grids}, basemap="offline", lang=lang, frame="frame")
    grids_layer(m, grids, lang)
    return offline.localise(leaflet.layer_control_last(m))
