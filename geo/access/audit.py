"""The audit log: who did what, when — every change, every reveal of personal data.

Writers call ``record`` inside their own transaction (pass the connection),
so a change and its audit row are stored together or not at all. Actions are
dotted ``object.verb`` names: ``household.reveal``, ``visit.create``,
``ticket.accept``, ``user.create``, ``auth.login``, ``auth.locked``, ``auth.unlock``,
``auth.kiosk_rotate`` …
Street leaders read it through ``read`` (geo.access.roles.PERMISSIONS["read_audit"]).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, not_, or_, select, true

from geo.access import roles
from geo.db import store
from geo.access.roles import Scope
from geo.db.schema import AuditLog, Grid, User

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
    """The audit row for one ticket event (called by geo.tickets.service in its transaction).

    It is written under the event's ``username`` (the actor's login), else its display name, else SYSTEM.
    """
    src, dst = event.get("from_state"), event.get("to_state")
    username = event.get("username") or event.get("actor") or SYSTEM
    record(conn, at=event["at"], username=str(username), role=event.get("actor_role"),
           action=f"ticket.{event['action']}", object_type="ticket", object_id=ticket.get("id"),
           grid_id=ticket.get("grid_id"),
           detail=f"{ticket.get('code') or ''} {src or '—'} → {dst}".strip())


# --------------------------------------------------------------------------- has anything changed?

#: Audit actions that change nothing a page draws (signing in, opening a household's details):
#: they leave the data version alone, so a busy morning of sign-ins keeps every server's caches.
_NOT_CHANGES = ("auth.%", "%.reveal")
#: Actions that change the street's layout (grids, buildings, roads, facilities): the heavy cached
#: plans (walking network, coverage, basemaps) are rebuilt only when one of these is newer.
LAYOUT_ACTIONS = ("load.street", "grid.boundary", "grid.create", "grid.retire", "grid.recode")
#: How many of the newest audit rows the version counts (see data_version).
WINDOW = 500


class DataVersion(NamedTuple):
    """Where the audit log stands: ``data`` moves with every change, ``layout`` with the street's layout."""

    data: str
    layout: str


def data_version(engine: Engine) -> DataVersion:
    """The database's change marks, for cache keys: equal marks, nothing changed in between.

    Every change is audited in its own transaction (``record``), so the newest audit rows tell
    whether anything changed, with no write of their own: an app server that keys its cached
    readers by this sees a change another server made at its next run. One statement, on the
    primary key and the action index. ``data`` is the newest change's id and the number of
    changes among the newest WINDOW rows: ids are handed out when a row is written, not when its
    transaction commits, so on PostgreSQL a change can commit after a newer one; the count still
    moves when it does.
    """
    a = AuditLog.__table__
    newest = select(func.max(a.c.id)).scalar_subquery()
    layout = select(func.max(a.c.id)).where(a.c.action.in_(LAYOUT_ACTIONS)).scalar_subquery()
    changes = not_(or_(*(a.c.action.like(pattern) for pattern in _NOT_CHANGES)))
    stmt = select(func.max(a.c.id), func.count(), layout).where(a.c.id > newest - WINDOW, changes)
    with engine.connect() as conn:
        top, count, shape = conn.execute(stmt).one()
    return DataVersion(f"{top or 0}.{count}", str(shape or 0))


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
    stmt = (select(a.c.at, a.c.username, a.c.role, a.c.action, a.c.object_type, a.c.object_id, a.c.grid_id,
                   Grid.name.label("grid"), a.c.detail)
            .outerjoin(Grid, Grid.id == a.c.grid_id).where(_within(scope)))
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


# --------------------------------------------------------------------------- reading it

