"""A street staff member reads the per-type table, plans the walking circle of one facility
type, then k new sites (and the fewest covering everyone), then looks at the cameras."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from geo.demo import accounts

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FOLIUM = "iframe[title*='st_folium'], iframe[title*='streamlit_folium']"


def test_walking_coverage_then_new_sites(streamlit_server, browser_page, tmp_path):
    page = browser_page
    shots = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(streamlit_server, wait_until="domcontentloaded")
    page.get_by_label("用户名").fill("staff", timeout=180_000)
    page.get_by_label("密码").fill(accounts.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="服务圈规划").click(timeout=60_000)
    page.get_by_role("heading", name="服务圈规划").wait_for(timeout=300_000)  # first start builds the town
    page.get_by_text("各类设施服务圈覆盖一览").wait_for(timeout=120_000)  # the per-type table opens the page

    # one facility type, walking on the network (the default method)
    page.get_by_test_id("stSelectbox").filter(has_text="设施类型").click()
    page.get_by_role("option", name="社区服务站", exact=True).click()
    page.get_by_test_id("stRadio").filter(has_text="服务范围算法").get_by_text("步行路网距离").click()
    page.get_by_role("spinbutton", name="服务半径（米）").wait_for(timeout=60_000)  # only a single type has a reach

    frame = page.frame_locator(FOLIUM).first
    frame.locator(".leaflet-container").wait_for(timeout=60_000)  # visible: the frame was sized
    frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
    covered = page.get_by_test_id("stMetric").filter(has_text="覆盖人口")
    covered.wait_for(timeout=60_000)
    value = covered.get_by_test_id("stMetricValue").inner_text()
    assert value.replace(",", "").isdigit() and int(value.replace(",", "")) > 0
    assert frame.locator(".leaflet-overlay-pane path").count() > 10  # areas, blind grids and buildings

    # k new sites at road intersections
    page.get_by_text("新站点选址").click()
    k = page.get_by_role("spinbutton", name="新增站点数 k")
    k.fill("2")
    k.press("Enter")
    page.get_by_role("button", name="计算最优选址").click()
    page.get_by_text("精确解新增覆盖").wait_for(timeout=120_000)  # HiGHS: up to 30 s + 10 s
    page.get_by_text("精确最优（HiGHS）").first.wait_for(state="attached", timeout=60_000)
    frame.locator(".sq-fac").first.wait_for(state="attached", timeout=60_000)  # the sites on the map
    frame.locator(".sq-cover").first.wait_for(state="attached", timeout=60_000)  # and the set-cover sites
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "coverage_sites.png"), full_page=True)

    # the cameras: views on the map, the road share and who is offline
    page.get_by_test_id("stButtonGroup").get_by_text("视频监控覆盖").click()
    page.get_by_test_id("stMetric").filter(has_text="道路可视率").wait_for(timeout=60_000)
    frame = page.frame_locator(FOLIUM).first
    frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
    frame.locator(".sq-cam").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "coverage_cameras.png"), full_page=True)

    assert page.outside_requests == []
    assert page.page_errors == []
