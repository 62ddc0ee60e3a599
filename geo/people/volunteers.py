"""Volunteers: teams by specialty, activities with hours, and the time bank (志愿服务互助银行).

The seeds: 298 volunteers in nine teams by specialty (纠纷调解、卫生清洁、法律宣传、热心服务 …, 致和镇);
320 volunteers and 3,607 person-times a year (务川县); a 志愿服务互助银行 in 祥和社区 (二七区), where the
hours a volunteer gives are banked and spent on a service from another volunteer.

- A team belongs to a community and may serve one of its grids; it has members and a leader.
- An activity has a time, a place on the map (routed to its grid like a ticket), a team, who came and
  for how long: each attendance is credited to the volunteer's time account.
- The time bank never goes below zero: a spend is one conditional UPDATE (``balance >= minutes``), so two
  spends racing for the last hours cannot both pass, and the table's CHECK is the last guard.
- Yearly figures per team and per community: volunteers, activities, person-times (人次), hours.

Scope: a team is the user's when its community is theirs; a grid head sees the community's teams that
serve all of it or their grid. Every change is audited in its own transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import Engine, func, insert, or_, select, update

from geo.access import audit, roles
from geo.access.masks import mask_phone
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import (Community, Grid, Person, TimeAccount, TimeEntry, VolunteerActivity, VolunteerAttendance,
                           VolunteerTeam)
from geo.errors import NotFoundError, ValidationError
from geo.people.households import clean_phone
from geo.tickets import service

#: Specialties of teams (致和镇's four and the demo's): a city adds its own.
SPECIALTIES = ("纠纷调解", "环境清洁", "法律咨询", "邻里互助", "治安巡逻", "文明劝导", "助老助残", "卫生清洁")
#: Longest single activity credited (hours): a day's service; longer ones are split into days.
MAX_ACTIVITY_HOURS = 12.0
#: Longest single service exchanged in the time bank (hours).
MAX_SERVICE_HOURS = 8.0
_TEAM_NOT_HERE = "志愿服务队 {id} 不存在或不在您的管辖范围内 / no such team in your area"


def _check(user) -> None:
    if not roles.may(user.role, "manage_volunteers"):
        raise PermissionError("您的角色不能管理志愿服务 / your role may not manage volunteers")


def team_clause(scope: Scope):
    """SQL: teams the scope may see and manage (a grid: its community's teams serving all of it or the grid)."""
    t = VolunteerTeam.__table__
    if scope.level == "grid":
        return (t.c.community_id == scope.community_id) & or_(t.c.grid_id.is_(None), t.c.grid_id == scope.grid_id)
    return scope.clause(t)


def _minutes(hours: float, limit: float, what: str) -> int:
    try:
        hours = float(hours)
    except (TypeError, ValueError):
        raise ValidationError(f"{what}须为数字（小时） / {what}: hours as a number") from None
    if not 0 < hours <= limit:
        raise ValidationError(f"{what}须在 0–{limit:g} 小时之间 / {what} must be between 0 and {limit:g} hours")
    return int(round(hours * 60))


# --------------------------------------------------------------------------- teams and members

def teams(engine: Engine, *, scope: Scope, year: int | None = None) -> pd.DataFrame:
    """The teams in the scope: id, name, specialty, community, grid (None: the whole community), leader,
    members, and this ``year``'s activities and hours."""
    t, p = VolunteerTeam.__table__, Person.__table__
    leader = p.alias("leader")
    df = store.read_frame(engine, select(
        t.c.id, t.c.name, t.c.specialty, t.c.community_id, Community.name.label("community"), t.c.grid_id,
        Grid.name.label("grid"), leader.c.name.label("leader"))
        .join(Community, Community.id == t.c.community_id).outerjoin(Grid, Grid.id == t.c.grid_id)
        .outerjoin(leader, leader.c.id == t.c.leader_id).where(team_clause(scope)).order_by(t.c.community_id, t.c.id))
    n = store.read_frame(engine, select(p.c.team_id, func.count().label("members"))
                         .where(p.c.role == "volunteer", p.c.team_id.in_(df["id"].tolist() or [-1]))
                         .group_by(p.c.team_id))
    df = df.merge(n, left_on="id", right_on="team_id", how="left").drop(columns="team_id")
    df["members"] = df["members"].fillna(0).astype(int)
    if year is not None:
        y = yearly(engine, scope=scope, year=year, by="team")
        df = df.merge(y[["team_id", "activities", "person_times", "hours"]], left_on="id", right_on="team_id",
                      how="left").drop(columns="team_id")
        df[["activities", "person_times"]] = df[["activities", "person_times"]].fillna(0).astype(int)
        df["hours"] = df["hours"].fillna(0.0)
    return df


def _team(conn, scope: Scope, team_id: int) -> dict[str, Any]:
    t = VolunteerTeam.__table__
    row = conn.execute(select(t.c.id, t.c.name, t.c.community_id, t.c.grid_id).where(
        t.c.id == team_id, team_clause(scope))).mappings().first()
    if row is None:
        raise NotFoundError(_TEAM_NOT_HERE.format(id=team_id))
    return dict(row)


def _street_of(conn, community_id: int) -> int | None:
    return conn.execute(select(Community.street_id).where(Community.id == community_id)).scalar()


def create_team(engine: Engine, user, *, name: str, specialty: str, now: datetime,
                grid_id: int | None = None, community_id: int | None = None) -> int:
    """A new team of the user's community (a grid head's serves their grid); returns its id."""
    _check(user)
    name, specialty = (name or "").strip(), (specialty or "").strip()
    if not 2 <= len(name) <= 40:
        raise ValidationError("请填写队伍名称（2–40 字） / give the team a name of 2–40 characters")
    if not specialty or len(specialty) > 16:
        raise ValidationError("请选择或填写服务专长（不超过 16 字） / give its specialty")
    scope = user.scope
    if scope.level == "grid":
        community_id, grid_id = scope.community_id, scope.grid_id
    elif scope.level == "community":
        community_id = scope.community_id
    with engine.begin() as conn:
        if community_id is None:
            raise ValidationError("请选择队伍所属社区 / choose the team's community")
        mine = scope.clause(Community.__table__) if scope.level == "street" else Community.id == scope.community_id
        if not conn.execute(select(Community.id).where(Community.id == community_id, mine)).first():
            raise NotFoundError(f"社区 {community_id} 不在您的管辖范围内 / no such community in your area")
        if grid_id is not None and not conn.execute(select(Grid.id).where(
                Grid.id == grid_id, Grid.community_id == community_id)).first():
            raise ValidationError("服务网格须属于队伍所在社区 / the grid must be in the team's community")
        tid = conn.execute(insert(VolunteerTeam).returning(VolunteerTeam.id), [dict(
            community_id=community_id, grid_id=grid_id, name=name, specialty=specialty, created_at=now)]
        ).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="volunteer.team",
                     object_type="volunteer_team", object_id=int(tid), grid_id=grid_id,
                     detail=f"新建志愿服务队：{name}（{specialty}）")
    return int(tid)


