"""The big screen on a 1920×1080 and 3840×2160 wall in headless Chromium: kiosk URL, deck.gl canvas,
offline, no scrolling, wall-sized text, charts inside their boxes, a ticking clock, a self-refresh that
neither reloads the page nor resets the map, the normal view with its picker, and intranet tiles."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import _OutsideGuard, run_app, shot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "wall-Tk7pQ2zX9mRv4LcN8bYh"  # long and varied (geo.access.kiosk.token_problem)
#: The test server refreshes the wall this often (s), so a test can wait past one refresh.
REFRESH_S = 6
KIOSK = f"/screen?kiosk=1&token={TOKEN}"


def _app(tmp: Path, **env_extra: str):
    """The app with SHEQU_SCREEN_TOKEN set, so the kiosk URL signs the wall in (own server: own env)."""
    return run_app(tmp, SHEQU_SCREEN_TOKEN=TOKEN, SHEQU_SCREEN_REFRESH_S=str(REFRESH_S), **env_extra)


@pytest.fixture(scope="module")
def wall_server(tmp_path_factory, chromium_path):
    with _app(tmp_path_factory.mktemp("wall")) as base:
        yield base


def _wall(_browser, width: int, height: int):
    guard = _OutsideGuard()
    context = _browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                   service_workers="block")
    context.on("request", guard)
    page = context.new_page()
    page.outside_requests, page.page_errors = guard.outside_requests, []
    page.on("pageerror", lambda e: page.page_errors.append(str(e)))
    return context, page


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("社区治理指挥中心").first.wait_for(timeout=180_000)
    page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=90_000)
    page.get_by_text("超期工单").first.wait_for(timeout=30_000)
    page.wait_for_timeout(3000)  # let deck.gl draw its layers


#: Scroll heights of the document and of Streamlit's main section (which scrolls when the page is taller).
SCROLL = """() => [document.scrollingElement.scrollHeight,
                   document.querySelector('[data-testid=stMain]').scrollHeight,
                   document.querySelector('[data-testid=stMain]').clientHeight]"""
#: Smallest computed font size (px) of the wall's text read from across the room.
SMALLEST_TEXT = """() => Math.min(...['.scr-sub', '.scr-label', '.scr-table', '.scr-feed', '.scr-legend',
    '.scr-base span', '.scr-fresh'].flatMap(s => [...document.querySelectorAll(s)])
    .map(e => parseFloat(getComputedStyle(e).fontSize)))"""


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_kiosk_wall_draws_offline(wall_server, _browser, tmp_path, width, height):
    context, page = _wall(_browser, width, height)
    try:
        _open(page, wall_server + KIOSK)
        page.screenshot(path=str(shot_dir(tmp_path) / f"screen_kiosk_{width}x{height}.png"))
        # kiosk: no sidebar, no header, and the page fits the wall without scrolling, at either size
        assert page.locator("[data-testid='stSidebar']").is_hidden()
        assert page.locator("[data-testid='stHeader']").is_hidden()
        doc, main, visible = page.evaluate(SCROLL)
        assert doc <= height + 2 and main <= visible + 2, (doc, main, visible)
        # text for the far end of the room: 18 px or more at 1080p, twice that at 4K
        assert page.evaluate(SMALLEST_TEXT) >= 18 * width / 1920 - 0.5
        # the map legend is swatches, not a line of text
        assert page.locator(".scr-legend i").count() >= 8
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
        page.goto(wall_server + KIOSK, wait_until="domcontentloaded")
        page.locator("[data-testid='stVegaLiteChart'] svg").nth(1).wait_for(timeout=180_000)
        page.wait_for_timeout(1000)
        boxes = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(e => {
            const col = e.closest('[data-testid=stColumn]').getBoundingClientRect(), b = e.getBoundingClientRect(),
                  svg = e.querySelector('svg').getBoundingClientRect();
            return {h: b.height, col: [col.left, col.right], svg: [svg.left, svg.right, svg.top, svg.bottom],
                    box: [b.left, b.right, b.top, b.bottom]}; })""")
        scale = min(width / 1920, height / 1080)
        assert [round(b["h"] / scale) for b in boxes] == [200, 200]  # categories (6 bars, room for the party panel), trend
        for b in boxes:
            left, right, top, bottom = b["svg"]
            assert b["col"][0] - 1 <= left and right <= b["col"][1] + 1, b  # no bar past its column
            assert b["box"][2] - 1 <= top and bottom <= b["box"][3] + 1, b  # no axis cut off below
    finally:
        context.close()


