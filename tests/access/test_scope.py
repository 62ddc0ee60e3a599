"""Who may see what, on both backends: each role's reach, and direct attempts outside it."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from geo.maps import area, layers
from geo.access import audit, auth, masks, roles, users
from geo.demo import accounts, generator
from geo.tickets import indicators, rules, workflow
from geo.people import households, visits
from geo.tickets import service as ts
from geo.errors import NotFoundError, OutsideAreaError
from geo.db.schema import AuditLog, Building, Community, Grid, Household, Ticket, TicketEvent, Visit

NOW = datetime(2026, 11, 23, 9)
PW = accounts.DEMO_PASSWORD
ALL = roles.WHOLE_STREET  # audit reads for the whole street (the tests' town has one)


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, PW, now=NOW)


def other_grid(engine, user) -> int:
    """A grid of the same community that is not the user's: the nearest thing to steal from."""
    with engine.connect() as conn:
        return conn.execute(select(Grid.id).where(Grid.community_id == user.community_id, Grid.id != user.grid_id)
                            .order_by(Grid.id)).scalars().first()


def a_household(engine, grid_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Household.id).where(Household.grid_id == grid_id).limit(1)).scalar_one()


def test_each_role_sees_households_of_its_own_area_only(engine):
    with engine.connect() as conn:
        grid_comm = dict(conn.execute(select(Grid.id, Grid.community_id)).fetchall())
        total = conn.execute(select(func.count()).select_from(Household)).scalar_one()
    for name in ("gridhead1", "gridworker1", "party1"):
        u = login(engine, name)
        seen = households.households(engine, scope=u.scope, now=NOW)
        assert len(seen) > 0 and set(seen["grid_id"]) == {u.grid_id}, name
    u = login(engine, "community2")
    seen = households.households(engine, scope=u.scope, now=NOW)
    assert {grid_comm[g] for g in seen["grid_id"]} == {u.community_id}
    for name in ("leader", "staff", "screen"):
        assert len(households.households(engine, scope=login(engine, name).scope, now=NOW)) == total


def test_a_grid_head_cannot_read_another_grids_people_by_any_parameter(engine):
    u = login(engine, "gridhead1")
    theirs = other_grid(engine, u)
    hh = a_household(engine, theirs)
    assert households.households(engine, scope=u.scope, now=NOW, grid_id=theirs).empty
    assert households.to_visit(engine, scope=u.scope, now=NOW, grid_id=theirs).empty
    assert households.helpers(engine, scope=u.scope, grid_id=theirs).empty
    assert households.head_count(engine, scope=u.scope, grid_id=theirs)["households"] == 0
    with pytest.raises(NotFoundError):
        households.grid_scope(engine, u.scope, theirs)
    with pytest.raises(NotFoundError):
        households.grid_scope(engine, u.scope, "1 OR 1=1")
    with pytest.raises(NotFoundError):
        households.residents(engine, scope=u.scope, household_id=hh)
    with pytest.raises(NotFoundError):
        households.reveal(engine, u, hh, now=NOW)
    with pytest.raises(NotFoundError):
        area.grid_layers(engine, scope=u.scope, grid_id=theirs, now=NOW)
    worker = login(engine, "gridworker1")
    with pytest.raises(NotFoundError):
        visits.record(engine, worker, household_id=hh, visited_on=NOW.date(), now=NOW, note="x")
    assert visits.history(engine, scope=u.scope, grid_id=theirs).empty
    assert audit.read(engine, scope=ALL, action_prefix="household.reveal").empty  # a refused reveal leaves no trace


def test_tickets_are_scoped_in_every_reader(engine):
    u = login(engine, "gridhead1")
    c = login(engine, "community1")
    with engine.connect() as conn:
        foreign = conn.execute(select(Ticket.id).where(Ticket.grid_id != u.grid_id).limit(1)).scalar_one()
        other_comm = conn.execute(select(Ticket.id).where(Ticket.community_id != c.community_id)
                                  .limit(1)).scalar_one()
    with pytest.raises(NotFoundError):
        ts.get(engine, foreign, scope=u.scope)
    with pytest.raises(NotFoundError):
        ts.get(engine, other_comm, scope=c.scope)
    mine = ts.query(engine, now=NOW, scope=u.scope)
    assert set(mine["grid_id"]) <= {u.grid_id}
    assert ts.query(engine, now=NOW, scope=u.scope, grid_id=other_grid(engine, u)).empty
    assert set(indicators.load(engine, scope=u.scope)["grid_id"]) <= {u.grid_id}
    assert set(layers.open_tickets(engine, NOW, scope=u.scope)["grid_id"]) <= {u.grid_id}
    assert set(layers.open_tickets(engine, NOW, scope=c.scope)["community_id"]) <= {c.community_id}
    actor = rules.Actor(u.label, rules.ACTS_AS[u.role])
    with pytest.raises(NotFoundError):
        ts.act(engine, foreign, "accept", actor, expected_version=1, now=NOW, scope=u.scope)


