"""The import preview on the offline map: framed on the street whatever the frame's size, every
layer and every located finding drawn, and the layer control rendered after the overlays it lists."""
from __future__ import annotations

import json
import math

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from geo.load import preview_map
from geo.load.checks import Finding


def _street() -> dict[str, pd.DataFrame]:
    street = gpd.GeoDataFrame({"code": ["110105001"], "name": ["示例街道"]},
                              geometry=[box(116.40, 39.90, 116.43, 39.92)], crs=4326)
    grid = gpd.GeoDataFrame({"code": ["110105001001001"], "name": ["一网格"]},
                            geometry=[box(116.40, 39.90, 116.415, 39.91)], crs=4326)
    facility = gpd.GeoDataFrame({"name": ["<b>卫生站</b>"]}, geometry=[Point(116.41, 39.905)], crs=4326)
    return {"street": street, "grid": grid, "facility": facility}


def _pixels(lon0, lat0, lon1, lat1, zoom):
    """Width and height in screen pixels of a lon-lat box at a Web Mercator zoom."""
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    scale = 256 * 2 ** zoom
    return (lon1 - lon0) / 360 * scale, (merc(lat1) - merc(lat0)) / (2 * math.pi) * scale


def test_the_view_fits_the_street_snugly_in_the_frame():
    for width, height in ((900, 520), (360, 520), (1800, 300)):
        centre, zoom = preview_map.view(_street(), width_px=width, height_px=height)
        assert centre == [39.91, 116.415]
        w, h = _pixels(116.40, 39.90, 116.43, 39.92, zoom)
        assert w <= width and h <= height  # the whole street is seen
        assert max(w / width, h / height) > 0.7  # and fills most of the frame, not a speck
    assert preview_map.view({"grid": _street()["grid"]}) is None  # no street: the map frames itself


def test_the_preview_draws_layers_and_findings_and_escapes_names():
    lost = Finding("outside_street", "error", "facility", codes=("F1",), geometry=Point(116.45, 39.95))
    unplaced = Finding("code_missing", "warning", "grid", codes=("X",))
    html = preview_map.preview(_street(), [lost, unplaced]).get_root().render()
    assert json.dumps("一网格")[1:-1] in html  # the grid layer with its name (JSON-escaped in the page)
    assert "<b>卫生站</b>" not in html  # a facility's name is shown as text
    assert html.count("[39.95, 116.45]") == 1  # the located finding, once; the unplaced one is not drawn
    control = html.rfind("L.control.layers")
    assert control > html.rfind("circle_marker_"), "the layer control must come after the overlays"
    assert "bounds = [[39.9, 116.4], [39.92, 116.43]]" in html and "invalidateSize" in html  # refitted once
    # the frame has its real size
