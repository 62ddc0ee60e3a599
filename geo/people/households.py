"""People data, scoped and masked: households, residents, party members and volunteers.

Every function takes the caller's ``Scope`` and filters by it in SQL, so a
grid head asking with another grid's id gets nothing (or NotFoundError),
never that grid's people. What leaves here is masked: names as 张*, phones
as 138****1234; ID numbers are never read at all. ``reveal`` shows one
household in full to a user allowed to, and writes that to the audit log in
the same transaction; ``update_household`` keeps a household's phones and
care flags current (动态更新 after a visit), audited the same way.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, case, func, or_, select

from geo import i18n, settings
from geo.access import audit, roles
from geo.db import store
from geo.access.masks import mask_name, mask_phone
from geo.errors import ConcurrentEditError, NotFoundError, ValidationError
from geo.access.roles import Scope
from geo.db.schema import (
    Building, CareLink, Community, Grid, Household, Person, Resident, Visit, VolunteerTeam)

#: Vulnerable households are visited at least this often (days): geo.settings, where the source is.
VISIT_INTERVAL_DAYS = settings.VISIT_INTERVAL_DAYS

_NOT_HERE = "该户不存在或不在您的管辖范围内 / no such household in your area"


# --------------------------------------------------------------------------- areas

def grids(engine: Engine, scope: Scope) -> pd.DataFrame:
    """The grids the scope covers (id, code, name, community, and the name of its 网格长 — a public
    office, shown by name), for a page's grid choice and heading."""
    g = Grid.__table__
    heads = (select(Person.grid_id, func.min(Person.name).label("grid_head"))
             .where(Person.role == "grid_head").group_by(Person.grid_id).subquery("heads"))
    stmt = (select(g.c.id, g.c.code, g.c.name, g.c.grid_type, g.c.community_id,
                   Community.name.label("community_name"), heads.c.grid_head)
            .join(Community, Community.id == g.c.community_id).outerjoin(heads, heads.c.grid_id == g.c.id))
    stmt = stmt.where(g.c.id == scope.grid_id) if scope.level == "grid" else stmt.where(scope.clause(g))
    return store.read_frame(engine, stmt.order_by(g.c.code))


def grid_scope(engine: Engine, scope: Scope, grid_id: int) -> Scope:
    """A grid scope inside ``scope``; NotFoundError for a grid outside it (or none at all)."""
    try:
        grid_id = int(grid_id)
    except (TypeError, ValueError):
        raise NotFoundError(f"网格 {grid_id!r} 不存在或不在您的管辖范围内 / no such grid in your area") from None
    found = grids(engine, scope)
    row = found[found["id"] == grid_id]
    if row.empty:
        raise NotFoundError(f"网格 {grid_id} 不存在或不在您的管辖范围内 / no such grid in your area")
    street_id = scope.street_id
    return Scope("grid", street_id=street_id, community_id=int(row["community_id"].iloc[0]), grid_id=grid_id)


# --------------------------------------------------------------------------- households

def _in_area(table, scope: Scope, grid_id: int | None):
    """The area's condition on a table with a grid_id, applied *inside* an aggregate: a grid head's list
    then costs what the grid holds, not what the database holds (issue 15: EXPLAIN showed a full
    aggregate over 1.5 M residents for one grid's households)."""
    where = scope.clause(table)
    return and_(where, table.c.grid_id == grid_id) if grid_id is not None else where


def _last_visits(scope: Scope, grid_id: int | None = None):
    v = Visit.__table__
    return (select(v.c.household_id, func.max(v.c.visited_on).label("last_visit"))
            .where(_in_area(v, scope, grid_id)).group_by(v.c.household_id).subquery("last_visits"))


def residents_summary(scope: Scope, grid_id: int | None = None):
    """Per household of the area (or of ``grid_id``): its head (lowest resident id), whether anyone is
    disabled, how many people; aggregated inside the area only (``_in_area``)."""
    r = Resident.__table__
    return (select(r.c.household_id, func.min(r.c.id).label("head_id"),
                   func.max(case((r.c.disabled.is_(True), 1), else_=0)).label("disabled"),
                   func.count().label("people"))
            .where(_in_area(r, scope, grid_id)).group_by(r.c.household_id).subquery("res"))


