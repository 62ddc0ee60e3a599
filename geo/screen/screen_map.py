"""The big screen's map as a pydeck (deck.gl, WebGL) Deck: aggregates in, compact JSON out.

Layers, bottom to top: the street and its roads (the offline basemap), grids
coloured by open-ticket load, community outlines, an extruded H3 layer of
ticket density, community names, facilities, cameras (green online, grey
offline, amber fault), and the overdue (red, in a steady red ring) and urgent
(orange) tickets; a ticket overdue since the last refresh gets a wide white
ring. Across several streets (``Basemap.wide``) only arterials are drawn, outlines
are simplified to half a pixel, and cameras and facilities come per H3 cell:
a district's wall gets a few hundred aggregates, not thousands of points. Down to one grid
(issue 19, item 3) a density cell would be as big as the grid: its open tickets come as dots
instead, and the grid is named. A click picks a community (``picked_community``) or, inside one,
a grid (``picked_grid``).

Offline by default. Note the trap: ``pdk.Deck(map_provider=None,
map_style=None)`` leaves ``mapStyle`` out of the JSON, and Streamlit's
st.pydeck_chart then fills in a Carto basemap (basemaps.cartocdn.com) of its
own. Leaving ``map_style`` at pydeck's default sentinel with
``map_provider=None`` sends ``"mapStyle": "__MAP_STYLE__"``, which Streamlit
reads as "no basemap". ``BASEMAP = "carto"`` asks for Carto's dark tiles
(WGS 84, so no GCJ-02 shift is needed); ``"tiles"`` a self-hosted XYZ server
(an intranet's), passed to Streamlit as a one-source raster style in a data: URL.

Every pickable layer carries ``n``, the text of the one tooltip (``{n}``).

pydeck reads every plain string argument as a JavaScript accessor; literal
strings (units, fonts, character sets) are passed quoted.

Coordinates are rounded to 5 decimals (about 1 m) and colours computed here,
so the browser gets small arrays and plain field accessors.
"""
from __future__ import annotations

import json
import math
from urllib.parse import quote

import h3
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from geo import i18n
from geo.maps.layers import category_names
from geo.place import catalogue
from geo.tickets import workflow
from geo.screen import figures
from geo.screen.figures import BASEMAPS, MAP_WIDTH_PX
from geo.screen.map_data import Basemap
from geo.screen.wall import Screen

DIGITS = 5
FONT = "Noto Sans CJK SC, Noto Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
CAMERA_COLORS = {"online": [0, 230, 118, 230], "offline": [120, 130, 150, 200], "fault": [255, 176, 0, 230]}
OVERDUE = [255, 40, 50, 255]
URGENT = [255, 150, 0, 255]
#: Draw over the extruded columns (alerts and names must never hide behind them).
ON_TOP = {"depthCompare": "always", "depthTest": False}
#: Height of the tallest ticket-density column (metres).
ELEVATION_M = 160
#: Low → high load / density.
RAMP = np.array([[35, 85, 160], [0, 170, 200], [255, 200, 0], [255, 110, 0], [230, 30, 45]], dtype=float)
#: Ticket density (the H3 columns): violet to pink, apart from the grids' blue-to-red load, so a column
#: over a grid is never read as the grid's colour (issue 13, item 8).
HEX_RAMP = np.array([[70, 40, 140], [120, 60, 200], [175, 80, 225], [225, 110, 235], [255, 185, 250]],
                    dtype=float)


def _ramp(values, top: float, ramp: np.ndarray = RAMP) -> list[list[int]]:
    """Colour per value on ``ramp``, ``top`` mapping to its last colour."""
    v = np.clip(np.asarray(values, dtype=float) / (top or 1.0), 0, 1) * (len(ramp) - 1)
    lo = np.floor(v).astype(int)
    hi = np.minimum(lo + 1, len(ramp) - 1)
    frac = (v - lo)[:, None]
    rgb = ramp[lo] * (1 - frac) + ramp[hi] * frac
    return np.round(rgb).astype(int).tolist()


def _ring(coords) -> list[list[float]]:
    return np.round(np.asarray(coords)[:, :2], DIGITS).tolist()