def members(engine: Engine, *, scope: Scope, team_id: int) -> pd.DataFrame:
    """A team's volunteers: id, name, phone (masked), grid, leader flag, time bank balance and earned (hours)."""
    p, a = Person.__table__, TimeAccount.__table__
    with engine.connect() as conn:
        team = _team(conn, scope, team_id)
    leader = store.read_frame(engine, select(VolunteerTeam.leader_id).where(VolunteerTeam.id == team_id)
                              )["leader_id"].iloc[0]
    df = store.read_frame(engine, select(p.c.id, p.c.name, p.c.phone, Grid.name.label("grid"),
                                         func.coalesce(a.c.balance_min, 0).label("balance_min"),
                                         func.coalesce(a.c.earned_min, 0).label("earned_min"))
                          .outerjoin(Grid, Grid.id == p.c.grid_id).outerjoin(a, a.c.person_id == p.c.id)
                          .where(p.c.team_id == team["id"], p.c.role == "volunteer").order_by(p.c.id))
    df["phone"] = df["phone"].map(mask_phone)
    df["leader"] = df["id"] == leader
    df["balance_h"] = df.pop("balance_min") / 60
    df["earned_h"] = df.pop("earned_min") / 60
    return df


def add_member(engine: Engine, user, team_id: int, *, name: str, phone: str | None, now: datetime,
               grid_id: int | None = None) -> int:
    """A new volunteer in the team (living in ``grid_id`` of its community, default the team's grid)."""
    _check(user)
    name = (name or "").strip()
    if not 2 <= len(name) <= 16:
        raise ValidationError("请填写志愿者姓名（2–16 字） / give the volunteer's name")
    with engine.begin() as conn:
        team = _team(conn, user.scope, team_id)
        grid_id = grid_id or team["grid_id"] or (user.scope.grid_id if user.scope.level == "grid" else None)
        if grid_id is not None and not conn.execute(select(Grid.id).where(
                Grid.id == grid_id, Grid.community_id == team["community_id"])).first():
            raise ValidationError("志愿者所在网格须属于队伍所在社区 / the grid must be in the team's community")
        pid = conn.execute(insert(Person).returning(Person.id), [dict(
            role="volunteer", name=name, phone=clean_phone(phone), street_id=_street_of(conn, team["community_id"]),
            community_id=team["community_id"], grid_id=grid_id, team_id=team_id, available=True)]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="volunteer.member",
                     object_type="person", object_id=int(pid), grid_id=grid_id, detail=f"{team['name']}：+ {name}")
    return int(pid)


