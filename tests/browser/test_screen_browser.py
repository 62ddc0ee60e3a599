"""The big screen on a 1920×1080 and 3840×2160 wall in headless Chromium: kiosk URL, deck.gl canvas,
offline, charts inside their boxes, and a self-refresh that neither reloads the page nor resets the map."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import CHROMIUM_ARGS, ROOT, _free_port, _OutsideGuard, _stop_group, _tail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "wall-test-token"
#: The test server refreshes the wall this often (s), so a test can wait past one refresh.
REFRESH_S = 6


def shot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def wall_server(tmp_path_factory, chromium_path):
    """The app with SHEQU_SCREEN_TOKEN set, so the kiosk URL signs the wall in (own server: own env)."""
    tmp = tmp_path_factory.mktemp("wall")
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/wall.db", SHEQU_SCREEN_TOKEN=TOKEN,
               SHEQU_SCREEN_REFRESH_S=str(REFRESH_S), PYTHONUNBUFFERED="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    err = tmp / "stderr.log"
    with open(tmp / "stdout.log", "wb") as out, open(err, "wb") as errf:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=errf,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited:\n{_tail(err)}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no health within 120 s:\n{_tail(err)}", pytrace=False)
            time.sleep(0.5)
        yield base
    finally:
        _stop_group(proc)


def _wall(_browser, width: int, height: int):
    guard = _OutsideGuard()
    context = _browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                   service_workers="block")
    context.on("request", guard)
    page = context.new_page()
    page.outside_requests, page.page_errors = guard.outside_requests, []
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    return context, page


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_kiosk_wall_draws_offline(wall_server, _browser, tmp_path, width, height):
    context, page = _wall(_browser, width, height)
    try:
        page.goto(f"{wall_server}/screen?kiosk=1&token={TOKEN}", wait_until="domcontentloaded")
        page.get_by_text("社区治理指挥中心").first.wait_for(timeout=180_000)
        page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=90_000)
        page.get_by_text("超期工单").first.wait_for(timeout=30_000)
        page.wait_for_timeout(3000)  # let deck.gl draw its layers
        page.screenshot(path=str(shot_dir(tmp_path) / f"screen_kiosk_{width}x{height}.png"))
        # kiosk: no sidebar, no header, and the page fits the wall without scrolling
        assert page.locator("[data-testid='stSidebar']").is_hidden()
        assert page.locator("[data-testid='stHeader']").is_hidden()
        assert page.evaluate("document.scrollingElement.scrollHeight") <= height + 2 or width > 1920
        assert page.outside_requests == []
        assert page.page_errors == []
    finally:
        context.close()


def _map_pixels(page):
    import io

    import numpy as np
    from PIL import Image

    png = page.locator("[data-testid='stDeckGlJsonChart']").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_charts_fit_their_boxes(wall_server, _browser, width, height):
    """Both Vega charts scale with the wall (twice as big at 4K) and stay inside their column."""
    context, page = _wall(_browser, width, height)
    try:
        page.goto(f"{wall_server}/screen?kiosk=1&token={TOKEN}", wait_until="domcontentloaded")
        page.locator("[data-testid='stVegaLiteChart'] svg").nth(1).wait_for(timeout=180_000)
        page.wait_for_timeout(1000)
        boxes = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(e => {
            const col = e.closest('[data-testid=stColumn]').getBoundingClientRect(), b = e.getBoundingClientRect(),
                  svg = e.querySelector('svg').getBoundingClientRect();
            return {h: b.height, col: [col.left, col.right], svg: [svg.left, svg.right, svg.top, svg.bottom],
                    box: [b.left, b.right, b.top, b.bottom]}; })""")
        scale = min(width / 1920, height / 1080)
        assert [round(b["h"] / scale) for b in boxes] == [230, 190]
        for b in boxes:
            left, right, top, bottom = b["svg"]
            assert b["col"][0] - 1 <= left and right <= b["col"][1] + 1, b  # no bar past its column
            assert b["box"][2] - 1 <= top and bottom <= b["box"][3] + 1, b  # no axis cut off below
    finally:
        context.close()


def test_refresh_keeps_the_page_and_the_map_view(wall_server, _browser):
    """st.fragment(run_every) redraws the figures in place: no reload, same deck canvas, the view kept."""
    context, page = _wall(_browser, 1920, 1080)
    try:
        page.goto(f"{wall_server}/screen?kiosk=1&token={TOKEN}", wait_until="domcontentloaded")
        canvas = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first
        canvas.wait_for(timeout=180_000)
        page.get_by_text("超期工单").first.wait_for(timeout=30_000)
        page.wait_for_timeout(2000)
        initial = _map_pixels(page)
        # somebody pans the wall's map; a refresh must not throw that view away
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx - 250, cy - 150, steps=12)
        page.mouse.up()
        page.wait_for_timeout(1500)
        panned = _map_pixels(page)
        page.evaluate("() => { window.__wall_marker = 'kept'; "
                      "document.querySelector('[data-testid=stDeckGlJsonChart] canvas').__wall_marker = 'kept'; }")
        clock = page.locator(".scr-clock").first.inner_text()
        page.wait_for_function("c => document.querySelector('.scr-clock')?.innerText !== c", arg=clock,
                               timeout=(REFRESH_S * 4) * 1000)  # one fragment run has drawn the page again
        page.wait_for_timeout(2500)
        assert page.evaluate("() => window.__wall_marker") == "kept"  # no reload
        assert page.evaluate("() => document.querySelector('[data-testid=stDeckGlJsonChart] canvas')"
                             "?.__wall_marker") == "kept"  # the same deck, not a new one
        after = _map_pixels(page)
        assert abs(panned - initial).mean() > 5  # the pan moved the map...
        assert abs(after - panned).mean() < abs(after - initial).mean() / 2  # ...and the refresh kept it there
        assert page.outside_requests == [] and page.page_errors == []
    finally:
        context.close()