#: What each action is called where people read the log (zh, en). Ticket moves are named
#: by action, not by state (the ticket's own history names each step in full).
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "auth.login": ("登录", "Signed in"), "auth.logout": ("退出登录", "Signed out"),
    "auth.fail": ("登录失败", "Failed sign-in"), "auth.locked": ("登录暂停", "Sign-in paused"),
    "auth.unlock": ("解除登录限制", "Sign-in wait lifted"),
    "auth.kiosk": ("大屏登录", "Big screen signed in"), "auth.kiosk_fail": ("大屏口令错误", "Wrong wall token"),
    "auth.kiosk_rotate": ("更换大屏口令", "Wall token replaced"), "auth.kiosk_off": ("停用大屏免密登录", "Wall sign-in off"),
    "auth.kiosk_end": ("结束大屏会话", "Wall sessions ended"),
    "household.reveal": ("查看住户详情", "Viewed a household"), "resident.update": ("修改住户信息", "Changed a resident"),
    "visit.create": ("记录走访", "Recorded a visit"),
    "user.create": ("新建账号", "Created an account"), "user.update": ("修改账号", "Changed an account"),
    "grid.boundary": ("调整网格边界", "Changed a grid boundary"),
    "ticket.report": ("上报工单", "Reported a ticket"), "ticket.accept": ("受理工单", "Accepted a ticket"),
    "ticket.handle_in_grid": ("网格自办", "Handled in the grid"), "ticket.escalate": ("上报上级", "Escalated"),
    "ticket.assign": ("派单", "Dispatched"), "ticket.resolve": ("办结", "Resolved"),
    "ticket.rate": ("群众评价", "Rated"), "ticket.reopen": ("重新办理", "Reopened"),
    "ticket.reject": ("不予受理", "Rejected"), "ticket.return": ("退回", "Returned"),
    "ticket.close_unfixed": ("无法解决结案", "Closed unfixed"), "ticket.merge": ("合并重复工单", "Merged"),
    "ticket.merged_from": ("并入重复工单", "Duplicate merged in"), "ticket.arrive": ("党员到场", "Arrived on site"),
    # the people around the grid (issue 17)
    "ticket.claim": ("党员接单", "Claimed by a party member"), "party.available": ("党员接单状态", "Party member availability"),
    "binding.household": ("绑定包保/联户", "Household bound"), "binding.household_off": ("解除包保/联户", "Household unbound"),
    "binding.building_head": ("设置楼栋长", "Building head set"), "binding.team": ("加入网格力量", "Added to a grid team"),
    "binding.team_off": ("移出网格力量", "Taken off a grid team"),
    "volunteer.team": ("新建志愿服务队", "Volunteer team created"), "volunteer.member": ("增加志愿者", "Volunteer added"),
    "volunteer.leader": ("设置志愿队长", "Team leader set"), "volunteer.activity": ("登记志愿活动", "Activity recorded"),
    "timebank.exchange": ("时间银行兑换", "Time bank exchange"),
    "patrol.start": ("开始月度巡查", "Patrol started"), "patrol.rate": ("巡查评分", "Patrol rating"),
    "contact.point": ("设置领导联系点", "Contact point set"), "contact.visit": ("联系点调研", "Contact point visit"),
    "estate.update": ("修改小区物业", "Estate management changed"), "estate.three_have": ("三无转三有", "Turned 三有"),
    "council.raise": ("提出议题", "Matter raised"), "council.opinion": ("征集意见", "Opinion collected"),
    "council.proposed": ("党组织提议", "Proposed"), "council.deliberated": ("两委商议", "Discussed"),
    "council.decided": ("居民会议决议", "Decided"), "council.published": ("决议公开", "Decision published"),
    "council.done": ("结果公开", "Outcome published"), "council.ticket": ("议题关联工单", "Ticket linked to a matter"),
}