def _polygons(geoms) -> list[list[list[float]]]:
    """Exterior rings of (multi)polygons, one entry per part."""
    out = []
    for g in geoms:
        for part in getattr(g, "geoms", [g]):
            out.append(_ring(part.exterior.coords))
    return out


def _paths(geoms) -> list[list[list[float]]]:
    out = []
    for g in geoms:
        for part in getattr(g, "geoms", [g]):
            coords = part.exterior.coords if hasattr(part, "exterior") else part.coords
            out.append(_ring(coords))
    return out


#: deck.gl's camera stands 1.5 viewport heights above the point it looks at (its default altitude).
ALTITUDE = 1.5
#: Pixels at the top of the wall's map under the legend, and a margin kept free on every side.
LEGEND_PX, MARGIN_PX = 64, 12


def ground_offset(y_px: float, height_px: float, pitch: float) -> float:
    """How far north of the looked-at point (in pixels at its scale) the screen row ``y_px`` below the
    centre (negative: above) meets the ground, for deck.gl's camera tilted by ``pitch`` degrees.
    Upright it is -y; tilted, the rows above the centre reach much further than those below."""
    h, p = ALTITUDE * height_px, math.radians(pitch)
    return h * math.cos(p) * math.tan(p - math.atan(y_px / h)) - h * math.sin(p)


def view_state(bounds: tuple[float, float, float, float], *, width_px: int = MAP_WIDTH_PX, height_px: int = 720,
               pitch: float = 40, top_px: int = LEGEND_PX) -> pdk.ViewState:
    """Centre and zoom that fit ``bounds`` whole into a map of the given pixel size, below ``top_px``.

    Tilted, the ground seen above the centre is far longer than below it: fitting the box as if upright
    and centring it cut off the street's south on the wall (issue 13, item 8). The zoom fits the box
    into the ground the screen actually shows (ground_offset), and the looked-at point sits where the
    box's middle lands halfway along it."""
    x0, y0, x1, y1 = bounds
    lat = (y0 + y1) / 2
    dlon = max(x1 - x0, 1e-4)
    dlat = max(y1 - y0, 1e-4) / math.cos(math.radians(lat))  # in Mercator degrees, like dlon
    north = ground_offset(-height_px / 2 + top_px + MARGIN_PX, height_px, pitch)
    south = ground_offset(height_px / 2 - MARGIN_PX, height_px, pitch)  # negative
    # the bottom row is nearer the camera than the centre, so it shows less ground across: fit the width there
    h, p = ALTITUDE * height_px, math.radians(pitch)
    a = math.atan((height_px / 2 - MARGIN_PX) / h)
    across = math.cos(p) * math.cos(a) / math.cos(p - a)
    # deck.gl's zoom 0 shows the world in 512 px
    zoom = min(math.log2((width_px - 2 * MARGIN_PX) * across * 360 / (512 * dlon)),
               math.log2((north - south) * 360 / (512 * dlat)))
    px_per_deg = 512 * 2 ** zoom / 360
    centre = lat - (north + south) / 2 / px_per_deg * math.cos(math.radians(lat))
    return pdk.ViewState(longitude=round((x0 + x1) / 2, DIGITS), latitude=round(centre, DIGITS),
                         zoom=round(zoom, 2), pitch=pitch, bearing=0)


def base_layers(base: Basemap, *, roads: bool = True) -> list[pdk.Layer]:
    """The offline background: the street's area and its roads."""
    layers = [pdk.Layer("PolygonLayer", [{"p": p} for p in _polygons(base.street.geometry)], id="street",
                        get_polygon="p", get_fill_color=[10, 32, 70, 255], get_line_color=[60, 130, 220, 255],
                        line_width_min_pixels=2, stroked=True, filled=True)]
    if roads and len(base.roads):
        width = {"arterial": 3, "street": 2, "lane": 1}
        rows = [{"p": p, "w": width.get(k, 1)} for geom, k in zip(base.roads.geometry, base.roads["kind"])
                for p in _paths([geom])]
        layers.append(pdk.Layer("PathLayer", rows, id="roads", get_path="p", get_width="w",
                                width_units='"pixels"', get_color=[70, 105, 160, 200]))
    return layers