def households(engine: Engine, *, scope: Scope, now: datetime, grid_id: int | None = None,
               vulnerable_only: bool = False, not_visited_days: int | None = None) -> pd.DataFrame:
    """Households in the scope, masked, with vulnerability flags and days since the last visit.

    ``vulnerable_only``: elderly living alone, a disabled member, or low income.
    ``not_visited_days``: only those never visited or not for that many days.
    """
    h = Household.__table__
    res, last = residents_summary(scope, grid_id), _last_visits(scope, grid_id)
    head = Resident.__table__.alias("head")
    stmt = (select(h.c.id, h.c.grid_id, h.c.building_id, Building.name.label("building"), h.c.unit_no, h.c.room,
                   h.c.size, h.c.elderly_alone, func.coalesce(res.c.disabled, 0).label("disabled"),
                   h.c.low_income, head.c.name.label("head"), head.c.phone, last.c.last_visit)
            .join(Building, Building.id == h.c.building_id)
            .outerjoin(res, res.c.household_id == h.c.id)
            .outerjoin(head, head.c.id == res.c.head_id)
            .outerjoin(last, last.c.household_id == h.c.id)
            .where(scope.clause(h)))
    if grid_id is not None:
        stmt = stmt.where(h.c.grid_id == grid_id)
    if vulnerable_only:
        stmt = stmt.where(or_(h.c.elderly_alone.is_(True), h.c.low_income.is_(True), res.c.disabled == 1))
    if not_visited_days is not None:
        cutoff = (now - timedelta(days=not_visited_days)).date()
        stmt = stmt.where(or_(last.c.last_visit.is_(None), last.c.last_visit < cutoff))
    df = store.read_frame(engine, stmt.order_by(h.c.id))
    df["disabled"] = df["disabled"].astype(bool)
    df["elderly_alone"] = df["elderly_alone"].astype(bool)
    df["low_income"] = df["low_income"].astype(bool)
    df["head"] = df["head"].map(mask_name)
    df["phone"] = df["phone"].map(mask_phone)
    last_day = pd.to_datetime(df["last_visit"])
    df["days_since_visit"] = (pd.Timestamp(now.date()) - last_day).dt.days
    df["address"] = [f"{b}{u}单元{r}" for b, u, r in zip(df["building"], df["unit_no"], df["room"])]
    return df


def to_visit(engine: Engine, *, scope: Scope, now: datetime, grid_id: int | None = None,
             days: int = VISIT_INTERVAL_DAYS) -> pd.DataFrame:
    """Vulnerable households not visited for ``days`` (or never), longest-waiting first."""
    df = households(engine, scope=scope, now=now, grid_id=grid_id, vulnerable_only=True, not_visited_days=days)
    df["reasons"] = [
        "、".join(_FLAG_ZH[f] for f, flag in zip(FLAGS, (e, d, lo)) if flag)
        for e, d, lo in zip(df["elderly_alone"], df["disabled"], df["low_income"])]
    waiting = df["days_since_visit"].fillna(10**6)
    return df.assign(_w=waiting).sort_values(["_w", "id"], ascending=[False, True]).drop(columns="_w") \
             .reset_index(drop=True)


def household_in_scope(conn, scope: Scope, household_id: int) -> dict[str, Any]:
    """The household's place (grid, building entrance) if the scope holds it; else NotFoundError."""
    h = Household.__table__
    row = conn.execute(select(h.c.id, h.c.grid_id, h.c.building_id, h.c.unit_no, h.c.room, Building.name,
                              Building.entrance_lon, Building.entrance_lat)
                       .join(Building, Building.id == h.c.building_id)
                       .where(h.c.id == household_id, scope.clause(h))).first()
    if row is None:
        raise NotFoundError(_NOT_HERE)
    return dict(id=row[0], grid_id=row[1], building_id=row[2], unit_no=row[3], room=row[4], building=row[5],
                lon=row[6], lat=row[7])


def residents(engine: Engine, *, scope: Scope, household_id: int) -> pd.DataFrame:
    """A household's residents, masked (no ID numbers ever)."""
    r = Resident.__table__
    with engine.connect() as conn:
        household_in_scope(conn, scope, household_id)
        result = conn.execute(select(
            r.c.id, r.c.name, r.c.gender, r.c.birth_year, r.c.phone, r.c.elderly_alone, r.c.disabled,
            r.c.low_income, r.c.party_member).where(r.c.household_id == household_id, scope.clause(r))
            .order_by(r.c.id))
        df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    df["name"] = df["name"].map(mask_name)
    df["phone"] = df["phone"].map(mask_phone)
    return df


