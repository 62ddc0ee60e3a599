"""The residents' pages through app.py (AppTest): open to anyone, and the only thing that is.

Signed out, /resident and /track open as themselves; every other address still shows the
sign-in form. The phone page placed by a QR link names the building; the tracking page
opens only with a real token and shows no staff names; the staff page 居民入口 is for staff.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_address
from geo import settings
from geo.access import auth
from geo.db import store
from geo.demo import accounts
from geo.intake import address, doors
from geo.tickets import rules, service
from geo.access.roles import Scope

APP = settings.ROOT / "app.py"
STAFF_PAGES = ["my_area", "map", "tickets", "report", "indicators", "coverage", "screen", "audit", "boundaries",
               "security", "doors"]


@pytest.fixture
def app(town_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    return AppTest.from_file(str(APP), default_timeout=120)


def test_the_residents_pages_open_without_signing_in_and_nothing_else_does(app, town_url, steady):
    at = open_address(app, "resident")
    assert not at.exception, at.exception
    assert at.title[0].value == "📣 群众点单"
    assert not [w for w in at.text_input if w.key == "login_password"]
    for page in STAFF_PAGES:
        other = AppTest.from_file(str(APP), default_timeout=120)
        other = open_address(other, page)
        assert not other.exception, (page, other.exception)
        assert [w.key for w in other.text_input if w.key == "login_password"], page  # the sign-in form
        assert not other.dataframe and not other.metric, page


def test_a_qr_link_places_the_report_at_its_building(app, town_url, steady):
    eng = store.make_engine(town_url)
    building = address.buildings(eng).iloc[7]
    app.query_params["b"] = str(int(building["id"]))
    at = open_address(app, "resident")
    assert not at.exception, at.exception
    assert any(building["label"] in m.value for m in at.markdown)
    bad = AppTest.from_file(str(APP), default_timeout=120)
    bad.query_params["b"] = "999999"
    bad = open_address(bad, "resident")
    assert [w.value for w in bad.warning] == ["二维码中的楼栋不存在（可能已更新），请在地图上点选位置"]


def test_tracking_needs_the_token_and_shows_no_staff(app, town_url, steady):
    eng = store.make_engine(town_url)
    spot = address.buildings(eng).iloc[3]
    receipt = doors.submit(eng, door="qr", category="water", description="楼道水管漏水", lon=float(spot.entrance_lon),
                           lat=float(spot.entrance_lat), now=settings.now())
    t = receipt.ticket
    service.act(eng, t["id"], "accept", rules.Actor("网格长赵六", "grid", username="gh"), expected_version=t["version"],
                now=settings.now(), scope=Scope("street"))
    bad = open_address(app, "track")
    assert [e.value for e in bad.error] == ["查询链接无效：请使用提交后得到的完整链接（工单号不能代替链接）"]
    good = AppTest.from_file(str(APP), default_timeout=120)
    good.query_params["t"] = receipt.token
    good = open_address(good, "track")
    assert not good.exception, good.exception
    text = " ".join(m.value for m in good.markdown)
    assert t["code"] in text and "网格收单" in text and "赵六" not in text
    assert [m.value for m in good.metric] == ["网格收单"]


def test_the_staff_page_is_for_staff(app, town_url, steady):
    app.session_state["user"] = auth.authenticate(store.make_engine(town_url), "staff", accounts.DEMO_PASSWORD,
                                                  now=settings.now())
    at = open_address(app, "doors")
    assert not at.exception, at.exception
    assert at.title[0].value == "居民入口：一码通、开放接口、12345"
    assert {"一码通：楼栋二维码", "开放接口密钥（Open311）", "12345 热线工单导入"} <= {h.value for h in at.subheader}
    grid_head = AppTest.from_file(str(APP), default_timeout=120)
    grid_head.session_state["user"] = auth.authenticate(store.make_engine(town_url), "gridhead1",
                                                        accounts.DEMO_PASSWORD, now=settings.now())
    grid_head = open_address(grid_head, "doors")
    assert {h.value for h in grid_head.subheader} == {"一码通：楼栋二维码"}  # no keys, no hotline


def test_a_qr_link_shows_what_the_buildings_community_council_made_public(app, town_url, steady):
    """一征三议两公开's 两公开 reaches the residents: a QR link's building shows its community's published
    matters (and its grid's), never a matter still being discussed or another community's."""
    from datetime import date, datetime

    from sqlalchemy import insert

    from geo.db.schema import CouncilMatter

    eng = store.make_engine(town_url)
    table = address.buildings(eng)
    here = table.iloc[5]
    where = service.route(eng, float(here.entrance_lon), float(here.entrance_lat))
    other = int(table.loc[table["community"] != here["community"]].iloc[0]["grid_id"])
    other_community = service.route(eng, *[float(v) for v in table.loc[table["grid_id"] == other].iloc[0][
        ["entrance_lon", "entrance_lat"]]]).community_id
    row = dict(summary=None, decision="同意加装", votes_for=41, votes_against=3, decided_on=date(2026, 11, 2),
               notice="公示七天", published_on=date(2026, 11, 3), created_by="staff", created_at=datetime(2026, 11, 1),
               updated_at=datetime(2026, 11, 3), raised_on=date(2026, 10, 1), grid_id=None)
    with eng.begin() as conn:
        conn.execute(insert(CouncilMatter), [
            {**row, "community_id": where.community_id, "title": "加装电梯议事甲", "stage": "published"},
            {**row, "community_id": where.community_id, "title": "停车收费议事乙", "stage": "deliberated"},
            {**row, "community_id": other_community, "title": "别的社区议事丙", "stage": "done",
             "outcome": "已完工", "outcome_on": date(2026, 11, 20)}])
    app.query_params["b"] = str(int(here["id"]))
    at = open_address(app, "resident")
    assert not at.exception, at.exception
    (box,) = [e for e in at.expander if "社区议事公开" in e.label]
    shown = " ".join(m.value for m in box.markdown) + " ".join(x.value for x in box.text)
    assert "加装电梯议事甲" in shown and "同意加装（赞成 41，反对 3，2026-11-02）" in shown
    assert "停车收费议事乙" not in shown and "别的社区议事丙" not in shown