#: Pixel radius and line width of the steady ring round every overdue ticket, and of the wide
#: ring round a ticket that became overdue since the last refresh (the only thing that flashes).
RING_PX, RING_W = 15, 4
FRESH_RING_PX, FRESH_RING_W = 30, 7
FRESH = [255, 255, 255, 255]
#: Facilities aggregated per cell across several streets: a white ring.
FACILITY_CELL = [235, 240, 255, 230]


def _xy(lon, lat) -> list[float]:
    return [round(float(lon), DIGITS), round(float(lat), DIGITS)]


def _camera_colour(online: int, offline: int, fault: int) -> list[int]:
    """A camera's colour, or a cell's by its worst camera (fault, then offline, else online)."""
    return CAMERA_COLORS["fault" if fault else "offline" if offline else "online"]


def _grid_open(base: Basemap, s: Screen) -> tuple[pd.Series, np.ndarray, float]:
    """Per grid of ``base``: its name and open tickets, and the top of the RAMP (the busiest, at least 1)."""
    load = base.grids[["id", "name"]].merge(s.grid_load, left_on="id", right_on="grid_id", how="left")
    open_ = load["open"].fillna(0).to_numpy()
    return load["name"], open_, max(float(open_.max()) if len(open_) else 1.0, 1.0)


def grid_layer(base: Basemap, s: Screen, *, lang: str = "zh") -> tuple[pdk.Layer, float]:
    """Grids coloured by open tickets on RAMP (0 … the busiest grid); returns the layer and that top."""
    names, open_, top = _grid_open(base, s)
    label = i18n.t("screen.col_open", lang)
    rows = []
    communities = base.grids["community_id"] if "community_id" in base.grids else [None] * len(base.grids)
    for geom, gid, name, n, c, cm in zip(base.grids.geometry, base.grids["id"], names, open_, _ramp(open_, top),
                                         communities):
        for p in _polygons([geom]):
            rows.append({"p": p, "n": f"{name} {label}{int(n)}", "c": [*c, 70 if n == 0 else 150],
                         "cm": None if cm is None or pd.isna(cm) else int(cm),  # a click drills down to it…
                         "g": int(gid)})  # … and inside a community, to the grid
    layer = pdk.Layer("PolygonLayer", rows, id="grids", get_polygon="p", get_fill_color="c",
                      get_line_color=[110, 160, 230, 110], line_width_min_pixels=1, stroked=True, filled=True,
                      pickable=True)
    return layer, top


def _area_at(areas, cells) -> list[int | None]:
    """The area (a row of ``areas``: id, geometry) holding each H3 cell's centre, or None."""
    if not len(cells) or not len(areas):
        return [None] * len(cells)
    lat, lon = np.array([h3.cell_to_latlng(h) for h in cells]).T
    ids = areas["id"].to_numpy()
    found = np.stack([shapely.contains_xy(g, lon, lat) for g in areas.geometry])  # one test per area
    return [int(ids[col.argmax()]) if col.any() else None for col in found.T]


def _community_at(base: Basemap, cells) -> list[int | None]:
    """The community holding each H3 cell's centre (a click on a column drills down like one on its grid)."""
    return _area_at(base.communities, cells)


def _objects(selection) -> dict:
    return (selection or {}).get("objects", {}) if isinstance(selection, dict) else \
        getattr(selection, "objects", None) or {}


def picked_community(selection) -> int | None:
    """The community of what was clicked on the map (a grid or a density column), else None;
    ``selection``: st.pydeck_chart's selection (``objects`` per layer id)."""
    objects = _objects(selection)
    for layer in ("grids", "ticket_cells"):
        for obj in objects.get(layer) or []:
            if obj.get("cm") is not None:
                return int(obj["cm"])
    return None


def picked_grid(selection) -> int | None:
    """The grid of what was clicked on the map (a grid, a density column over it, an overdue or urgent
    ticket in it), else None: inside one community a click opens that grid (issue 19, item 3)."""
    objects = _objects(selection)
    for layer in ("grids", "ticket_cells", "alerts"):
        for obj in objects.get(layer) or []:
            if obj.get("g") is not None:
                return int(obj["g"])
    return None