def reveal(engine: Engine, user, household_id: int, *, now: datetime) -> dict[str, Any]:
    """One household in full (names, phones; never ID numbers), audited.

    ``user`` is a geo.access.users.User: its own scope is used, never one a page
    passes, and its role must hold the ``reveal_household`` permission.
    """
    if not roles.may(user.role, "reveal_household"):
        raise PermissionError("您的角色不能查看住户详细信息 / your role may not see personal details")
    scope = user.scope
    r = Resident.__table__
    with engine.begin() as conn:
        place = household_in_scope(conn, scope, household_id)
        people = conn.execute(select(r.c.id, r.c.name, r.c.gender, r.c.birth_year, r.c.phone, r.c.elderly_alone,
                                     r.c.disabled, r.c.low_income, r.c.party_member)
                              .where(r.c.household_id == household_id).order_by(r.c.id)).mappings().all()
        audit.record(conn, at=now, username=user.username, role=user.role, action="household.reveal",
                     object_type="household", object_id=int(household_id), grid_id=place["grid_id"],
                     detail=f"{place['building']}{place['unit_no']}单元{place['room']}")
    return {**place, "residents": [dict(p) for p in people]}


# --------------------------------------------------------------------------- updates

#: What a grid worker may correct on a resident; names, birth years and ID numbers come from the
#: household register (户籍) and are not edited here.
FLAGS = ("elderly_alone", "disabled", "low_income")
EDITABLE = ("phone", *FLAGS)
_FLAG_ZH = {f: i18n.t(f"col.{f}", "zh") for f in FLAGS}  # 独居老人 / 残疾 / 低收入: the interface's words
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def clean_phone(value: Any) -> str | None:
    """A mobile (13812341234) or landline (028-83712345) number, spaces removed; blank clears it."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    text = re.sub(r"[\s()（）]", "", text).removeprefix("+86")
    if not text:
        return None
    if _MOBILE.match(text) or _LANDLINE.match(text):
        return text
    raise ValidationError(f"电话号码“{mask_phone(text)}”格式不对：手机号为 1 开头的 11 位数字，固话如 028-83712345 "
                          f"/ not a phone number: a mobile has 11 digits starting with 1, a landline looks like "
                          f"028-83712345")


def _diff(before: list[dict], after: list[dict]) -> dict[int, tuple[dict, dict]]:
    """Per resident id: (the editable values as read, those that changed) — only rows that changed."""
    old = {int(r["id"]): r for r in before}
    out: dict[int, tuple[dict, dict]] = {}
    for row in after:
        rid = int(row["id"])
        if rid not in old:
            raise ValidationError(f"住户成员 {rid} 不在这一户中 / resident {rid} is not in this household")
        was = {"phone": old[rid].get("phone") or None, **{f: bool(old[rid].get(f)) for f in FLAGS}}
        phone = row.get("phone") or None  # an untouched number stays as stored, even in an old format
        new = {"phone": was["phone"] if phone == was["phone"] else clean_phone(phone),
               **{f: bool(row.get(f)) for f in FLAGS}}
        changed = {f: v for f, v in new.items() if v != was[f]}
        if changed:
            out[rid] = ({f: was[f] for f in changed}, changed)
    return out


def _describe(was: dict, changed: dict) -> str:
    """The audit detail of one resident's change, with phones masked (the log is read by leaders)."""
    parts = []
    for f, v in changed.items():
        if f == "phone":
            parts.append(f"电话 {mask_phone(was[f]) or '—'} → {mask_phone(v) or '—'}")
        else:
            parts.append(f"{_FLAG_ZH[f]} {'是' if was[f] else '否'} → {'是' if v else '否'}")
    return "；".join(parts)


def update_household(engine: Engine, user, household_id: int, *, before: list[dict], after: list[dict],
                     now: datetime) -> int:
    """Save corrections to a household's residents; returns how many residents changed.

    ``before`` is the household as the user read it (``reveal``'s residents, with ids),
    ``after`` the same rows as edited. Only ``EDITABLE`` fields are looked at. Optimistic
    locking without a version column: each resident is updated only where its stored
    values still equal what the user read, so a colleague's change in between is
    refused (ConcurrentEditError) rather than overwritten, and nothing is written.
    The household's own flags (elderly alone, low income) follow its residents: they are
    recomputed from all its residents in the same transaction, under a lock on the
    household row taken first, so two workers correcting different members at once
    cannot leave flags that ignore the other's change. One transaction with one audit
    row per changed resident.
    """
    if not roles.may(user.role, "edit_people"):
        raise PermissionError("您的角色不能修改住户信息 / your role may not change residents' details")
    changes = _diff(before, after)
    if not changes:
        return 0
    r, h = Resident.__table__, Household.__table__
    with engine.begin() as conn:
        store.lock_rows(conn, h, [household_id])  # first: a colleague's edit of this household waits or went before
        place = household_in_scope(conn, user.scope, household_id)
        for rid, (was, changed) in changes.items():
            stmt = r.update().where(r.c.id == rid, r.c.household_id == household_id, user.scope.clause(r))
            for f, v in was.items():
                stmt = stmt.where(r.c[f].is_(None) if v is None else r.c[f] == v)
            if conn.execute(stmt.values(**changed)).rowcount != 1:
                raise ConcurrentEditError("这一户的信息刚被他人修改，请重新查看后再改（本次未保存任何内容） / someone "
                                          "changed this household meanwhile; look again and redo (nothing saved)")
            audit.record(conn, at=now, username=user.username, role=user.role, action="resident.update",
                         object_type="resident", object_id=rid, grid_id=place["grid_id"],
                         detail=f"{place['building']}{place['unit_no']}单元{place['room']}：{_describe(was, changed)}")
        flags = conn.execute(select(func.max(case((r.c.elderly_alone.is_(True), 1), else_=0)),
                                    func.max(case((r.c.low_income.is_(True), 1), else_=0)))
                             .where(r.c.household_id == household_id)).one()
        conn.execute(h.update().where(h.c.id == household_id).values(elderly_alone=bool(flags[0]),
                                                                      low_income=bool(flags[1])))
    return len(changes)