def set_leader(engine: Engine, user, team_id: int, person_id: int, *, now: datetime) -> None:
    """Make a member the team's leader (队长)."""
    _check(user)
    with engine.begin() as conn:
        team = _team(conn, user.scope, team_id)
        name = conn.execute(select(Person.name).where(Person.id == person_id, Person.team_id == team_id,
                                                      Person.role == "volunteer")).scalar()
        if name is None:
            raise ValidationError("队长须是本队志愿者 / the leader must be a member of the team")
        conn.execute(update(VolunteerTeam).where(VolunteerTeam.id == team_id).values(leader_id=person_id))
        audit.record(conn, at=now, username=user.username, role=user.role, action="volunteer.leader",
                     object_type="volunteer_team", object_id=int(team_id), grid_id=team["grid_id"],
                     detail=f"{team['name']} 队长：{name}")


# --------------------------------------------------------------------------- activities and the time bank

def record_activity(engine: Engine, user, team_id: int, *, title: str, started_at: datetime, hours: float,
                    lon: float, lat: float, attendees: list[int], now: datetime, place: str = "") -> int:
    """An activity of the team at a place on the map; each attendee is credited ``hours``. Returns its id.

    The place is routed to its grid (like a ticket) and must lie in the user's area. Attendees are the
    team's volunteers. Activity, attendance, time bank credits and the audit row: one transaction.
    """
    _check(user)
    title = (title or "").strip()
    if not 2 <= len(title) <= 60:
        raise ValidationError("请填写活动名称（2–60 字） / give the activity a title")
    if started_at > now:
        raise ValidationError("活动时间不能晚于现在，活动结束后再登记 / record an activity once it has taken place")
    minutes = _minutes(hours, MAX_ACTIVITY_HOURS, "活动时长")
    people = sorted({int(p) for p in attendees})
    if not people:
        raise ValidationError("请选择参加活动的志愿者 / choose who came")
    where = service.route(engine, lon, lat)
    if not user.scope.contains(street_id=where.street_id, community_id=where.community_id, grid_id=where.grid_id):
        raise ValidationError("活动地点不在您的管辖范围内，请在地图上重新选点 / the place is outside your area")
    with engine.begin() as conn:
        team = _team(conn, user.scope, team_id)
        store.lock_rows(conn, Person.__table__, people)  # their accounts are credited below
        found = set(conn.execute(select(Person.id).where(Person.id.in_(people), Person.team_id == team_id,
                                                         Person.role == "volunteer")).scalars())
        if found != set(people):
            raise ValidationError("参加者须是本队志愿者 / attendees must be the team's volunteers")
        row = store.with_bbox([dict(team_id=team_id, community_id=where.community_id, grid_id=where.grid_id,
                                    title=title, place=(place or "").strip()[:64] or None, started_at=started_at,
                                    hours=minutes / 60, created_by=user.username, created_at=now,
                                    geom=shapely.Point(lon, lat))])[0]
        aid = conn.execute(insert(VolunteerActivity).returning(VolunteerActivity.id), [row]).scalar_one()
        conn.execute(insert(VolunteerAttendance), [dict(activity_id=aid, person_id=p, minutes=minutes)
                                                   for p in people])
        for p in people:
            _credit(conn, p, minutes, community_id=team["community_id"], at=started_at, kind="activity",
                    activity_id=aid, username=user.username, note=title)
        audit.record(conn, at=now, username=user.username, role=user.role, action="volunteer.activity",
                     object_type="volunteer_activity", object_id=int(aid), grid_id=where.grid_id,
                     detail=f"{team['name']}：{title}，{len(people)} 人 × {minutes / 60:g} 小时")
    return int(aid)


