"""The coverage map: the street map (geo.maps.leaflet) with service areas, blind spots and new sites.

Drawn on top of ``maps.street_map`` so the basemap, roads, outlines and the
offline asset handling are the same as on the main map; the result is
localised again (geo.maps.offline) because the overlays are added afterwards.
Colours come from the facility catalogue; the blind-spot shading is a plain
HTML legend (a branca colormap would fetch d3 from a CDN).
"""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import shapely

from geo import settings
from geo.place import catalogue, projection
from geo.coverage import coverage
from geo.maps import leaflet, offline
from geo.io import plain
from geo.i18n import t

BLIND_RAMP = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")  # few → many uncovered
PEOPLE_RAMP = ("#fcbba1", "#fb6a4a", "#ef3b2c", "#cb181d", "#67000d")  # blind buildings: few → many people
EXACT_COLOR, GREEDY_COLOR, ADDED_COLOR, CLOSED_COLOR = "#1b7837", "#2166ac", "#762a83", "#8d99ae"
COVER_COLOR, CAND_COLOR, SPACE_COLOR = "#e7298a", "#555555", "#2a9d8f"
VIEW_COLOR, CAM_BLIND_COLOR = "#3a86ff", "#d62828"  # camera views; road stretches no camera sees
ALL_REACHED_COLOR = "#1a7f37"  # where every type of the required set is within reach
#: Roads drawn this far around the plan's area: the border the plan reads (≥ 1,125 m) is for the
#: walks; drawn whole, it would send a grid's map the roads of a district.
ROADS_AROUND_M = 300.0


def base_layers(plan: coverage.Plan) -> dict[str, gpd.GeoDataFrame]:
    """What the coverage map is drawn on, from the plan itself (no second read of the database): the
    street's outline, the plan's communities, the roads within ROADS_AROUND_M of its area, its
    buildings (the camera map draws them; the coverage map draws only the blind ones), and
    ``area`` (the outline it is framed on). A whole-database plan: every street and road."""
    roads, view = plan.roads, view_box(plan)
    if view is not None and len(roads):
        roads = roads[shapely.intersects(roads.geometry.values, view)]
    b = plan.buildings
    out = {"street": plan.areas["street"], "communities": plan.areas["community"],
           "roads": roads[[c for c in ("kind", "name", "geometry") if c in roads]],
           "buildings": b[[c for c in ("id", "name", "grid_id", "floors", "households", "residents", "geometry")
                           if c in b]]}
    if plan.outline is not None:
        out["area"] = gpd.GeoDataFrame(geometry=[plan.outline], crs=settings.STORAGE_CRS)
    return out


def view_box(plan: coverage.Plan) -> shapely.Geometry | None:
    """What the map of a plan's area shows: its outline's box and ROADS_AROUND_M around it (None: a
    whole-database plan, everything). Service areas are cut to it and facilities beyond it left out:
    the plan's border is read to measure walks, not to be drawn."""
    if plan.outline is None:
        return None
    box = projection.padded_box([plan.outline.bounds], ROADS_AROUND_M)
    return shapely.box(*box) if box else shapely.Polygon()


def _zoom(layers: dict[str, gpd.GeoDataFrame]) -> float | None:
    """The zoom the map opens at: framed on the area, else on the street, else on everything."""
    frame = layers.get("area", layers.get("street"))
    bounds = leaflet._bounds({"street": frame} if frame is not None and len(frame) else layers)
    return leaflet.fit_zoom(bounds) if bounds else None


def ramp_color(value: float, top: float, ramp: tuple[str, ...] = BLIND_RAMP) -> str:
    """The colour of ``value`` people on a 5-step ramp up to ``top``."""
    if top <= 0 or value <= 0:
        return ramp[0]
    i = int(np.clip(np.ceil(value / top * (len(ramp) - 1)), 0, len(ramp) - 1))
    return ramp[i]


