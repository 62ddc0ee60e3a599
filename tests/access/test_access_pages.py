"""Sign-in and navigation by role through AppTest: what each role can and cannot open."""
from __future__ import annotations

from datetime import timedelta

import pytest
import shapely
from sqlalchemy import delete, func, select, update
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth, kiosk, roles, sessions, throttle, users
from geo.demo import accounts
from geo.people import households, visits
from geo.db import store
from geo.tickets import service as ts
from geo.db.schema import Building, Grid, Household, LoginSession, Street
from geo.db.schema import User as UserRow

from conftest import open_address, steady_server

APP = settings.ROOT / "app.py"
PW = accounts.DEMO_PASSWORD
ALL = roles.WHOLE_STREET  # audit reads for the whole street (the tests' town has one)
WALL_TOKEN = "Wq7-kT2xZpL9vR4mN8cYbH3j"  # long and varied enough for geo.access.kiosk.token_problem


@pytest.fixture
def town_url(any_town_url):
    """Every test here runs on SQLite and on PostGIS (conftest.any_town_url)."""
    return any_town_url


@pytest.fixture
def app(town_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    return AppTest.from_file(str(APP), default_timeout=120)


def as_user(at: AppTest, url: str, username: str, query: dict | None = None) -> AppTest:
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, PW, now=settings.now())
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def sign_in_form(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()  # the form's submit button
    return at.run()


def test_the_app_opens_on_the_sign_in_page_and_wrong_or_unknown_get_one_message(app):
    at = app.run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_password").proto.type == at.text_input(key="login_password").proto.PASSWORD
    assert not at.metric  # nothing of the street before signing in
    wrong = [e.value for e in sign_in_form(at, "gridhead1", "wrong-password").error]
    unknown = [e.value for e in sign_in_form(at, "no-such-user", "wrong-password").error]
    assert wrong == unknown == [users.BAD_LOGIN]
    assert "user" not in at.session_state


def test_the_form_signs_in_with_the_right_password(app):
    at = sign_in_form(app.run(), "gridhead1", PW)
    assert not at.exception, at.exception
    assert at.session_state["user"].username == "gridhead1"


def test_repeated_failures_make_the_form_wait(app):
    at = app.run()
    for _ in range(throttle.POLICIES["pair"].free):
        sign_in_form(at, "gridhead2", "wrong-password")
    at = sign_in_form(at, "gridhead2", PW)
    assert "秒后再试" in at.error[0].value and "账号安全" in at.error[0].value and "user" not in at.session_state


def test_grid_head_lands_on_their_own_grid(app, town_url):
    at = as_user(app, town_url, "gridhead1")
    assert not at.exception, at.exception
    user = at.session_state["user"]
    with store.make_engine(town_url).connect() as conn:
        name = conn.execute(select(Grid.name).where(Grid.id == user.grid_id)).scalar_one()
    assert at.title[0].value == name
    assert [tab.label for tab in at.tabs][:3] == ["地图", "走访", "工单"]
    assert {"户数", "待走访", "在办工单"} <= {m.label for m in at.metric}
    shown = at.dataframe[0].value  # the to-visit list, masked
    assert shown["户主"].str.contains(r"\*").all()


def test_grid_head_asking_for_another_grid_by_url_is_refused(app, town_url):
    with store.make_engine(town_url).connect() as conn:
        other = conn.execute(select(Grid.id).where(Grid.id != 1).order_by(Grid.id.desc())).scalars().first()
    at = as_user(app, town_url, "gridhead1", {"grid": str(other)})
    assert not at.exception, at.exception
    assert any("不在您的管辖范围内" in e.value for e in at.error)
    assert not at.dataframe  # no household of that grid was drawn


def test_grid_head_cannot_open_the_audit_or_coverage_pages(app, town_url):
    at = as_user(app, town_url, "gridhead1")
    for page in ("pages/audit.py", "pages/coverage.py"):
        with pytest.raises(ValueError):  # not in their navigation at all
            at.switch_page(page)


def test_pages_check_the_role_themselves(town_url, monkeypatch):
    """Even run directly (a stale link, a guessed path), the audit page refuses a grid head."""
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "pages" / "audit.py"), default_timeout=60)
    at = as_user(at, town_url, "gridhead1")
    assert [e.value for e in at.error] == ["您的角色无权访问此页面"]
    assert not at.dataframe


