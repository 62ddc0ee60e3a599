"""geo.maps.leaflet: the street map draws every layer and stays offline when asked."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import folium
import geopandas as gpd
import numpy as np
import shapely
import pytest
from shapely.geometry import LineString, Point, box

from geo import settings
from geo.place import catalogue, coords
from geo.maps import leaflet, offline
from geo.tickets import workflow
from geo.errors import ValidationError
from geo.i18n import t

CRS = "EPSG:4326"
X0, Y0 = 103.94, 30.99  # the demo town
D = 0.004  # ~400 m squares


def _gdf(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def make_layers() -> dict[str, gpd.GeoDataFrame]:
    """Two square communities, two grids each, a few roads, buildings and points."""
    now = datetime(2025, 5, 1, 9, 0)
    comm = [box(X0, Y0, X0 + D, Y0 + D), box(X0 + D, Y0, X0 + 2 * D, Y0 + D)]
    grids = []
    for ci, poly in enumerate(comm):
        x, y = poly.bounds[:2]
        for gi in range(2):
            grids.append({
                "id": ci * 10 + gi, "code": f"G{ci}{gi}", "name": f"锦华{ci}-{gi}网格",
                "community_id": ci + 1, "community_name": f"社区{ci + 1}",
                "grid_type": ["area", "estate"][gi], "households": 300 + gi,
                "residents": 800 + gi, "grid_head": None if gi else "张三",
                "geometry": box(x + gi * D / 2, y, x + (gi + 1) * D / 2, y + D)})
    return {
        "street": _gdf([{"name": "天彭街道", "geometry": box(X0, Y0, X0 + 2 * D, Y0 + D)}]),
        "communities": _gdf([{"id": i + 1, "code": f"C{i}", "name": f"社区{i + 1}",
                              "geometry": g} for i, g in enumerate(comm)]),
        "grids": _gdf(grids),
        "roads": _gdf([
            {"id": 1, "kind": "arterial", "name": "天彭大道",
             "geometry": LineString([(X0, Y0 + D / 2), (X0 + 2 * D, Y0 + D / 2)])},
            {"id": 2, "kind": "footway", "name": "滨河步道",
             "geometry": LineString([(X0 + D, Y0), (X0 + D, Y0 + D)])}]),
        "buildings": _gdf([{"id": 1, "name": "1栋", "grid_id": 0, "floors": 6,
                            "households": 24, "residents": 60,
                            "geometry": box(X0 + 0.0005, Y0 + 0.0005, X0 + 0.0008, Y0 + 0.0007)}]),
        "facilities": _gdf([{"id": 1, "type": "clinic", "name": "锦华卫生站", "community_name": "社区1",
                             "address": "天彭路18号", "open_hours": "08:30-17:30",
                             "geometry": Point(X0 + 0.001, Y0 + 0.001)}]),
        "cameras": _gdf([{"id": i, "code": f"CAM{i}", "name": f"摄像头{i}", "heading": 90 * i,
                          "fov": 60, "range_m": 50, "status": s,
                          "geometry": Point(X0 + 0.0005 * (i + 1), Y0 + 0.002)}
                         for i, s in enumerate(["online", "offline", "fault"])]),
        "tickets": _gdf([
            {"id": 1, "code": "T-OVERDUE", "category": "环境卫生", "state": "in_progress",
             "grid_name": "锦华0-1网格", "level": "community", "description": "垃圾" * 40,
             "urgent": True, "created_at": now - timedelta(days=9), "due_at": now - timedelta(days=2),
             "overdue": True, "geometry": Point(X0 + 0.003, Y0 + 0.003)},
            {"id": 2, "code": "T-ONTIME", "category": "矛盾纠纷", "state": "reported",
             "urgent": False, "created_at": now, "due_at": now + timedelta(days=3),
             "overdue": False, "geometry": Point(X0 + 0.005, Y0 + 0.002)}]),
    }


def _circle_markers(m: folium.Map) -> dict[str, folium.CircleMarker]:
    """Ticket code (its tooltip) → CircleMarker."""
    out = {}
    for el in offline._walk(m):
        if isinstance(el, folium.CircleMarker):
            tip = next(c for c in el._children.values() if isinstance(c, folium.Tooltip))
            out[tip.text] = el
    return out


def render(m: folium.Map) -> str:
    """The page HTML with JSON's \\uXXXX escapes decoded, as a browser would read it."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)),
                  m.get_root().render())


