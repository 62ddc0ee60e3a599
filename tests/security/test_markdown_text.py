"""User text is shown as plain text everywhere: Markdown sinks (st.markdown, st.caption, st.title,
st.error/st.success …) and HTML sinks (folium popups, tooltips and labels, st.html on the wall).

The payloads: a ticket description with a Markdown image pointing at a local counting server, a
phishing link, bold and an <img onerror>; and names (of a grid, its buildings, facilities and
cameras, as an import would bring them) with an HTML image, a Markdown image and ``${…}`` — folium
writes popups and tooltips inside JavaScript template literals, where ``${…}`` runs.

Before the fix the desk rendered the description as Markdown (the browser fetched the image from the
counting server and drew a link to http://evil), the report's success message and the grid head's
page title rendered the grid name as Markdown, and folium tooltips and GeoJSON popups put names into
the page as HTML (another image fetched) and ran the ``${…}`` in a facility name.
"""
from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth
from geo.demo import accounts
from geo.maps import leaflet
from geo.io import plain
from geo.db import store
from geo.tickets import service as ts
from geo.db.schema import Building, Camera, Facility, Grid
from geo.tickets.rules import Actor

from conftest import run_app, steady_server
from ui_flows import FOLIUM, home_grid, prepared_town, report_at, sign_in


class Counter(http.server.ThreadingHTTPServer):
    """A local server that counts every request (an image the browser fetched because text became markup)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                counter.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def counter():
    server = Counter()
    yield server
    server.shutdown()


def description(port: int) -> str:
    return f"![x](http://127.0.0.1:{port}/track.png) [点我](http://evil) **粗** <img src=x onerror=alert(1)>"


def name(port: int, what: str) -> str:
    return f'{what}<img src="http://127.0.0.1:{port}/{what}.png">![m](http://127.0.0.1:{port}/{what}-md.png)' \
           "${window.__pwned=1}`"


# --------------------------------------------------------------------------- the helper

def test_markdown_escapes_every_markup_character_and_keeps_the_words():
    text = description(8000) + "\n    缩进 1. # > | ~ :red[红] $x$ _y_ `z`"
    out = plain.markdown(text)
    unescaped = [c for i, c in enumerate(out) if c in "![]()*<>#|~:$_`-.+" and (i == 0 or out[i - 1] != "\\")]
    assert unescaped == []
    assert out.replace("\\", "").replace("\u2060", "").replace("  \n", "\n").replace("\u00a0" * 4, "    ") == text
    assert "http:\u2060" in out.replace("\\", "")  # a bare URL is shown, not made a link (GFM autolinks)


def test_html_escapes_for_template_literals_too():
    assert plain.html('<img src=x onerror=alert(1)>`${a}\\') == \
        "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;{a}&#92;"


def test_folium_sources_carry_no_raw_markup():
    """Tooltips, popups and GeoJSON properties of the rendered map hold the names escaped."""
    import geopandas as gpd
    import shapely

    hostile = name(9, "站")
    pt = gpd.GeoDataFrame({"id": [1], "type": ["clinic"], "name": [hostile], "community_name": [hostile],
                           "address": [hostile], "open_hours": [None], "code": [hostile], "status": ["online"],
                           "heading": [0.0], "fov": [60.0], "range_m": [50.0]},
                          geometry=[shapely.Point(103.9, 30.99)], crs="EPSG:4326")
    poly = gpd.GeoDataFrame({"id": [1], "community_id": [1], "name": [hostile], "code": [hostile],
                             "grid_type": ["estate"], "community_name": [hostile], "households": [1],
                             "residents": [1], "floors": [1]},
                            geometry=[shapely.Point(103.9, 30.99).buffer(0.001)], crs="EPSG:4326")
    html = leaflet.street_map({"grids": poly, "buildings": poly, "facilities": pt, "cameras": pt}).get_root().render()
    assert "<img src=\"http://127" not in html and "${window" not in html and "\\u003cimg" not in html


# --------------------------------------------------------------------------- AppTest: what pages hand to Markdown

MARKDOWN_KINDS = ("markdown", "caption", "title", "subheader", "header", "error", "warning", "info", "success", "toast")


def bodies(at: AppTest) -> list[str]:
    return [str(el.value) for kind in MARKDOWN_KINDS for el in getattr(at, kind, [])]


def test_pages_hand_user_text_to_markdown_only_escaped(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    monkeypatch.setenv("DATABASE_URL", town_url)
    head = auth.authenticate(engine, "gridhead1", accounts.DEMO_PASSWORD, now=settings.now())
    text, grid_name = description(1), name(1, "网格")
    spot = store.read_layer(engine, Grid, where=Grid.id == head.grid_id).geometry.iloc[0].representative_point()
    new = ts.report(engine, category="sanitation", description=text, lon=spot.x, lat=spot.y, now=settings.now(),
                    by=Actor("网格长", "grid"))
    with engine.begin() as conn:
        conn.execute(update(Grid).where(Grid.id == head.grid_id).values(name=grid_name))

    desk = AppTest.from_file(str(settings.ROOT / "pages" / "tickets.py"), default_timeout=120)
    desk.session_state["user"] = head
    desk.session_state["tickets_open_id"] = new["id"]
    desk.run()
    assert not desk.exception, desk.exception
    shown = bodies(desk)
    assert [el.value for el in desk.text] == [text]  # the description as typed, through st.text (no parsing)
    assert not any(text in b or "](http" in b for b in shown)  # and never to a Markdown sink

    steady_server(monkeypatch)  # through app.py, as a running server opens a grid head's home page
    mine = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=120)
    mine.session_state["user"] = head
    mine.run()
    assert not mine.exception, mine.exception
    shown = bodies(mine)
    assert plain.markdown(grid_name) in shown and not any(grid_name in b for b in shown)


# --------------------------------------------------------------------------- Chromium: what people see

def plant(url: str, port: int, grid_id: int) -> None:
    """Hostile names on the grid head's grid, its buildings, and the facilities and cameras of the street."""
    engine = store.make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(Grid).where(Grid.id == grid_id).values(name=name(port, "grid")))
        conn.execute(update(Building).where(Building.grid_id == grid_id).values(name=name(port, "building")))
        conn.execute(update(Facility).values(name=name(port, "facility")))
        conn.execute(update(Camera).values(name=name(port, "camera")))
    engine.dispose()


