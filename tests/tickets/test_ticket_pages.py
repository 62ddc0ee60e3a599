"""The ticket desk and the report form, through AppTest."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta

import pandas as pd
import pytest
from streamlit.proto.Block_pb2 import Block
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth
from geo.demo import accounts
from geo.db import store
from geo.maps import layers
from geo.tickets import service as ts, workflow
from geo.access.roles import WHOLE_STREET as WHOLE
from geo.tickets.rules import Actor

PAGES = settings.ROOT / "pages"


def page(name: str, url: str, monkeypatch, username: str = "staff") -> AppTest:
    """The page opened by a signed-in demo user (see README: demo users)."""
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120)
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, accounts.DEMO_PASSWORD,
                                                 now=settings.now())
    return at


def widget(at, kind: str, prefix: str):
    """The one widget of ``kind`` whose key starts with ``prefix`` (keys carry ticket id and version)."""
    found = [w for w in getattr(at, kind) if (w.key or "").startswith(prefix)]
    assert len(found) == 1, [w.key for w in getattr(at, kind)]
    return found[0]


def choose(at, tid: int, name: str) -> None:
    """Pick the move whose label (what a person sees) contains ``name``; the value is its action key."""
    radio = widget(at, "radio", f"tickets_move_{tid}_")
    actions = {m.action for wf in workflow.WORKFLOWS.values() for m in wf.moves}
    radio.set_value(next(a for a in sorted(actions)
                         if a != "escalate" and radio.format_func(a) in radio.options and name in radio.format_func(a)))


def forms(at) -> list:
    """The Form protos of the page (AppTest has no accessor for them)."""
    found, nodes = [], [at._tree]
    while nodes:
        node = nodes.pop()
        proto = getattr(node, "proto", None)
        if isinstance(proto, Block) and proto.HasField("form"):
            found.append(proto.form)
        nodes.extend(getattr(node, "children", {}).values())
    return found


def spot_in(engine, grid_id: int):
    grids = store.read_layer(engine, store.schema.Grid)
    return grids[grids["id"] == grid_id].geometry.iloc[0].representative_point()


def events(engine, tid: int) -> int:
    return len(ts.history(engine, tid, scope=WHOLE))


def test_desk_lists_open_tickets_and_acts_on_one(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")  # grid head of the first grid
    mine = at.session_state["user"].scope.grid_id
    grids = store.read_layer(engine, store.schema.Grid)
    here = spot_in(engine, mine)
    new = ts.report(engine, category="water", description="整栋楼停水", lon=here.x, lat=here.y, now=settings.now())
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert new["code"] in set(table["工单号"])
    # the count line says what the core finds for the same area and filters (open tickets only, by default)
    expected = ts.query(engine, now=settings.now(), scope=at.session_state["user"].scope, open_only=True)
    count = f"共 {len(expected)} 张工单，其中超期 {int(expected['overdue'].sum())} 张"
    assert any(c.value.startswith(count) for c in at.caption), [c.value for c in at.caption]
    assert set(table["状态"]) <= {"群众点单", "网格收单", "社区分单", "街道审单", "街道党工委接单", "部门领单·办理中",
                                 "待群众评单"}
    assert table["超期"].tolist() == sorted(table["超期"], reverse=True)  # overdue first
    assert any(new["code"] in s.value for s in at.subheader)
    assert set(table["网格"]) == {grids.set_index("id").loc[mine, "name"]}  # only the grid head's own grid
    assert {m.placeholder for m in at.multiselect} == {"全部"}  # not Streamlit's "Choose options"
    assert {m.proto.select_all for m in at.multiselect} == {0}  # nor its English "Select all" (issue 13, item 9)
    choose(at, new["id"], "网格收单")
    widget(at, "button", f"tickets_do_{new['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    assert ts.get(engine, new["id"], scope=WHOLE)["state"] == "grid_accepted"
    assert any("网格收单" in s.value for s in at.success)


def test_a_stale_page_is_told_and_changes_nothing(town_url, monkeypatch):
    """Two people: the page is drawn, someone else moves the ticket, then the first one submits."""
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")
    mine = at.session_state["user"].scope.grid_id
    here = spot_in(engine, mine)
    new = ts.report(engine, category="sanitation", description="垃圾堆放", lon=here.x, lat=here.y,
                    now=settings.now())
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    choose(at, new["id"], "不予受理")
    widget(at, "text_input", f"tickets_note_{new['id']}_").input("现场核实无问题")
    # meanwhile, in another session, a colleague accepts it
    ts.act(engine, new["id"], "accept", Actor("王网格员", "grid", username="gridworker1"), expected_version=1,
           now=settings.now(), scope=WHOLE)
    before = events(engine, new["id"])
    widget(at, "button", f"tickets_do_{new['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    after = ts.get(engine, new["id"], scope=WHOLE)
    assert after["state"] == "grid_accepted" and after["version"] == 2  # the colleague's move stands
    assert events(engine, new["id"]) == before  # nothing written
    assert any("刚被他人处理过" in e.value and "最新状态：网格收单" in e.value and "王网格员" in e.value
               for e in at.error)
    assert any("网格收单" in s.value for s in at.subheader)  # the page now shows the new state
    assert widget(at, "radio", f"tickets_move_{new['id']}_").key.endswith("_2")  # and acts on version 2


def test_the_community_dispatches_to_a_department(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "community1")
    grid = store.read_layer(engine, store.schema.Grid)
    grid = grid[grid["community_id"] == at.session_state["user"].community_id].iloc[0]
    here = grid.geometry.representative_point()
    new = ts.report(engine, category="streetlight_road", description="路灯不亮", lon=here.x, lat=here.y,
                    now=settings.now())
    for action in ("accept", "escalate"):
        ts.act(engine, new["id"], action, Actor("网格员", "grid"),
               expected_version=ts.get(engine, new["id"], scope=WHOLE)["version"], now=settings.now(), scope=WHOLE)
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    choose(at, new["id"], "社区派单")
    widget(at, "text_input", f"tickets_department_{new['id']}_").input("城管执法中队")
    widget(at, "button", f"tickets_do_{new['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    done = ts.get(engine, new["id"], scope=WHOLE)
    assert (done["state"], done["department"], done["assignee_id"]) == ("in_progress", "城管执法中队", None)
    # an assignment to nobody is refused with a message, not a traceback
    other = ts.report(engine, category="streetlight_road", description="路灯不亮2", lon=here.x, lat=here.y,
                      now=settings.now())
    for action in ("accept", "escalate"):
        ts.act(engine, other["id"], action, Actor("网格员", "grid"),
               expected_version=ts.get(engine, other["id"], scope=WHOLE)["version"], now=settings.now(),
               scope=WHOLE)
    at.session_state["tickets_open_id"] = other["id"]
    at.run()
    choose(at, other["id"], "社区派单")
    widget(at, "button", f"tickets_do_{other['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    assert any("承办人或承办部门" in e.value for e in at.error)
    assert ts.get(engine, other["id"], scope=WHOLE)["state"] == "community_dispatched"


def assigned_to_party1(engine, url, monkeypatch):
    party = auth.authenticate(engine, "party1", accounts.DEMO_PASSWORD, now=settings.now())
    here = spot_in(engine, party.grid_id)
    new = ts.report(engine, category="elderly_care", description="独居老人需要帮助", lon=here.x, lat=here.y,
                    now=settings.now())
    for action, kw in (("accept", {}), ("escalate", {}), ("assign", {"assignee_id": party.person_id})):
        ts.act(engine, new["id"], action, Actor("社区", "community" if action == "assign" else "grid"),
               expected_version=ts.get(engine, new["id"], scope=WHOLE)["version"], now=settings.now(),
               scope=WHOLE, **kw)
    return party, new


def test_the_party_member_records_arrival_on_the_desk(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    party, new = assigned_to_party1(engine, town_url, monkeypatch)
    head = page("tickets", town_url, monkeypatch, "gridhead1")
    head.session_state["tickets_open_id"] = new["id"]
    head.run()
    assert not head.exception, head.exception  # (a crashed page has no button either)
    assert any(new["code"] in s.value for s in head.subheader)  # the ticket is open on their desk
    assert not [b for b in head.button if (b.key or "").startswith("tickets_arrive_")]  # not theirs to record
    at = page("tickets", town_url, monkeypatch, "party1")
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    assert not at.exception, at.exception
    widget(at, "button", f"tickets_arrive_{new['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    assert ts.get(engine, new["id"], scope=WHOLE)["arrived_at"] is not None
    assert any("已登记到场" in s.value for s in at.success)
    log = audit.read(engine, action_prefix="ticket.arrive", scope=WHOLE)
    assert log[log["object_id"] == new["id"]]["username"].tolist() == ["party1"]


def test_arrival_on_a_stale_page_is_a_message_not_a_traceback(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    party, new = assigned_to_party1(engine, town_url, monkeypatch)
    at = page("tickets", town_url, monkeypatch, "party1")
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    v = ts.get(engine, new["id"], scope=WHOLE)["version"]
    ts.act(engine, new["id"], "close_unfixed", Actor("社区", "community"), expected_version=v, now=settings.now(),
           scope=WHOLE, note="历史遗留")
    widget(at, "button", f"tickets_arrive_{new['id']}_").click()
    at.run()
    assert not at.exception, at.exception
    assert any("刚被他人处理过" in e.value for e in at.error)
    assert ts.get(engine, new["id"], scope=WHOLE)["arrived_at"] is None


def test_export_holds_every_matching_ticket_even_when_the_list_is_cut(town_url, monkeypatch):
    from streamlit.runtime.media_file_manager import MediaFileManager

    exported = {}
    real = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        exported[file_name] = data_callable
        return real(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    monkeypatch.setattr(ts, "DESK_ROWS", 50)
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "staff")
    at.run()
    at.toggle(key="tickets_open_only").set_value(False).run()
    assert not at.exception, at.exception
    every = ts.query(engine, now=settings.now(), scope=WHOLE)
    assert len(at.dataframe[0].value) == 50
    assert any(f"导出包含全部 {len(every)} 张" in i.value for i in at.info)
    csv = pd.read_csv(io.BytesIO(exported["tickets.csv"]()), encoding="utf-8-sig")
    assert len(csv) == len(every) and set(csv["工单号"]) == set(every["code"])
    sheet = pd.read_excel(io.BytesIO(exported["tickets.xlsx"]()), sheet_name="工单")
    assert len(sheet) == len(every)
    assert "reporter_name" not in csv.columns and "联系电话" not in csv.columns  # no personal data


def test_a_grid_head_cannot_open_another_grids_ticket(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")
    mine = at.session_state["user"].scope.grid_id
    other = ts.query(engine, now=settings.now(), limit=500, scope=WHOLE)
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


def test_the_desk_toasts_what_the_apps_clock_escalated_once(town_url, monkeypatch):
    """app.py runs the clock once a minute and leaves the moved ids; the desk tells of them, once."""
    at = page("tickets", town_url, monkeypatch, "staff")
    at.session_state["tickets_escalated"] = [1, 2]
    at.run()
    assert not at.exception, at.exception
    assert [x.value for x in at.toast] == ["按时限规则自动升级 2 张工单"]
    assert "tickets_escalated" not in at.session_state
    at.run()
    assert not at.toast


def test_desk_filters_overdue_only(town_url, monkeypatch):
    """Planted: one ticket 20 days past its limit and one fresh, both findable by their words. Before
    issue 13 this test passed whatever the filter did (the test town has no overdue ticket at the
    page's clock, so an empty table passed); now the filter must drop the fresh one and keep the late."""
    engine = store.make_engine(town_url)
    spot = spot_in(engine, store.read_layer(engine, store.schema.Grid)["id"].iloc[0])
    late = ts.report(engine, category="sanitation", description="超期筛选测试 垃圾堆了三周", lon=spot.x, lat=spot.y,
                     now=settings.now() - timedelta(days=30), source="patrol")
    fresh = ts.report(engine, category="sanitation", description="超期筛选测试 今天的垃圾", lon=spot.x, lat=spot.y,
                      now=settings.now(), source="resident", urgent=True)
    at = page("tickets", town_url, monkeypatch)
    at.run()
    at.text_input(key="tickets_search").input("超期筛选测试").run()
    table = at.dataframe[0].value.set_index("工单号")
    assert set(table.index) == {late["code"], fresh["code"]}
    # 超期 / 紧急 are tags a person reads (coloured on the desk), not True/False checkboxes
    assert (table.loc[late["code"], "超期"], table.loc[fresh["code"], "超期"]) == ("超期", "")
    assert (table.loc[late["code"], "紧急"], table.loc[fresh["code"], "紧急"]) == ("", "紧急")
    assert (table.loc[late["code"], "来源"], table.loc[fresh["code"], "来源"]) == ("网格巡查", "居民上报")
    at.toggle(key="tickets_overdue_only").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["工单号"].tolist() == [late["code"]] and table["超期"].tolist() == ["超期"]
    assert any(c.value.startswith("共 1 张工单，其中超期 1 张") for c in at.caption)


def test_waiting_for_me_lists_what_the_user_can_move_now(town_url, monkeypatch):
    """待我办理: a grid head sees the report waiting for them and not the one the community holds; a party
    member only the tickets assigned to them."""
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")
    here = spot_in(engine, at.session_state["user"].scope.grid_id)
    waiting = ts.report(engine, category="water", description="待我办理测试 停水", lon=here.x, lat=here.y,
                        now=settings.now())
    upstairs = ts.report(engine, category="water", description="待我办理测试 水管爆裂", lon=here.x, lat=here.y,
                         now=settings.now())
    for action in ("accept", "escalate"):
        ts.act(engine, upstairs["id"], action, Actor("网格员", "grid"),
               expected_version=ts.get(engine, upstairs["id"], scope=WHOLE)["version"], now=settings.now(),
               scope=WHOLE)
    at.run()
    at.text_input(key="tickets_search").input("待我办理测试").run()
    assert set(at.dataframe[0].value["工单号"]) == {waiting["code"], upstairs["code"]}
    at.toggle(key="tickets_mine").set_value(True).run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["工单号"].tolist() == [waiting["code"]]
    community = page("tickets", town_url, monkeypatch, "community1")
    community.run()
    community.text_input(key="tickets_search").input("待我办理测试").run()
    community.toggle(key="tickets_mine").set_value(True).run()
    shown = set(community.dataframe[0].value["工单号"])
    assert upstairs["code"] in shown and waiting["code"] not in shown
    party, assigned = assigned_to_party1(engine, town_url, monkeypatch)
    member = page("tickets", town_url, monkeypatch, "party1")
    member.run()
    member.toggle(key="tickets_mine").set_value(True).run()
    mine = member.dataframe[0].value
    assert assigned["code"] in set(mine["工单号"])
    theirs = ts.query(engine, now=settings.now(), scope=WHOLE, search="", open_only=True)
    theirs = theirs[(theirs["assignee_id"] == party.person_id) & (theirs["state"] == "in_progress")]
    assert set(mine["工单号"]) == set(theirs["code"])  # the one state a handler moves tickets from


def test_report_needs_a_location_then_routes_it(town_url, monkeypatch):
    at = page("report", town_url, monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert any("请先在地图上点选位置" in i.value for i in at.info)
    engine = store.make_engine(town_url)
    spot = store.read_layer(engine, store.schema.Grid).geometry.iloc[1].representative_point()
    at.session_state["report_point"] = (spot.x, spot.y)  # what a map click stores
    at.run()
    assert at.selectbox(key="report_category").value is None  # no default category (issue 13)
    assert at.radio(key="report_source").value is None  # nor source
    # Enter in the name or phone field must not send a half-filled report (nor show the English hint)
    assert [f.enter_to_submit for f in forms(at)] == [False]
    at.text_area(key="report_description").input("小区门口垃圾三天没人清运")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert any("请先选择问题类别" in e.value for e in at.error)  # said, nothing sent, nothing typed lost
    assert at.text_area(key="report_description").value == "小区门口垃圾三天没人清运"
    at.selectbox(key="report_category").set_value("sanitation")
    at.button[0].click()
    at.run()
    assert any("请先选择问题来源" in e.value for e in at.error)
    at.radio(key="report_source").set_value("hotline")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert any("已受理" in s.value for s in at.success)
    code = at.success[0].value.split("工单号 ")[1].split("，")[0]
    newest = ts.query(engine, now=settings.now(), scope=WHOLE).sort_values("id").iloc[-1]
    assert newest["code"] == code and newest["category"] == "sanitation" and newest["source"] == "hotline"
    assert at.text_area(key="report_description").value == ""  # stored: the form is empty for the next call


def test_indicators_page_matches_the_core_for_the_users_area(town_url, monkeypatch):
    from geo.tickets import indicators
    from geo.access.roles import Scope

    engine = store.make_engine(town_url)
    at = page("indicators", town_url, monkeypatch, "staff")
    at.run()
    assert not at.exception, at.exception
    now = settings.now()
    start = datetime.combine(now.date() - timedelta(days=30), time.min)
    end = datetime.combine(now.date() + timedelta(days=1), time.min)
    whole = indicators.compute(indicators.load(engine, scope=WHOLE), now, start=start, end=end)
    shown = at.dataframe[0].value.set_index("指标")["数值"]
    assert shown["上报数"] == f"{whole['reported']:,}"
    cards = {m.label: m.value for m in at.metric}  # the headline cards say the same as the core
    assert list(cards) == [indicators.label(k) for k in (*indicators.HEADLINE, *indicators.ARRIVAL)]
    assert cards["30分钟到场率"] == indicators.shown("arrival_rate", whole["arrival_rate"])
    assert cards["按期结案率"] == indicators.shown("on_time_rate", whole["on_time_rate"])
    assert cards["满意率"] == indicators.shown("satisfaction_rate", whole["satisfaction_rate"])
    community = next(iter(indicators.load(engine, scope=WHOLE)["community_id"]))
    at.selectbox(key="ind_community").set_value(community).run()
    part = indicators.compute(indicators.load(engine, scope=Scope("community", community_id=community)), now,
                              start=start, end=end)
    assert at.dataframe[0].value.set_index("指标")["数值"]["上报数"] == f"{part['reported']:,}"
    assert part["reported"] < whole["reported"]

    head = page("indicators", town_url, monkeypatch, "gridhead1").run()
    grids = head.dataframe[2].value  # by grid: only the grid head's own grid
    assert len(grids) <= 1


def png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_a_refused_report_leaves_no_photo_behind(tmp_path, monkeypatch):
    from geo.io import photos
    from geo.errors import OutsideAreaError

    monkeypatch.setattr(photos, "UPLOAD_DIR", tmp_path)
    try:
        with photos.staged(png(), "门口.png") as name:
            assert (tmp_path / name).is_file()
            raise OutsideAreaError("该位置不在本街道任何网格内")
    except OutsideAreaError:
        pass
    assert list(tmp_path.iterdir()) == []
    with photos.staged(png(), "门口.png") as kept:
        pass
    assert [p.name for p in tmp_path.iterdir()] == [kept]
    with photos.staged(None, None) as nothing:
        assert nothing is None


def test_the_photo_is_shown_on_the_ticket(town_url, monkeypatch, tmp_path):
    from geo.io import photos

    monkeypatch.setattr(photos, "UPLOAD_DIR", tmp_path)
    engine = store.make_engine(town_url)
    at = page("tickets", town_url, monkeypatch, "gridhead1")
    here = spot_in(engine, at.session_state["user"].scope.grid_id)
    with photos.staged(png(), "灯.png") as name:
        new = ts.report(engine, category="streetlight_road", description="路灯不亮", lon=here.x, lat=here.y,
                        now=settings.now(), photo=name)
    at.session_state["tickets_open_id"] = new["id"]
    at.run()
    assert not at.exception, at.exception
    assert len(at.image) == 1 and not any("已不在服务器" in c.value for c in at.caption)


def test_the_report_form_shows_only_duplicates_in_the_users_area(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("report", town_url, monkeypatch, "gridhead1")
    user = at.session_state["user"]
    grids = store.read_layer(engine, store.schema.Grid).set_index("id")
    mine = grids.loc[user.grid_id].geometry
    theirs = next(g for i, g in grids.geometry.items() if i != user.grid_id and g.touches(mine))
    edge = mine.intersection(theirs).representative_point()
    c = theirs.centroid
    norm = ((c.x - edge.x) ** 2 + (c.y - edge.y) ** 2) ** 0.5
    across = (edge.x + (c.x - edge.x) / norm * 0.0002, edge.y + (c.y - edge.y) / norm * 0.0002)
    foreign = ts.report(engine, category="fire_equipment", description="隔壁网格：灭火器过期，李大爷家",
                        lon=across[0], lat=across[1], now=settings.now())
    at.session_state["report_point"] = (edge.x, edge.y)
    at.run()
    at.selectbox(key="report_category").set_value("fire_equipment").run()
    assert not at.exception, at.exception
    shown = [d.value for d in at.dataframe]
    assert not any(foreign["code"] in set(d.get("code", [])) for d in shown)
    assert not any("李大爷" in str(d.values) for d in shown)
    assert any("在您的管辖范围外" in c.value for c in at.caption)


def test_a_report_by_staff_is_audited_under_their_user_name(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    at = page("report", town_url, monkeypatch, "gridhead1")
    here = spot_in(engine, at.session_state["user"].scope.grid_id)
    at.session_state["report_point"] = (here.x, here.y)
    at.run()
    at.selectbox(key="report_category").set_value("sanitation")
    at.radio(key="report_source").set_value("patrol")
    at.text_area(key="report_description").input("楼道堆放杂物")
    at.text_input(key="report_name").input("居民张三")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    code = at.success[0].value.split("工单号 ")[1].split("，")[0]
    made = ts.query(engine, now=settings.now(), scope=WHOLE, search=code).iloc[0]
    assert made["reporter_name"] == "居民张三"
    log = audit.read(engine, action_prefix="ticket.report", scope=WHOLE)
    assert log[log["object_id"] == made["id"]]["username"].tolist() == ["gridhead1"]
    first = ts.history(engine, int(made["id"]), scope=WHOLE).iloc[0]
    assert first["actor"].endswith("(gridhead1)") and first["actor_role"] == "grid"


def test_a_hotline_operator_finds_the_address_instead_of_typing_coordinates(town_url, monkeypatch):
    """Issue 13, item 10: the street's staff take a 12345 call: the address they hear puts the report at
    the building's door, with the buildings around it numbered on the map."""
    from sqlalchemy import select

    from geo.db.schema import Building, Estate

    engine = store.make_engine(town_url)
    with engine.connect() as conn:
        b = conn.execute(select(Building.name, Building.entrance_lon, Building.entrance_lat,
                                Estate.name.label("estate")).join(Estate, Estate.id == Building.estate_id)
                         .order_by(Building.id)).first()
    at = page("report", town_url, monkeypatch, "staff")
    at.run()
    at.text_input(key="report_find").input(f"{b.estate} {b.name}").run()
    found = widget(at, "selectbox", "report_found_")
    assert found.value is None and found.format_func(0).startswith(f"{b.estate} {b.name}（楼栋）")
    found.set_value(0).run()
    assert not at.exception, at.exception
    assert at.session_state["report_point"] == pytest.approx((b.entrance_lon, b.entrance_lat))
    assert any("附近的楼栋号" in c.value for c in at.caption)
    at.text_input(key="report_find").input("没有这个地方").run()
    assert any("没有找到" in c.value for c in at.caption)


def test_the_indicators_workbook_holds_the_figures_of_the_page(town_url, monkeypatch, downloads):
    """Issue 13, item 15: the Excel a leader takes to a meeting says what the page says, for the same
    area and period, each figure with its definition; by category and by grid add up."""
    from geo.tickets import indicators

    engine = store.make_engine(town_url)
    from geo.io import export

    built = []
    excel_bytes = export.excel_bytes
    monkeypatch.setattr(export, "excel_bytes", lambda sheets: built.append(1) or excel_bytes(sheets))
    at = page("indicators", town_url, monkeypatch, "community1")
    at.run()
    assert not at.exception, at.exception
    assert built == []  # the workbook is built when asked for, not on every run (issue 15)
    name = next(k for k in downloads if k.startswith("indicators_"))
    book = pd.read_excel(io.BytesIO(downloads[name]()), sheet_name=None, engine="openpyxl")
    assert list(book) == ["指标", "按类别", "按网格"]
    now = settings.now()
    start = datetime.combine(now.date() - timedelta(days=30), time.min)
    end = datetime.combine(now.date() + timedelta(days=1), time.min)
    scope = at.session_state["user"].scope
    want = indicators.compute(indicators.load(engine, scope=scope), now, start=start, end=end)
    sheet = book["指标"].set_index("指标")
    for key in ("reported", "accepted", "handling_rate", "on_time_rate", "satisfaction_rate", "closed_unfixed"):
        assert str(sheet.loc[indicators.label(key), "数值"]) == indicators.shown(key, want[key]), key
    assert "GB/T 30428" in sheet.loc["按期结案率", "定义与依据"]
    assert book["按类别"]["上报数"].sum() == want["reported"]  # the categories partition the area's reports
    grids = layers.grid_names(engine, scope=scope)
    assert set(book["按网格"]["网格"]) <= set(grids.values()) and book["按网格"]["上报数"].sum() == want["reported"]


def test_the_desk_lists_its_area_warnings_and_acknowledges_them_audited(town_url, monkeypatch):
    """A pile of overdue tickets in community1's community becomes a warning on its desk; 确认 writes the
    audit row; community2's desk does not list it."""
    from sqlalchemy import select, update

    from geo.db.schema import Ticket
    from geo.tickets import warnings

    engine = store.make_engine(town_url)
    now = settings.now()
    staff = auth.authenticate(engine, "community1", accounts.DEMO_PASSWORD, now=now)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(select(Ticket.id).where(Ticket.community_id == staff.scope.community_id)
                                          .order_by(Ticket.id).limit(6))]
        conn.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            state="community_dispatched", step_due_at=now - timedelta(days=2), due_at=now + timedelta(days=3)))
    warnings.refresh(engine, now)
    wid = int(warnings.live(engine, scope=staff.scope).query("kind == 'pile'")["id"].iloc[0])

    other = page("tickets", town_url, monkeypatch, "community2").run()
    assert not [b for b in other.button if b.key == f"tickets_warn_ack_{wid}"]

    at = page("tickets", town_url, monkeypatch, "community1").run()
    assert not at.exception
    assert any("环节积压" in m.value for m in at.markdown)
    widget(at, "button", f"tickets_warn_ack_{wid}").click().run()
    assert not at.exception, at.exception[0].stack_trace
    assert any("已确认预警" in s.value for s in at.success)
    log = audit.read(engine, scope=WHOLE, action_prefix="warning.")
    assert list(log["action"]) == ["warning.acknowledge"] and list(log["object_id"]) == [wid]
    assert log["username"].iloc[0] == "community1"
