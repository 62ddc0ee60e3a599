"""The default page in real headless Chromium: the street is drawn, offline."""
from __future__ import annotations


import pytest

from conftest import shot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sign_in(page, base: str, username: str, password: str = "demo2026") -> None:
    """The sign-in form, as a person fills it (the demo accounts are in the README)."""
    page.goto(base, wait_until="domcontentloaded")
    page.get_by_label("用户名").fill(username, timeout=180_000)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_default_page_draws_the_street_offline(streamlit_server, browser_page, tmp_path):
    page = browser_page
    sign_in(page, streamlit_server, "staff")  # street staff land on the map (a street leader: their contact point)
    page.get_by_text("天彭街道 · 社区治理一张图").wait_for(timeout=180_000)
    frame = page.frame_locator("iframe[title*='st_folium'], iframe[title*='streamlit_folium']").first
    leaflet = frame.locator(".leaflet-container")
    leaflet.wait_for(timeout=60_000)
    # communities, grids, buildings and roads are SVG paths; 70 grids alone are 70 paths
    paths = frame.locator(".leaflet-overlay-pane path")
    frame.locator(".leaflet-overlay-pane path").nth(200).wait_for(state="attached", timeout=60_000)
    assert paths.count() > 1000
    # facilities and cameras are DivIcon markers; the layer control lists the layers
    assert frame.locator(".leaflet-marker-icon").count() >= 100
    control = frame.locator(".leaflet-control-layers").inner_text()
    for name in ("网格", "视频监控", "服务设施", "未办结工单"):
        assert name in control
    # the attribution names the data, plainly: no "Leaflet" prefix, no flag (issue 13, item 5)
    credit = frame.locator(".leaflet-control-attribution")
    assert credit.inner_text().strip() == "图层：本街道网格化管理数据"
    assert credit.locator("svg, img, a").count() == 0
    # offline: no tile layer, and not one request to a host other than this machine
    assert frame.locator(".leaflet-tile").count() == 0
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shot_dir(tmp_path) / "map_offline.png"), full_page=True)
    assert page.outside_requests == []
    assert page.page_errors == []
    # nor did the server itself, from its start (Streamlit's external-address lookup) to this page
    assert streamlit_server.outbound() == []
