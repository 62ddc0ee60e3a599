"""Stored warnings on both backends: found again → updated, not doubled; acknowledged and closed by a
person in their own area, audited; another community's staff and a role without the right are refused."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from geo.access import audit
from geo.access.roles import WHOLE_STREET, Scope
from geo.db.schema import AuditLog, EarlyWarning, Ticket
from geo.errors import NotFoundError, ValidationError
from geo.tickets import warnings as W
from tests.conftest import TOWN_NOW

NOW = TOWN_NOW


def _pile(engine, community: int, n: int = 6) -> list[int]:
    """``n`` open tickets of ``community`` put in 社区分单 two days past their step's limit."""
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(select(Ticket.id).where(Ticket.community_id == community,
                                                                  Ticket.created_at < NOW).order_by(Ticket.id).limit(n))]
        conn.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            state="community_dispatched", step_due_at=NOW - timedelta(days=2), due_at=NOW + timedelta(days=3)))
    return ids


def _communities(engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(Ticket.community_id).distinct().order_by(Ticket.community_id))]


def test_a_warning_found_again_is_updated_then_acknowledged_and_closed_with_audit(engine):
    mine, other = _communities(engine)[:2]
    ids = _pile(engine, mine)
    key = f"pile:{mine}:community_dispatched"
    first = W.refresh(engine, NOW)
    assert first["new"] >= 1
    again = W.refresh(engine, NOW + timedelta(minutes=10))
    assert again["new"] == 0 and again["updated"] == first["new"]
    with engine.connect() as conn:
        rows = conn.execute(select(EarlyWarning.id, EarlyWarning.state, EarlyWarning.last_seen_at)
                            .where(EarlyWarning.key == key)).all()
    assert len(rows) == 1 and rows[0].state == "open"
    wid = rows[0].id

    staff = Scope("community", community_id=mine)
    live = W.live(engine, scope=staff)
    row = live.set_index("id").loc[wid]
    assert set(ids) <= set(row["ticket_ids"]) and row["kind_name"] == "环节积压"
    assert wid not in W.live(engine, scope=Scope("community", community_id=other))["id"].tolist()

    with pytest.raises(NotFoundError, match="不在您的管辖范围内"):  # another community's staff
        W.acknowledge(engine, wid, username="community2", role="community_staff",
                      scope=Scope("community", community_id=other), now=NOW)
    with pytest.raises(PermissionError, match="不能处理预警"):
        W.acknowledge(engine, wid, username="gridworker1", role="grid_worker", scope=staff, now=NOW)
    W.acknowledge(engine, wid, username="community1", role="community_staff", scope=staff, now=NOW,
                  note="已联系街道")
    with pytest.raises(ValidationError, match="备注"):
        W.close(engine, wid, username="community1", role="community_staff", scope=staff, now=NOW, note=" ")
    W.close(engine, wid, username="community1", role="community_staff", scope=staff,
            now=NOW + timedelta(hours=1), note="已督办分派")
    log = audit.read(engine, scope=WHOLE_STREET, action_prefix="warning.")
    assert sorted(log["action"]) == ["warning.acknowledge", "warning.close"]
    assert set(log["username"]) == {"community1"} and "已督办分派" in " ".join(log["detail"])
    with engine.connect() as conn:
        state, by = conn.execute(select(EarlyWarning.state, EarlyWarning.closed_by).where(EarlyWarning.id == wid)).one()
        refused = conn.execute(select(func.count()).select_from(AuditLog)
                               .where(AuditLog.action.like("warning.%"))).scalar()
    assert (state, by, refused) == ("closed", "community1", 2)  # the refusals wrote nothing

    # found again with nothing new: it stays closed; a new overdue ticket opens the next episode
    assert W.refresh(engine, NOW + timedelta(hours=2))["kept_closed"] >= 1
    assert wid not in W.live(engine, scope=staff)["id"].tolist()
    _pile(engine, mine, n=7)
    W.refresh(engine, NOW + timedelta(hours=3))
    with engine.connect() as conn:
        episodes = conn.execute(select(EarlyWarning.episode, EarlyWarning.state).where(EarlyWarning.key == key)
                                .order_by(EarlyWarning.episode)).all()
    assert [tuple(e) for e in episodes] == [(1, "closed"), (2, "open")]
    month = W.of_period(engine, NOW - timedelta(days=1), NOW + timedelta(days=1), staff)
    assert (month["key"] == key).sum() == 2  # the monthly report lists both
    assert W.of_period(engine, NOW + timedelta(days=1), NOW + timedelta(days=30), staff).empty
