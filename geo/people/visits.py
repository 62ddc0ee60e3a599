"""Household visits (入户走访): a grid worker records what they found, and may open a ticket.

The to-visit list (geo.people.households.to_visit) follows from these rows: a visit
resets the household's clock. Recording checks the household is inside the
visitor's own scope (in SQL); a ticket, when asked for, is reported through
geo.tickets.service at the household's building entrance (source "visit", 入户走访).
The visit, its ticket and their audit rows are one transaction: a ticket that
cannot be routed leaves no visit behind, so a retry never doubles it.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select

from geo.access import audit, roles
from geo.db import store
from geo.tickets import rules
from geo.tickets.categories import CATEGORIES
from geo.errors import ValidationError
from geo.people.households import household_in_scope
from geo.access.roles import Scope
from geo.db.schema import Ticket, Visit

#: What a visit can find (key → Chinese, English). Stored as comma-separated keys.
ISSUES: dict[str, tuple[str, str]] = {
    "health": ("身体状况变化", "Health has changed"),
    "living": ("生活困难", "Hardship in daily living"),
    "safety": ("安全隐患（燃气、电线、消防）", "Safety hazard (gas, wiring, fire)"),
    "housing": ("房屋漏水或损坏", "Leak or damage in the home"),
    "dispute": ("邻里纠纷", "Dispute with neighbours"),
    "sanitation": ("环境卫生", "Sanitation"),
    "assistance": ("需要帮扶政策", "Needs assistance or benefits"),
    "other": ("其他", "Other"),
}
MAX_NOTE = 2000


def issue_label(key: str, lang: str = "zh") -> str:
    zh, en = ISSUES.get(key, (key, key))
    return zh if lang == "zh" else en


def record(engine: Engine, user, *, household_id: int, visited_on: date, now: datetime, note: str = "",
           issues: list[str] | tuple[str, ...] = (), ticket: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store a visit by ``user`` (a geo.access.users.User) and, if asked, report a ticket from it.

    ``ticket`` holds ``category`` and ``description`` (and optionally ``urgent``).
    Returns the visit as a dict (with ``ticket_code`` when a ticket was made).
    Refuses a household outside the user's scope (NotFoundError), a role
    that may not record visits (PermissionError), a date in the future and
    unknown issue keys (ValidationError), and a ticket whose place lies outside
    every grid (OutsideAreaError): then nothing at all is saved.
    """
    if not roles.may(user.role, "record_visit"):
        raise PermissionError("您的角色不能登记走访 / your role may not record visits")
    if visited_on > now.date():
        raise ValidationError("走访日期不能晚于今天 / a visit cannot be in the future")
    unknown = [i for i in issues if i not in ISSUES]
    if unknown:
        raise ValidationError(f"未知的问题类型：{', '.join(unknown)} / unknown issues")
    if ticket and ticket.get("category") not in CATEGORIES:
        raise ValidationError(f"未知的工单类别 {ticket.get('category')!r} / unknown ticket category")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"走访记录不能超过 {MAX_NOTE} 字 / at most {MAX_NOTE} characters")
    scope: Scope = user.scope
    with engine.begin() as conn:  # the visit, its ticket and both audit rows: all or nothing
        place = household_in_scope(conn, scope, household_id)
        made = _report_ticket(engine, conn, user, ticket, note, place, now) if ticket else None
        row = dict(household_id=int(household_id), grid_id=place["grid_id"], visited_on=visited_on,
                   visitor=user.label, note=note or None, issues=",".join(issues) or None,
                   ticket_id=made["id"] if made else None, created_at=now)
        vid = conn.execute(insert(Visit).returning(Visit.id), [row]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="visit.create",
                     object_type="household", object_id=int(household_id), grid_id=place["grid_id"],
                     detail=f"走访 {visited_on:%Y-%m-%d}" + (f"；问题：{row['issues']}" if row["issues"] else "")
                     + (f"；工单 {made['code']}" if made else ""))
    out = {**row, "id": vid}
    if made:
        out.update(ticket_code=made["code"])
    return out


def _report_ticket(engine: Engine, conn, user, ticket: dict[str, Any], note: str, place: dict[str, Any],
                   now: datetime) -> dict[str, Any]:
    """The visit's ticket at the building entrance, in the visit's transaction (refused: nothing is kept)."""
    from geo.tickets import service  # local: the ticket service pulls in routing and projection

    description = (ticket.get("description") or note or "").strip()
    return service.report(
        engine, category=ticket["category"], description=description, lon=place["lon"], lat=place["lat"],
        now=now, urgent=bool(ticket.get("urgent")), source="visit", by=rules.actor_for(user), conn=conn)


def history(engine: Engine, *, scope: Scope, household_id: int | None = None, grid_id: int | None = None,
            limit: int = 200) -> pd.DataFrame:
    """Visits in the scope, newest first (the visitor is staff, so shown by name), with the code of any ticket."""
    v = Visit.__table__
    stmt = (select(v.c.id, v.c.household_id, v.c.grid_id, v.c.visited_on, v.c.visitor, v.c.note, v.c.issues,
                   v.c.ticket_id, Ticket.code.label("ticket_code"))
            .outerjoin(Ticket, Ticket.id == v.c.ticket_id).where(scope.clause(v)))
    if household_id is not None:
        stmt = stmt.where(v.c.household_id == household_id)
    if grid_id is not None:
        stmt = stmt.where(v.c.grid_id == grid_id)
    return store.read_frame(engine, stmt.order_by(v.c.visited_on.desc(), v.c.id.desc()).limit(limit))


__all__ = ["ISSUES", "issue_label", "record", "history"]
