"""The street map ("一张图"): communities, grids, roads, buildings and live points.

A pure function of GeoDataFrames, so pages, scripts and tests draw the same
map and nothing here touches the database or Streamlit. The result is
localised (geo.maps.offline): with the offline basemap it fetches nothing from
any outside host, which an intranet command centre needs.
"""
from __future__ import annotations

import html
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import shapely
import shapely.geometry
from branca.element import MacroElement
from folium.template import Template

from geo import settings
from geo.place import catalogue, coords
from geo.maps import offline
from geo.io import plain
from geo.tickets import workflow
from geo.errors import ValidationError
from geo.i18n import t


@dataclass(frozen=True)
class Basemap:
    """A background choice: ``tiles=None`` means drawn from the town's own data.

    ``datum`` is the datum the tiles are drawn in: overlays on "gcj02" tiles
    (Gaode/AMap) are shifted before drawing and clicks shifted back (geo.place.coords).
    ``labels`` is an optional second tile layer of names (Tianditu draws them apart).
    """

    key: str
    tiles: str | None = None
    attr: str | None = None
    max_zoom: int = 19
    datum: str = "wgs84"
    labels: str | None = None

    def label(self, lang: str = "zh") -> str:
        return t(f"basemap.{self.key}", lang)


#: Datums a tile server may draw in (CGCS2000 tiles such as Tianditu's count as wgs84).
DATUMS = ("wgs84", "gcj02")
_TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
             "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
             "&TILECOL={{x}}&tk={key}")


def available_basemaps() -> dict[str, Basemap]:
    """Every basemap this deployment can offer, in the order a page lists them.

    Offline and OpenStreetMap always; Gaode (GCJ-02) always; Tianditu when a key
    is configured (SHEQU_TIANDITU_KEY); a self-hosted tile server when its URL is
    (SHEQU_TILE_URL, with SHEQU_TILE_DATUM=gcj02 if it serves Gaode-style tiles).
    """
    out = [
        Basemap("offline", max_zoom=20),
        Basemap("osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                '&copy; <a href="https://www.openstreetmap.org/copyright">'
                "OpenStreetMap</a> contributors", 19),
        Basemap("amap", "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                "&x={x}&y={y}&z={z}", "&copy; 高德地图 AutoNavi", 18, datum="gcj02"),
    ]
    if settings.TIANDITU_KEY:
        key = settings.TIANDITU_KEY
        out.append(Basemap("tianditu", _TIANDITU.format(s="{s}", layer="vec", key=key), "&copy; 天地图", 18,
                           labels=_TIANDITU.format(s="{s}", layer="cva", key=key)))
    if settings.TILE_URL:
        datum = settings.TILE_DATUM if settings.TILE_DATUM in DATUMS else "wgs84"
        if datum != settings.TILE_DATUM:
            warnings.warn(f"SHEQU_TILE_DATUM={settings.TILE_DATUM!r} is not one of {DATUMS}; using wgs84")
        out.append(Basemap("custom", settings.TILE_URL, settings.TILE_ATTR, 19, datum=datum))
    return {b.key: b for b in out}


#: Tile subdomains by basemap host: OSM needs none, Gaode 1–4, Tianditu 0–7.
_SUBDOMAINS = {"amap": "1234", "tianditu": "01234567"}


def to_tile_datum(m: folium.Map) -> folium.Map:
    """Move everything drawn on ``m`` into the datum its tiles are drawn in (GCJ-02 on Gaode).

    One pass over the finished map rather than a conversion in every drawing
    function: layers added later (coverage, a grid head's patch) are moved by
    the same call, so no overlay is ever left a few hundred metres off its
    street. Elements already moved are marked and skipped, so calling it again
    after adding layers is safe.
    """
    if getattr(m, "sq_datum", "wgs84") != "gcj02":
        return m
    for el in offline._walk(m):
        if getattr(el, "_sq_moved", False):
            continue
        if isinstance(el, folium.GeoJson):
            el.data = _moved_geojson(el.data)
        elif isinstance(el, (folium.Map, folium.Marker)) and getattr(el, "location", None):
            el.location = _moved_latlon(el.location)
        elif isinstance(el, folium.FitBounds):
            el.bounds = [_moved_latlon(corner) for corner in el.bounds]
        el._sq_moved = True
    return m


def _moved_latlon(latlon) -> list[float]:
    lon, lat = coords.wgs84_to_gcj02(latlon[1], latlon[0])
    return [float(lat), float(lon)]


def _moved_geojson(data: dict) -> dict:
    """A GeoJSON dict (geometry, Feature or FeatureCollection) with every coordinate moved."""
    kind = data.get("type")
    if kind == "FeatureCollection":
        return {**data, "features": [_moved_geojson(f) for f in data["features"]]}
    if kind == "Feature":
        return {**data, "geometry": _moved_geojson(data["geometry"]) if data.get("geometry") else None}
    moved = shapely.set_precision(coords.to_gcj02(shapely.geometry.shape(data)), 1e-6)  # ~0.1 m, as _features
    return shapely.geometry.mapping(moved)


def click_lonlat(basemap: str, lat: float, lng: float) -> tuple[float, float]:
    """A map click (Leaflet's lat/lng on ``basemap``) as storage lon-lat (WGS 84)."""
    if _basemap(basemap).datum == "gcj02":
        lon, la = coords.gcj02_to_wgs84(lng, lat)
        return float(lon), float(la)
    return float(lng), float(lat)


def _basemap(key: str) -> Basemap:
    known = available_basemaps()
    if key not in known:
        raise ValidationError(f"unknown basemap {key!r}; known: {', '.join(known)}")
    return known[key]

#: Tableau 10: distinct, colour-blind tolerant; community i gets colour i.
PALETTE: tuple[str, ...] = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
                            "#edc948", "#ff9da7", "#9c755f", "#e15759", "#bab0ac")