def coverage_map(layers: dict[str, gpd.GeoDataFrame], result: coverage.CoverageResult, *,
                 sites: gpd.GeoDataFrame | None = None, areas: gpd.GeoDataFrame | None = None,
                 candidates: list[tuple[float, float]] = (), basemap: str = "offline",
                 lang: str = "zh") -> folium.Map:
    """Service areas of the target's types, blind grids and buildings (shaded by people),
    facilities, clicked candidate sites, new sites (k best, greedy, set covering).

    ``areas`` are the result's service areas when the caller has them already (the page
    caches them: the walking polygons are the slow part)."""
    base = {k: layers[k] for k in ("street", "communities", "roads", "area") if k in layers}
    m = leaflet.street_map(base, basemap=basemap, lang=lang, frame="area" if "area" in base else None)
    zoom = _zoom(base)
    thin = (lambda g: leaflet.simplify_for_zoom(g, zoom)) if zoom is not None else (lambda g: g)
    areas = result.service_areas() if areas is None else areas
    view = view_box(result.plan)
    if view is not None and len(areas):
        areas = areas.assign(geometry=shapely.intersection(areas.geometry.values, view))
    areas = thin(areas)
    several = len(result.types) > 1  # the required set: six overlapping areas read as one smear (issue 13)
    _add_blind_areas(m, thin(result.blind_areas()), lang)
    if several:  # one outline where every type is in reach; the per-type areas one click away in the control
        _add_all_reached(m, areas, result.types, lang)
    _add_service_areas(m, areas, lang, show=not several)
    _add_blind_buildings(m, thin(result.blind_buildings()), lang)
    _add_facilities(m, result, lang, radius=5 if several else 7, view=view)
    if candidates:
        _add_candidates(m, candidates, lang)
    if sites is not None and len(sites):
        _add_sites(m, sites, lang)
    return offline.localise(leaflet.to_tile_datum(leaflet.layer_control_last(m)))


def legend_html(result: coverage.CoverageResult, lang: str = "zh") -> str:
    """Legend chips for the map: types in their colours (with several, the all-in-reach outline
    first), then the blind-spot ramp."""
    chips = [f"<span style='display:inline-block;width:12px;height:12px;background:"
             f"{catalogue.facility_type(k).color};opacity:.6'></span> {plain.html(catalogue.facility_type(k).name(lang))}"
             for k in result.types]
    if len(result.types) > 1:
        chips = [f"<span style='display:inline-block;width:14px;height:12px;border:2.5px solid {ALL_REACHED_COLOR};"
                 f"background:{ALL_REACHED_COLOR}33'></span> {t('coverage.layer_all_reached', lang)}",
                 t("coverage.legend_types_hidden", lang) + "：" + "、".join(
                     plain.html(catalogue.facility_type(k).name(lang)) for k in result.types)]
    def ramp(colours):
        return "".join(f"<span style='display:inline-block;width:18px;height:12px;background:{c}'></span>"
                       for c in colours)
    return " · ".join(chips) + (f" · {t('coverage.legend_blind', lang)} {ramp(BLIND_RAMP)}"
                                f" · {t('coverage.legend_people', lang)} {ramp(PEOPLE_RAMP)}")


def _add_all_reached(m: folium.Map, areas: gpd.GeoDataFrame, types: list[str], lang: str) -> None:
    """Where every one of ``types`` is within reach: the intersection of their service areas."""
    if set(types) - set(areas["type"]) if len(areas) else True:
        return  # a type with no facility at all: nowhere has every type
    parts = shapely.get_parts(shapely.intersection_all(areas.geometry.values))
    geom = shapely.multipolygons(parts[shapely.get_type_id(parts) == 3])  # slivers of lines and points dropped
    if geom.is_empty:
        return
    style = {"color": ALL_REACHED_COLOR, "weight": 3, "fillColor": ALL_REACHED_COLOR, "fillOpacity": 0.18}
    folium.GeoJson(geom.__geo_interface__, name=t("coverage.layer_all_reached", lang),
                   style_function=lambda f: style, tooltip=t("coverage.layer_all_reached", lang)).add_to(m)


def _add_service_areas(m: folium.Map, areas: gpd.GeoDataFrame, lang: str, *, show: bool = True) -> None:
    if not len(areas):
        return
    group = folium.FeatureGroup(t("coverage.layer_areas", lang), show=show).add_to(m)
    for row in areas.itertuples():  # one polygon per facility type: a handful of rows
        ft = catalogue.facility_type(row.type)
        style = {"color": ft.color, "weight": 2.5, "fillColor": ft.color, "fillOpacity": 0.25}
        folium.GeoJson(row.geometry.__geo_interface__, style_function=lambda f, s=style: s,
                       tooltip=plain.html(f"{ft.name(lang)} · {row.reach_m:.0f} m")).add_to(group)


