"""The big screen on a 1920×1080 wall in headless Chromium: kiosk URL, deck.gl canvas, offline."""
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
               PYTHONUNBUFFERED="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
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