LAND_COLOR = "#f4f1ea"
OUTSIDE_COLOR = "#e4e0d8"
OVERDUE_RING = "#d00000"
CAMERA_COLORS = {"online": "#2b9348", "offline": "#8d99ae", "fault": "#f77f00"}
ROAD_STYLES: dict[str, dict[str, Any]] = {
    "arterial": {"color": "#ffffff", "weight": 9, "casing": "#b9b2a5"},
    "street": {"color": "#ffffff", "weight": 5, "casing": "#c9c2b6"},
    "lane": {"color": "#fbfaf7", "weight": 2.5},
    "footway": {"color": "#9c8f7d", "weight": 1.2, "dashArray": "4 4"},
}
#: Grid names show from this zoom on; below it they would overlap into noise.
LABEL_MIN_ZOOM = 15
#: Community names show below this zoom (the whole street in view); closer in, the
#: grid names and the community colours say where one is.
COMMUNITY_LABEL_MAX_ZOOM = 16
#: Building numbers show from this zoom on (a grid fitted to a phone is about 16.5–17) …
BUILDING_LABEL_MIN_ZOOM = 16.5
#: … on maps with at most this many buildings (a grid, a picked spot's surroundings), never a street's.
BUILDING_LABELS_MAX = 400
#: Fitting a frame snaps the zoom to quarter steps (Leaflet's default is whole ones).
ZOOM_SNAP = 0.25
#: Maps narrower than this (a phone) show the layer list folded to its icon.
FOLD_LAYERS_BELOW_PX = 600
#: Ticket descriptions in popups are cut to this many characters.
POPUP_TEXT_CHARS = 60
#: Above this many points a layer is clustered (MarkerCluster, served locally).
CLUSTER_THRESHOLD = 500
DEFAULT_CENTER = (30.99, 103.94)  # Pengzhou, the demo town, when no data at all