def _add_blind_areas(m: folium.Map, grids: gpd.GeoDataFrame, lang: str) -> None:
    if not len(grids):
        return
    top = float(grids["uncovered"].max())
    g = grids.assign(fill=[ramp_color(v, top) for v in grids["uncovered"]],
                     share_pct=(grids["share"].fillna(0) * 100).round(1))
    def style(f: dict) -> dict:
        return {"color": "#666", "weight": 0.8, "fillColor": f["properties"]["fill"], "fillOpacity": 0.35}
    fields = ["name", "residents", "uncovered", "share_pct"]
    labels = [t(k, lang) for k in ("field.grid", "field.residents", "coverage.uncovered", "coverage.share_pct")]
    leaflet._geojson(g, t("coverage.layer_blind_grids", lang), ["fill", *fields], style,
                  tooltip=folium.GeoJsonTooltip(fields=fields, aliases=labels, localize=True)).add_to(m)


def _add_blind_buildings(m: folium.Map, blind: gpd.GeoDataFrame, lang: str) -> None:
    """Uncovered buildings, darker the more people live in them."""
    if not len(blind):
        return
    top = float(blind["residents"].max())
    b = blind.assign(fill=[ramp_color(v, top, PEOPLE_RAMP) for v in blind["residents"]])

    def style(f: dict) -> dict:
        return {"color": "#67000d", "weight": 0.8, "fillColor": f["properties"]["fill"], "fillOpacity": 0.9}
    fields = ["name", "residents", "elderly_alone"]
    labels = [t(k, lang) for k in ("field.name", "field.residents", "coverage.elderly_alone")]
    leaflet._geojson(b, t("coverage.layer_blind_buildings", lang), ["fill", *fields], style,
                  tooltip=folium.GeoJsonTooltip(fields=fields, aliases=labels, localize=True)).add_to(m)


def _add_candidates(m: folium.Map, points: list[tuple[float, float]], lang: str) -> None:
    group = folium.FeatureGroup(t("coverage.cand_points", lang)).add_to(m)
    for i, (lon, lat) in enumerate(points, start=1):
        folium.CircleMarker([lat, lon], radius=6, color=CAND_COLOR, weight=2, dash_array="3 3", fill=True,
                            fill_color="#fff", fill_opacity=0.9, tooltip=f"候选点 {i}").add_to(group)


def _add_facilities(m: folium.Map, result: coverage.CoverageResult, lang: str, *, radius: float = 7,
                    view: shapely.Geometry | None = None) -> None:
    f = result.plan.facilities
    f = f[f["type"].isin(result.types)]
    if view is not None:  # those in view (the plan's border holds a district's worth: they count, unseen)
        f = f[shapely.intersects(f.geometry.values, view)]
    group = folium.FeatureGroup(t("layer.facilities", lang)).add_to(m)
    closed = result.scenario.closed
    for row in f.itertuples():
        ft = catalogue.facility_type(row.type)
        color = CLOSED_COLOR if row.id in closed else ft.color
        note = f" ({t('coverage.closed', lang)})" if row.id in closed else ""
        folium.CircleMarker([row.geometry.y, row.geometry.x], radius=radius, color="#fff", weight=1.5, fill=True,
                            fill_color=color, fill_opacity=0.95, tooltip=plain.html(f"{row.name}{note}")).add_to(group)
    for lon, lat, ftype in result.scenario.added:
        if ftype in result.types:
            folium.CircleMarker([lat, lon], radius=8, color=ADDED_COLOR, weight=3, fill=True, fill_color="#fff",
                                tooltip=t("coverage.added_site", lang)).add_to(group)


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame, lang: str) -> None:
    group = folium.FeatureGroup(t("coverage.layer_sites", lang)).add_to(m)
    cover = folium.FeatureGroup(t("coverage.layer_cover", lang)).add_to(m)
    for row in sites.itertuples():
        exact = row.method == "exact"
        color = EXACT_COLOR if exact else GREEDY_COLOR
        label = t({"exact": "coverage.exact", "greedy": "coverage.greedy", "cover": "coverage.cover"}[row.method],
                  lang)
        tip = plain.html(f"{label} #{row.rank}：{row.label}，+{row.gain:,} {t('coverage.people', lang)}")
        if row.method == "cover":  # the fewest sites covering everyone: small pink diamonds
            icon = folium.DivIcon(html=(f'<div style="width:8px;height:8px;background:{COVER_COLOR};'
                                        'transform:rotate(45deg);border:1px solid #fff"></div>'),
                                  icon_size=(10, 10), icon_anchor=(5, 5), class_name="sq-cover")
            folium.Marker([row.geometry.y, row.geometry.x], icon=icon, tooltip=tip).add_to(cover)
        elif exact:
            icon = folium.DivIcon(html=(f'<div class="sq-fac" style="background:{color}">{row.rank}</div>'),
                                  icon_size=(22, 22), icon_anchor=(11, 11), class_name="")
            folium.Marker([row.geometry.y, row.geometry.x], icon=icon, tooltip=tip).add_to(group)
        else:
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=14, color=color, weight=3, fill=False,
                                tooltip=tip).add_to(group)