#: The action filter on the audit page: prefix → (zh, en).
ACTION_GROUPS: dict[str, tuple[str, str]] = {
    "auth.": ("登录与账号安全", "Sign-ins"), "household.": ("查看住户详情", "Household views"),
    "resident.": ("修改住户信息", "Resident changes"), "visit.": ("走访", "Visits"), "ticket.": ("工单", "Tickets"),
    "user.": ("账号管理", "Accounts"), "grid.": ("网格调整", "Grid boundaries"),
    "party.": ("党员接单", "Party members"), "binding.": ("包保联户", "Who looks after whom"),
    "volunteer.": ("志愿服务", "Volunteers"), "timebank.": ("时间银行", "Time bank"), "patrol.": ("巡查评比", "Patrols"),
    "contact.": ("领导联系点", "Contact points"), "estate.": ("小区物业", "Estates"), "council.": ("议事协商", "Councils"),
}

_OBJECTS = {"user": ("账号", "account"), "household": ("住户", "household"), "resident": ("住户成员", "resident"),
            "ticket": ("工单", "ticket"), "visit": ("走访", "visit"), "grid": ("网格", "grid"),
            "kiosk_token": ("大屏口令", "wall token"), "login_session": ("会话", "session"),
            "person": ("人员", "person"), "building": ("楼栋", "building"), "patrol": ("巡查", "patrol"),
            "patrol_rating": ("评分", "rating"), "leader_visit": ("调研", "visit"), "estate": ("小区", "estate"),
            "council_matter": ("议题", "matter"), "volunteer_team": ("志愿服务队", "team"),
            "volunteer_activity": ("志愿活动", "activity")}


def action_name(action: str, lang: str = "zh") -> str:
    """An action as people read it; an unknown one (a newer version's) as its code."""
    names = ACTION_NAMES.get(action)
    return action if names is None else names[0 if lang == "zh" else 1]


def readable_detail(detail: str, action: str, *, lang: str = "zh", states: dict[str, str] | None = None) -> str:
    """A row's detail with the codes it was written with named: a ticket's ``street_accepted → in_progress``
    as its state names (``states``: code → name, from geo.tickets.workflow, which this layer may not import),
    a user row's role (``admin street_leader``, ``role=grid_head``) as the role's name. Rows are stored as
    written, so the log stays what happened; only the reading is translated."""
    if not detail:
        return ""
    if action.startswith("ticket.") and states:
        return re.sub(r"([a-z_]+|—) → ([a-z_]+)",
                      lambda m: f"{states.get(m[1], m[1])} → {states.get(m[2], m[2])}", detail)
    if action.startswith("user."):
        return re.sub(r"(?:(?<= )|(?<=role=))([a-z_]+)\b",
                      lambda m: roles.ROLES[m[1]].name(lang) if m[1] in roles.ROLES else m[1], detail)
    return detail


def table(rows: pd.DataFrame, lang: str = "zh", *, states: dict[str, str] | None = None) -> pd.DataFrame:
    """``read``'s rows with localised headers, role and action names, and no bare ids, codes or None
    (``states``: ticket state code → name, for the ticket rows' details; see ``readable_detail``)."""
    i = 0 if lang == "zh" else 1
    role = rows["role"].fillna("").map(lambda r: roles.ROLES[r].name(lang) if r in roles.ROLES else r)
    kinds = rows["object_type"].fillna("").map(lambda o: _OBJECTS.get(o, (o, o))[i])
    obj = [f"{k} {int(n)}" if k and pd.notna(n) else k for k, n in zip(kinds, rows["object_id"])]
    heads = (("时间", "Time"), ("用户", "User"), ("角色", "Role"), ("操作", "Action"), ("对象", "Object"),
             ("网格", "Grid"), ("详情", "Detail"))
    return pd.DataFrame(dict(zip((h[i] for h in heads), (
        pd.to_datetime(rows["at"]).dt.strftime("%Y-%m-%d %H:%M:%S"), rows["username"], role,
        rows["action"].map(lambda a: action_name(a, lang)), obj, rows["grid"].fillna(""),
        [readable_detail(d, a, lang=lang, states=states)
         for d, a in zip(rows["detail"].fillna(""), rows["action"].fillna(""))]))))