REMOTE = re.compile(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", re.I)


def test_offline_map_has_no_outside_url():
    m = leaflet.street_map(make_layers(), basemap="offline")
    html = render(m)
    assert not REMOTE.findall(html), REMOTE.findall(html)[:5]
    js, css = offline.collected_links(m)
    assert js and css
    assert all(u.startswith(offline.VENDOR_URL + "/") for u in js + css), js + css


def test_offline_map_matches_what_st_folium_collects():
    """st_folium's own walk must see the same local links (it feeds its iframe)."""
    st_folium = pytest.importorskip("streamlit_folium")
    m = leaflet.street_map(make_layers(), basemap="offline")
    render(m)
    header = st_folium._get_header(m)
    script = st_folium._get_map_string(m)
    assert not REMOTE.findall(header) and not REMOTE.findall(script)
    assert "sq-zoomed-out" in script  # the label zoom watcher survives st_folium


def test_osm_basemap_includes_tiles_and_only_tiles_are_remote():
    m = leaflet.street_map(make_layers(), basemap="osm")
    html = render(m)
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html
    hosts = {h.split("//")[-1] for h in REMOTE.findall(html)}
    assert hosts <= {"tile.openstreetmap.org", "www.openstreetmap.org"}, hosts
    js, css = offline.collected_links(m)
    assert not [u for u in js + css if "//" in u]


def test_attribution_names_the_data_not_leaflet():
    """Issue 13, item 5: Leaflet's own prefix (a link to leafletjs.com and a flag) was on every map;
    the control now says plainly whose data is drawn, and the tiles add their own credit."""
    st_folium = pytest.importorskip("streamlit_folium")
    for basemap in ("offline", "osm"):
        m = leaflet.street_map(make_layers(), basemap=basemap)
        script = render(m) if basemap == "osm" else st_folium._get_map_string(m)
        assert "attributionControl.setPrefix(false)" in script
        assert 'addAttribution("图层：本街道网格化管理数据")' in script
    html = render(leaflet.street_map(make_layers(), basemap="osm", lang="en"))
    assert "OpenStreetMap</a> contributors" in html and "the street&#x27;s grid-management data" in html


def test_buildings_carry_their_numbers_close_in():
    """Issue 13, item 10: the report map (a grid, or the buildings around a picked spot) shows the
    numbers people read on the buildings, from zoom 16.5 on."""
    html = render(leaflet.street_map(make_layers(), basemap="offline"))
    assert '<div class=\\"sq-bldg-label\\">1栋</div>' in html and "楼栋号" in html
    assert 'toggle("sq-far", z < 16.5)' in html
    many = make_layers()
    many["buildings"] = gpd.GeoDataFrame(
        [{**many["buildings"].iloc[0].to_dict(), "id": i, "name": f"{i}栋"} for i in range(leaflet.BUILDING_LABELS_MAX + 1)],
        geometry="geometry", crs=CRS)
    assert '<div class=\\"sq-bldg-label\\">' not in render(leaflet.street_map(many, basemap="offline"))  # a street: none


def test_unknown_basemap_is_refused():
    with pytest.raises(ValidationError, match="basemap"):
        leaflet.street_map(make_layers(), basemap="google")


def test_overdue_ticket_has_red_ring_and_on_time_one_does_not():
    m = leaflet.street_map(make_layers())
    marks = _circle_markers(m)
    late, ok = marks["T-OVERDUE"].options, marks["T-ONTIME"].options
    assert late["color"] == leaflet.OVERDUE_RING and late["weight"] >= 3
    assert ok["color"] != leaflet.OVERDUE_RING and ok["weight"] < 3
    assert ok["fillColor"] == workflow.STATES["reported"].color
    assert late["fillColor"] == workflow.STATES["in_progress"].color
    assert render(m).count(f'"color": "{leaflet.OVERDUE_RING}"') == 1


def test_facility_glyph_and_colour_in_html():
    html = render(leaflet.street_map(make_layers()))
    clinic = catalogue.FACILITY_TYPES["clinic"]
    assert f"background:{clinic.color}" in html
    assert f">{clinic.glyph}</div>" in html


def test_camera_status_colours():
    html = render(leaflet.street_map(make_layers()))
    for status, colour in leaflet.CAMERA_COLORS.items():
        assert f"sq-cam-{status}" in html and f"background:{colour}" in html


def test_layer_names_are_translated():
    zh = render(leaflet.street_map(make_layers(), lang="zh"))
    en = render(leaflet.street_map(make_layers(), lang="en"))
    for key in ("layer.tickets", "layer.cameras", "layer.facilities", "layer.grids"):
        assert t(key, "zh") in zh and t(key, "en") in en
    assert "锦华0-0网格" in zh  # grid label
    assert "小区型" in zh and "Estate" in en  # grid type translated in popups


def test_same_community_same_colour_across_grids():
    layers = make_layers()
    colours = leaflet.community_colors(layers["communities"])
    assert len(set(colours.values())) == 2
    again = leaflet.community_colors(layers["communities"].iloc[::-1])
    assert colours == again


def test_fits_street_bounds_unless_centre_given():
    m = leaflet.street_map(make_layers())
    html = render(m)
    assert "fitBounds" in html and f"{X0 + 2 * D}" in html
    m2 = leaflet.street_map(make_layers(), center=(31.0, 104.0), zoom=17)
    assert "fitBounds" not in render(m2)


def test_missing_and_empty_layers_still_draw():
    layers = make_layers()
    empty = {"tickets": layers["tickets"].iloc[0:0], "street": layers["street"]}
    html = render(leaflet.street_map(empty))
    assert "leaflet" in html
    assert not REMOTE.findall(render(leaflet.street_map({})))


def test_many_tickets_are_clustered_and_still_local():
    t0 = make_layers()["tickets"].iloc[[1]]
    many = gpd.GeoDataFrame(
        [{**t0.iloc[0].to_dict(), "id": i, "code": f"T{i}",
          "geometry": Point(X0 + (i % 30) * 0.0002, Y0 + (i // 30) * 0.0002)}
         for i in range(leaflet.CLUSTER_THRESHOLD + 1)], geometry="geometry", crs=CRS)
    m = leaflet.street_map({"tickets": many})
    assert any(isinstance(e, folium.plugins.MarkerCluster) for e in offline._walk(m))
    assert m.options["max_zoom"] >= 18  # Leaflet.markercluster throws without a map maxZoom
    js, css = offline.collected_links(m)
    assert f"{offline.VENDOR_URL}/leaflet-markercluster/leaflet.markercluster.js" in js
    assert not REMOTE.findall(render(m))


def test_community_names_label_the_street_view_and_hide_close_in():
    m = leaflet.street_map(make_layers())
    html = render(m)
    colours = leaflet.community_colors(make_layers()["communities"])
    for cid, name in ((1, "社区1"), (2, "社区2")):
        assert re.search(rf'sq-community-label\\?" style=\\?"color:{colours[cid]}\\?">{name}</div>', html)
    assert f"z >= {leaflet.COMMUNITY_LABEL_MAX_ZOOM}" in html  # hidden once grid names take over
    assert leaflet.COMMUNITY_LABEL_MAX_ZOOM > leaflet.LABEL_MIN_ZOOM  # some zoom shows both


def test_popups_carry_the_essentials():
    html = render(leaflet.street_map(make_layers()))
    assert "天彭路18号" in html and "08:30-17:30" in html  # facility: address, hours
    assert "锦华0-1网格" in html and t("level.community") in html  # ticket: grid, level
    cut = "垃圾" * 29 + "垃…"  # a long description is cut to POPUP_TEXT_CHARS
    assert cut in html and "垃圾" * 31 not in html
    assert len(cut) == leaflet.POPUP_TEXT_CHARS


def test_gaode_basemap_shifts_every_overlay_to_gcj02_and_clicks_back():
    layers = make_layers()
    html = render(leaflet.street_map(layers, basemap="amap"))
    assert "autonavi.com" in html
    corner = layers["street"].geometry.iloc[0].exterior.coords[0]
    g_lon, g_lat = coords.wgs84_to_gcj02(*corner)
    assert f"[{g_lon:.6f}".rstrip("0") in html  # the street outline, moved
    assert f"[{corner[0]}, {corner[1]}]" not in html  # …and not left where WGS 84 has it
    fac = layers["facilities"].geometry.iloc[0]
    f_lon, f_lat = coords.wgs84_to_gcj02(fac.x, fac.y)
    assert f"[{f_lat}, {f_lon}]" in html  # point markers too
    # a click on the Gaode map lands where the store keeps the place
    lon, lat = leaflet.click_lonlat("amap", float(f_lat), float(f_lon))
    assert (lon, lat) == pytest.approx((fac.x, fac.y), abs=1e-8)
    assert leaflet.click_lonlat("offline", fac.y, fac.x) == (fac.x, fac.y)


def test_gcj02_matches_the_published_offset_and_stays_out_of_other_countries():
    # Tiananmen: the value every GCJ-02 implementation reproduces
    lon, lat = coords.wgs84_to_gcj02(116.404, 39.915)
    assert (float(lon), float(lat)) == pytest.approx((116.410244, 39.916404), abs=1e-6)
    # a few hundred metres in Pengzhou, nothing in Paris
    d_lon, d_lat = (v - w for v, w in zip(coords.wgs84_to_gcj02(X0, Y0), (X0, Y0)))
    assert 100 < abs(complex(d_lon * 95_500, d_lat * 111_000)) < 700
    assert coords.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    back = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(X0, Y0))
    assert back == pytest.approx((X0, Y0), abs=1e-9)  # < 0.1 mm


def test_tianditu_and_self_hosted_tiles_appear_only_when_configured(monkeypatch):
    assert {"offline", "osm", "amap"} <= set(leaflet.basemap_labels()) and "tianditu" not in leaflet.basemap_labels()
    monkeypatch.setattr(settings, "TIANDITU_KEY", "k123")
    monkeypatch.setattr(settings, "TILE_URL", "http://tiles.intranet/{z}/{x}/{y}.png")
    monkeypatch.setattr(settings, "TILE_DATUM", "gcj-02?")
    with pytest.warns(UserWarning, match="SHEQU_TILE_DATUM"):
        known = leaflet.available_basemaps()
    assert known["custom"].datum == "wgs84"  # a datum it does not know is not guessed at
    monkeypatch.setattr(settings, "TILE_DATUM", "wgs84")
    html = render(leaflet.street_map(make_layers(), basemap="tianditu"))
    assert "tianditu.gov.cn/vec_w" in html and "tianditu.gov.cn/cva_w" in html and "tk=k123" in html
    assert leaflet.basemap_labels("zh")["tianditu"] == "天地图"
    assert "tiles.intranet" in render(leaflet.street_map(make_layers(), basemap="custom"))


def test_layers_added_after_the_street_map_are_moved_once_too():
    """Coverage and a grid head's patch draw on top of street_map: the same call moves them, once."""
    m = leaflet.street_map(make_layers(), basemap="amap")
    late = folium.CircleMarker([Y0 + 0.001, X0 + 0.001], radius=5).add_to(m)
    leaflet.to_tile_datum(m)
    lon, lat = coords.wgs84_to_gcj02(X0 + 0.001, Y0 + 0.001)
    assert late.location == [float(lat), float(lon)]
    fac = make_layers()["facilities"].geometry.iloc[0]
    f_lon, f_lat = coords.wgs84_to_gcj02(fac.x, fac.y)
    assert f"[{f_lat}, {f_lon}]" in render(m)  # the first map's markers were not moved a second time
    offline_map = leaflet.street_map(make_layers(), basemap="offline")
    assert leaflet.to_tile_datum(offline_map) is offline_map and f"[{fac.y}, {fac.x}]" in render(offline_map)


def test_frames_fit_in_quarter_zoom_steps():
    """A whole-zoom fit can leave the street at half the frame's width."""
    html = render(leaflet.street_map(make_layers()))
    assert f'"zoomSnap": {leaflet.ZOOM_SNAP}' in html and leaflet.ZOOM_SNAP < 1


# --------------------------------------------------------------------------- what a map sends (issue 15)

def test_outlines_are_thinned_to_half_a_pixel_at_the_opening_zoom():
    """A wiggly outline keeps the corners a screen can show at the zoom its frame opens at, no more,
    and stays within half a pixel of where it was (and valid)."""
    lon0, lat0 = 103.95, 30.98
    t_ = np.linspace(0, 2 * np.pi, 4000)  # 4,000 corners around ~1 km, wiggling by ~5 cm
    ring = np.c_[lon0 + 0.005 * np.cos(t_) + 5e-7 * np.sin(400 * t_), lat0 + 0.005 * np.sin(t_)]
    gdf = gpd.GeoDataFrame({"id": [1], "code": ["1"], "name": ["一社区"]}, geometry=[shapely.Polygon(ring)],
                           crs="EPSG:4326")
    bounds = [[lat0 - 0.005, lon0 - 0.005], [lat0 + 0.005, lon0 + 0.005]]
    zoom = leaflet.fit_zoom(bounds)
    assert 16 < zoom < 18  # a kilometre across 1,920 px
    thin = leaflet.simplify_for_zoom(gdf, zoom)
    before, after = shapely.get_num_coordinates(gdf.geometry.values)[0], shapely.get_num_coordinates(thin.geometry.values)[0]
    assert after < before / 10 and thin.geometry.is_valid.all()
    assert gdf.geometry.iloc[0].hausdorff_distance(thin.geometry.iloc[0]) <= leaflet.half_pixel_deg(zoom, lat0) * 1.01
    html = leaflet.street_map({"communities": gdf}).get_root().render()
    assert html.count("],") < before / 5  # the drawn map carries the thinned outline


def test_a_grid_heads_maps_read_their_area_not_the_street(town_url, monkeypatch):
    """The map page of a grid head reads the grid and what is around it, framed on it, and my_area's
    grid map reads that one grid (it read every grid of the database). The street map page sent a
    grid head the whole street (small test town: 0.62 MB; now 0.34 MB) before issue 15."""
    from streamlit.testing.v1 import AppTest

    from geo import settings
    from geo.access import auth
    from geo.demo import accounts
    from geo.db import store
    from geo.maps import area, layers

    eng = store.make_engine(town_url)
    user = auth.authenticate(eng, "gridhead1", accounts.DEMO_PASSWORD, now=settings.now())
    got = layers.street_layers(eng, settings.now(), scope=user.scope, street_id=1, around=layers.AROUND_M)
    street = layers.street_layers(eng, settings.now(), scope=user.scope, street_id=1)
    assert user.scope.grid_id in set(got["grids"]["id"]) and len(got["grids"]) < len(street["grids"]) / 2
    assert len(got["buildings"]) < len(street["buildings"]) / 2
    assert set(got["buildings"]["grid_id"]) >= {user.scope.grid_id}
    calls = []
    real = layers.grids
    monkeypatch.setattr(layers, "grids", lambda *a, **k: calls.append(k) or real(*a, **k))
    mine = area.grid_layers(eng, scope=user.scope, grid_id=user.scope.grid_id, now=settings.now())
    assert mine["grids"]["id"].tolist() == [user.scope.grid_id] and all(k.get("where") is not None for k in calls)
    monkeypatch.undo()

    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=300)
    at.session_state["user"] = user
    at.run()
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    assert any("周边 300 米" in c.value and "全街道" not in c.value for c in at.caption)  # says what it draws

    def size(node) -> int:
        own = node.proto.ByteSize() if node.type == "component_instance" else 0
        return own + sum(size(c) for c in getattr(node, "children", {}).values())
    assert 0 < size(at._tree) < 400_000
    eng.dispose()