def point_layers(base: Basemap, s: Screen, *, lang: str = "zh") -> list[pdk.Layer]:
    """Facilities and cameras: one by one in a street, per H3 cell across several streets."""
    layers = []
    f = base.facilities
    if len(f) and base.wide:
        rows = [{"x": _xy(x, y), "r": round(3 + 1.5 * math.sqrt(n), 1),
                 "n": i18n.t("screen.tip_facilities", lang).format(n=int(n))}
                for x, y, n in zip(f["lon"], f["lat"], f["n"])]
        layers.append(pdk.Layer("ScatterplotLayer", rows, id="facilities", get_position="x", get_radius="r",
                                radius_units='"pixels"', filled=False, stroked=True, get_line_color=FACILITY_CELL,
                                line_width_min_pixels=1.5, pickable=True))
    elif len(f):
        rows = [{"x": _xy(x, y), "c": _rgb(catalogue.FACILITY_TYPES[t].color)}
                for t, x, y in zip(f["type"], f["lon"], f["lat"]) if t in catalogue.FACILITY_TYPES]
        layers.append(pdk.Layer("ScatterplotLayer", rows, id="facilities", get_position="x", get_fill_color="c",
                                get_radius=12, radius_min_pixels=3, radius_max_pixels=8, stroked=True,
                                get_line_color=[255, 255, 255, 200], line_width_min_pixels=1))
    c = s.cameras
    if len(c) and s.wide:
        tip = i18n.t("screen.tip_cameras", lang)
        rows = [{"x": _xy(x, y), "c": _camera_colour(on, off, fa), "r": round(2 + math.sqrt(n), 1),
                 "n": tip.format(n=int(n), online=int(on), offline=int(off), fault=int(fa))}
                for x, y, n, on, off, fa in zip(c["lon"], c["lat"], c["n"], c["online"], c["offline"], c["fault"])]
        layers.append(pdk.Layer("ScatterplotLayer", rows, id="cameras", get_position="x", get_fill_color="c",
                                get_radius="r", radius_units='"pixels"', pickable=True))
    elif len(c):
        rows = [{"x": _xy(x, y), "c": _camera_colour(on, off, fa)}
                for x, y, on, off, fa in zip(c["lon"], c["lat"], c["online"], c["offline"], c["fault"])]
        layers.append(pdk.Layer("ScatterplotLayer", rows, id="cameras", get_position="x", get_fill_color="c",
                                get_radius=8, radius_min_pixels=2.5, radius_max_pixels=6))
    return layers


def alert_layers(s: Screen, *, fresh: pd.DataFrame | None = None, lang: str = "zh",
                 ring: bool = True) -> list[pdk.Layer]:
    """Overdue (red, in a steady red ring) and urgent (orange) tickets, drawn over everything; a
    ticket that became overdue since the last refresh (``fresh``) gets a wide white ring as well.
    ``ring=False`` (a district's hundreds of overdue tickets) leaves the steady ring out."""
    a = s.alerts
    if not len(a):
        return []
    over, urgent = i18n.t("screen.tip_overdue", lang), i18n.t("screen.urgent_tag", lang)
    pts = [{"x": _xy(x, y), "c": OVERDUE if o else URGENT,
            "n": f"{code} {cat} " + (over.format(h=h) if o else urgent),
            "g": None if pd.isna(g) else int(g)}  # a click on it opens its grid
           for x, y, o, code, cat, h, g in zip(a["lon"], a["lat"], a["overdue"], a["code"], a["category"],
                                               a["hours_over"], a["grid_id"])]
    layers = [pdk.Layer("ScatterplotLayer", [{"x": p["x"]} for p, o in zip(pts, a["overdue"]) if o],
                        id="overdue_ring", get_position="x", get_radius=RING_PX, radius_units='"pixels"',
                        filled=False, stroked=True, get_line_color=OVERDUE, line_width_units='"pixels"',
                        get_line_width=RING_W, parameters=ON_TOP)] if ring else []
    if fresh is not None and len(fresh):
        layers.append(pdk.Layer("ScatterplotLayer", [{"x": _xy(x, y)} for x, y in zip(fresh["lon"], fresh["lat"])],
                                id="fresh_overdue", get_position="x", get_radius=FRESH_RING_PX,
                                radius_units='"pixels"', filled=False, stroked=True, get_line_color=FRESH,
                                line_width_units='"pixels"', get_line_width=FRESH_RING_W, parameters=ON_TOP))
    layers.append(pdk.Layer("ScatterplotLayer", pts, id="alerts", get_position="x", get_fill_color="c",
                            get_radius=14, radius_min_pixels=4 if not ring else 6, pickable=True, stroked=True,
                            get_line_color=[255, 255, 255, 230], line_width_min_pixels=2, parameters=ON_TOP))
    return layers


