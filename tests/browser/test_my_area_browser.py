"""A grid head on a phone (390×844) in headless Chromium: signs in, sees the grid and its tickets, records a visit."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_grid_head_on_a_phone_sees_their_grid_and_records_a_visit(streamlit_server, browser_page, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(streamlit_server, wait_until="domcontentloaded")
    # a wrong password first: the same answer as for an unknown user
    page.get_by_label("用户名").fill("gridhead1", timeout=180_000)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码错误").wait_for(timeout=60_000)
    page.get_by_label("密码").fill("demo2026")
    page.get_by_role("button", name="登录").click()

    # home is "my grid": the grid's boundary and buildings on the map
    page.get_by_role("tab", name="走访").wait_for(timeout=120_000)
    assert page.get_by_text("网格长 ").count() >= 1  # caption: role and name
    frame = page.frame_locator("iframe[title*='st_folium'], iframe[title*='streamlit_folium']").first
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator(".leaflet-overlay-pane path").nth(10).wait_for(state="attached", timeout=60_000)
    control = frame.locator(".leaflet-control-layers").inner_text()
    assert "网格" in control and "楼栋" in control
    page.screenshot(path=str(shot_dir(tmp_path) / "my_area_phone_map.png"), full_page=True)

    # its tickets, with deadlines and next actions (or a clear "none")
    page.get_by_role("tab", name="工单").click()
    tickets_tab = page.get_by_role("tabpanel").filter(has_text="工单台").first
    tickets_tab.wait_for(timeout=30_000)
    assert (page.get_by_text("本网格暂无在办工单").count() > 0
            or page.get_by_text("办理时限").count() > 0)

    # record a visit: the to-visit list is there, the form saves
    page.get_by_role("tab", name="走访").click()
    page.get_by_text("登记走访").wait_for(timeout=30_000)
    page.get_by_label("走访情况").fill("入户走访，老人身体良好，提醒注意燃气安全")
    page.get_by_role("button", name="保存走访记录").click()
    page.get_by_text("已保存走访记录").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shot_dir(tmp_path) / "my_area_phone_visit.png"), full_page=True)

    # the page fits the phone: nothing wider than the viewport
    width = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollWidth")
    assert width <= 400, width
    assert page.outside_requests == []
    assert page.page_errors == []