OPEN_EVERY_POPUP_AND_TOOLTIP = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const layers = [], out = {popups: [], tooltips: []};
  map.eachLayer(l => layers.push(l));
  const read = (overlay, into) => {
    let el = overlay && overlay.getElement && overlay.getElement();
    el = el && (el.querySelector('.leaflet-popup-content') || el);  // a popup's content, not its close button
    if (el && el.isConnected) into.push([el.innerHTML, el.textContent]);
  };
  for (const l of layers) {
    try {
      if (l.getPopup && l.getPopup()) {
        l.fire('click', {latlng: l.getLatLng ? l.getLatLng() : map.getCenter()});
        read(l.getPopup(), out.popups);
        map.closePopup();
      }
      if (l.getTooltip && l.getTooltip()) {
        l.openTooltip();
        read(l.getTooltip(), out.tooltips);
        l.closeTooltip();
      }
    } catch (e) { out.error = String(e); }
  }
  out.pwned = window.__pwned === 1;
  return out;
}"""


def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_everything(page) -> dict:
    """Open every popup and tooltip of the page's folium map; what they hold (or why the map never drew)."""
    frame = page.frame_locator(FOLIUM).first
    try:
        frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached", timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - a name that breaks folium's script leaves no map at all
        return {"popups": [], "tooltips": [], "pwned": None, "broken": str(exc).splitlines()[0]}
    page.wait_for_timeout(1500)
    return frame.locator("body").evaluate(f"(_, f) => ({OPEN_EVERY_POPUP_AND_TOOLTIP})()")


def seen(texts: list[str]) -> list[str]:
    """Texts as a reader takes them in: without the invisible word joiners that keep a URL from being a link."""
    return [t.replace("\u2060", "") for t in texts]