_CSS = """
.sq-zoomed-out .sq-grid-label {display: none;}
.sq-far .sq-bldg-label {display: none;}
.sq-bldg-label {font: 11px/14px sans-serif; color: #5a5048; text-align: center; white-space: nowrap;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; pointer-events: none;}
.sq-zoomed-in .sq-community-label {display: none;}
.sq-community-label {font: bold 17px/22px sans-serif; text-align: center; white-space: nowrap;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 4px #fff, 0 0 4px #fff; pointer-events: none;
  letter-spacing: 1px;}
.sq-grid-label {font: 12px/16px sans-serif; color: #333; text-align: center;
  white-space: nowrap; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff;
  pointer-events: none;}
.sq-fac {width: 22px; height: 22px; border-radius: 50%; color: #fff;
  font: bold 13px/22px sans-serif; text-align: center; border: 1.5px solid #fff;
  box-shadow: 0 0 2px rgba(0,0,0,.6);}
.sq-cam {width: 12px; height: 12px; border-radius: 50%; border: 1.5px solid #fff;
  box-shadow: 0 0 2px rgba(0,0,0,.6); position: relative;}
.sq-cam i {position: absolute; left: 4px; top: -6px; width: 0; height: 0;
  border-left: 2px solid transparent; border-right: 2px solid transparent;
  border-bottom: 6px solid currentColor;}
.sq-popup th {text-align: left; padding-right: 8px; color: #666; font-weight: normal;}
"""


class _MapChrome(MacroElement):
    """Page CSS plus a zoom watcher that hides grid names when zoomed out."""

    _template = Template("""
{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    function toggle() {
        var box = map.getContainer(), z = map.getZoom();
        box.classList.toggle("sq-zoomed-out", z < {{ this.min_zoom }});
        box.classList.toggle("sq-zoomed-in", z >= {{ this.community_max_zoom }});
        box.classList.toggle("sq-far", z < {{ this.building_min_zoom }});
    }
    map.on("zoomend", toggle);
    map.whenReady(toggle);
    // On a phone-sized map the layer list would cover half of it: fold it to its
    // icon (a tap opens it, a tap on the map folds it again).
    function fold() {
        var c = map.getContainer().querySelector(".leaflet-control-layers");
        if (c && map.getSize().x < {{ this.fold_below }}) c.classList.remove("leaflet-control-layers-expanded");
    }
    map.whenReady(function () { setTimeout(fold, 0); });
    map.on("click", fold);
    // Say whose data is drawn, plainly: no "Leaflet" prefix and no flag (issue 13); the tile
    // layers add their own credit (© OpenStreetMap contributors, © 高德地图 …) beside it.
    if (map.attributionControl) {
        map.attributionControl.setPrefix(false);
        map.attributionControl.addAttribution({{ this.attribution_js }});
    }
})();
{% endmacro %}
""")

    def __init__(self, css: str, min_zoom: int, community_max_zoom: int = COMMUNITY_LABEL_MAX_ZOOM,
                 fold_below: int = FOLD_LAYERS_BELOW_PX, attribution: str = "") -> None:
        super().__init__()
        self._name = "MapChrome"
        self.css = css
        self.min_zoom = int(min_zoom)
        self.community_max_zoom = int(community_max_zoom)
        self.fold_below = int(fold_below)
        self.building_min_zoom = float(BUILDING_LABEL_MIN_ZOOM)
        # a JSON string literal of the escaped text: safe inside the script and as HTML
        self.attribution_js = json.dumps(html.escape(attribution), ensure_ascii=False).replace("</", "<\\/")


def basemap_labels(lang: str = "zh") -> dict[str, str]:
    """Basemap key → label, for a page's selectbox."""
    return {k: b.label(lang) for k, b in available_basemaps().items()}


