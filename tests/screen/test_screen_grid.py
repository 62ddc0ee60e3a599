"""The wall down to one grid (issue 19, item 3): its figures against a recount in SQL, its team (phones
masked on the wall), helpers and open tickets, the address that keeps the view, the kiosk, the way back."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import users
from geo.access.roles import Scope
from geo.db import store
from geo.screen import grid_card, map_data, screen_map, wall
from geo.tickets import workflow

from test_screen import NOW, D, H, tiny_town

PAGE = settings.ROOT / "pages" / "screen.py"
WEST = Scope("grid", community_id=1, grid_id=1)


def grid_town() -> dict[str, list[dict]]:
    """The screen's tiny town, with a grid team that has phones, a 联户长 and households looked after."""
    town = tiny_town()
    for p in town["person"]:
        if p["id"] == 6:  # 西网格's grid head
            p.update(name="王网格", phone="13812345678")
    town["person"] += [
        dict(id=10, role="grid_worker", name="李巡查", phone="13900001111", street_id=1, community_id=1, grid_id=1),
        dict(id=11, role="household_link_head", name="赵联户", street_id=1, community_id=1, grid_id=1),
        dict(id=12, role="volunteer", name="孙志愿", street_id=1, community_id=1, grid_id=1)]
    town["care_link"] = [dict(person_id=1, household_id=h, kind="party") for h in (1, 2, 3)] + \
        [dict(person_id=11, household_id=h, kind="link") for h in (1, 2, 3, 4, 5)]
    town["app_user"].append(dict(id=3, username="leader", password_hash="-", role="street_leader",
                                 display_name="书记", street_id=1, active=True))
    return town


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = store.make_engine(f"sqlite:///{tmp_path_factory.mktemp('grid')}/grid.db")
    store.load_town(eng, grid_town())
    yield eng
    eng.dispose()


def recount(engine, grid_id: int) -> dict[str, int]:
    """The grid's headline counts straight from the tables, in SQL of its own (not the screen's code)."""
    open_ = ", ".join(f"'{s}'" for s in workflow.OPEN_STATES)
    owing = ", ".join(f"'{s}'" for s in workflow.OVERDUE_STATES)
    today = NOW.replace(hour=0, minute=0)
    q = {
        "residents": "SELECT COALESCE(SUM(residents), 0) FROM building WHERE grid_id = :g",
        "households": "SELECT COUNT(*) FROM household WHERE grid_id = :g",
        "party_members": "SELECT COUNT(*) FROM person WHERE grid_id = :g AND role = 'party_member'",
        "volunteers": "SELECT COUNT(*) FROM person WHERE grid_id = :g AND role = 'volunteer'",
        "open": f"SELECT COUNT(*) FROM ticket WHERE grid_id = :g AND state IN ({open_})",
        "overdue": f"SELECT COUNT(*) FROM ticket WHERE grid_id = :g AND state IN ({owing}) AND due_at < :now",
        "new_today": "SELECT COUNT(*) FROM ticket WHERE grid_id = :g AND created_at >= :today AND created_at <= :now",
        "closed_today": "SELECT COUNT(*) FROM ticket WHERE grid_id = :g AND state IN ('closed', 'closed_unfixed') "
                        "AND closed_at >= :today AND closed_at <= :now",
        "cameras": "SELECT COUNT(*) FROM camera WHERE grid_id = :g",
    }
    with engine.connect() as conn:
        return {k: int(conn.execute(text(sql), dict(g=grid_id, now=NOW, today=today)).scalar_one())
                for k, sql in q.items()}


# --------------------------------------------------------------------------- geo: the grid's figures and card

@pytest.mark.parametrize("grid_id", [1, 2, 3])
def test_a_grids_figures_equal_its_recount(engine, grid_id):
    s = wall.build(engine, NOW, Scope("grid", grid_id=grid_id))
    counted = recount(engine, grid_id)
    assert {k: s.figures[k] for k in counted} == counted
    assert s.figures["grids"] == 1 and set(s.frame["grid_id"]) <= {grid_id}


def test_a_grids_figures_card_and_recount_agree_on_both_backends(database_url):
    """The same on PostGIS as on SQLite: the SQL of the card and the recount run on both."""
    eng = store.make_engine(database_url)
    try:
        store.load_town(eng, grid_town())
        s = wall.build(eng, NOW, WEST)
        counted = recount(eng, 1)
        assert {k: s.figures[k] for k in counted} == counted == recount_west()
        c = grid_card.card(eng, NOW, Scope("street", street_id=1), 1, s.frame)
        assert c.team["name"].tolist() == ["王网格", "李巡查"] and c.team["phone"].tolist()[0] == "138****5678"
        assert c.helper_counts == {"party_member": 2, "household_link_head": 1, "building_head": 0, "volunteer": 1}
        assert c.open_tickets["code"].tolist() == ["T2", "T5", "T1"]
    finally:
        eng.dispose()