# --------------------------------------------------------------------------- helpers

def helpers(engine: Engine, *, scope: Scope, grid_id: int | None = None) -> pd.DataFrame:
    """Party members and volunteers bound to the area, with the households each looks after (包保).

    Their names are shown (they are posted on the grid's notice board); phones
    are masked; the households they look after are masked like any other.
    """
    p = Person.__table__
    stmt = (select(p.c.id, p.c.role, p.c.name, p.c.phone, p.c.grid_id, p.c.workplace, p.c.available,
                   VolunteerTeam.name.label("team"))
            .outerjoin(VolunteerTeam, VolunteerTeam.id == p.c.team_id)
            .where(p.c.role.in_(("party_member", "volunteer")), scope.clause(p)))
    if grid_id is not None:
        stmt = stmt.where(p.c.grid_id == grid_id)
    people = store.read_frame(engine, stmt.order_by(p.c.role, p.c.id))
    people["phone"] = people["phone"].map(mask_phone)
    if people.empty:
        people["households"] = []
        return people
    h = Household.__table__
    head = Resident.__table__.alias("head")
    res = residents_summary(scope)  # a member may look after households next door
    links = store.read_frame(engine, select(
        CareLink.person_id, h.c.id.label("household_id"), Building.name.label("building"), h.c.unit_no, h.c.room,
        head.c.name.label("head"))
        .join(h, h.c.id == CareLink.household_id).join(Building, Building.id == h.c.building_id)
        .outerjoin(res, res.c.household_id == h.c.id).outerjoin(head, head.c.id == res.c.head_id)
        .where(CareLink.person_id.in_(people["id"].tolist()), CareLink.kind == "party", scope.clause(h))
        .order_by(CareLink.person_id, h.c.id))  # each helper's households in a steady order
    text = {pid: "；".join(f"{b}{u}单元{r} {mask_name(n)}" for b, u, r, n in
                          zip(g["building"], g["unit_no"], g["room"], g["head"]))
            for pid, g in links.groupby("person_id")}
    counts = links.groupby("person_id").size()
    people["households"] = people["id"].map(text).fillna("")
    people["cared_households"] = people["id"].map(counts).fillna(0).astype(int)
    return people


def head_count(engine: Engine, *, scope: Scope, grid_id: int | None = None) -> dict[str, int]:
    """Households, residents and vulnerable people in the area (figures only)."""
    r = Resident.__table__
    h = Household.__table__
    with engine.connect() as conn:
        hh = select(func.count()).select_from(h).where(scope.clause(h))
        rs = select(func.count(), func.sum(case((r.c.elderly_alone.is_(True), 1), else_=0)),
                    func.sum(case((r.c.disabled.is_(True), 1), else_=0)),
                    func.sum(case((r.c.low_income.is_(True), 1), else_=0))).select_from(r).where(scope.clause(r))
        if grid_id is not None:
            hh = hh.where(h.c.grid_id == grid_id)
            rs = rs.where(r.c.grid_id == grid_id)
        n_hh = conn.execute(hh).scalar_one()
        n, elderly, disabled, low = conn.execute(rs).one()
    return dict(households=int(n_hh), residents=int(n or 0), elderly_alone=int(elderly or 0),
                disabled=int(disabled or 0), low_income=int(low or 0))


__all__ = ["grids", "grid_scope", "households", "to_visit", "residents", "reveal",
           "helpers", "head_count", "household_in_scope", "VISIT_INTERVAL_DAYS", "FLAGS", "EDITABLE", "clean_phone",
           "update_household"]