#: A party member on the way to a ticket (党员接单): a green ring within the 30 minutes, amber once late.
ON_THE_WAY, LATE_ARRIVAL = [55, 227, 155, 255], [255, 176, 0, 255]
WAY_RING_PX, WAY_RING_W = 22, 4


def member_layers(s: Screen, *, lang: str = "zh") -> list[pdk.Layer]:
    """A ring round each ticket a party member has taken and not yet reached, with the minutes left (or late)."""
    way = s.on_the_way
    if way is None or not len(way):
        return []
    left, late = i18n.t("screen.tip_way_left", lang), i18n.t("screen.tip_way_late", lang)
    rows = [{"x": _xy(x, y), "c": ON_THE_WAY if m >= 0 else LATE_ARRIVAL,
             "n": f"{code} {cat} " + (left.format(n=int(m)) if m >= 0 else late.format(n=int(-m)))}
            for x, y, m, code, cat in zip(way["lon"], way["lat"], way["minutes_left"], way["code"], way["category"])]
    return [pdk.Layer("ScatterplotLayer", rows, id="party_on_the_way", get_position="x", get_radius=WAY_RING_PX,
                      radius_units='"pixels"', filled=False, stroked=True, get_line_color="c",
                      line_width_units='"pixels"', get_line_width=WAY_RING_W, pickable=True, parameters=ON_TOP)]


#: An open ticket on the map of one grid (the wall down to a grid, issue 19, item 3).
OPEN_TICKET = [90, 200, 255, 255]


def grid_ticket_layers(s: Screen, *, lang: str = "zh") -> list[pdk.Layer]:
    """Each open ticket of the grid as a dot (overdue and urgent ones are drawn over it as alerts)."""
    o = s.frame[s.frame["state"].isin(workflow.OPEN_STATES) & s.frame["lon"].notna()]
    if not len(o):
        return []
    names = category_names(lang)
    rows = [{"x": _xy(x, y), "n": f"{code} {names.get(cat, cat)}", "g": int(g)}
            for x, y, code, cat, g in zip(o["lon"], o["lat"], o["code"], o["category"], o["grid_id"])]
    return [pdk.Layer("ScatterplotLayer", rows, id="open_tickets", get_position="x", get_fill_color=OPEN_TICKET,
                      get_radius=10, radius_min_pixels=6, stroked=True, get_line_color=[255, 255, 255, 230],
                      line_width_min_pixels=1.5, pickable=True, parameters=ON_TOP)]


#: A warning (geo.tickets.warnings): a magenta ring of its radius in metres round its place, its centre marked.
WARNING = [255, 64, 200, 255]
WARNING_RING_W = 3


def warning_layers(s: Screen, *, lang: str = "zh") -> list[pdk.Layer]:
    """A ring round each warning's place (its radius in metres, at least 14 px), the tooltip its title and meaning."""
    w = s.warnings
    if w is None or not len(w):
        return []
    rows = [{"x": _xy(x, y), "r": float(r), "n": f"【{k}】{title}：{meaning}"}
            for x, y, r, k, title, meaning in zip(w["lon"], w["lat"], w["radius_m"], w["kind_name"], w["title"],
                                                  w["meaning"])]
    return [pdk.Layer("ScatterplotLayer", rows, id="warnings", get_position="x", get_radius="r", radius_min_pixels=14,
                      filled=True, get_fill_color=WARNING[:3] + [40], stroked=True, get_line_color=WARNING,
                      line_width_units='"pixels"', get_line_width=WARNING_RING_W, pickable=True, parameters=ON_TOP)]