def recount_west() -> dict[str, int]:
    return dict(residents=150, households=5, party_members=2, volunteers=1, open=3, overdue=1, new_today=2,
                closed_today=0, cameras=2)


def test_the_west_grid_hand_counted(engine):
    """西网格: T1, T2, T5 open, T2 past its limit; T1 and T5 reported today; two cameras; 150 residents."""
    assert recount(engine, 1) == recount_west()


def test_the_card_names_the_team_masks_their_phones_and_lists_helpers_and_open_tickets(engine):
    frame = wall.build(engine, NOW, WEST).frame
    c = grid_card.card(engine, NOW, Scope("street", street_id=1), 1, frame)
    assert (c.name, c.community, c.code) == ("西网格", "测试社区", "510182001001001")
    assert c.team.values.tolist() == [["grid_head", "王网格", "138****5678"], ["grid_worker", "李巡查", "139****1111"]]
    full = grid_card.card(engine, NOW, Scope("street", street_id=1), 1, frame, reveal=True)
    assert full.team["phone"].tolist() == ["13812345678", "13900001111"]
    assert c.helpers.values.tolist() == [["party_member", "p1", 3], ["party_member", "p2", 0],
                                         ["household_link_head", "赵联户", 5], ["volunteer", "孙志愿", 0]]
    assert c.helper_counts == {"party_member": 2, "household_link_head": 1, "building_head": 0, "volunteer": 1}
    assert grid_card.by_role(c.helpers, c.helper_counts) == [
        ("party_member", 2, "p1"), ("household_link_head", 1, "赵联户"), ("building_head", 0, ""),
        ("volunteer", 1, "孙志愿")]
    # the card's party members and volunteers are the wall's own figures for the grid
    f = wall.build(engine, NOW, WEST).figures
    assert (c.helper_counts["party_member"], c.helper_counts["volunteer"]) == (f["party_members"], f["volunteers"])
    # overdue first (T2, a day over), then urgent (T5), then the oldest; as many as the figure says
    assert c.open_tickets["code"].tolist() == ["T2", "T5", "T1"] and len(c.open_tickets) == f["open"]
    assert c.open_tickets["overdue"].tolist() == [True, False, False]
    assert c.open_tickets["hours_over"].tolist() == [24.0, 0.0, 0.0]
    assert c.open_tickets["category"].tolist()[0] == "供水"


def test_a_grid_outside_the_viewers_area_has_no_card(engine):
    frame = wall.build(engine, NOW, WEST).frame
    assert grid_card.card(engine, NOW, Scope("street", street_id=99), 1, frame) is None
    assert grid_card.card(engine, NOW, Scope("community", community_id=2), 1, frame) is None
    assert grid_card.grid_in(engine, Scope("community", community_id=1), 1)["name"] == "西网格"


def test_a_click_inside_a_community_picks_the_grid(engine):
    """Grids, the density columns over them and the overdue or urgent dots all carry their grid."""
    scope = Scope("community", community_id=1)
    base = map_data.basemap(engine, scope)
    deck = json.loads(screen_map.deck(base, wall.build(engine, NOW, scope)).to_json())
    layers = {layer["id"]: layer["data"] for layer in deck["layers"]}
    assert sorted(r["g"] for r in layers["grids"]) == [1, 2]
    assert screen_map.picked_grid({"objects": {"grids": [layers["grids"][1]]}}) == layers["grids"][1]["g"]
    assert {r["g"] for r in layers["alerts"]} == {1}  # T2 overdue, T5 urgent: both in 西网格
    assert screen_map.picked_grid({"objects": {"alerts": [layers["alerts"][0]]}}) == 1
    assert all(c["g"] in (1, 2, None) for c in layers["ticket_cells"]) and any(c["g"] for c in layers["ticket_cells"])
    assert screen_map.picked_grid({"objects": {"community_names": [{"t": "x"}]}}) is None
    # down to a grid, the map fits that grid's own land, names it, and shows its open tickets one by one
    # (a density cell is as big as a grid)
    down = map_data.basemap(engine, WEST)
    assert down.grids["id"].tolist() == [1]
    assert down.bounds == pytest.approx((103.950, 30.990, 103.955, 30.998))
    s = wall.build(engine, NOW, WEST)
    layers = {layer["id"]: layer["data"] for layer in json.loads(screen_map.deck(down, s).to_json())["layers"]}
    assert "ticket_cells" not in layers
    assert sorted(r["n"].split()[0] for r in layers["open_tickets"]) == ["T1", "T2", "T5"]
    assert [r["t"] for r in layers["community_names"]] == ["西网格"]
    assert [i["key"] for i in screen_map.legend(down, s)][:2] == ["screen.lg_load", "screen.lg_open_ticket"]


# --------------------------------------------------------------------------- the page