def test_community_scope_reaches_tables_without_a_community_column(engine):
    c = login(engine, "community1")
    with engine.connect() as conn:
        grids = set(conn.execute(select(Grid.id).where(Grid.community_id == c.community_id)).scalars())
        streets = set(conn.execute(select(Community.street_id)).scalars())
    assert set(households.grids(engine, c.scope)["id"]) == grids
    assert set(visits.history(engine, scope=c.scope, limit=10_000)["grid_id"]) <= grids
    # a street scope with a street id that holds nothing sees nothing
    nowhere = roles.Scope("street", street_id=max(streets) + 1)
    assert households.households(engine, scope=nowhere, now=NOW).empty


def test_the_audit_log_is_read_within_the_readers_street(engine):
    leader, head = login(engine, "leader"), login(engine, "gridhead1")
    households.reveal(engine, head, a_household(engine, head.grid_id), now=NOW)
    with pytest.raises(users.LoginError):
        auth.authenticate(engine, "ghost", "bad-guess", now=NOW)
    mine = audit.read(engine, scope=leader.scope)
    assert {"auth.login", "household.reveal", "auth.fail"} <= set(mine["action"])
    with engine.connect() as conn:
        streets = set(conn.execute(select(Community.street_id)).scalars())
    elsewhere = roles.Scope("street", street_id=max(streets) + 1)  # another street's leader
    theirs = audit.read(engine, scope=elsewhere)
    assert "household.reveal" not in set(theirs["action"]) and "auth.login" not in set(theirs["action"])
    assert set(theirs["username"]) <= {"ghost", audit.SYSTEM}  # names of no area: unknown ones, the system
    # the filter takes the bare login name, also for rows written as "display name(login)"
    audit.record(engine, at=NOW, username=f"{head.display_name}({head.username})", action="ticket.accept",
                 grid_id=head.grid_id)
    assert set(audit.read(engine, scope=leader.scope, username="gridhead1")["action"]) == {
        "auth.login", "household.reveal", "ticket.accept"}
    assert audit.read(engine, scope=leader.scope, username="gridhead").empty


def test_personal_data_is_masked_and_id_numbers_never_leave(engine):
    u = login(engine, "gridhead1")
    seen = households.households(engine, scope=u.scope, now=NOW)
    assert seen["head"].str.match(r"^.\*+$").all()
    phones = seen["phone"][seen["phone"] != ""]
    assert phones.str.match(r"^\d{3}\*{4}\d{4}$").all()
    hid = int(seen["id"].iloc[0])
    res = households.residents(engine, scope=u.scope, household_id=hid)
    assert "id_number" not in res.columns and res["name"].str.contains(r"\*").all()
    shown = households.reveal(engine, u, hid, now=NOW)
    assert all("id_number" not in r for r in shown["residents"])
    assert not any("*" in r["name"] for r in shown["residents"])
    log = audit.read(engine, scope=ALL, action_prefix="household.reveal")
    assert log[["username", "object_id", "grid_id"]].values.tolist() == [["gridhead1", hid, u.grid_id]]
    assert masks.mask_name("张伟") == "张*" and masks.mask_name("欧阳娜娜") == "欧***"
    assert masks.mask_phone("13812341234") == "138****1234"


def test_roles_without_the_permission_may_not_reveal_or_record(engine):
    party = login(engine, "party1")
    hid = a_household(engine, party.grid_id)
    with pytest.raises(PermissionError):
        households.reveal(engine, party, hid, now=NOW)
    with pytest.raises(PermissionError):
        visits.record(engine, login(engine, "screen"), household_id=hid, visited_on=NOW.date(), now=NOW)


def test_a_visit_takes_the_household_off_the_to_visit_list_and_can_open_a_ticket(engine):
    w = login(engine, "gridworker1")
    due = households.to_visit(engine, scope=w.scope, now=NOW)
    assert len(due) > 0 and (due["days_since_visit"].isna() | (due["days_since_visit"] > 30)).all()
    hid = int(due["id"].iloc[0])
    v = visits.record(engine, w, household_id=hid, visited_on=NOW.date(), now=NOW, note="燃气管老化",
                      issues=["safety"], ticket={"category": "safety_hazard", "description": "燃气管老化需更换"})
    assert hid not in set(households.to_visit(engine, scope=w.scope, now=NOW)["id"])
    assert hid in set(households.to_visit(engine, scope=w.scope, now=NOW + timedelta(days=31))["id"])
    made = ts.get(engine, v["ticket_id"], scope=w.scope)
    assert made["grid_id"] == w.grid_id and made["source"] == "visit"
    first = ts.history(engine, made["id"], scope=w.scope).iloc[0]
    assert (first["actor"], first["actor_role"]) == (w.label, "grid")  # the grid worker, not a resident
    actions = audit.read(engine, scope=ALL)["action"].tolist()
    assert "visit.create" in actions and "ticket.report" in actions