def live_layers(base: Basemap, s: Screen, *, fresh: pd.DataFrame | None = None,
                lang: str = "zh") -> list[pdk.Layer]:
    """Grids by load, outlines, ticket density, names, facilities, cameras and alerts (bottom to top)."""
    layers = [grid_layer(base, s, lang=lang)[0],
              pdk.Layer("PathLayer", [{"p": p} for p in _paths(base.communities.geometry)], id="communities",
                        get_path="p", get_color=[120, 210, 255, 230], get_width=3, width_units='"pixels"')]
    if s.scope.level == "grid":  # one grid: a density cell is as big as the grid; its open tickets one by one
        layers += grid_ticket_layers(s, lang=lang)
    elif len(s.cells):
        top = float(s.cells["count"].max())
        tip = i18n.t("screen.tip_cells", lang)  # the tooltip says what the number is, not a bare "3"
        cells = [{"h": h, "k": int(n), "c": c, "n": tip.format(d=figures.PERIOD_DAYS, n=int(n)), "cm": cm, "g": g}
                 for h, n, c, cm, g in zip(s.cells["hex"], s.cells["count"], _ramp(s.cells["count"], top, HEX_RAMP),
                                           _community_at(base, s.cells["hex"]), _area_at(base.grids, s.cells["hex"]))]
        layers.append(pdk.Layer("H3HexagonLayer", cells, id="ticket_cells", get_hexagon="h", get_fill_color="c",
                                get_elevation="k", elevation_scale=round(ELEVATION_M / top, 2), extruded=True,
                                coverage=0.6, opacity=0.55, pickable=True, high_precision=False))
    # names of the communities, or across several streets of the streets (160 community names are noise)
    named = base.street if base.wide else base.grids if s.scope.level == "grid" else base.communities
    labels = named.assign(pt=named.geometry.representative_point())
    text = [{"t": str(n), "x": _xy(pt.x, pt.y)} for n, pt in zip(labels["name"], labels["pt"])]
    if text:
        chars = sorted(set("".join(r["t"] for r in text)))
        layers.append(pdk.Layer("TextLayer", text, id="community_names", get_position="x", get_text="t",
                                get_size=20, get_color=[235, 245, 255, 255], font_family=f'"{FONT}"',
                                character_set='"' + "".join(chars) + '"', outline_width=3,
                                outline_color=[5, 15, 35, 255], font_settings={"sdf": True}, billboard=True,
                                parameters=ON_TOP))
    return [*layers, *point_layers(base, s, lang=lang), *warning_layers(s, lang=lang), *member_layers(s, lang=lang),
            *alert_layers(s, fresh=fresh, lang=lang, ring=not base.wide)]


def legend(base: Basemap, s: Screen) -> list[dict]:
    """What the map's colours mean, for the page to draw as swatches: kind, CSS colour(s), i18n key.

    Kinds: "ramp" (grids by open load, 0 … ``top``; the H3 density columns, lo … hi, on HEX_RAMP),
    "dot", "ring". Across several streets cameras and facilities are per cell.
    """
    top = int(_grid_open(base, s)[2])
    cams = [("dot", _css(CAMERA_COLORS[k]), f"screen.lg_camera_{k}") for k in ("online", "offline", "fault")]
    fac = ("ring", _css(FACILITY_CELL), "screen.lg_facility_cells") if base.wide else \
        ("dots", [_css(_rgb(t.color)) for t in list(catalogue.FACILITY_TYPES.values())[:4]], "screen.lg_facilities")
    density = ({"kind": "dot", "color": _css(OPEN_TICKET), "key": "screen.lg_open_ticket"}
               if s.scope.level == "grid" else
               {"kind": "ramp", "color": [_css(list(map(int, c))) for c in HEX_RAMP], "key": "screen.lg_cells",
                "lo": 1 if len(s.cells) else 0, "hi": int(s.cells["count"].max()) if len(s.cells) else 0})
    return [{"kind": "ramp", "color": [_css(list(map(int, c))) for c in RAMP], "key": "screen.lg_load",
             "lo": 0, "hi": top},
            density,
            *[{"kind": k, "color": c, "key": key} for k, c, key in cams],
            {"kind": fac[0], "color": fac[1], "key": fac[2]},
            {"kind": "ring", "color": _css(OVERDUE), "key": "screen.lg_overdue"},
            {"kind": "dot", "color": _css(URGENT), "key": "screen.lg_urgent"},
            {"kind": "ring", "color": _css(ON_THE_WAY), "key": "screen.lg_on_the_way"},
            {"kind": "ring", "color": _css(WARNING), "key": "screen.lg_warning"}]