def test_street_leader_reads_the_audit_log(app, town_url):
    engine = store.make_engine(town_url)
    with engine.connect() as conn:
        grid_id, grid_name = conn.execute(select(Grid.id, Grid.name).order_by(Grid.id).limit(1)).one()
    audit.record(engine, at=settings.now(), username="gridhead1", role="grid_head", action="ticket.accept",
                 object_type="ticket", object_id=4242, grid_id=grid_id, detail="T4242 street_accepted → in_progress")
    audit.record(engine, at=settings.now(), username="admin", action="user.create", object_type="user",
                 object_id=4243, detail="lisi street_leader")
    at = as_user(app, town_url, "leader")
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    log = at.dataframe[0].value
    assert list(log.columns) == ["时间", "用户", "角色", "操作", "对象", "网格", "详情"]
    mine = log[log["用户"] == "leader"]
    assert (mine["操作"] == "登录").any() and set(mine["角色"]) == {"街道领导"}
    assert not log.isna().any().any() and not log.isin(["None"]).any().any()  # blanks, not None
    # issue 13, item 9: the details name states and roles, not the codes they were written with
    assert log.query("对象 == '账号 4243'")["详情"].tolist() == ["lisi 街道领导"]
    assert log.query("对象 == '工单 4242'")["详情"].tolist() == ["T4242 街道党工委接单 → 部门领单·办理中"]
    assert not log["详情"].str.contains("street_|grid_head|in_progress").any()
    at.selectbox(key="audit_action").select("ticket.").run()  # shown as 工单
    assert set(at.dataframe[0].value["操作"]) <= {n for a, (n, _) in audit.ACTION_NAMES.items() if a.startswith("ticket.")}
    accepted = at.dataframe[0].value.query("用户 == 'gridhead1'")
    assert accepted[["角色", "操作", "对象", "网格"]].values.tolist() == [["网格长", "受理工单", "工单 4242", grid_name]]


