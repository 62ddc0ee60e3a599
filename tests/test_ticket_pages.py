"""The ticket desk and the report form, through AppTest."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from streamlit.testing.v1 import AppTest

from geo import auth, demo, settings, store, ticket_service as ts

PAGES = settings.ROOT / "pages"


def page(name: str, url: str, monkeypatch, username: str = "staff") -> AppTest:
    """The page opened by a signed-in demo user (see README: demo users)."""
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120)
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, demo.DEMO_PASSWORD,
                                                 now=settings.now())
    return at


def test_desk_lists_open_tickets_and_acts_on_one(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")  # grid head of the first grid
    mine = at.session_state["user"].scope.grid_id
    grids = store.read_layer(engine, store.schema.Grid)
    here = grids[grids["id"] == mine].geometry.iloc[0].representative_point()
    new = ts.report(engine, category="water", description="整栋楼停水", lon=here.x, lat=here.y, now=settings.now())
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert new["code"] in set(table["工单号"])
    assert set(table["状态"]) <= {"群众点单", "网格收单", "社区分单", "街道审单", "街道党工委接单", "部门领单·办理中",
                                 "待群众评单"}
    assert any(new["code"] in s.value for s in at.subheader)
    assert set(table["网格"]) == {grids.set_index("id").loc[mine, "name"]}  # only the grid head's own grid
    at.radio(key="tickets_move").set_value(next(o for o in at.radio(key="tickets_move").options
                                                if "网格收单" in o))
    at.button[0].click()  # the form's submit
    at.run()
    assert not at.exception, at.exception
    assert ts.get(engine, new["id"])["state"] == "grid_accepted"
    assert any("网格收单" in s.value for s in at.success)


def test_a_grid_head_cannot_open_another_grids_ticket(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")
    mine = at.session_state["user"].scope.grid_id
    other = ts.query(engine, now=settings.now(), limit=500)
    other = other[other["grid_id"] != mine].iloc[0]
    at.session_state["tickets_open_id"] = int(other["id"])  # as if a link or a stale id asked for it
    at.run()
    assert not at.exception, at.exception
    assert any("不在您的管辖范围内" in e.value for e in at.error)
    assert not any(other["code"] in s.value for s in at.subheader)


def test_without_signing_in_the_desk_stays_shut(town_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(PAGES / "tickets.py"), default_timeout=120).run()
    assert any("无权访问" in e.value for e in at.error)
    assert not at.dataframe


def test_desk_filters_overdue_only(town_url, monkeypatch):
    at = page("tickets", town_url, monkeypatch)
    at.run()
    at.toggle(key="tickets_overdue_only").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == 0 or table["超期"].all()


def test_report_needs_a_location_then_routes_it(town_url, monkeypatch):
    at = page("report", town_url, monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert any("请先在地图上点选位置" in i.value for i in at.info)
    engine = store.make_engine(town_url)
    spot = store.read_layer(engine, store.schema.Grid).geometry.iloc[1].representative_point()
    at.session_state["report_point"] = (spot.x, spot.y)  # what a map click stores
    at.run()
    at.selectbox(key="report_category").set_value("sanitation")
    at.text_area(key="report_description").input("小区门口垃圾三天没人清运")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert any("已受理" in s.value for s in at.success)
    code = at.success[0].value.split("工单号 ")[1].split("，")[0]
    newest = ts.query(engine, now=settings.now(), limit=1).iloc[0]
    assert newest["code"] == code and newest["category"] == "sanitation"


def test_indicators_page_matches_the_core_for_the_users_area(town_url, monkeypatch):
    from geo import indicators
    from geo.roles import Scope

    engine = store.make_engine(town_url)
    at = page("indicators", town_url, monkeypatch, "staff")
    at.run()
    assert not at.exception, at.exception
    now = settings.now()
    start = datetime.combine(now.date() - timedelta(days=30), time.min)
    end = datetime.combine(now.date() + timedelta(days=1), time.min)
    whole = indicators.compute(indicators.load(engine), now, start=start, end=end)
    shown = at.dataframe[0].value.set_index("指标")["数值"]
    assert shown["上报数"] == f"{whole['reported']:,}"
    community = next(iter(indicators.load(engine)["community_id"]))
    at.selectbox(key="ind_community").set_value(community).run()
    part = indicators.compute(indicators.load(engine, scope=Scope("community", community_id=community)), now,
                              start=start, end=end)
    assert at.dataframe[0].value.set_index("指标")["数值"]["上报数"] == f"{part['reported']:,}"
    assert part["reported"] < whole["reported"]

    head = page("indicators", town_url, monkeypatch, "gridhead1").run()
    grids = head.dataframe[2].value  # by grid: only the grid head's own grid
    assert len(grids) <= 1
