"""Browser steps that several test files share (import as ``from ui_flows import …``, like conftest's run_app).

A prepared database (built before the server starts, so a test can plant hostile data in it
first), signing in, and reporting a problem by clicking the map, as a grid head does.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from geo.demo import accounts, generator
from geo.db import store
from geo.db.schema import Grid, User

FOLIUM = "iframe[title*='st_folium'], iframe[title*='streamlit_folium']"


def prepared_town(tmp: Path) -> str:
    """A small demo town in ``tmp/app.db``, the file conftest.run_app(tmp) serves; its URL."""
    url = f"sqlite:///{tmp}/app.db"
    generator.ensure_database(url, communities=2, tickets_per_street=300).dispose()
    return url


def home_grid(url: str, username: str = "gridhead1") -> dict:
    """The grid a demo user answers for: id, name and a point inside it."""
    engine = store.make_engine(url)
    with engine.connect() as conn:
        gid = conn.execute(select(User.grid_id).where(User.username == username)).scalar_one()
    grid = store.read_layer(engine, Grid, where=Grid.id == gid).iloc[0]
    engine.dispose()
    spot = grid.geometry.representative_point()
    return {"id": int(gid), "name": grid["name"], "lon": spot.x, "lat": spot.y}


def sign_in(page, username: str, password: str = accounts.DEMO_PASSWORD) -> None:
    page.get_by_label("用户名").fill(username, timeout=180_000)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def leaflet(page):
    """The (first) folium map on the page, once Leaflet has drawn its layers."""
    frame = page.frame_locator(FOLIUM).first
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(1000)
    return frame


def screen_xy(frame, lon: float, lat: float) -> tuple[float, float]:
    """Where a lon-lat point is inside the map's container (Leaflet says)."""
    return tuple(frame.locator(".leaflet-container").evaluate(
        """(el, ll) => { const m = Object.values(window).find(v => v && v._container === el);
                         const p = m.latLngToContainerPoint(ll); return [p.x, p.y]; }""", [lat, lon]))


def report_at(page, lon: float, lat: float, description: str, photo: Path | None = None) -> str:
    """On 我要上报: click the map at the point, describe, attach ``photo``, send; the new ticket's code."""
    page.get_by_role("link", name="我要上报").click(timeout=60_000)
    page.get_by_text("在地图上点击问题所在位置").wait_for(timeout=60_000)
    frame = leaflet(page)
    x, y = screen_xy(frame, lon, lat)
    frame.locator(".leaflet-container").click(position={"x": x, "y": y})
    page.get_by_text("已选位置").wait_for(timeout=60_000)
    choose_category_and_source(page)
    page.get_by_label("问题描述").fill(description)
    if photo is not None:
        attach(page, photo)
    page.get_by_role("button", name="提交上报").click()
    done = page.get_by_test_id("stAlertContentSuccess").get_by_text("已受理，工单号")  # a toast says it too
    done.wait_for(timeout=60_000)
    return done.inner_text().split("工单号 ")[1].split("，")[0]


def settled(page) -> None:
    """The app has finished its run (no faded elements of the previous one left on screen)."""
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=30_000)
    page.wait_for_timeout(700)


def attach(page, photo: Path) -> None:
    """Choose ``photo`` in the page's file input once the app is idle, and wait for its name to show.

    A file chosen while a run is still drawing the form can be dropped by that run (CI stop 22 saw
    the name never appear once in ~1,000 runs): a person would see no file and choose it again, so
    the test does the same once."""
    settled(page)
    for attempt in range(2):
        page.locator("input[type=file]").set_input_files(str(photo))
        try:
            page.get_by_text(photo.name).wait_for(timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: choose it again, once
            if attempt:
                raise
            settled(page)


def choose_category_and_source(page, category: str = "路灯道路", source: str = "居民上报") -> None:
    """The report form preselects neither (issue 13): a person picks both."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="类别").locator("input")
    box.click()
    box.fill(category)  # a searchable list: typing works on a phone and a laptop alike
    page.get_by_role("option", name=category, exact=True).click()
    page.get_by_test_id("stRadio").filter(has_text="问题来源").get_by_text(source, exact=True).click()