def _css(rgba) -> str:
    r, g, b = rgba[:3]
    return f"rgb({r},{g},{b})"


def _rgb(hex_colour: str) -> list[int]:
    h = hex_colour.lstrip("#")
    return [int(h[i:i + 2], 16) for i in (0, 2, 4)] + [255]


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation and keeps Chinese as UTF-8 (what st.pydeck_chart sends)."""

    def to_json(self) -> str:
        return json.dumps(json.loads(super().to_json()), separators=(",", ":"), ensure_ascii=False)


def raster_style(tiles_url: str) -> str:
    """A MapLibre/Mapbox style with one raster source, as a data: URL (Streamlit takes styles only
    as URLs). The tiles must be Web Mercator in WGS 84 (OSM-like, Tianditu *_w), not GCJ-02, and the
    tile server must allow the dashboard's origin (CORS)."""
    style = {"version": 8, "sources": {"tiles": {"type": "raster", "tiles": [tiles_url], "tileSize": 256}},
             "layers": [{"id": "tiles", "type": "raster", "source": "tiles"}]}
    return "data:application/json," + quote(json.dumps(style, separators=(",", ":")), safe="")


def deck(base: Basemap, s: Screen, *, basemap: str = "offline", tiles_url: str | None = None,
         height_px: int = 720, width_px: int = MAP_WIDTH_PX, fresh: pd.DataFrame | None = None,
         lang: str = "zh") -> pdk.Deck:
    """The screen's Deck. ``basemap``: "offline" (no outside host), "carto" (online dark tiles) or
    "tiles" (``tiles_url``, a self-hosted XYZ template).

    ``fresh``: tickets overdue since the last refresh (geo.screen.figures.newly_overdue),
    ringed in white. Only layers change between refreshes, never the initial
    view state, so Streamlit keeps the wall's view.
    """
    if basemap not in BASEMAPS:
        raise ValueError(f"basemap must be 'offline', 'carto' or 'tiles', not {basemap!r}")
    if basemap == "tiles" and not tiles_url:
        raise ValueError("basemap 'tiles' needs tiles_url")
    online = basemap != "offline"
    layers = [*base_layers(base, roads=not online), *live_layers(base, s, fresh=fresh, lang=lang)]
    view = view_state(base.bounds, width_px=width_px, height_px=height_px)
    tooltip = {"text": "{n}"}
    if basemap == "carto":
        return CompactDeck(layers=layers, initial_view_state=view, map_provider="carto", map_style="dark",
                           tooltip=tooltip)
    if basemap == "tiles":
        return CompactDeck(layers=layers, initial_view_state=view, map_provider=None,
                           map_style=raster_style(tiles_url), tooltip=tooltip)
    # map_style stays pydeck's sentinel: map_style=None would make Streamlit add a Carto basemap.
    return CompactDeck(layers=layers, initial_view_state=view, map_provider=None, tooltip=tooltip)


def payload_bytes(d: pdk.Deck) -> int:
    """Bytes of the Deck's JSON as st.pydeck_chart sends it."""
    return len(d.to_json().encode("utf-8"))


__all__ = ["CompactDeck", "deck", "picked_community", "picked_grid", "base_layers", "live_layers", "grid_layer",
           "point_layers", "alert_layers", "member_layers", "warning_layers",
           "legend", "raster_style", "view_state", "payload_bytes"]
