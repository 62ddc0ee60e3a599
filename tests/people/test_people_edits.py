"""Correcting a household's phones and care flags (动态更新), on both backends: scoped, checked, audited, atomic."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from geo.access import audit, auth, roles, users
from geo.demo import accounts
from geo.people import households
from geo.errors import ConcurrentEditError, NotFoundError, ValidationError
from geo.db.schema import Grid, Household, Resident

NOW = datetime(2026, 11, 23, 9)
ALL = roles.WHOLE_STREET


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def plain_household(engine, grid_id: int, size: int = 2) -> int:
    """A household of the grid with ``size`` people and no care flag at all (not on the to-visit list)."""
    r, h = Resident.__table__, Household.__table__
    with engine.connect() as conn:
        flagged = select(r.c.household_id).where(r.c.elderly_alone | r.c.disabled | r.c.low_income)
        return conn.execute(select(h.c.id).where(h.c.grid_id == grid_id, h.c.size == size,
                                                 h.c.id.not_in(flagged)).order_by(h.c.id).limit(1)).scalar_one()


def stored(engine, household_id: int) -> list[dict]:
    r = Resident.__table__
    with engine.connect() as conn:
        return [dict(m) for m in conn.execute(select(r.c.id, r.c.phone, r.c.elderly_alone, r.c.disabled,
                                                     r.c.low_income).where(r.c.household_id == household_id)
                                              .order_by(r.c.id)).mappings()]


def edited(rows: list[dict], index: int, **change) -> list[dict]:
    return [{**row, **change} if i == index else dict(row) for i, row in enumerate(rows)]


def test_a_corrected_phone_and_flag_are_saved_audited_and_put_the_household_on_the_visit_list(engine):
    w = login(engine, "gridworker1")
    hid = plain_household(engine, w.grid_id)
    assert hid not in set(households.to_visit(engine, scope=w.scope, now=NOW)["id"])
    before = households.reveal(engine, w, hid, now=NOW)["residents"]
    after = edited(before, 0, phone=" 139 0000 1111 ", elderly_alone=True)
    assert households.update_household(engine, w, hid, before=before, after=after, now=NOW) == 1
    rows = stored(engine, hid)
    assert rows[0]["phone"] == "13900001111" and rows[0]["elderly_alone"]
    assert rows[1]["phone"] == before[1]["phone"] and not rows[1]["elderly_alone"]  # the other member untouched
    with engine.connect() as conn:
        assert conn.execute(select(Household.elderly_alone).where(Household.id == hid)).scalar_one()
    due = households.to_visit(engine, scope=w.scope, now=NOW)
    assert "独居老人" in due.set_index("id").loc[hid, "reasons"]  # the to-visit list follows at once
    log = audit.read(engine, scope=ALL, action_prefix="resident.update")
    assert log[["username", "object_id", "grid_id"]].values.tolist() == [["gridworker1", rows[0]["id"], w.grid_id]]
    detail = log["detail"].iloc[0]
    assert "139****1111" in detail and "13900001111" not in detail and "独居老人 否 → 是" in detail


def test_unchanged_rows_write_nothing_and_a_bad_phone_is_refused_with_nothing_saved(engine):
    w = login(engine, "gridhead1")
    hid = plain_household(engine, w.grid_id)
    before = households.reveal(engine, w, hid, now=NOW)["residents"]
    assert households.update_household(engine, w, hid, before=before, after=before, now=NOW) == 0
    for bad in ("12345", "2381234123", "138123412345", "abc"):
        with pytest.raises(ValidationError, match="格式不对"):
            households.update_household(engine, w, hid, before=before,
                                    after=edited(edited(before, 1, disabled=True), 0, phone=bad), now=NOW)
    assert stored(engine, hid) == [{k: r[k] for k in ("id", "phone", "elderly_alone", "disabled", "low_income")}
                                   for r in before]
    assert households.clean_phone("028-83712345") == "028-83712345" and households.clean_phone("+86 138 1234 1234") \
        == "13812341234" and households.clean_phone("") is None
    assert audit.read(engine, scope=ALL, action_prefix="resident.update").empty


def test_a_colleagues_change_in_between_is_not_overwritten_and_the_whole_save_is_refused(engine):
    head, worker = login(engine, "gridhead1"), login(engine, "gridworker1")
    hid = plain_household(engine, head.grid_id)
    seen_by_head = households.reveal(engine, head, hid, now=NOW)["residents"]
    seen_by_worker = households.reveal(engine, worker, hid, now=NOW)["residents"]
    households.update_household(engine, worker, hid, before=seen_by_worker,
                            after=edited(seen_by_worker, 1, phone="13900002222"), now=NOW)
    # the head's save: a flag on member 0 (no clash) and a phone on member 1 (read before the worker's change)
    stale = edited(edited(seen_by_head, 0, low_income=True), 1, phone="13700003333")
    with pytest.raises(ConcurrentEditError, match="他人修改"):
        households.update_household(engine, head, hid, before=seen_by_head, after=stale, now=NOW)
    rows = stored(engine, hid)
    assert rows[1]["phone"] == "13900002222"  # the worker's change stands
    assert not rows[0]["low_income"]  # and the head's other change was not half-written
    assert audit.read(engine, scope=ALL, action_prefix="resident.update")["username"].tolist() == ["gridworker1"]


def test_edits_outside_the_area_or_without_the_permission_are_refused(engine):
    head = login(engine, "gridhead1")
    with engine.connect() as conn:
        theirs = conn.execute(select(Grid.id).where(Grid.community_id == head.community_id, Grid.id != head.grid_id)
                              .order_by(Grid.id)).scalars().first()
    foreign = plain_household(engine, theirs)
    rows = stored(engine, foreign)
    with pytest.raises(NotFoundError):
        households.update_household(engine, head, foreign, before=rows, after=edited(rows, 0, disabled=True), now=NOW)
    mine = plain_household(engine, head.grid_id)
    # a resident of another household smuggled into this household's rows
    with pytest.raises(ValidationError):
        households.update_household(engine, head, mine, before=stored(engine, mine), after=rows, now=NOW)
    for name in ("party1", "screen", "leader"):
        u = login(engine, name)
        with pytest.raises(PermissionError):
            households.update_household(engine, u, mine, before=stored(engine, mine),
                                    after=edited(stored(engine, mine), 0, disabled=True), now=NOW)
    assert stored(engine, foreign) == rows
    assert audit.read(engine, scope=ALL, action_prefix="resident.update").empty