def street_map(layers: dict[str, gpd.GeoDataFrame], *, basemap: str = "offline",
               lang: str = "zh", center: tuple[float, float] | None = None,
               zoom: int | None = None, frame: str | None = None) -> folium.Map:
    """The street's map, every layer optional, localised for offline serving.

    ``frame`` names the layer the view is fitted to (default: the street, or
    all data): a grid head's map frames their grid, not the roads around it.
    """
    bm = _basemap(basemap)
    layers = {k: v for k, v in layers.items() if v is not None and len(v)}
    framed = {"street": layers[frame]} if frame in layers else layers
    bounds = _bounds(framed)
    if bounds:  # outlines with no more corners than the opening zoom can show
        layers = simplified(layers, zoom if zoom is not None else fit_zoom(bounds))
    m = _base_map(layers, bm, lang, center, zoom, framed)
    m.sq_datum = bm.datum  # to_tile_datum moves the overlays when the tiles are not WGS 84
    palette = community_colors(layers.get("communities"))
    _add_land(m, layers.get("street"), lang, offline_bg=basemap == "offline")
    _add_communities(m, layers.get("communities"), palette, lang)
    _add_roads(m, layers.get("roads"), lang, show=basemap == "offline")
    _add_grids(m, layers.get("grids"), palette, lang)
    _add_buildings(m, layers.get("buildings"), lang)
    _add_grid_labels(m, layers.get("grids"), lang)
    _add_community_labels(m, layers.get("communities"), palette, lang)
    _add_facilities(m, layers.get("facilities"), lang)
    _add_cameras(m, layers.get("cameras"), lang)
    _add_tickets(m, layers.get("tickets"), lang)
    folium.LayerControl(collapsed=False).add_to(m)
    return offline.localise(to_tile_datum(m))


#: The frame width a map's outlines are simplified for: the wall's 1,920 px. A narrower frame (a phone's
#: 390 px) opens at a lower zoom, where half of its pixel is wider: simplified for the wall, it is finer.
FRAME_PX = 1920
#: Layers whose outlines and lines simplified() thins (points are sent as they are).
SIMPLIFIED_LAYERS = ("street", "communities", "grids", "roads", "buildings")


def fit_zoom(bounds: list[list[float]], px: int = FRAME_PX) -> float:
    """The zoom at which ``bounds`` ([[south, west], [north, east]]) fill ``px`` pixels (Web Mercator,
    256-pixel tiles) in the longer direction, as Leaflet's fitBounds picks it (within 0 … 20)."""
    (s, w), (n, e) = bounds
    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(max(-85.0, min(85.0, lat))) / 2))
    frac = max((e - w) / 360.0, (merc(n) - merc(s)) / (2 * math.pi), 1e-9)
    return max(0.0, min(20.0, math.log2(px / (256.0 * frac))))


def half_pixel_deg(zoom: float, lat: float) -> float:
    """Half a screen pixel at ``zoom`` in degrees, measured where it is shortest (north–south at ``lat``)."""
    return 0.5 * 360.0 / (256.0 * 2.0 ** zoom) * math.cos(math.radians(min(89.0, abs(lat))))


def simplify_for_zoom(gdf: gpd.GeoDataFrame, zoom: float) -> gpd.GeoDataFrame:
    """``gdf`` (lon-lat) with its lines and outlines thinned to half a pixel at ``zoom`` (Douglas–Peucker,
    topology preserved: a polygon stays valid and keeps its holes). A browser draws no finer than a
    pixel, so the map looks the same and carries a fraction of the corners."""
    if not len(gdf) or gdf.crs is None or not gdf.crs.is_geographic:
        return gdf
    lat = float(max(abs(gdf.total_bounds[1]), abs(gdf.total_bounds[3])))
    out = shapely.simplify(gdf.geometry.values, half_pixel_deg(zoom, lat), preserve_topology=True)
    return gdf.assign(**{gdf.geometry.name: out})


def simplified(layers: dict[str, gpd.GeoDataFrame], zoom: float) -> dict[str, gpd.GeoDataFrame]:
    """``layers`` with SIMPLIFIED_LAYERS thinned for ``zoom`` (simplify_for_zoom), the rest as they are."""
    return {k: simplify_for_zoom(v, zoom) if k in SIMPLIFIED_LAYERS else v for k, v in layers.items()}


def layer_control_last(m: folium.Map) -> folium.Map:
    """Move street_map's layer control behind overlays added to its map afterwards.

    The control lists every overlay of the map when it renders; rendered before them it
    names JavaScript variables not yet assigned, Leaflet throws, and st_folium never sizes
    its frame (a map 0 px high).
    """
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            m._children.move_to_end(key)
    return m


