"""The wall down to a grid (issue 19, item 3) in headless Chromium at 1920×1080, as a kiosk: a click on the
map opens a community, a click inside it opens a grid (its team, helpers and open tickets beside its
figures), a reload keeps the grid, and the buttons go back to the community and then the street."""
from __future__ import annotations

import re

import pytest

from conftest import run_app
from test_screen_browser import REFRESH_S, TOKEN, _open, _wall, shot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KIOSK = f"/screen?kiosk=1&token={TOKEN}"
#: Where on the map to click (fractions of the canvas), tried in turn: an alert dot or a party member's
#: ring may lie over the first point and open nothing.
SPOTS = [(0.5, 0.55), (0.45, 0.6), (0.55, 0.65), (0.4, 0.5), (0.6, 0.5), (0.5, 0.75), (0.35, 0.7), (0.65, 0.75)]


@pytest.fixture(scope="module")
def wall_server(tmp_path_factory, chromium_path):
    with run_app(tmp_path_factory.mktemp("wall_grid"), SHEQU_SCREEN_TOKEN=TOKEN,
                 SHEQU_SCREEN_REFRESH_S=str(REFRESH_S)) as base:
        yield base


def _click_until(page, wanted: str) -> None:
    """Click the map at SPOTS until the address holds ``wanted`` (a new area opened)."""
    canvas = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first
    for fx, fy in SPOTS:
        box = canvas.bounding_box()
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        try:
            page.wait_for_function(f"() => location.search.includes('{wanted}')", timeout=10_000)
            return
        except Exception:  # noqa: BLE001 (Playwright's TimeoutError): try the next spot
            continue
    raise AssertionError(f"no click on the map opened {wanted!r}")


def _title(page) -> str:
    return page.locator(".scr-title").first.inner_text()


def test_from_the_street_to_a_grid_and_back(wall_server, _browser, tmp_path):
    context, page = _wall(_browser, 1920, 1080)
    shots = shot_dir(tmp_path)
    try:
        _open(page, wall_server + KIOSK)
        street = _title(page)
        _click_until(page, "community=")
        page.wait_for_function("t => document.querySelector('.scr-title').innerText !== t", arg=street,
                               timeout=60_000)
        page.get_by_text("返回全街道").first.wait_for(timeout=30_000)
        page.wait_for_timeout(3000)
        community = _title(page)
        page.screenshot(path=str(shots / "screen_grid_1_community_1920x1080.png"))
        _click_until(page, "grid=")
        page.locator(".scr-grid-open").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        title = _title(page)
        community_name = community.split(" · ")[0]
        assert title.startswith(community_name + "·"), (title, community_name)  # 某社区·某网格 · 社区治理指挥中心
        grid = re.search(r"grid=(\d+)", page.url)[1]
        page.screenshot(path=str(shots / "screen_grid_2_grid_1920x1080.png"))
        # the grid's card: its team (phones masked on the wall), helpers and open tickets
        team = page.locator(".scr-grid-team").first.inner_text()
        assert "网格力量" in team and "身边力量" in team and "党员" in team and "志愿者" in team
        assert not re.search(r"1\d{10}", team), team  # no phone in full on a wall
        assert re.search(r"1\d\d\*{4}\d{4}", team), team
        assert "在办工单" in page.locator(".scr-grid-open").first.inner_text()
        # the wall still fits without scrolling, the map is the grid's
        doc, main, visible = page.evaluate("""() => [document.scrollingElement.scrollHeight,
            document.querySelector('[data-testid=stMain]').scrollHeight,
            document.querySelector('[data-testid=stMain]').clientHeight]""")
        assert doc <= 1080 + 2 and main <= visible + 2, (doc, main, visible)
        # a reload (the wall's power cut, F5) comes back to the same grid
        page.reload(wait_until="domcontentloaded")
        page.locator(".scr-grid-open").first.wait_for(timeout=120_000)
        assert _title(page) == title and f"grid={grid}" in page.url
        # back to the community, then to the street
        page.get_by_role("button", name=f"↩ 返回{community_name}").click()
        page.get_by_text("返回全街道").first.wait_for(timeout=60_000)
        page.wait_for_function("t => document.querySelector('.scr-title').innerText === t", arg=community,
                               timeout=30_000)
        assert "grid=" not in page.url and "community=" in page.url
        page.get_by_role("button", name="↩ 返回全街道").click()
        page.wait_for_function("t => document.querySelector('.scr-title').innerText === t", arg=street,
                               timeout=60_000)
        assert "community=" not in page.url and "kiosk=1" in page.url
        page.wait_for_timeout(2000)
        page.screenshot(path=str(shots / "screen_grid_3_street_again_1920x1080.png"))
        assert page.outside_requests == [] and page.page_errors == []
    finally:
        context.close()