def _credit(conn, person_id: int, minutes: int, *, community_id: int | None, at: datetime, kind: str,
            username: str, activity_id: int | None = None, counterpart_id: int | None = None,
            note: str | None = None) -> None:
    """Add ``minutes`` to a volunteer's account (made on first credit); the caller holds the person's lock."""
    a = TimeAccount.__table__
    if conn.execute(select(a.c.person_id).where(a.c.person_id == person_id)).first() is None:
        conn.execute(insert(TimeAccount), [dict(person_id=person_id, community_id=community_id, balance_min=0,
                                                earned_min=0, spent_min=0)])
    conn.execute(update(a).where(a.c.person_id == person_id).values(
        balance_min=a.c.balance_min + minutes, earned_min=a.c.earned_min + minutes))
    conn.execute(insert(TimeEntry), [dict(person_id=person_id, community_id=community_id, at=at, minutes=minutes,
                                          kind=kind, activity_id=activity_id, counterpart_id=counterpart_id,
                                          note=(note or "")[:200] or None, username=username)])


def exchange(engine: Engine, user, *, receiver_id: int, provider_id: int, hours: float, note: str,
             now: datetime) -> dict[str, float]:
    """A service from one volunteer to another through the time bank: the receiver spends ``hours``
    from their balance, the provider earns them. Returns both new balances (hours).

    Refused with nothing written when the receiver's balance is short: the spend is a conditional
    UPDATE (``balance_min >= minutes``) in the same transaction as the credit, so a balance never
    goes below zero, also when two spends race.
    """
    _check(user)
    if receiver_id == provider_id:
        raise ValidationError("服务双方须是两名不同的志愿者 / a volunteer cannot serve themselves")
    minutes = _minutes(hours, MAX_SERVICE_HOURS, "服务时长")
    note = (note or "").strip()
    if not note:
        raise ValidationError("请写明提供的服务（如：陪同就医 2 小时） / say what the service was")
    a, p = TimeAccount.__table__, Person.__table__
    with engine.begin() as conn:
        both = conn.execute(select(p.c.id, p.c.name, p.c.community_id, p.c.team_id).where(
            p.c.id.in_([receiver_id, provider_id]), p.c.role == "volunteer", p.c.team_id.is_not(None),
            p.c.team_id.in_(select(VolunteerTeam.id).where(team_clause(user.scope))))).mappings().all()
        if len(both) != 2:
            raise NotFoundError("志愿者不存在或不在您的管辖范围内 / no such volunteer in your area")
        who = {r["id"]: dict(r) for r in both}
        spent = conn.execute(update(a).where(a.c.person_id == receiver_id, a.c.balance_min >= minutes).values(
            balance_min=a.c.balance_min - minutes, spent_min=a.c.spent_min + minutes))
        if spent.rowcount != 1:
            have = conn.execute(select(a.c.balance_min).where(a.c.person_id == receiver_id)).scalar() or 0
            raise ValidationError(f"{who[receiver_id]['name']} 的时间银行余额为 {have / 60:g} 小时，不足 {minutes / 60:g} "
                                  f"小时，本次未保存 / the balance ({have / 60:g} h) is short of {minutes / 60:g} h; "
                                  "nothing was saved")
        conn.execute(insert(TimeEntry), [dict(
            person_id=receiver_id, community_id=who[receiver_id]["community_id"], at=now, minutes=-minutes,
            kind="received", counterpart_id=provider_id, note=note[:200], username=user.username)])
        store.lock_rows(conn, Person.__table__, [provider_id])
        _credit(conn, provider_id, minutes, community_id=who[provider_id]["community_id"], at=now, kind="served",
                counterpart_id=receiver_id, username=user.username, note=note)
        audit.record(conn, at=now, username=user.username, role=user.role, action="timebank.exchange",
                     object_type="person", object_id=int(receiver_id), grid_id=None,
                     detail=f"{who[provider_id]['name']} → {who[receiver_id]['name']}：{note[:60]}，{minutes / 60:g} 小时")
        out = dict(conn.execute(select(a.c.person_id, a.c.balance_min).where(
            a.c.person_id.in_([receiver_id, provider_id]))).fetchall())
    return {"receiver": out[receiver_id] / 60, "provider": out[provider_id] / 60}


