"""The audit log: who did what, when — every change, every reveal of personal data.

Writers call ``record`` inside their own transaction (pass the connection),
so a change and its audit row are stored together or not at all. Actions are
dotted ``object.verb`` names: ``household.reveal``, ``visit.create``,
``ticket.accept``, ``user.create``, ``auth.login``, ``auth.locked`` …
Street leaders read it through ``read`` (geo.roles.PERMISSIONS["read_audit"]).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, or_, select, true

from geo import store
from geo.roles import Scope
from geo.schema import AuditLog, User

#: The name used when no person is behind a change (the clock, the demo build).
SYSTEM = "system"


def record(conn: Connection | Engine, *, at: datetime, username: str, action: str, role: str | None = None,
           object_type: str | None = None, object_id: int | None = None, grid_id: int | None = None,
           detail: str | None = None) -> None:
    """Write one audit row, in ``conn``'s transaction (or its own, given an Engine)."""
    if not username or not action:
        raise ValueError("an audit row needs who (username) and what (action)")
    row = dict(at=at, username=username[:64], role=role, action=action[:32], object_type=object_type,
               object_id=object_id, grid_id=grid_id, detail=(detail or None) and detail[:2000])
    if isinstance(conn, Engine):
        with conn.begin() as c:
            c.execute(insert(AuditLog), [row])
    else:
        conn.execute(insert(AuditLog), [row])


def ticket_changed(conn: Connection, ticket: dict[str, Any], event: dict[str, Any]) -> None:
    """The audit row for one ticket event (called by geo.ticket_service in its transaction)."""
    src, dst = event.get("from_state"), event.get("to_state")
    record(conn, at=event["at"], username=str(event.get("actor") or SYSTEM), role=event.get("actor_role"),
           action=f"ticket.{event['action']}", object_type="ticket", object_id=ticket.get("id"),
           grid_id=ticket.get("grid_id"),
           detail=f"{ticket.get('code') or ''} {src or '—'} → {dst}".strip())


def read(engine: Engine, *, scope: Scope, since: datetime | None = None, until: datetime | None = None,
         username: str | None = None, action_prefix: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """Audit rows within the reader's area, newest first.

    ``scope`` is the reader's (a street leader's street): rows about a grid of
    it, and rows with no grid (sign-ins, user changes) by its own users. Rows
    by names that are no user at all (failed logins for unknown names, the
    system) belong to no area and are shown at street level.
    ``username`` is the bare login name: it also finds rows written under
    "display name(login)", as older ticket moves were.
    """
    a = AuditLog.__table__
    stmt = select(a.c.at, a.c.username, a.c.role, a.c.action, a.c.object_type, a.c.object_id, a.c.grid_id,
                  a.c.detail).where(_within(scope))
    if since is not None:
        stmt = stmt.where(a.c.at >= since)
    if until is not None:
        stmt = stmt.where(a.c.at < until)
    if username:
        stmt = stmt.where(or_(a.c.username == username, a.c.username.endswith(f"({username})", autoescape=True)))
    if action_prefix:
        stmt = stmt.where(a.c.action.startswith(action_prefix, autoescape=True))
    return store.read_frame(engine, stmt.order_by(a.c.at.desc(), a.c.id.desc()).limit(limit))


def _within(scope: Scope):
    """The audit rows a reader of ``scope`` may see, as one SQL clause (both backends)."""
    if scope.level == "street" and scope.street_id is None:
        return true()
    a, users = AuditLog.__table__, User.__table__
    by_own_user = a.c.username.in_(select(users.c.username).where(scope.clause(users)))
    no_area = a.c.grid_id.is_(None) & by_own_user
    if scope.level == "street":
        no_area = a.c.grid_id.is_(None) & or_(by_own_user, a.c.username.not_in(select(users.c.username)))
    return or_(scope.clause(a), no_area)
