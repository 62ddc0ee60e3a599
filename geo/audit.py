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
from sqlalchemy import Connection, Engine, insert, select

from geo import store
from geo.schema import AuditLog

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


def read(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
         username: str | None = None, action_prefix: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """Audit rows, newest first."""
    a = AuditLog.__table__
    stmt = select(a.c.at, a.c.username, a.c.role, a.c.action, a.c.object_type, a.c.object_id, a.c.grid_id,
                  a.c.detail)
    if since is not None:
        stmt = stmt.where(a.c.at >= since)
    if until is not None:
        stmt = stmt.where(a.c.at < until)
    if username:
        stmt = stmt.where(a.c.username == username)
    if action_prefix:
        stmt = stmt.where(a.c.action.startswith(action_prefix, autoescape=True))
    return store.read_frame(engine, stmt.order_by(a.c.at.desc(), a.c.id.desc()).limit(limit))
