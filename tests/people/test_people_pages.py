"""The people pages through AppTest (what a person is shown): the party member's claim and the race they lose,
the 5–8 rule refused on 我的网格, a patrol rating opening a ticket, the leader's home, figures matching the core."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth, users
from geo.db import store
from geo.db.schema import CareLink, Person
from geo.demo import accounts
from geo.people import bindings, estates, orders
from geo.tickets import indicators, service as ts

from conftest import open_address

APP = settings.ROOT / "app.py"


def login(url: str, name: str) -> users.User:
    return auth.authenticate(store.make_engine(url), name, accounts.DEMO_PASSWORD, now=settings.now())


def app_as(url: str, monkeypatch, name: str, page: str) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["user"] = login(url, name)
    return open_address(at, page)


def test_party_member_lands_on_their_offers_claims_one_and_is_told_when_beaten(town_url, monkeypatch, steady):
    engine = store.make_engine(town_url)
    party = login(town_url, "party1")
    offered = orders.offers(engine, party, now=settings.now())
    assert len(offered) >= 2
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["user"] = party
    at = at.run()  # "/" opens the role's home
    assert not at.exception, at.exception
    assert [x.value for x in at.title] == ["党员接单"]
    assert f"待接工单（{len(offered)}）" in [x.value for x in at.subheader]
    first, second = (int(i) for i in offered["id"].head(2))
    at.button(key=f"party_claim_{first}").click().run()
    assert any("已接单" in s.value for s in at.success), [s.value for s in at.success]
    assert ts.get(engine, first, scope=party.scope)["assignee_id"] == party.person_id
    # another member of the grid takes the second one first; the page had offered it
    rival = next(p for p in store.read_frame(engine, Person.__table__.select().where(
        Person.role == "party_member", Person.grid_id == party.grid_id, Person.id != party.person_id,
        Person.available.is_(True))).itertuples())
    other = users.User(id=-1, username="rival", role="party_member", display_name=rival.name,
                       community_id=party.community_id, grid_id=party.grid_id, person_id=rival.id)
    orders.arrive(engine, party, first, now=settings.now())  # free to claim again
    at.run()
    orders.claim(engine, other, second, now=settings.now())
    at.button(key=f"party_claim_{second}").click().run()
    assert any(rival.name in e.value and "本次未保存" in e.value for e in at.error), [e.value for e in at.error]
    assert not at.exception


def test_the_ninth_household_is_refused_on_my_area_with_the_rule(town_url, monkeypatch, steady):
    engine = store.make_engine(town_url)
    head = login(town_url, "gridhead1")
    helpers = bindings.helpers_households(engine, scope=head.scope, grid_id=head.grid_id)
    full = helpers[(helpers["role"] == "party_member") & (helpers["count"] == 8)]
    if full.empty:  # fill one member to 8 through the core
        pid = int(helpers[helpers["role"] == "party_member"].iloc[0]["id"])
        free = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id)
        for hid in free[free["party"].isna()]["id"].head(8 - int(helpers.set_index("id").loc[pid, "count"])):
            bindings.bind_household(engine, head, pid, int(hid), now=settings.now())
    else:
        pid = int(full.iloc[0]["id"])
    table = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id)
    spare = int(table[table["party"].isna()]["id"].iloc[0])
    before = store.counts(engine)["care_link"]
    at = app_as(town_url, monkeypatch, "gridhead1", "my_area")
    assert not at.exception, at.exception
    assert any("每名党员包保 5–8 户" in c.value for c in at.caption)  # the rule is shown
    at.selectbox(key="my_area_bind_person").select(pid)
    at.selectbox(key="my_area_bind_household").select(spare)
    at.button(key="FormSubmitter:my_area_bind_form-保存").click().run()
    assert any("不能再增加第 9 户" in e.value and "本次没有保存" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert store.counts(engine)["care_link"] == before
    with engine.connect() as conn:
        assert conn.execute(CareLink.__table__.select().where(CareLink.household_id == spare,
                                                              CareLink.kind == "party")).first() is None


def test_a_low_patrol_rating_opens_a_ticket_from_the_page(town_url, monkeypatch, steady):
    at = app_as(town_url, monkeypatch, "gridworker1", "patrols")
    assert not at.exception, at.exception
    at.selectbox(key="patrol_kind").select("safe_building").run()
    at.slider(key="patrol_stars").set_value(1)
    at.text_area(key="patrol_note").input("楼道电动车充电，私拉飞线")
    at.checkbox(key="patrol_ticket").check()
    at.button(key="FormSubmitter:patrol_rate-保存评分").click().run()
    assert not at.exception, at.exception
    made = [s.value for s in at.success if "并生成工单 GD" in s.value]
    assert made, [s.value for s in at.success] + [e.value for e in at.error]
    code = made[0].split("并生成工单 ")[1].strip()
    found = ts.query(store.make_engine(town_url), now=settings.now(), scope=login(town_url, "gridworker1").scope,
                     search=code)
    assert list(found["category"]) == ["safety_hazard"] and list(found["source"]) == ["patrol"]


def test_the_street_leader_lands_on_their_contact_point(town_url, monkeypatch, steady):
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.session_state["user"] = login(town_url, "leader")
    at = at.run()
    assert not at.exception, at.exception
    assert [x.value for x in at.title] == ["领导联系点"]
    assert any(s.value.startswith("我的联系点：") for s in at.subheader)


def test_the_figures_on_the_pages_are_the_cores(town_url, monkeypatch, steady):
    engine = store.make_engine(town_url)
    at = app_as(town_url, monkeypatch, "community1", "estates")
    assert not at.exception, at.exception
    counts = estates.figures(estates.estates(engine, scope=login(town_url, "community1").scope))
    shown = {m.label: m.value for m in at.metric}
    assert shown["三无小区"] == f"{counts['three_none']:,}" and shown["红色物业"] == f"{counts['red_property']:,}"
    at = app_as(town_url, monkeypatch, "community1", "indicators")
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert "30分钟到场率" in shown and "超时未到场数" in shown