def test_screen_account_sees_no_desk(app, town_url):
    at = as_user(app, town_url, "screen")
    assert not at.exception, at.exception
    for page in ("pages/tickets.py", "pages/report.py", "pages/my_area.py", "pages/audit.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)


def test_kiosk_url_signs_in_the_screen_account(app, monkeypatch, town_url):
    monkeypatch.setenv("SHEQU_SCREEN_TOKEN", WALL_TOKEN)
    kiosk.seed_from_env(store.make_engine(town_url), now=settings.now())  # as a server's start does
    app.query_params["kiosk"] = "1"
    app.query_params["token"] = WALL_TOKEN
    at = app.run()
    assert not at.exception, at.exception
    assert at.session_state["user"].role == "screen"
    # the token stays in the address: a wall that reconnects (server restart, session cleared,
    # cookie refused) signs itself in again; it has no keyboard to do it by hand
    assert at.query_params["token"] == WALL_TOKEN
    with store.make_engine(town_url).begin() as conn:
        conn.execute(delete(LoginSession))
    again = at.run()
    assert not again.exception and again.session_state["user"].role == "screen"
    assert not again.text_input  # no sign-in form on the wall
    assert audit.read(store.make_engine(town_url), scope=ALL, action_prefix="auth.kiosk").shape[0] >= 1



# --------------------------------------------------------------------------- addresses, sessions, re-checks

@pytest.mark.parametrize("who,asked,lands_on", [
    ("leader", "audit", "审计日志"),  # may open it: lands there
    ("gridhead1", "tickets", "工单台"),
    ("gridhead1", "audit", None),  # may not: lands on their home page (my grid)
])
def test_a_deep_link_signs_in_there_and_opens_the_page_if_the_role_may(app, town_url, steady, who, asked, lands_on):
    at = open_address(app, asked)
    assert not at.exception, at.exception
    assert at.text_input(key="login_password")  # the sign-in form, at that address
    assert not at.dataframe and not at.metric and not at.error
    at = sign_in_form(at, who, PW)
    assert not at.exception, at.exception
    if lands_on:
        assert at.title[0].value == lands_on
    else:
        user = at.session_state["user"]
        with store.make_engine(town_url).connect() as conn:
            assert at.title[0].value == conn.execute(select(Grid.name).where(Grid.id == user.grid_id)).scalar_one()
    assert not at.error


@pytest.mark.parametrize("signed_in", [False, True])
def test_on_a_just_started_server_an_address_still_goes_through_the_front_door(app, town_url, signed_in):
    """Before app.py ever ran, Streamlit would run pages/tickets.py for /tickets: it goes to app.py, then there."""
    if signed_in:
        app.session_state["user"] = auth.authenticate(store.make_engine(town_url), "staff", PW, now=settings.now())
    at = open_address(app, "tickets")
    assert not at.exception, at.exception
    assert not at.error
    if signed_in:
        assert at.title[0].value == "工单台"
    else:
        assert at.text_input(key="login_password") and not at.dataframe
    assert at.session_state["app_entered"] and "app_asked_page" not in at.session_state


@pytest.mark.parametrize("asked", ["audit", "coverage", "screen"])
def test_a_page_the_role_may_not_open_is_refused_by_address_without_running(app, town_url, steady, asked):
    at = as_user(app, town_url, "gridhead1")
    at = open_address(at, asked)
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["您的角色无权访问此页面"]
    assert not at.dataframe and not at.metric and not at.title


@pytest.mark.parametrize("server", ["just started", "running"])
def test_a_signed_in_user_opening_the_sign_in_address_goes_home(app, town_url, monkeypatch, server):
    app.session_state["user"] = auth.authenticate(store.make_engine(town_url), "gridworker1", PW, now=settings.now())
    if server == "running":
        steady_server(monkeypatch)
        app.run()
    at = open_address(app, "login")
    assert not at.exception, at.exception
    assert {"户数", "待走访"} <= {m.label for m in at.metric} and not at.text_input


def test_the_form_starts_a_server_session_and_sign_out_ends_it(app, town_url, steady):
    at = sign_in_form(app.run(), "gridhead1", PW)
    token = at.session_state["auth_token"]
    engine = store.make_engine(town_url)
    assert sessions.resume(engine, token, now=settings.now()).username == "gridhead1"
    at.sidebar.button(key="logout").click().run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state and at.text_input(key="login_password")
    assert sessions.resume(engine, token, now=settings.now()) is None  # a reload with that cookie: sign in again


def test_a_deactivated_user_is_signed_out_at_their_next_click(app, town_url, steady):
    engine = store.make_engine(town_url)
    at = sign_in_form(app.run(), "gridworker2", PW)
    assert at.metric
    auth.update_user(engine, "gridworker2", now=settings.now(), by="leader", active=False)
    try:
        at = at.run()
        assert not at.exception, at.exception
        assert "user" not in at.session_state and not at.metric
        assert any("登录已失效" in i.value for i in at.info)
        assert at.text_input(key="login_password")
    finally:
        auth.update_user(engine, "gridworker2", now=settings.now(), by="leader", active=True)


def test_a_changed_role_is_signed_out_even_without_a_session_token(app, town_url, steady):
    """Sessions begun outside the form (as these tests do) are re-checked against the user's row too."""
    engine = store.make_engine(town_url)
    at = as_user(app, town_url, "party2")
    with engine.begin() as conn:
        conn.execute(update(UserRow).where(UserRow.username == "party2").values(role="grid_worker"))
    try:
        at = at.run()
        assert "user" not in at.session_state and at.text_input(key="login_password")
    finally:
        with engine.begin() as conn:
            conn.execute(update(UserRow).where(UserRow.username == "party2").values(role="party_member"))


# --------------------------------------------------------------------------- the grid head's page

def figure(at: AppTest, label: str) -> int:
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def test_the_visit_interval_is_a_control_that_starts_from_the_setting(app, town_url, steady):
    engine = store.make_engine(town_url)
    at = as_user(app, town_url, "gridhead1")
    user, control = at.session_state["user"], at.number_input(key="my_area_days")
    assert control.value == settings.VISIT_INTERVAL_DAYS == 30
    due = {d: len(households.to_visit(engine, scope=user.scope, now=settings.now(), days=d)) for d in (30, 120)}
    assert figure(at, "待走访") == due[30]
    control.set_value(120).run()
    assert not at.exception, at.exception
    assert figure(at, "待走访") == due[120] < due[30]
    assert at.caption[1].value.startswith("独居老人、残疾、低收入家庭中超过 120 天未走访")


def test_an_account_whose_area_holds_no_grid_is_told_so(app, town_url, steady):
    engine = store.make_engine(town_url)
    with engine.begin() as conn:
        sid = conn.execute(select(func.max(Street.id))).scalar_one() + 1
        store.bulk_insert(conn, Street, [dict(id=sid, code=f"5101829{sid:02d}", name="新设街道",
                                              geom=shapely.box(104.0, 31.0, 104.01, 31.01))])
    users.create_user(engine, "newstreet", "a-long-password", "street_staff", now=settings.now(), street_id=sid)
    app.session_state["user"] = auth.authenticate(engine, "newstreet", "a-long-password", now=settings.now())
    at = open_address(app, "my_area")
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["您的账号没有绑定网格，或管辖范围内还没有网格，请联系街道管理员。"]
    assert not at.info and not at.metric  # not "no open tickets", and no figures of nowhere


def test_the_figures_count_what_the_core_counts(app, town_url, steady):
    engine = store.make_engine(town_url)
    mine = auth.authenticate(engine, "gridworker1", PW, now=settings.now()).scope.grid_id
    spot = store.read_layer(engine, Grid, where=Grid.id == mine).geometry.iloc[0].representative_point()
    made = ts.report(engine, category="water", description="楼道水管漏水", lon=spot.x, lat=spot.y,
                     now=settings.now() - timedelta(days=30))  # long past its deadline: overdue now
    at = as_user(app, town_url, "gridworker1")
    assert [m.label for m in at.metric][:4] == ["户数", "人口", "待走访", "在办工单"]
    engine, user = store.make_engine(town_url), at.session_state["user"]
    open_now = ts.query(engine, now=settings.now(), scope=user.scope, open_only=True)
    assert figure(at, "在办工单") == len(open_now) > 0
    assert figure(at, "户数") == households.head_count(engine, scope=user.scope)["households"]
    assert figure(at, "人口") == households.head_count(engine, scope=user.scope)["residents"]
    overdue = int(open_now["overdue"].sum())
    assert overdue >= 1 and bool(open_now.set_index("id").loc[made["id"], "overdue"])
    assert next(m.delta for m in at.metric if m.label == "在办工单") == f"{overdue} 超期"


def test_a_visit_whose_ticket_cannot_be_routed_says_nothing_was_kept(app, town_url, steady):
    engine = store.make_engine(town_url)
    at = as_user(app, town_url, "gridworker1")
    hid = at.selectbox(key="my_area_visit_hh").value
    with engine.begin() as conn:  # the household's door 50 km away: its ticket cannot be routed
        bid = conn.execute(select(Household.building_id).where(Household.id == hid)).scalar_one()
        conn.execute(update(Building).where(Building.id == bid).values(entrance_lon=Building.entrance_lon + 0.5))
    try:
        before = len(visits.history(engine, scope=at.session_state["user"].scope, household_id=hid))
        at.text_area(key="my_area_visit_note").input("楼道堆放杂物")
        at.checkbox(key="my_area_visit_ticket").check()
        at.button(key="FormSubmitter:my_area_visit-保存走访记录").click().run()
        assert not at.exception, at.exception
        assert any("走访记录和工单都没有保存" in e.value for e in at.error)
        assert len(visits.history(engine, scope=at.session_state["user"].scope, household_id=hid)) == before
    finally:
        with engine.begin() as conn:
            conn.execute(update(Building).where(Building.id == bid).values(entrance_lon=Building.entrance_lon - 0.5))


def test_a_grid_worker_corrects_a_phone_after_revealing_the_household(app, town_url, steady):
    engine = store.make_engine(town_url)
    at = as_user(app, town_url, "gridworker1")
    hid = at.selectbox(key="my_area_reveal_hh").value
    at.button(key="my_area_reveal").click().run()
    assert not at.exception, at.exception
    members = next(d.value for d in at.dataframe if "性别" in d.value.columns)  # issue 13, item 9: 男/女, no None
    assert set(members["性别"]) <= {"男", "女"} and len(members) and not members.isna().any().any()
    first = households.reveal(engine, at.session_state["user"], hid, now=settings.now())["residents"][0]
    rid = at.selectbox(key=f"my_area_edit_who_{hid}").value
    assert rid == first["id"] and at.text_input(key=f"my_area_edit_phone_{rid}").value == (first["phone"] or "")
    submit = f"FormSubmitter:my_area_edit_{rid}-保存修改"
    at.text_input(key=f"my_area_edit_phone_{rid}").input("1380000")
    at.button(key=submit).click().run()
    assert any("格式不对" in e.value for e in at.error)  # refused, and said why
    assert households.reveal(engine, at.session_state["user"], hid, now=settings.now())["residents"][0]["phone"] \
        == first["phone"]
    at.text_input(key=f"my_area_edit_phone_{rid}").input("139 0000 4444")
    at.button(key=submit).click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success][:1] == ["已保存 1 位住户成员的修改，并记入审计日志。"]
    assert households.reveal(engine, at.session_state["user"], hid, now=settings.now())["residents"][0]["phone"] \
        == "13900004444"
    log = audit.read(engine, scope=ALL, action_prefix="resident.update")
    assert log[["username", "object_id"]].values.tolist()[0] == ["gridworker1", rid]