def camera_map(layers: dict[str, gpd.GeoDataFrame], cams: coverage.CameraCoverage, *,
               basemap: str = "offline", lang: str = "zh") -> folium.Map:
    """Online cameras' views, blind stretches of road over the street map, every camera by status."""
    base = {k: layers[k] for k in ("street", "communities", "roads", "buildings", "area") if k in layers}
    m = leaflet.street_map(base, basemap=basemap, lang=lang, frame="area" if "area" in base else None)
    if len(cams.sectors):
        style = {"color": VIEW_COLOR, "weight": 0.8, "fillColor": VIEW_COLOR, "fillOpacity": 0.3}
        leaflet._geojson(cams.sectors, t("coverage.layer_cam_views", lang), ["name"], lambda f, s=style: s,
                      tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=[t("field.name", lang)])).add_to(m)
    if len(cams.blind):
        blind = cams.blind.assign(kind_name=[t(f"road.{k}", lang) for k in cams.blind["kind"]],
                                  name=cams.blind["name"].fillna(""))
        style = {"color": CAM_BLIND_COLOR, "weight": 2.5, "opacity": 0.8}
        fields = ["name", "kind_name", "length_m"]
        labels = [t(k, lang) for k in ("field.name", "field.road_kind", "coverage.cam_length")]
        leaflet._geojson(blind, t("coverage.layer_cam_blind", lang), fields, lambda f, s=style: s,
                      tooltip=folium.GeoJsonTooltip(fields=fields, aliases=labels, localize=True)).add_to(m)
    if cams.spaces is not None and len(cams.spaces):
        sp = cams.spaces.assign(kind_name=[t(f"space.{k}", lang) for k in cams.spaces["kind"]],
                                share_pct=(cams.spaces["share"] * 100).round(1))
        space_style = {"color": SPACE_COLOR, "weight": 2, "fillColor": SPACE_COLOR, "fillOpacity": 0.15,
                       "dashArray": "4 3"}  # its own name: folium calls the style functions at render time
        fields = ["name", "kind_name", "area_m2", "share_pct"]
        labels = [t(k, lang) for k in ("field.name", "field.type", "coverage.cam_area", "coverage.share_pct")]
        leaflet._geojson(sp, t("coverage.layer_cam_spaces", lang), fields, lambda f: space_style,
                      tooltip=folium.GeoJsonTooltip(fields=fields, aliases=labels, localize=True)).add_to(m)
    leaflet._add_cameras(m, cams.cameras, lang)
    return offline.localise(leaflet.to_tile_datum(leaflet.layer_control_last(m)))


def camera_legend_html(lang: str = "zh") -> str:
    """Legend chips of the camera map: view, blind stretch, camera status colours."""
    chips = [f"<span style='display:inline-block;width:14px;height:12px;background:{VIEW_COLOR};opacity:.45'>"
             f"</span> {t('coverage.cam_legend_view', lang)}",
             f"<span style='display:inline-block;width:18px;height:4px;background:{CAM_BLIND_COLOR};"
             f"vertical-align:middle'></span> {t('coverage.cam_legend_blind', lang)}"]
    chips += [f"<span style='display:inline-block;width:10px;height:10px;border-radius:50%;background:{c}'>"
              f"</span> {t(f'camera.{s}', lang)}" for s, c in leaflet.CAMERA_COLORS.items()]
    return " · ".join(chips)
