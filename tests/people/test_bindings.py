"""Who looks after whom, on both backends: the 5–8 rule, one carer per household, scope, audit, the grid team."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select

from geo.access import audit, auth, roles, users
from geo.db.schema import AuditLog, Building, CareLink, Grid, Household, Person
from geo.demo import accounts
from geo.errors import NotFoundError, ValidationError
from geo.people import bindings

NOW = datetime(2026, 11, 23, 9)
ALL = roles.WHOLE_STREET


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def member_with(engine, grid_id: int, n: int | None = None) -> int:
    """A party member of the grid looking after ``n`` households (None: any number)."""
    c = CareLink.__table__
    per = (select(c.c.person_id, func.count().label("n")).where(c.c.kind == "party").group_by(c.c.person_id)
           .subquery())
    stmt = (select(Person.id, func.coalesce(per.c.n, 0)).outerjoin(per, per.c.person_id == Person.id)
            .where(Person.role == "party_member", Person.grid_id == grid_id).order_by(Person.id))
    with engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    return next(pid for pid, k in rows if n is None or k == n)


def free_households(engine, grid_id: int, k: int) -> list[int]:
    """``k`` households of the grid no party member looks after."""
    cared = select(CareLink.household_id).where(CareLink.kind == "party")
    with engine.connect() as conn:
        return conn.execute(select(Household.id).where(Household.grid_id == grid_id, Household.id.not_in(cared))
                            .order_by(Household.id).limit(k)).scalars().all()


def cared(engine, person_id: int) -> int:
    return count(engine, CareLink, CareLink.person_id == person_id, CareLink.kind == "party")


def test_a_ninth_household_is_refused_with_the_rule_in_words(engine):
    head = login(engine, "gridhead1")
    pid = member_with(engine, head.grid_id)
    have = cared(engine, pid)
    spare = free_households(engine, head.grid_id, 9 - have)
    for i, hid in enumerate(spare[:-1]):
        assert bindings.bind_household(engine, head, pid, hid, now=NOW) == have + i + 1
    assert cared(engine, pid) == 8
    links, audits = count(engine, CareLink), count(engine, AuditLog)
    with pytest.raises(ValidationError) as refused:
        bindings.bind_household(engine, head, pid, spare[-1], now=NOW)
    assert "不能再增加第 9 户" in str(refused.value) and "5–8 户" in str(refused.value)
    assert count(engine, CareLink) == links and count(engine, AuditLog) == audits  # nothing written
    assert "5–8 户" in bindings.rule_text()


def test_racing_binds_cannot_pass_eight_together(engine, monkeypatch):
    """A member with 7 households; a grid head and community staff add one each at the same moment: one is
    refused. Each waits (up to 3 s) after counting the member's households for the other to count too:
    without the lock on the member's row both would count 7 and both insert."""
    head, community = login(engine, "gridhead1"), login(engine, "community1")
    pid = member_with(engine, head.grid_id, 0)
    have = cared(engine, pid)
    for hid in free_households(engine, head.grid_id, 7 - have):
        bindings.bind_household(engine, head, pid, hid, now=NOW)
    a, b = free_households(engine, head.grid_id, 2)
    barrier, done, refused = threading.Barrier(2), [], []
    both_counted, households_of = threading.Barrier(2), bindings._households_of

    def count_then_wait(*args):
        n = households_of(*args)
        try:
            both_counted.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return n

    monkeypatch.setattr(bindings, "_households_of", count_then_wait)

    def bind(user, hid):
        barrier.wait()
        try:
            done.append(bindings.bind_household(engine, user, pid, hid, now=NOW))
        except ValidationError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=bind, args=args) for args in ((head, a), (community, b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert done == [8] and len(refused) == 1 and "第 9 户" in refused[0]
    assert cared(engine, pid) == 8


def test_one_carer_per_household_and_only_from_its_own_grid(engine):
    head = login(engine, "gridhead1")
    one, two = member_with(engine, head.grid_id, 0), None
    with engine.connect() as conn:
        two = conn.execute(select(Person.id).where(Person.role == "party_member", Person.grid_id == head.grid_id,
                                                   Person.id != one).order_by(Person.id)).scalars().first()
    hid = free_households(engine, head.grid_id, 1)[0]
    bindings.bind_household(engine, head, one, hid, now=NOW)
    with pytest.raises(ValidationError, match="已有包保党员"):
        bindings.bind_household(engine, head, two, hid, now=NOW)
    with pytest.raises(ValidationError, match="已由"):
        bindings.bind_household(engine, head, one, hid, now=NOW)
    with engine.connect() as conn:  # a grid worker of the grid is no party member
        worker = conn.execute(select(Person.id).where(Person.role == "grid_worker", Person.grid_id == head.grid_id)
                              ).scalars().first()
    with pytest.raises(ValidationError, match="不是党员或联户长"):
        bindings.bind_household(engine, head, worker, free_households(engine, head.grid_id, 2)[1], now=NOW)
    staff = login(engine, "community1")  # community staff see both grids: a member of another grid is refused
    with engine.connect() as conn:
        elsewhere = conn.execute(select(Household.id).where(Household.grid_id != head.grid_id,
                                                            Household.grid_id.in_(select(Grid.id).where(
                                                                Grid.community_id == staff.community_id)))
                                 .limit(1)).scalar_one()
    with pytest.raises(ValidationError, match="不属于该户所在网格"):
        bindings.bind_household(engine, staff, one, elsewhere, now=NOW)


def test_refused_outside_the_users_area_or_role_and_nothing_written(engine):
    head, worker = login(engine, "gridhead1"), login(engine, "gridworker1")
    with engine.connect() as conn:
        other_grid = conn.execute(select(Grid.id).where(Grid.id != head.grid_id).order_by(Grid.id)).scalars().first()
    foreign_member = member_with(engine, other_grid)
    foreign_household = free_households(engine, other_grid, 1)[0]
    mine = member_with(engine, head.grid_id)
    my_household = free_households(engine, head.grid_id, 1)[0]
    links, audits = count(engine, CareLink), count(engine, AuditLog)
    with pytest.raises(NotFoundError, match="管辖范围"):
        bindings.bind_household(engine, head, foreign_member, my_household, now=NOW)
    with pytest.raises(NotFoundError, match="管辖范围"):
        bindings.bind_household(engine, head, mine, foreign_household, now=NOW)
    with pytest.raises(PermissionError):
        bindings.bind_household(engine, worker, mine, my_household, now=NOW)  # grid workers visit, heads bind
    with pytest.raises(PermissionError, match="社区或街道任命"):
        bindings.add_team_member(engine, head, head.grid_id, "grid_head", name="王建国", phone=None, now=NOW)
    with pytest.raises(NotFoundError, match="管辖范围"):
        bindings.add_team_member(engine, head, other_grid, "grid_worker", name="王建国", phone=None, now=NOW)
    with engine.connect() as conn:
        foreign_building = conn.execute(select(Building.id).where(Building.grid_id == other_grid)).scalars().first()
    with pytest.raises(NotFoundError, match="管辖范围"):
        bindings.set_building_head(engine, head, foreign_building, name="李楼长", now=NOW)
    assert count(engine, CareLink) == links and count(engine, AuditLog) == audits


def test_every_binding_change_is_audited_and_the_page_tables_follow(engine):
    head, staff = login(engine, "gridhead1"), login(engine, "community1")
    pid = member_with(engine, head.grid_id, 0)
    hid = free_households(engine, head.grid_id, 1)[0]
    bindings.bind_household(engine, head, pid, hid, now=NOW)
    table = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id).set_index("id")
    assert table.loc[hid, "party_id"] == pid and table.loc[hid, "link"]  # and its 联户长 from the demo
    helpers = bindings.helpers_households(engine, scope=head.scope, grid_id=head.grid_id).set_index("id")
    assert helpers.loc[pid, "count"] == 1 and helpers.loc[pid, "rule"] == "few"
    assert bindings.unbind_household(engine, head, pid, hid, now=NOW) == 0
    link_head = int(table.loc[hid, "link_id"])
    bindings.unbind_household(engine, head, link_head, hid, now=NOW)
    with engine.connect() as conn:
        building = conn.execute(select(Household.building_id).where(Household.id == hid)).scalar_one()
        old_head = conn.execute(select(Person.id).where(Person.role == "building_head",
                                                        Person.building_id == building)).scalar()
    table = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id).set_index("id")
    assert bool(table.loc[hid, "nobody"]) == (old_head is None)  # no member, no link head: nobody unless a 楼栋长
    new_head = bindings.set_building_head(engine, head, building, name="周楼长", phone="13812341234", now=NOW)
    with engine.connect() as conn:
        assert conn.execute(select(Person.building_id).where(Person.id == new_head)).scalar_one() == building
        if old_head is not None:
            assert conn.execute(select(Person.building_id).where(Person.id == old_head)).scalar_one() is None
    table = bindings.households_helpers(engine, scope=head.scope, grid_id=head.grid_id).set_index("id")
    assert table.loc[hid, "building_head"] == "周楼长" and not table.loc[hid, "nobody"]
    helper = bindings.add_team_member(engine, head, head.grid_id, "grid_assistant", name="赵协管", phone=None, now=NOW)
    with pytest.raises(ValidationError, match="已有网格长"):
        bindings.add_team_member(engine, staff, head.grid_id, "grid_head", name="钱网格", phone=None, now=NOW)
    bindings.remove_team_member(engine, head, helper, now=NOW)
    assert helper not in set(bindings.team(engine, scope=head.scope, grid_id=head.grid_id)["id"])
    log = audit.read(engine, scope=ALL, action_prefix="binding.")
    assert sorted(log["action"]) == sorted(["binding.household", "binding.household_off", "binding.household_off",
                                            "binding.building_head", "binding.team", "binding.team_off"])
    assert set(log["username"]) == {"gridhead1"} and log["grid_id"].eq(head.grid_id).all()
    assert not log["detail"].str.contains(r"1381234", regex=False).any()  # no phone numbers in the log
