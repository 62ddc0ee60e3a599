"""The ticket desk in headless Chromium, as a grid head uses it (issue 13, items 1 and 2).

1. A move that re-sorts the list (办结反馈 sends a ticket below the ones still owing work) must not
   leave the pane on another ticket with an action armed: the pick is the ticket, not the row.
2. A move that takes the picked ticket out of the filtered list (不予受理 with 只看未办结) must not
   crash the desk: no traceback, no "IndexError", ever.
"""
from __future__ import annotations


import pytest

from geo import settings
from geo.db import store
from geo.tickets import service as ts
from geo.tickets.rules import Actor
from geo.access.roles import WHOLE_STREET

from conftest import run_app, shot_dir
from ui_flows import home_grid, prepared_town, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARK_SORT, MARK_GONE = "甲乙测试", "丙丁测试"


@pytest.fixture(scope="module")
def desk(tmp_path_factory, chromium_path):
    """The app on a small town where gridhead1's grid holds two tickets in progress (same limit) and
    one just reported, each findable by its words."""
    tmp = tmp_path_factory.mktemp("desk")
    url = prepared_town(tmp)
    spot = home_grid(url)
    engine = store.make_engine(url)
    head = Actor("网格长", "grid", username="gridhead1")
    now = settings.now()
    made = {}
    for name, words in (("a", f"{MARK_SORT} 一号楼楼道灯坏了"), ("b", f"{MARK_SORT} 二号楼楼道灯坏了"),
                        ("c", f"{MARK_GONE} 门口有人乱停车")):
        made[name] = ts.report(engine, category="streetlight_road", description=words, lon=spot["lon"],
                               lat=spot["lat"], now=now)
    for name in ("a", "b"):
        for action in ("accept", "handle_in_grid"):
            v = ts.get(engine, made[name]["id"], scope=WHOLE_STREET)["version"]
            ts.act(engine, made[name]["id"], action, head, expected_version=v, now=now, scope=WHOLE_STREET)
    engine.dispose()
    with run_app(tmp) as base:
        yield type("Desk", (), {"base": base, "codes": {k: v["code"] for k, v in made.items()}})()


def open_desk(page, base: str, search: str) -> None:
    page.goto(base, wait_until="domcontentloaded")
    sign_in(page, "gridhead1")
    page.get_by_role("link", name="工单台").click(timeout=120_000)
    page.get_by_role("heading", name="工单台").wait_for(timeout=60_000)
    box = page.get_by_label("搜索")
    box.fill(search)
    box.press("Enter")
    page.wait_for_timeout(2500)


def pick_row(page, n: int) -> None:
    """Tick row ``n`` of the desk's table (st.dataframe draws on a canvas: click its row marker)."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=60_000)
    grid.scroll_into_view_if_needed()  # a mouse click lands only inside the viewport
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 * (n + 1) + 17)


def no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    assert page.locator("[data-testid='stException']").count() == 0, body[:2000]
    for word in ("Traceback", "IndexError", "Error", "Ask Google", "site-packages"):
        assert word not in body, body[:2000]


def test_a_move_that_resorts_the_list_keeps_the_ticket_it_was_made_on(desk, browser_page, tmp_path):
    page, a, b = browser_page, desk.codes["a"], desk.codes["b"]
    page.set_viewport_size({"width": 1440, "height": 900})
    open_desk(page, desk.base, MARK_SORT)
    pick_row(page, 0)  # the newer of the two comes first (same limit)
    page.get_by_role("heading", name=b).wait_for(timeout=60_000)
    page.get_by_text("办结反馈", exact=True).click()
    page.get_by_role("button", name="执行").click()
    page.get_by_text(f"{b} · 已执行：办结反馈").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shot_dir(tmp_path) / "desk_after_move.png"), full_page=True)
    # the pane is on the ticket just moved (now waiting for the rating), never on the other one
    assert page.get_by_role("heading", name=a).count() == 0
    page.get_by_role("heading", name=b).wait_for(timeout=10_000)
    assert "待群众评单" in page.get_by_role("heading", name=b).inner_text()
    no_traceback(page)
    assert page.outside_requests == [] and page.page_errors == []


def test_a_move_that_takes_the_ticket_out_of_the_list_is_no_traceback(desk, browser_page, tmp_path):
    page, c = browser_page, desk.codes["c"]
    page.set_viewport_size({"width": 1440, "height": 900})
    open_desk(page, desk.base, MARK_GONE)
    pick_row(page, 0)
    page.get_by_role("heading", name=c).wait_for(timeout=60_000)
    page.get_by_text("不予受理", exact=True).click()
    page.get_by_label("办理意见 / 原因").fill("现场核实无问题")
    page.get_by_role("button", name="执行").click()
    page.get_by_text(f"{c} · 已执行：不予受理").or_(page.locator("[data-testid='stException']")).first.wait_for(
        timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shot_dir(tmp_path) / "desk_after_reject.png"), full_page=True)
    no_traceback(page)
    page.get_by_text(f"{c} · 已执行：不予受理").wait_for(timeout=10_000)
    assert page.outside_requests == [] and page.page_errors == []
