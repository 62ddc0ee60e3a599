"""The big screen's map as a pydeck (deck.gl, WebGL) Deck: aggregates in, compact JSON out.

Layers, bottom to top: the street and its roads (the offline basemap), grids
coloured by open-ticket load, community outlines and names, an extruded H3
layer of ticket density, facilities, cameras (green online, grey offline,
amber fault), and the overdue (red, haloed, in a wide pulsing red ring) and
urgent (orange) tickets.

Offline by default. Note the trap: ``pdk.Deck(map_provider=None,
map_style=None)`` leaves ``mapStyle`` out of the JSON, and Streamlit's
st.pydeck_chart then fills in a Carto basemap (basemaps.cartocdn.com) of its
own. Leaving ``map_style`` at pydeck's default sentinel with
``map_provider=None`` sends ``"mapStyle": "__MAP_STYLE__"``, which Streamlit
reads as "no basemap". ``BASEMAP = "carto"`` asks for Carto's dark tiles
(WGS 84, so no GCJ-02 shift is needed).

pydeck reads every plain string argument as a JavaScript accessor; literal
strings (units, fonts, character sets) are passed quoted.

Coordinates are rounded to 5 decimals (about 1 m) and colours computed here,
so the browser gets small arrays and plain field accessors.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pydeck as pdk

from geo import catalogue
from geo.screen import Basemap, Screen

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


def _ramp(values, top: float) -> list[list[int]]:
    """Colour per value on RAMP, ``top`` mapping to the hottest colour."""
    v = np.clip(np.asarray(values, dtype=float) / (top or 1.0), 0, 1) * (len(RAMP) - 1)
    lo = np.floor(v).astype(int)
    hi = np.minimum(lo + 1, len(RAMP) - 1)
    frac = (v - lo)[:, None]
    rgb = RAMP[lo] * (1 - frac) + RAMP[hi] * frac
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


def view_state(bounds: tuple[float, float, float, float], *, width_px: int = 1000, height_px: int = 720,
               pitch: float = 40) -> pdk.ViewState:
    """Centre and zoom that fit ``bounds`` into a map of the given pixel size."""
    x0, y0, x1, y1 = bounds
    lat = (y0 + y1) / 2
    dlon = max(x1 - x0, 1e-4)
    dlat = max(y1 - y0, 1e-4) / math.cos(math.radians(lat))
    # deck.gl's zoom 0 shows the world in 512 px
    zoom = min(math.log2(width_px * 360 / (512 * dlon)), math.log2(height_px * 360 / (512 * dlat)))
    return pdk.ViewState(longitude=round((x0 + x1) / 2, DIGITS), latitude=round(lat, DIGITS),
                         zoom=round(zoom - 0.05 + (0.15 if pitch else 0), 2), pitch=pitch, bearing=0)


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


#: Pixel radius of the ring round each overdue ticket, by pulse phase (the page alternates it each refresh).
RING_PX = (16, 24)


def live_layers(base: Basemap, s: Screen, *, pulse: int = 0) -> list[pdk.Layer]:
    """Grids by load, outlines, ticket density, facilities, cameras and alerts.

    Overdue tickets get a wide red ring drawn over everything (the H3 columns
    included) whose size follows ``pulse`` (0 or 1): the page flips it on each
    refresh, so the rings beat without the view being touched.
    """
    load = base.grids[["id"]].merge(s.grid_load, left_on="id", right_on="grid_id", how="left")
    open_ = load["open"].fillna(0).to_numpy()
    colours = _ramp(open_, max(float(open_.max()) if len(open_) else 1.0, 1.0))
    grids = []
    for geom, n, c in zip(base.grids.geometry, open_, colours):
        for p in _polygons([geom]):
            grids.append({"p": p, "n": int(n), "c": [*c, 70 if n == 0 else 150]})
    layers = [
        pdk.Layer("PolygonLayer", grids, id="grids", get_polygon="p", get_fill_color="c",
                  get_line_color=[110, 160, 230, 110], line_width_min_pixels=1, stroked=True, filled=True,
                  pickable=True),
        pdk.Layer("PathLayer", [{"p": p} for p in _paths(base.communities.geometry)], id="communities",
                  get_path="p", get_color=[120, 210, 255, 230], get_width=3, width_units='"pixels"'),
    ]
    if len(s.cells):
        top = float(s.cells["count"].max())
        cells = [{"h": h, "n": int(n), "c": c}
                 for h, n, c in zip(s.cells["hex"], s.cells["count"], _ramp(s.cells["count"], top))]
        layers.append(pdk.Layer("H3HexagonLayer", cells, id="ticket_cells", get_hexagon="h", get_fill_color="c",
                                get_elevation="n", elevation_scale=round(ELEVATION_M / top, 2), extruded=True,
                                coverage=0.6, opacity=0.55, pickable=True, high_precision=False))
    labels = base.communities.assign(pt=base.communities.geometry.representative_point())
    text = [{"t": str(n), "x": [round(pt.x, DIGITS), round(pt.y, DIGITS)]} for n, pt in zip(labels["name"], labels["pt"])]
    if text:
        chars = sorted(set("".join(r["t"] for r in text)))
        layers.append(pdk.Layer("TextLayer", text, id="community_names", get_position="x", get_text="t",
                                get_size=20, get_color=[235, 245, 255, 255], font_family=f'"{FONT}"',
                                character_set='"' + "".join(chars) + '"', outline_width=3, outline_color=[5, 15, 35, 255],
                                font_settings={"sdf": True}, billboard=True, parameters=ON_TOP))
    if len(base.facilities):
        fac = [{"x": [round(x, DIGITS), round(y, DIGITS)], "c": _rgb(catalogue.FACILITY_TYPES[t].color)}
               for t, x, y in zip(base.facilities["type"], base.facilities["lon"], base.facilities["lat"])
               if t in catalogue.FACILITY_TYPES]
        layers.append(pdk.Layer("ScatterplotLayer", fac, id="facilities", get_position="x", get_fill_color="c",
                                get_radius=12, radius_min_pixels=3, radius_max_pixels=8, stroked=True,
                                get_line_color=[255, 255, 255, 200], line_width_min_pixels=1))
    if len(s.cameras):
        cams = [{"x": [round(x, DIGITS), round(y, DIGITS)], "c": CAMERA_COLORS.get(st, CAMERA_COLORS["offline"])}
                for st, x, y in zip(s.cameras["status"], s.cameras["lon"], s.cameras["lat"])]
        layers.append(pdk.Layer("ScatterplotLayer", cams, id="cameras", get_position="x", get_fill_color="c",
                                get_radius=8, radius_min_pixels=2.5, radius_max_pixels=6))
    if len(s.alerts):
        pts = [{"x": [round(x, DIGITS), round(y, DIGITS)], "c": OVERDUE if o else URGENT, "k": code}
               for x, y, o, code in zip(s.alerts["lon"], s.alerts["lat"], s.alerts["overdue"], s.alerts["code"])]
        ring = [p for p, o in zip(pts, s.alerts["overdue"]) if o]
        layers += [
            pdk.Layer("ScatterplotLayer", ring, id="overdue_ring", get_position="x", get_radius=1,
                      radius_units='"pixels"', radius_min_pixels=RING_PX[pulse % 2], filled=False, stroked=True,
                      get_line_color=OVERDUE, line_width_units='"pixels"', get_line_width=4 + 2 * (pulse % 2),
                      parameters=ON_TOP),
            pdk.Layer("ScatterplotLayer", pts, id="alert_halo", get_position="x", get_radius=45,
                      radius_min_pixels=11, filled=True, get_fill_color=[255, 40, 50, 60], stroked=True,
                      get_line_color="c", line_width_min_pixels=2.5, parameters=ON_TOP),
            pdk.Layer("ScatterplotLayer", pts, id="alerts", get_position="x", get_fill_color="c", get_radius=14,
                      radius_min_pixels=5, pickable=True, stroked=True, get_line_color=[255, 255, 255, 255],
                      line_width_min_pixels=1, parameters=ON_TOP),
        ]
    return layers


def _rgb(hex_colour: str) -> list[int]:
    h = hex_colour.lstrip("#")
    return [int(h[i:i + 2], 16) for i in (0, 2, 4)] + [255]


class CompactDeck(pdk.Deck):
    """A Deck whose JSON has no indentation and keeps Chinese as UTF-8 (what st.pydeck_chart sends)."""

    def to_json(self) -> str:
        return json.dumps(json.loads(super().to_json()), separators=(",", ":"), ensure_ascii=False)


def deck(base: Basemap, s: Screen, *, basemap: str = "offline", height_px: int = 720,
         width_px: int = 1000, pulse: int = 0) -> pdk.Deck:
    """The screen's Deck. ``basemap``: "offline" (no outside host) or "carto" (online dark tiles).

    ``pulse`` (0/1) sizes the overdue rings; only layers change with it, never
    the initial view state, so Streamlit keeps the wall's view across refreshes.
    """
    if basemap not in ("offline", "carto"):
        raise ValueError(f"basemap must be 'offline' or 'carto', not {basemap!r}")
    online = basemap == "carto"
    layers = [*base_layers(base, roads=not online), *live_layers(base, s, pulse=pulse)]
    view = view_state(base.bounds, width_px=width_px, height_px=height_px)
    tooltip = {"text": "{n}"}
    if online:
        return CompactDeck(layers=layers, initial_view_state=view, map_provider="carto", map_style="dark",
                        tooltip=tooltip)
    # map_style stays pydeck's sentinel: map_style=None would make Streamlit add a Carto basemap.
    return CompactDeck(layers=layers, initial_view_state=view, map_provider=None, tooltip=tooltip)


def payload_bytes(d: pdk.Deck) -> int:
    """Bytes of the Deck's JSON as st.pydeck_chart sends it."""
    return len(d.to_json().encode("utf-8"))


__all__ = ["CompactDeck", "deck", "base_layers", "live_layers", "view_state", "payload_bytes"]