def test_a_visit_and_its_ticket_are_saved_together_or_not_at_all(engine):
    w = login(engine, "gridworker1")
    hid = int(households.to_visit(engine, scope=w.scope, now=NOW)["id"].iloc[0])
    with engine.begin() as conn:  # the building's door 50 km off the street: its ticket cannot be routed
        bid = conn.execute(select(Household.building_id).where(Household.id == hid)).scalar_one()
        conn.execute(update(Building).where(Building.id == bid).values(entrance_lon=Building.entrance_lon + 0.5))
    before = _counts(engine)
    with pytest.raises(OutsideAreaError):
        visits.record(engine, w, household_id=hid, visited_on=NOW.date(), now=NOW, note="楼道堆物",
                      ticket={"category": "safety_hazard", "description": "楼道堆放杂物"})
    assert _counts(engine) == before  # no visit, no ticket, no audit row: a retry cannot double it
    assert hid in set(households.to_visit(engine, scope=w.scope, now=NOW)["id"])
    v = visits.record(engine, w, household_id=hid, visited_on=NOW.date(), now=NOW, note="楼道堆物")
    assert _counts(engine)["visit"] == before["visit"] + 1 and v["ticket_id"] is None
    log = audit.read(engine, scope=ALL, action_prefix="visit.")
    assert log["detail"].tolist() == [f"走访 {NOW:%Y-%m-%d}"]


def test_the_visit_row_names_its_ticket_in_the_audit_log(engine):
    w = login(engine, "gridworker1")
    hid = int(households.to_visit(engine, scope=w.scope, now=NOW)["id"].iloc[0])
    v = visits.record(engine, w, household_id=hid, visited_on=NOW.date(), now=NOW, note="燃气管老化",
                      ticket={"category": "safety_hazard", "description": "燃气管老化需更换"})
    assert visits.history(engine, scope=w.scope, household_id=hid)["ticket_id"].tolist()[0] == v["ticket_id"]
    log = audit.read(engine, scope=ALL, action_prefix="visit.")
    assert log["detail"].iloc[0].endswith(f"工单 {v['ticket_code']}")


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (Visit, Ticket, TicketEvent, AuditLog)}


def test_every_ticket_change_is_in_the_audit_log(engine):
    u = login(engine, "gridhead1")
    with engine.connect() as conn:
        hh = households.household_in_scope(conn, u.scope, a_household(engine, u.grid_id))
    new = ts.report(engine, category="water", description="整栋楼停水", lon=hh["lon"], lat=hh["lat"], now=NOW)
    ts.act(engine, new["id"], "accept", rules.Actor(u.label, rules.ACTS_AS[u.role]),
           expected_version=1, now=NOW, scope=u.scope)
    log = audit.read(engine, scope=ALL, action_prefix="ticket.")
    assert log["action"].tolist() == ["ticket.accept", "ticket.report"]
    assert log["username"].iloc[0] == u.label and set(log["object_id"]) == {new["id"]}


def test_demo_grid_heads_have_open_tickets_and_households_to_visit(engine):
    for name in ("gridhead1", "gridhead2", "gridworker1", "gridworker2", "party1", "party2"):
        u = login(engine, name)
        assert len(ts.query(engine, now=NOW, scope=u.scope, open_only=True)) > 0, name
        assert len(households.to_visit(engine, scope=u.scope, now=NOW)) > 0, name


@pytest.mark.slow
def test_in_the_full_demo_every_grid_head_answers_for_the_busiest_grid_of_their_community():
    town = generator.generate(now=NOW)
    open_in = Counter(t["grid_id"] for t in town["ticket"] if t["state"] in workflow.OPEN_STATES)
    community_of = {g["id"]: g["community_id"] for g in town["grid"]}
    heads = [u for u in town["app_user"] if u["role"] == "grid_head"]
    assert len(heads) == 8
    for u in heads:
        assert open_in[u["grid_id"]] >= 1, u["username"]
        assert open_in[u["grid_id"]] == max(n for g, n in open_in.items() if community_of[g] == u["community_id"])


def test_page_access_table():
    assert roles.PAGE_ACCESS["map"] == set(roles.ROLES)
    assert "screen" not in roles.PAGE_ACCESS["tickets"] and "screen" not in roles.PAGE_ACCESS["report"]
    assert roles.PAGE_ACCESS["audit"] == {"street_leader"}
    assert roles.home_page("grid_head") == "my_area"
    assert roles.home_page("screen", {"map"}) == "map" and roles.home_page("screen", {"map", "screen"}) == "screen"
    assert not roles.may_see("grid_head", "coverage") and roles.may_see("community_staff", "coverage")


def test_every_action_the_code_writes_has_a_name_in_both_languages():
    """The audit page shows names, not codes: a new action without one fails here."""
    import re

    from geo import settings

    written = set()
    for path in (settings.ROOT / "geo").glob("*.py"):
        written |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    ticket_actions = {m.action for w in workflow.WORKFLOWS.values() for m in w.moves} | {"report", "arrive",
                                                                                           "merged_from"}
    written |= {f"ticket.{a}" for a in ticket_actions}
    assert written - set(audit.ACTION_NAMES) == set()
    assert all(zh and en and zh != en for zh, en in audit.ACTION_NAMES.values())
    assert {a.split(".")[0] + "." for a in written} <= set(audit.ACTION_GROUPS)
    assert audit.action_name("auth.login", "en") == "Signed in" and audit.action_name("new.thing") == "new.thing"