def shown_in(found: dict, text: str, kind: str = "both") -> bool:
    parts = {"popups": found["popups"], "tooltips": found["tooltips"]}.get(kind, found["popups"] + found["tooltips"])
    return any(text in t for _, t in parts)


def no_markup(found: dict) -> list[str]:
    """Popups and tooltips whose HTML holds an element made from user text."""
    return [h for h, _ in found["popups"] + found["tooltips"] if "<img" in h or "<a " in h]


def test_hostile_text_reaches_people_as_plain_text(tmp_path, browser_page, counter):
    url = prepared_town(tmp_path)
    grid = home_grid(url)
    plant(url, counter.port, grid["id"])
    text, grid_name = description(counter.port), name(counter.port, "grid")
    page, dialogs, wrong = browser_page, [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with run_app(tmp_path, SHEQU_SCREEN_REFRESH_S="5") as base:
        page.goto(base, wait_until="domcontentloaded")
        sign_in(page, "gridhead1")
        page.get_by_role("tab", name="走访").wait_for(timeout=120_000)

        # the grid head's own page: the grid's name is the title, and on the map
        if grid_name not in seen(page.get_by_role("heading", level=1).all_inner_texts()):
            wrong.append("my_area title")
        found = open_everything(page)
        page.screenshot(path=str(shots(tmp_path) / "my_area_hostile_names.png"))
        wrong += [f"my_area map: {k}" for k, bad in (
            ("did not draw", "broken" in found), ("ran ${…}", found["pwned"]), ("markup", no_markup(found)),
            ("grid name not literal", not shown_in(found, grid_name)),
            ("facility name not literal", not shown_in(found, name(counter.port, "facility"), "tooltips")))
            if bad]

        # report it (the success message names the grid), then the desk shows the description
        code = report_at(page, grid["lon"], grid["lat"], text)
        said = page.get_by_test_id("stAlertContentSuccess").get_by_text("已受理，工单号")  # not the toast
        if f"分派至 {grid_name}" not in seen([said.inner_text()])[0]:
            wrong.append("report message")
        page.get_by_role("link", name="工单台").click()
        page.get_by_role("heading", name=code).wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        if page.get_by_test_id("stText").get_by_text(text, exact=True).count() != 1:  # the words, literally
            wrong.append("desk description")
        page.screenshot(path=str(shots(tmp_path) / "desk_hostile_description.png"), full_page=True)
        links = page.locator(f"a[href^='http://evil'], a[href*='127.0.0.1:{counter.port}']").count()

        # the street map's ticket popup holds the description
        page.get_by_role("link", name="一张图").click()
        page.get_by_role("heading", name="一张图").wait_for(timeout=60_000)
        found = open_everything(page)
        wrong += [f"street map: {k}" for k, bad in (
            ("did not draw", "broken" in found), ("ran ${…}", found["pwned"]), ("markup", no_markup(found)),
            ("description not literal", not shown_in(found, text[:30], "popups"))) if bad]
        links += page.frame_locator(FOLIUM).first.locator(f"a[href^='http://evil'], a[href*='127.0.0.1:{counter.port}']"
                                                          ).count()

        # the wall: the live feed and the rankings name the grid
        page.get_by_role("button", name="退出登录").click()
        sign_in(page, "leader")
        page.get_by_role("link", name="指挥大屏").click(timeout=120_000)
        page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=120_000)
        try:  # the report shows from the first refresh after it (every 5 s here)
            page.locator(".scr-feed li").filter(has_text=grid_name).first.wait_for(timeout=60_000)
        except Exception:  # noqa: BLE001 - recorded, the assertion below says what was wrong
            wrong.append("wall feed")
        wall_images = page.locator(".scr-feed img, .scr-table img").count()
        page.screenshot(path=str(shots(tmp_path) / "wall_hostile_names.png"))
    assert (counter.hits, links, wall_images, dialogs, wrong) == ([], 0, 0, [], []), \
        f"fetched {counter.hits}; {links} links to http://evil; {wall_images} images on the wall; " \
        f"dialogs {dialogs}; not plain text: {wrong}"
    assert page.outside_requests == [] and page.page_errors == []