def test_refresh_keeps_the_page_and_the_map_view(wall_server, _browser):
    """st.fragment(run_every) redraws the figures in place: no reload, same deck canvas, the view kept;
    between refreshes the clock ticks by itself."""
    context, page = _wall(_browser, 1920, 1080)
    try:
        _open(page, wall_server + KIOSK)
        # the clock: date, weekday, seconds, ticking without a refresh
        first = page.locator(".scr-time").first.inner_text()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d 星期[一二三四五六日] \d\d:\d\d:\d\d", first), first
        page.wait_for_function("c => document.querySelector('.scr-time').innerText !== c", arg=first,
                               timeout=3000)
        assert "数据截至" in page.locator(".scr-fresh").first.inner_text()
        canvas = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first
        initial = _map_pixels(page)
        # somebody pans the wall's map; a refresh must not throw that view away
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 3
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx - 250, cy - 150, steps=12)
        page.mouse.up()
        page.wait_for_timeout(1500)
        panned = _map_pixels(page)
        page.evaluate("() => { window.__wall_marker = 'kept'; "
                      "document.querySelector('[data-testid=stDeckGlJsonChart] canvas').__wall_marker = 'kept'; }")
        tick = page.locator("[data-scr-tick]").first.get_attribute("data-scr-tick")
        page.wait_for_function("t => document.querySelector('[data-scr-tick]')?.dataset.scrTick !== t", arg=tick,
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


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
def test_normal_view_and_a_drilled_down_community(wall_server, _browser, tmp_path, width, height):
    """The normal view keeps the sidebar with a readable picker; a community fills the same wall."""
    context, page = _wall(_browser, width, height)
    try:
        _open(page, f"{wall_server}/screen?token={TOKEN}")
        picker = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="范围")
        label = picker.locator("[data-testid='stWidgetLabel']").first
        label.wait_for(timeout=60_000)
        assert label.inner_text() == "范围" and label.is_visible()
        colour, background = page.evaluate("""() => {
            const l = [...document.querySelectorAll('[data-testid=stSidebar] [data-testid=stWidgetLabel] p')]
                .find(p => p.innerText.trim() === '范围');
            const bg = getComputedStyle(document.querySelector('[data-testid=stSidebar]')).backgroundColor;
            return [getComputedStyle(l).color, bg]; }""")
        assert _contrast(colour, background) >= 4.5, (colour, background)  # WCAG AA
        page.screenshot(path=str(shot_dir(tmp_path) / f"screen_normal_{width}x{height}.png"))  # before: to look at
        doc, main, visible = page.evaluate(SCROLL)
        assert doc <= height + 2 and main <= visible + 2, (doc, main, visible)
        # drill down: pick the third community in the sidebar
        picker.get_by_role("combobox").first.click()
        option = page.locator("[role='option']").nth(3)
        name = option.inner_text()
        option.click()
        page.get_by_text(f"{name} · 社区治理指挥中心").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        assert "community=" in page.url
        page.screenshot(path=str(shot_dir(tmp_path) / f"screen_community_{width}x{height}.png"))
        doc, main, visible = page.evaluate(SCROLL)
        assert doc <= height + 2 and main <= visible + 2, (doc, main, visible)
        assert page.outside_requests == [] and page.page_errors == []
    finally:
        context.close()


def _contrast(fg: str, bg: str) -> float:
    def lum(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


class _Tiles(BaseHTTPRequestHandler):
    """An intranet tile server: one grey 1×1 PNG for every tile, CORS allowed, requests recorded."""

    PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                        "3a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082")
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(self.PNG)))
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, *args):
        pass


def test_intranet_tiles_as_the_basemap(tmp_path_factory, chromium_path, _browser, tmp_path):
    """SHEQU_SCREEN_TILES=http://<intranet>/{z}/{x}/{y}.png: the wall asks that server, and nothing else."""
    tiles = ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    threading.Thread(target=tiles.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{tiles.server_port}/t/{{z}}/{{x}}/{{y}}.png"
    try:
        with _app(tmp_path_factory.mktemp("tiles"), SHEQU_SCREEN_TILES=url) as base:
            context, page = _wall(_browser, 1920, 1080)
            try:
                _open(page, base + KIOSK)
                page.screenshot(path=str(shot_dir(tmp_path) / "screen_tiles_1920x1080.png"))
                assert any(re.fullmatch(r"/t/1\d/\d+/\d+\.png", p) for p in _Tiles.seen), _Tiles.seen[:5]
                assert page.outside_requests == [] and page.page_errors == []
            finally:
                context.close()
    finally:
        tiles.shutdown()