def _page(engine, monkeypatch, role: str = "screen", **params) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", str(engine.url))
    monkeypatch.setattr("geo.screen.figures.BASEMAP", "offline")
    monkeypatch.setattr("pages.common.now", lambda: NOW)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["user"] = users.User(id=3 if role == "street_leader" else 1, username=role, role=role,
                                          display_name="大屏", street_id=1)
    at.query_params.update(params)
    return at


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def _tiles(html: str) -> dict[str, str]:
    """The headline tiles as the wall shows them: label → value."""
    return dict(re.findall(r"<div class='scr-label'>([^<]+)</div><div class='scr-value[^']*'>([^<]+)</div>", html))


def _param(at, key):
    v = at.query_params.get(key)
    return v[0] if isinstance(v, list) else v


def test_the_kiosk_down_to_a_grid_shows_its_recount_team_helpers_and_tickets(engine, monkeypatch):
    at = _page(engine, monkeypatch, kiosk="1", community="1", grid="1").run()
    assert not at.exception, at.exception
    html = _html(at)
    assert "测试社区·西网格 · 社区治理指挥中心" in html
    assert len(at.selectbox) == 0  # the kiosk: nothing but the wall
    tiles, counted = _tiles(html), recount(engine, 1)
    assert (tiles["在办工单"], tiles["今日新增"], tiles["今日办结"], tiles["超期工单"]) == tuple(
        str(counted[k]) for k in ("open", "new_today", "closed_today", "overdue"))
    assert tiles["监控在线"] == f"1/{counted['cameras']}"
    assert re.search(rf"<b>{counted['residents']}</b><span>常住人口</span>", html)
    assert "网格力量 · 西网格" in html and "王网格" in html and "138****5678" in html
    assert "13812345678" not in html  # the wall's account never sees a phone in full
    # each helper role with how many, and who looks after most households (p1: three; 赵联户: five)
    assert ("<div><b>2</b><span>党员</span><small>p1</small></div><div><b>1</b><span>联户长</span><small>赵联户</small>"
            "</div><div><b>0</b><span>楼栋长</span><small>—</small></div><div><b>1</b><span>志愿者</span>"
            "<small>孙志愿</small></div>") in html
    panel = html[html.index("scr-grid-open"):]
    panel = panel[:panel.index("</table>")]
    assert "在办工单（3）" in panel and re.findall(r"T\d+", panel) == ["T2", "T5", "T1"]
    assert "超期24小时" in panel
    assert "网格在办排行" not in html  # the card stands where the rankings were
    assert [b.label for b in at.button] == ["↩ 返回测试社区"]


def test_a_refresh_keeps_the_grid(engine, monkeypatch):
    """The view lives in the address: a rerun and a new session with the same address show the same grid."""
    at = _page(engine, monkeypatch, kiosk="1", community="1", grid="2").run()
    assert "测试社区·东网格 · 社区治理指挥中心" in _html(at)
    at.run()
    assert "测试社区·东网格 · 社区治理指挥中心" in _html(at) and _param(at, "grid") == "2"
    again = _page(engine, monkeypatch, kiosk="1", community="1", grid="2").run()  # F5: a new session
    assert not again.exception, again.exception
    assert "测试社区·东网格 · 社区治理指挥中心" in _html(again)
    assert (_param(again, "community"), _param(again, "grid")) == ("1", "2")


def test_back_to_the_community_then_to_the_street(engine, monkeypatch):
    at = _page(engine, monkeypatch, kiosk="1", community="1", grid="1").run()
    at.button(key="screen_back_community").click().run()
    assert not at.exception, at.exception
    assert "grid" not in at.query_params and _param(at, "community") == "1"
    assert "测试社区 · 社区治理指挥中心" in _html(at) and "网格在办排行" in _html(at) and "点击网格查看详情" in _html(at)
    at.button(key="screen_back").click().run()
    assert "community" not in at.query_params and "测试街道 · 社区治理指挥中心" in _html(at)


def test_a_grid_of_another_community_in_the_address_is_ignored(engine, monkeypatch):
    at = _page(engine, monkeypatch, kiosk="1", community="1", grid="3").run()  # 湖网格 is 北湖社区's
    assert not at.exception, at.exception
    assert "测试社区 · 社区治理指挥中心" in _html(at) and "湖网格" not in _html(at)
    assert "grid" not in at.query_params
    lone = _page(engine, monkeypatch, kiosk="1", grid="1").run()  # a grid without its community: the street
    assert "测试街道 · 社区治理指挥中心" in _html(lone) and "grid" not in lone.query_params


def test_the_sidebar_picks_a_grid_and_a_leader_at_a_desk_sees_the_team_phone(engine, monkeypatch):
    at = _page(engine, monkeypatch, role="street_leader", community="1").run()
    assert not at.exception, at.exception
    at.selectbox(key="screen_grid_1").set_value(1).run()
    assert _param(at, "grid") == "1" and "测试社区·西网格 · 社区治理指挥中心" in _html(at)
    assert "13812345678" in _html(at)  # the street's leader may call the grid head
    kiosk = _page(engine, monkeypatch, role="street_leader", kiosk="1", community="1", grid="1").run()
    assert "138****5678" in _html(kiosk) and "13812345678" not in _html(kiosk)  # not on a wall in a room