# --- frame -----------------------------------------------------------------

def _bounds(layers: dict[str, gpd.GeoDataFrame]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the street, else of all data."""
    frames = [layers["street"]] if "street" in layers else list(layers.values())
    boxes = [f.total_bounds for f in frames if len(f)]
    boxes = [b for b in boxes if all(math.isfinite(v) for v in b)]
    if not boxes:
        return None
    w = min(b[0] for b in boxes); s = min(b[1] for b in boxes)
    e = max(b[2] for b in boxes); n = max(b[3] for b in boxes)
    return [[float(s), float(w)], [float(n), float(e)]]


def _base_map(layers: dict[str, gpd.GeoDataFrame], bm: Basemap, lang: str,
              center: tuple[float, float] | None, zoom: int | None,
              framed: dict[str, gpd.GeoDataFrame]) -> folium.Map:
    """The Leaflet map with its basemap, framed on ``framed`` unless told otherwise."""
    bounds = _bounds(framed)
    if center is None and bounds:
        center = ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)
    m = folium.Map(location=list(center or DEFAULT_CENTER), zoom_start=zoom or 15,
                   tiles=None, control_scale=True)
    m.options["max_zoom"] = bm.max_zoom  # Map(max_zoom=) only reaches a TileLayer;
    # MarkerCluster fails ("Map has no maxZoom specified") without it on the map.
    # Quarter zoom steps: fitting the street to a frame rounds down to a whole zoom
    # otherwise, which can leave it at half the frame's width.
    m.options["zoom_snap"] = ZOOM_SNAP
    m.options["zoom_delta"] = 0.5
    for tiles in filter(None, (bm.tiles, bm.labels)):
        folium.TileLayer(tiles=tiles, attr=bm.attr, name=bm.label(lang), max_zoom=bm.max_zoom,
                         control=False, subdomains=_SUBDOMAINS.get(bm.key, "abc")).add_to(m)
    css = _CSS + (f".leaflet-container {{background: {OUTSIDE_COLOR};}}" if not bm.tiles else "")
    m.add_child(_MapChrome(css, LABEL_MIN_ZOOM, attribution=t("map.attribution", lang)))
    if bounds and zoom is None:
        m.fit_bounds(bounds)
    return m


# --- polygons and lines (one GeoJson per layer keeps the HTML small) -------

def _features(gdf: gpd.GeoDataFrame, columns: Iterable[str]) -> dict:
    """GeoJSON of the listed columns only, coordinates to ~0.1 m; text HTML-escaped (popups and
    tooltips put properties on screen with innerHTML)."""
    cols = [c for c in columns if c in gdf.columns]
    sub = plain.html_columns(gdf[cols + [gdf.geometry.name]], cols)
    sub[gdf.geometry.name] = shapely.set_precision(sub.geometry.values, 1e-6)
    return json.loads(sub.to_json(drop_id=True, na="null"))


def _geojson(gdf: gpd.GeoDataFrame, name: str, columns: list[str],
             style: Callable[[dict], dict], **kw: Any) -> folium.GeoJson:
    return folium.GeoJson(_features(gdf, columns), name=name, style_function=style,
                          **kw)


def _detail(kind: type, fields: list[str], labels: list[str]) -> Any:
    """GeoJsonPopup/GeoJsonTooltip with translated labels (fields must be in the GeoJSON)."""
    return kind(fields=fields, aliases=labels, localize=True, labels=True)


def community_colors(communities: gpd.GeoDataFrame | None) -> dict[Any, str]:
    """Community id → palette colour, stable for the same set of communities."""
    if communities is None or not len(communities):
        return {}
    ids = sorted(communities["id"].tolist(), key=str)
    return {cid: PALETTE[i % len(PALETTE)] for i, cid in enumerate(ids)}


def _add_land(m: folium.Map, street: gpd.GeoDataFrame | None, lang: str,
              offline_bg: bool) -> None:
    """The street area: land-coloured ground offline, an outline over tiles."""
    if street is None:
        return
    fill = {"fillColor": LAND_COLOR, "fillOpacity": 1.0} if offline_bg else {"fillOpacity": 0}
    style = {"color": "#6c584c", "weight": 3, "dashArray": "8 4", **fill}
    _geojson(street, t("layer.street", lang), ["name"], lambda f: style,
             interactive=False, control=False).add_to(m)


def _add_communities(m: folium.Map, gdf: gpd.GeoDataFrame | None,
                     palette: dict[Any, str], lang: str) -> None:
    if gdf is None:
        return
    def style(f: dict) -> dict:
        c = palette.get(f["properties"]["id"], PALETTE[0])
        return {"color": c, "weight": 3, "fillColor": c, "fillOpacity": 0.12}
    _geojson(gdf, t("layer.communities", lang), ["id", "code", "name"], style,
             tooltip=_detail(folium.GeoJsonTooltip, ["name"], [t("field.name", lang)])
             ).add_to(m)


def _add_roads(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str, show: bool) -> None:
    """Roads by class, a casing line under the wide ones so they read as streets."""
    if gdf is None:
        return
    gdf = gdf.assign(kind_label=[t(f"road.{k}", lang) for k in gdf["kind"]])
    group = folium.FeatureGroup(t("layer.roads", lang), show=show).add_to(m)
    wide = gdf[gdf["kind"].map(lambda k: "casing" in ROAD_STYLES.get(k, {}))]
    if len(wide):
        def casing(f: dict) -> dict:
            s = ROAD_STYLES[f["properties"]["kind"]]
            return {"color": s["casing"], "weight": s["weight"] + 2, "lineCap": "round"}
        _geojson(wide, "casing", ["kind"], casing, interactive=False, control=False).add_to(group)
    def style(f: dict) -> dict:
        s = ROAD_STYLES.get(f["properties"]["kind"], ROAD_STYLES["lane"])
        return {k: v for k, v in s.items() if k != "casing"} | {"lineCap": "round"}
    _geojson(gdf, "roads", ["kind", "name", "kind_label"], style, control=False,
             tooltip=_detail(folium.GeoJsonTooltip, ["name", "kind_label"],
                             [t("field.name", lang), t("field.road_kind", lang)])
             ).add_to(group)


def _add_grids(m: folium.Map, gdf: gpd.GeoDataFrame | None,
               palette: dict[Any, str], lang: str) -> None:
    """Grid outlines in their community's colour; click for the grid's essentials."""
    if gdf is None:
        return
    gdf = gdf.assign(
        grid_type_label=[t(f"grid_type.{v}", lang) for v in gdf["grid_type"]],
        grid_head=gdf["grid_head"].where(gdf["grid_head"].notna(), "—")
        if "grid_head" in gdf else "—")
    fields = ["name", "code", "community_name", "grid_type_label", "households",
              "residents", "grid_head"]
    labels = [t(k, lang) for k in ("field.name", "field.code", "field.community",
                                   "field.grid_type", "field.households",
                                   "field.residents", "field.grid_head")]
    def style(f: dict) -> dict:
        c = palette.get(f["properties"].get("community_id"), "#555555")
        return {"color": c, "weight": 1.5, "fillColor": c, "fillOpacity": 0.04}
    _geojson(gdf, t("layer.grids", lang), ["id", "community_id", *fields], style,
             highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.15},
             popup=_detail(folium.GeoJsonPopup, fields, labels),
             tooltip=_detail(folium.GeoJsonTooltip, ["name"], [t("field.grid", lang)])
             ).add_to(m)


def _add_buildings(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str) -> None:
    if gdf is None:
        return
    fields = ["name", "floors", "households", "residents"]
    labels = [t(k, lang) for k in ("field.name", "field.floors", "field.households",
                                   "field.residents")]
    style = {"color": "#8a817c", "weight": 1, "fillColor": "#d9d2c5", "fillOpacity": 0.8}
    _geojson(gdf, t("layer.buildings", lang), fields, lambda f: style,
             popup=_detail(folium.GeoJsonPopup, fields, labels)).add_to(m)
    if len(gdf) <= BUILDING_LABELS_MAX:  # the numbers people read on the building ("3栋"), close in
        group = folium.FeatureGroup(t("layer.building_labels", lang)).add_to(m)
        for row in gdf.itertuples():
            icon = folium.DivIcon(html=f'<div class="sq-bldg-label">{plain.html(str(row.name))}</div>',
                                  icon_size=(60, 14), icon_anchor=(30, 7), class_name="")
            folium.Marker(_latlon(row.geometry.representative_point()), icon=icon, interactive=False).add_to(group)


# --- points ------------------------------------------------------------------

def _point_layer(m: folium.Map, name: str, n: int) -> folium.FeatureGroup:
    """A named overlay for ``n`` points: clustered when there are many."""
    if n > CLUSTER_THRESHOLD:
        layer = folium.plugins.MarkerCluster(name=name, disableClusteringAtZoom=18)
    else:
        layer = folium.FeatureGroup(name=name)
    return layer.add_to(m)


def _popup(title: str, rows: list[tuple[str, Any]]) -> folium.Popup:
    """A small table: translated label, escaped value."""
    body = "".join(f"<tr><th>{plain.html(k)}</th><td>{plain.html(_fmt(v))}</td></tr>"
                   for k, v in rows)
    return folium.Popup(f"<b>{plain.html(title)}</b><table class='sq-popup'>{body}</table>",
                        max_width=320, lazy=True)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "—"
    if isinstance(v, pd.Timestamp) or hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def _shorten(text: Any, limit: int = POPUP_TEXT_CHARS) -> Any:
    """A long description cut to ``limit`` characters, so a popup stays a popup."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def facility_legend_html(lang: str = "zh") -> str:
    """Glyph chips of every facility type, for the legend under a map."""
    return " ".join(
        f"<span style='display:inline-block;margin:2px 6px;white-space:nowrap'>"
        f"<span style='display:inline-block;width:18px;height:18px;border-radius:9px;background:{ft.color};"
        f"color:#fff;font:bold 11px/18px sans-serif;text-align:center'>{plain.html(ft.glyph)}</span> "
        f"{plain.html(ft.name(lang))}</span>"
        for ft in catalogue.FACILITY_TYPES.values())


def _latlon(geom: Any) -> list[float]:
    return [geom.y, geom.x]


def _add_grid_labels(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str) -> None:
    """Grid names at a point inside each grid, hidden below LABEL_MIN_ZOOM."""
    if gdf is None:
        return
    group = folium.FeatureGroup(t("layer.grid_labels", lang)).add_to(m)
    for row in gdf.itertuples():
        text = plain.html(str(row.name or row.code))
        icon = folium.DivIcon(html=f'<div class="sq-grid-label">{text}</div>',
                              icon_size=(140, 16), icon_anchor=(70, 8), class_name="")
        folium.Marker(_latlon(row.geometry.representative_point()), icon=icon,
                      interactive=False).add_to(group)


def _add_community_labels(m: folium.Map, gdf: gpd.GeoDataFrame | None,
                          palette: dict[Any, str], lang: str) -> None:
    """Community names in their colour, shown while the whole street is in view."""
    if gdf is None:
        return
    group = folium.FeatureGroup(t("layer.community_labels", lang)).add_to(m)
    for row in gdf.itertuples():
        color = palette.get(row.id, PALETTE[0])
        text = plain.html(str(row.name))
        icon = folium.DivIcon(html=f'<div class="sq-community-label" style="color:{color}">{text}</div>',
                              icon_size=(160, 22), icon_anchor=(80, 11), class_name="")
        # tooltipPane lies above the marker pane: a name is never hidden under a glyph
        folium.Marker(_latlon(shapely.point_on_surface(row.geometry)), icon=icon,
                      interactive=False, pane="tooltipPane").add_to(group)


def _add_facilities(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str) -> None:
    """Facilities as their catalogue glyph on the catalogue colour."""
    if gdf is None:
        return
    layer = _point_layer(m, t("layer.facilities", lang), len(gdf))
    for row in gdf.itertuples():
        ft = catalogue.FACILITY_TYPES.get(row.type)
        glyph, color = (ft.glyph, ft.color) if ft else ("?", "#6c757d")
        kind = ft.name(lang) if ft else str(row.type)
        icon = folium.DivIcon(
            html=f'<div class="sq-fac" style="background:{color}">{plain.html(glyph)}</div>',
            icon_size=(22, 22), icon_anchor=(11, 11), class_name="")
        rows = [(t("field.type", lang), kind),
                (t("field.community", lang), getattr(row, "community_name", None)),
                (t("field.address", lang), getattr(row, "address", None)),
                (t("field.open_hours", lang), getattr(row, "open_hours", None))]
        folium.Marker(_latlon(row.geometry), icon=icon, tooltip=plain.html(f"{kind} · {row.name}"),
                      popup=_popup(row.name, rows)).add_to(layer)


def _add_cameras(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str) -> None:
    """Cameras as a dot in their status colour, a tick pointing where they look."""
    if gdf is None:
        return
    layer = _point_layer(m, t("layer.cameras", lang), len(gdf))
    for row in gdf.itertuples():
        color = CAMERA_COLORS.get(row.status, "#6c757d")
        heading = float(row.heading) if pd.notna(row.heading) else 0.0
        icon = folium.DivIcon(
            html=(f'<div class="sq-cam sq-cam-{plain.html(str(row.status))}" '
                  f'style="background:{color};color:{color};'
                  f'transform:rotate({heading:.0f}deg)"><i></i></div>'),
            icon_size=(12, 12), icon_anchor=(6, 6), class_name="")
        rows = [(t("field.code", lang), row.code),
                (t("field.status", lang), t(f"camera.{row.status}", lang)),
                (t("field.heading", lang), f"{heading:.0f}°"),
                (t("field.fov", lang), f"{_fmt(row.fov)}°"),
                (t("field.range", lang), f"{_fmt(row.range_m)} m")]
        folium.Marker(_latlon(row.geometry), icon=icon, tooltip=plain.html(row.name),
                      popup=_popup(row.name, rows)).add_to(layer)


def ticket_style(state: str, overdue: bool, urgent: bool) -> dict[str, Any]:
    """CircleMarker options of an open ticket: state fill, red ring when overdue."""
    st = workflow.STATES.get(state)
    ring = {"color": OVERDUE_RING, "weight": 4} if overdue else {"color": "#ffffff", "weight": 1.5}
    return {"radius": 9 if urgent else 7, "fill": True, "fill_opacity": 0.9,
            "fill_color": st.color if st else "#6c757d", **ring}


def _add_tickets(m: folium.Map, gdf: gpd.GeoDataFrame | None, lang: str) -> None:
    """Open tickets coloured by state; overdue drawn last so their ring is on top."""
    if gdf is None:
        return
    layer = _point_layer(m, t("layer.tickets", lang), len(gdf))
    gdf = gdf.assign(is_overdue=gdf["overdue"].fillna(False).astype(bool)).sort_values("is_overdue", kind="stable")
    yes, no = t("common.yes", lang), t("common.no", lang)
    for row in gdf.itertuples():
        st = workflow.STATES.get(row.state)
        urgent = bool(row.urgent) if pd.notna(row.urgent) else False
        level = getattr(row, "level", None)
        rows = [(t("field.category", lang), row.category),
                (t("field.state", lang), st.name(lang) if st else row.state),
                (t("field.grid", lang), getattr(row, "grid_name", None)),
                (t("field.level", lang), t(f"level.{level}", lang) if isinstance(level, str) else None),
                (t("field.urgent", lang), yes if urgent else no),
                (t("field.created", lang), row.created_at),
                (t("field.due", lang), row.due_at),
                (t("field.overdue", lang), yes if row.is_overdue else no),
                (t("field.description", lang), _shorten(getattr(row, "description", None)))]
        folium.CircleMarker(_latlon(row.geometry), tooltip=plain.html(row.code),
                            popup=_popup(row.code, rows),
                            **ticket_style(row.state, row.is_overdue, urgent)).add_to(layer)
