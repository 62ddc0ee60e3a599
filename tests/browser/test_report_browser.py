"""A grid head reports a problem by clicking the map, then moves it one step on the desk."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from geo.demo import accounts, generator
from ui_flows import choose_category_and_source

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_report_by_map_click_then_accept_it(streamlit_server, browser_page, tmp_path):
    page = browser_page
    page.goto(streamlit_server, wait_until="domcontentloaded")
    page.get_by_label("用户名").fill("gridhead1", timeout=180_000)
    page.get_by_label("密码").fill(accounts.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="我要上报").click(timeout=60_000)
    page.get_by_text("在地图上点击问题所在位置").wait_for(timeout=60_000)

    frame = page.frame_locator("iframe[title*='st_folium'], iframe[title*='streamlit_folium']").first
    leaflet = frame.locator(".leaflet-container")
    leaflet.wait_for(timeout=60_000)
    frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1000)
    # gridhead1 answers for the busiest grid of community 1; the demo town is deterministic (the
    # server built today's), so a point inside it is known. Leaflet says where it is on the screen.
    town = generator.generate()
    mine = next(u["grid_id"] for u in town["app_user"] if u["username"] == "gridhead1")
    grid = next(g for g in town["grid"] if g["id"] == mine)
    spot = grid["geom"].representative_point()
    xy = leaflet.evaluate(
        """(el, ll) => { const m = Object.values(window).find(v => v && v._container === el);
                         const p = m.latLngToContainerPoint(ll); return [p.x, p.y]; }""",
        [spot.y, spot.x])
    leaflet.click(position={"x": xy[0], "y": xy[1]})
    page.get_by_text("已选位置").wait_for(timeout=60_000)
    # Streamlit's own English is put in Chinese (issue 13, item 9): the uploader's button and size line
    assert not page.get_by_text("Upload", exact=True).is_visible()
    assert not page.get_by_text("per file").first.is_visible()
    choose_category_and_source(page)
    page.get_by_label("问题描述").fill("3栋门口路灯不亮，晚上看不见路")
    page.get_by_role("button", name="提交上报").click()
    done = page.get_by_test_id("stAlertContentSuccess").get_by_text("已受理，工单号")  # also a toast
    done.wait_for(timeout=60_000)
    code = done.inner_text().split("工单号 ")[1].split("，")[0]

    page.get_by_role("link", name="工单台").click()
    page.get_by_role("heading", name=code).wait_for(timeout=60_000)
    page.get_by_text("网格收单", exact=True).click()  # nothing is preselected (issue 13)
    page.get_by_role("button", name="执行").click()
    page.get_by_text(f"{code} · 已执行：网格收单").wait_for(timeout=60_000)
    shots = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "ticket_desk.png"), full_page=True)
    assert page.outside_requests == []
    assert page.page_errors == []
