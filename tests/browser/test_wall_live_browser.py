"""A ticket posted shows on the wall within seconds, not at the next refresh (issue 15, item 4).

The wall's server refreshes only every two minutes here; a ticket reported through the ticket
service (as the hotline, a phone or another server would) must still reach the wall's 今日新增 and
its live feed within a few seconds: the page looks for a change in its area every
``figures.WATCH_S`` and redraws when there is one. Before that look existed the tile stayed put
until the two-minute refresh, and this test failed."""
from __future__ import annotations

import time

import pytest

from conftest import run_app, shot_dir
from test_screen_browser import KIOSK, TOKEN, _open, _wall

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Far longer than the test waits: only the change watch can bring the ticket in time.
SLOW_REFRESH_S = 120
#: How long the test gives the wall (the watch looks every 2 s; a loaded CI machine draws slowly).
WAIT_S = 15

NEW_TODAY = """() => { const t = [...document.querySelectorAll('.scr-tile')]
    .find(e => e.querySelector('.scr-label')?.innerText.trim() === '今日新增');
    return t ? parseInt(t.querySelector('.scr-value').innerText.replace(/,/g, ''), 10) : null; }"""
#: The first line of the live feed (实时动态) that is not a flashing overdue ticket.
FIRST_IN_FEED = """() => { const p = [...document.querySelectorAll('.scr-panel')]
    .find(e => e.querySelector('.scr-h')?.innerText.trim() === '实时动态');
    return p?.querySelector('.scr-feed li:not(.fresh)')?.innerText ?? ''; }"""


def test_a_ticket_reported_elsewhere_reaches_the_wall_within_seconds(tmp_path, chromium_path, _browser):
    from geo import settings
    from geo.db import store
    from geo.db.schema import Grid
    from geo.tickets import service

    with run_app(tmp_path, SHEQU_SCREEN_TOKEN=TOKEN, SHEQU_SCREEN_REFRESH_S=str(SLOW_REFRESH_S)) as base:
        context, page = _wall(_browser, 1920, 1080)
        try:
            _open(page, base + KIOSK)
            before = page.evaluate(NEW_TODAY)
            assert before is not None
            engine = store.make_engine(f"sqlite:///{tmp_path}/app.db")
            grid = store.read_layer(engine, Grid, columns=["id", "name", "geom"]).sort_values("id").iloc[0]
            name, p = grid["name"], grid.geometry.representative_point()
            service.report(engine, category="water", description="整栋楼停水（大屏测试）", lon=p.x, lat=p.y,
                           now=settings.now())
            engine.dispose()
            posted = time.monotonic()
            # the tile is drawn before the feed (Streamlit sends a run's elements as they come): wait for both
            page.wait_for_function("([n, name]) => (" + NEW_TODAY + ")() === n && (" + FIRST_IN_FEED
                                   + ")().includes(name)", arg=[before + 1, name], timeout=WAIT_S * 1000)
            took = time.monotonic() - posted
            print(f"new ticket on the wall after {took:.1f} s (refresh every {SLOW_REFRESH_S} s)")
            page.screenshot(path=str(shot_dir(tmp_path) / "screen_new_ticket_1920x1080.png"))
            assert page.outside_requests == [] and page.page_errors == []
        finally:
            context.close()
