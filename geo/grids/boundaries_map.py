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