def test_a_party_member_sees_no_reveal_and_no_edit(app, town_url, steady):
    at = as_user(app, town_url, "party1")
    assert not at.exception, at.exception
    keys = {w.key for w in at.selectbox} | {b.key for b in at.button}
    assert "my_area_reveal_hh" not in keys and not any(k and k.startswith("my_area_edit") for k in keys)


def test_my_grid_names_its_grid_head_and_a_party_member_sees_no_visits_they_cannot_record(app, town_url, steady):
    """Issue 13, item 12: the subtitle named the viewer (a grid worker read themselves as 网格长), and a party
    member's home listed households owed a visit that only grid staff may record."""
    from sqlalchemy import select

    from geo.db.schema import Person

    worker = as_user(app, town_url, "gridworker1")
    assert not worker.exception, worker.exception
    user = worker.session_state["user"]
    with store.make_engine(town_url).connect() as conn:
        head = conn.execute(select(Person.name).where(Person.role == "grid_head", Person.grid_id == user.grid_id)
                            .order_by(Person.name)).scalars().first()
    subtitle = worker.caption[0].value
    assert f"网格长：{head}" in subtitle and user.display_name not in subtitle
    assert "待走访" in {m.label for m in worker.metric} and "走访" in [t.label for t in worker.tabs]
    party = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=120)  # 我的网格, not their home
    party.session_state["user"] = auth.authenticate(store.make_engine(town_url), "party1", PW, now=settings.now())
    party = open_address(party, "my_area")
    assert not party.exception, party.exception
    assert "待走访" not in {m.label for m in party.metric}
    assert "走访" not in [t.label for t in party.tabs] and not party.get("form")
    assert f"网格长：{head}" in party.caption[0].value  # party1 belongs to gridworker1's grid
