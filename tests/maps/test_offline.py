"""geo.maps.offline: map assets are copied locally and maps link only to the copies."""
from __future__ import annotations

import os
import re
import threading

import folium
import folium.plugins
import pytest

from geo.maps import offline
from geo.errors import ValidationError


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    d = tmp_path_factory.mktemp("static")
    offline.install_vendor_assets(d)
    return d


def _file_for(static, url: str):
    assert url.startswith(offline.VENDOR_URL + "/"), url
    return static / "vendor" / url[len(offline.VENDOR_URL) + 1:]


def test_every_local_url_has_a_file(static):
    for url, path in offline.local_files(static).items():
        assert path.is_file() and path.stat().st_size > 100, url
        assert _file_for(static, url) == path


def test_every_link_of_a_localised_map_exists(static):
    m = folium.Map(tiles=None)
    folium.plugins.MarkerCluster().add_to(m)
    offline.localise(m)
    js, css = offline.collected_links(m)
    assert len(js) >= 4 and len(css) >= 4
    for url in js + css:
        assert _file_for(static, url).is_file(), url


def test_css_relative_references_resolve(static):
    """leaflet.css → images/*.png and Font Awesome → ../webfonts/* are copied too."""
    for rel in ("leaflet/leaflet.css", "font-awesome/css/all.min.css",
                "bootstrap/css/bootstrap.min.css",
                "leaflet-markercluster/MarkerCluster.Default.css"):
        css = (static / "vendor" / rel).read_text(encoding="utf-8")
        for ref in re.findall(r"url\(([^)]+)\)", css):
            ref = ref.strip("'\"")
            if ref.startswith(("data:", "#")):
                continue
            assert not ref.startswith(("http:", "https:", "//")), (rel, ref)
            target = (static / "vendor" / rel).parent / ref.split("?")[0].split("#")[0]
            assert target.is_file(), (rel, ref)


def test_install_is_idempotent_and_repairs(static):
    leaflet = static / "vendor" / "leaflet" / "leaflet.js"
    before = leaflet.stat().st_mtime_ns
    offline.install_vendor_assets(static)
    assert leaflet.stat().st_mtime_ns == before  # untouched when current
    leaflet.write_text("truncated")
    offline.install_vendor_assets(static)
    assert leaflet.stat().st_size > 100_000  # a damaged copy is replaced
    assert not [p for p in leaflet.parent.iterdir() if p.name.startswith(".")]


def test_concurrent_installs_do_not_break(tmp_path):
    errors: list[BaseException] = []

    def run():
        try:
            offline.install_vendor_assets(tmp_path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for path in offline.local_files(tmp_path).values():
        assert path.is_file()
    leftovers = [p for p in (tmp_path / "vendor").rglob(".*") if p.is_file()]
    assert not leftovers


def test_localise_leaves_no_remote_link():
    m = folium.Map(tiles=None)
    folium.plugins.MarkerCluster().add_to(m)
    folium.CircleMarker([30.99, 103.94], radius=5).add_to(m)
    m.get_root().render()  # rendered once before: CDN links already in the header
    offline.localise(m)
    html = m.get_root().render()
    assert not re.findall(r"https?://", html)
    js, css = offline.collected_links(m)
    assert all(u.startswith("/app/static/vendor/") for u in js + css)
    assert not any(w in u for u in js + css for w in ("awesome-markers", "rotate", "glyphicons"))


def test_localise_is_idempotent():
    m = offline.localise(offline.localise(folium.Map(tiles=None)))
    js, _ = offline.collected_links(m)
    assert f"{offline.VENDOR_URL}/leaflet/leaflet.js" in js


def test_unknown_remote_asset_raises():
    m = folium.Map(tiles=None)
    el = folium.plugins.MarkerCluster().add_to(m)
    el.default_js = [*el.default_js, ("heatmapjs", "https://cdn.example.com/heat.js")]
    with pytest.raises(ValidationError, match="heatmapjs"):
        offline.localise(m)


def test_plugin_without_local_copy_raises():
    m = folium.Map(tiles=None)
    folium.plugins.HeatMap([[30.99, 103.94]]).add_to(m)
    with pytest.raises(ValidationError, match="HeatMap"):
        offline.localise(m)


def test_folium_icon_refused():
    m = folium.Map(tiles=None)
    folium.Marker([30.99, 103.94], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(ValidationError, match="awesome-markers"):
        offline.localise(m)


def test_local_asset_already_local_is_kept():
    m = folium.Map(tiles=None)
    el = folium.plugins.MarkerCluster().add_to(m)
    el.default_js = [*el.default_js, ("ours", "/app/static/js/ours.js")]
    offline.localise(m)
    assert ("ours", "/app/static/js/ours.js") in el.default_js


def test_default_static_dir_is_beside_app():
    sig = offline.install_vendor_assets.__defaults__
    assert sig and os.fspath(sig[0]).endswith("static")
