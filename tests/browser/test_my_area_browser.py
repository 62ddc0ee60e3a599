"""Signing in and staying signed in, in headless Chromium, on the app's own server (fresh, with a wall token):
a deep link on a just-started server, a reload, logout then reload, the kiosk wall after its sessions are
cleared; and a grid head on a 390×844 phone who sees their grid and its tickets and records a visit."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import delete, func, select

from geo import settings
from geo.access import auth
from geo.demo import accounts
from geo.people import households
from geo.db import store
from geo.tickets import service as ts
from geo.db.schema import LoginSession

from conftest import run_app, shot_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "sess-Wj4nB8qT2vKx7RzM5cLp"  # long and varied (geo.access.kiosk.token_problem)


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    """The app on its own database (so a test can clear its sessions) with SHEQU_SCREEN_TOKEN set.

    Its first visitor is the first test here: a deep link on a server that has never run app.py.
    """
    tmp = tmp_path_factory.mktemp("sessions")
    with run_app(tmp, SHEQU_SCREEN_TOKEN=TOKEN) as base:
        url = f"sqlite:///{tmp}/app.db"
        yield type("Server", (), {"base": base, "url": url})()


def sign_in(page, username: str, password: str = accounts.DEMO_PASSWORD) -> None:
    page.get_by_label("用户名").fill(username, timeout=180_000)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def cell(page, text: str):
    """A table cell showing exactly ``text`` (st.dataframe draws on a canvas; its cells are mirrored for screen readers)."""
    return page.get_by_role("gridcell", name=text, exact=True, include_hidden=True)


def session_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == "shequ_session"), None)


def test_a_deep_link_on_a_just_started_server_signs_in_to_the_asked_page(server, browser_page):
    page = browser_page
    page.goto(f"{server.base}/tickets", wait_until="domcontentloaded")
    page.get_by_label("密码").wait_for(timeout=180_000)  # the sign-in form, at /tickets
    page.wait_for_timeout(1500)
    assert page.get_by_text("Page not found").count() == 0
    assert page.url == f"{server.base}/tickets"
    sign_in(page, "gridhead1")
    page.get_by_role("heading", name="工单台").wait_for(timeout=60_000)
    assert page.url == f"{server.base}/tickets"
    assert page.outside_requests == [] and page.page_errors == []


def test_a_reload_keeps_the_session_and_the_cookie_is_strict(server, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.base}/report", wait_until="domcontentloaded")
    sign_in(page, "gridworker1")
    page.get_by_role("heading", name="我要上报").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    cookie = session_cookie(page)
    assert cookie and cookie["sameSite"] == "Strict" and cookie["path"] == "/" and not cookie["secure"]  # http here
    for _ in range(2):  # F5 / a phone's pull-to-refresh
        page.reload(wait_until="domcontentloaded")
        page.get_by_role("heading", name="我要上报").wait_for(timeout=60_000)
        assert page.get_by_label("密码").count() == 0
    with store.make_engine(server.url).connect() as conn:  # the server keeps the token's hash, not the token
        hashes = conn.execute(select(LoginSession.token_hash)).scalars().all()
    assert hashlib.sha256(cookie["value"].encode()).hexdigest() in hashes and cookie["value"] not in hashes
    assert page.page_errors == []


def test_logout_then_reload_asks_to_sign_in(server, browser_page):
    page = browser_page
    page.goto(server.base, wait_until="domcontentloaded")
    sign_in(page, "leader")
    page.get_by_role("button", name="退出登录").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    token = session_cookie(page)["value"]
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("密码").wait_for(timeout=60_000)
    page.reload(wait_until="domcontentloaded")
    page.get_by_label("密码").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.get_by_role("button", name="退出登录").count() == 0
    assert session_cookie(page) is None  # the browser dropped it
    with store.make_engine(server.url).connect() as conn:  # and the server ended it: a copy signs nobody in
        ended = conn.execute(select(LoginSession.revoked_at).where(
            LoginSession.token_hash == hashlib.sha256(token.encode()).hexdigest())).scalar_one()
    assert ended is not None


def test_the_kiosk_wall_comes_back_after_its_sessions_are_cleared(server, browser_page, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 1920, "height": 1080})
    wall = f"{server.base}/screen?kiosk=1&token={TOKEN}"
    page.goto(wall, wait_until="domcontentloaded")
    page.locator("canvas").first.wait_for(timeout=180_000)
    assert session_cookie(page) is not None
    with store.make_engine(server.url).begin() as conn:  # every server-side session gone (or a restart's loss)
        assert conn.execute(delete(LoginSession)).rowcount >= 1
    page.reload(wait_until="domcontentloaded")
    page.locator("canvas").first.wait_for(timeout=120_000)
    assert page.get_by_label("密码").count() == 0
    page.context.clear_cookies()  # a browser that refuses cookies: the token in the address still works
    page.reload(wait_until="domcontentloaded")
    page.locator("canvas").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    assert page.get_by_label("密码").count() == 0 and f"token={TOKEN}" in page.url
    page.screenshot(path=str(shot_dir(tmp_path) / "wall_after_sessions_cleared.png"))
    assert page.outside_requests == [] and page.page_errors == []


def test_grid_head_on_a_phone_sees_their_grid_and_its_tickets_and_records_a_visit(server, browser_page, tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.base, wait_until="domcontentloaded")
    # a wrong password first: the same answer as for an unknown user
    sign_in(page, "gridhead1", "wrong-password")
    page.get_by_text("用户名或密码错误").wait_for(timeout=60_000)
    page.get_by_label("密码").fill(accounts.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()

    # home is "my grid": the grid's boundary and buildings on the map, four figures two by two
    page.get_by_role("tab", name="走访").wait_for(timeout=120_000)
    engine = store.make_engine(server.url)  # built by the first visit: now the test can read what it holds
    head = auth.authenticate(engine, "gridhead1", accounts.DEMO_PASSWORD, now=settings.now())
    open_now = ts.query(engine, now=settings.now(), scope=head.scope, open_only=True)
    assert len(open_now) > 0  # the demo gives every grid head a grid with open tickets
    first = open_now.sort_values(["overdue", "due_at"], ascending=[False, True]).iloc[0]
    due_before = households.to_visit(engine, scope=head.scope, now=settings.now())
    assert page.get_by_text("网格长 ").count() >= 1  # caption: role and name
    boxes = [page.get_by_test_id("stMetric").nth(i).bounding_box() for i in range(4)]
    assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"] == boxes[3]["y"]  # 2×2, not one per row
    frame = page.frame_locator("iframe[title*='st_folium'], iframe[title*='streamlit_folium']").first
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator(".leaflet-overlay-pane path").nth(10).wait_for(state="attached", timeout=60_000)
    control = frame.locator(".leaflet-control-layers")
    assert "网格" in control.text_content() and "楼栋" in control.text_content()
    # on a phone the layer list is folded to its icon instead of covering half the map
    assert "leaflet-control-layers-expanded" not in (control.get_attribute("class") or "")
    top = page.locator("iframe[title*='st_folium'], iframe[title*='streamlit_folium']").first.bounding_box()["y"]
    assert top < 844 - 200, top  # the map starts well inside the first screen
    page.screenshot(path=str(shot_dir(tmp_path) / "my_area_phone_map.png"))

    # its tickets, with their deadlines
    page.get_by_role("tab", name="工单").click()
    cell(page, first["code"]).wait_for(state="attached", timeout=30_000)
    assert cell(page, first["due_at"].strftime("%m-%d %H:%M")).count() >= 1  # its deadline
    page.screenshot(path=str(shot_dir(tmp_path) / "my_area_phone_tickets.png"))

    # record a visit to the household waiting longest: it leaves the to-visit list
    page.get_by_role("tab", name="走访").click()
    page.get_by_text("登记走访").wait_for(timeout=30_000)
    visited = due_before.iloc[0]
    cell(page, visited["address"]).wait_for(state="attached", timeout=30_000)  # first on the to-visit list
    page.get_by_label("走访情况").fill("入户走访，老人身体良好，提醒注意燃气安全")
    page.get_by_role("button", name="保存走访记录").click()
    page.get_by_text("已保存走访记录").wait_for(timeout=60_000)
    cell(page, visited["address"]).wait_for(state="detached", timeout=30_000)  # the list redrawn...
    cell(page, due_before.iloc[1]["address"]).wait_for(state="attached", timeout=30_000)
    assert cell(page, visited["address"]).count() == 0  # ...without the visited household
    metric = page.get_by_test_id("stMetric").filter(has_text="待走访").get_by_test_id("stMetricValue")
    assert metric.inner_text() == f"{len(due_before) - 1:,}"
    after = households.to_visit(engine, scope=head.scope, now=settings.now())
    assert int(visited["id"]) not in set(after["id"]) and len(after) == len(due_before) - 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LoginSession)).scalar_one() >= 1
    page.screenshot(path=str(shot_dir(tmp_path) / "my_area_phone_visit.png"))

    # the page fits the phone: nothing wider than the viewport
    width = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollWidth")
    assert width <= 400, width
    assert page.outside_requests == []
    assert page.page_errors == []