def balance(engine: Engine, person_id: int) -> float:
    """A volunteer's time bank balance in hours (0 without an account)."""
    with engine.connect() as conn:
        m = conn.execute(select(TimeAccount.balance_min).where(TimeAccount.person_id == person_id)).scalar()
    return (m or 0) / 60


def activities(engine: Engine, *, scope: Scope, since: datetime | None = None, limit: int = 200) -> pd.DataFrame:
    """Activities of the scope's teams, newest first: id, team, title, place, started_at, hours, person_times,
    lon, lat, grid."""
    v, t = VolunteerActivity.__table__, VolunteerTeam.__table__
    n = (select(VolunteerAttendance.activity_id, func.count().label("person_times"))
         .group_by(VolunteerAttendance.activity_id).subquery())
    stmt = (select(v.c.id, t.c.name.label("team"), v.c.title, v.c.place, v.c.started_at, v.c.hours,
                   func.coalesce(n.c.person_times, 0).label("person_times"), v.c.minx.label("lon"),
                   v.c.miny.label("lat"), Grid.name.label("grid"))
            .join(t, t.c.id == v.c.team_id).outerjoin(n, n.c.activity_id == v.c.id)
            .outerjoin(Grid, Grid.id == v.c.grid_id).where(team_clause(scope)))
    if since is not None:
        stmt = stmt.where(v.c.started_at >= since)
    return store.read_frame(engine, stmt.order_by(v.c.started_at.desc(), v.c.id.desc()).limit(limit))


def yearly(engine: Engine, *, scope: Scope, year: int, by: str = "team") -> pd.DataFrame:
    """The year's figures per team (``by="team"``) or per community: volunteers (members), active (came at
    least once), activities, person_times (人次), hours, and the time bank's services exchanged (hours)."""
    if by not in ("team", "community"):
        raise ValueError("by must be 'team' or 'community'")
    start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    t, v, att, p = (VolunteerTeam.__table__, VolunteerActivity.__table__, VolunteerAttendance.__table__,
                    Person.__table__)
    rows = store.read_frame(engine, select(
        t.c.id.label("team_id"), t.c.name.label("team"), t.c.community_id, Community.name.label("community"),
        v.c.id.label("activity_id"), att.c.person_id, att.c.minutes)
        .join(Community, Community.id == t.c.community_id)
        .outerjoin(v, (v.c.team_id == t.c.id) & (v.c.started_at >= start) & (v.c.started_at < end))
        .outerjoin(att, att.c.activity_id == v.c.id).where(team_clause(scope)))
    size = store.read_frame(engine, select(p.c.team_id, func.count().label("volunteers"))
                            .where(p.c.role == "volunteer", p.c.team_id.is_not(None)).group_by(p.c.team_id))
    served = store.read_frame(engine, select(TimeEntry.community_id, func.sum(TimeEntry.minutes).label("m"))
                              .where(TimeEntry.kind == "served", TimeEntry.at >= start, TimeEntry.at < end)
                              .group_by(TimeEntry.community_id))
    key, name = ("team_id", "team") if by == "team" else ("community_id", "community")
    rows = rows.merge(size, on="team_id", how="left")
    g = rows.groupby([key, name], sort=True)
    out = pd.DataFrame({
        "volunteers": rows.drop_duplicates("team_id").groupby([key, name])["volunteers"].sum(),
        "active": g["person_id"].nunique(), "activities": g["activity_id"].nunique(),
        "person_times": g["person_id"].count(), "hours": g["minutes"].sum() / 60}).reset_index()
    out["volunteers"] = out["volunteers"].fillna(0).astype(int)
    if by == "community":
        out = out.merge(served.rename(columns={"m": "exchanged"}), on="community_id", how="left")
        out["exchanged"] = out["exchanged"].fillna(0) / 60
    return out


__all__ = ["SPECIALTIES", "MAX_ACTIVITY_HOURS", "MAX_SERVICE_HOURS", "team_clause", "teams", "create_team",
           "members", "add_member", "set_leader", "record_activity", "exchange", "balance", "activities", "yearly"]
