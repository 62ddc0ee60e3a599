"""Leaders' contact points (领导联系点): each leader is bound to a grid or a community and visits it every quarter.

正安县《城市基层党建联系点制度》: leaders “分别联系1个街道、社区和网格 … 联系领导按季度开展实地调研指导”; 务川县:
“领导干部包保网格制度”. A street leader's contact point is a grid or a community of the street; street
leaders and staff set it; each visit is recorded like a household visit (a note, and optionally a
ticket for what was found, routed like any report); the leader's own page reads the point's open
tickets and figures through the point's scope (``point_scope``).

Leaders are ``person`` rows of role "leader" (their names are public, as contact points are posted);
a street leader's login is bound to one through ``person_id``.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, case, func, insert, select, update

from geo import settings
from geo.access import audit, roles
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Community, Grid, LeaderVisit, Person, Ticket
from geo.errors import NotFoundError, ValidationError
from geo.tickets import categories, rules, service, workflow

#: A contact point is visited at least once a quarter (正安县: 按季度开展实地调研指导).
VISIT_EVERY_MONTHS = 3


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _leaders(scope: Scope):
    p = Person.__table__
    return (p.c.role == "leader") & (scope.clause(p) if scope.level == "street" else p.c.community_id == scope.community_id)


def contact_points(engine: Engine, *, scope: Scope, today: date) -> gpd.GeoDataFrame:
    """Every leader of the scope with their contact point, as a point on the map (inside the grid or community).

    Columns: person_id, leader, level ("grid" / "community" / None: not set), grid_id, community_id, point
    (its name), last_visit, visits_quarter, due (no visit yet this quarter), open_tickets, geometry.
    """
    p = Person.__table__
    people = store.read_frame(engine, select(p.c.id.label("person_id"), p.c.name.label("leader"),
                                             p.c.contact_grid_id.label("grid_id"),
                                             p.c.contact_community_id).where(_leaders(scope)).order_by(p.c.id))
    grids = store.read_layer(engine, Grid, columns=["id", "name", "community_id", "geom"],
                             where=Grid.id.in_(people["grid_id"].dropna().astype(int).tolist() or [-1]))
    comm_ids = set(people["contact_community_id"].dropna().astype(int)) | set(grids["community_id"])
    comms = store.read_layer(engine, Community, columns=["id", "name", "geom"],
                             where=Community.id.in_(sorted(comm_ids) or [-1]))
    g = grids.set_index("id")
    c = comms.set_index("id")
    rows = []
    for r in people.itertuples():
        if pd.notna(r.grid_id) and int(r.grid_id) in g.index:
            gr = g.loc[int(r.grid_id)]
            rows.append(dict(level="grid", grid_id=int(r.grid_id), community_id=int(gr["community_id"]),
                             point=f"{c.loc[int(gr['community_id']), 'name']}·{gr['name']}",
                             geometry=gr.geometry.representative_point()))
        elif pd.notna(r.contact_community_id) and int(r.contact_community_id) in c.index:
            cm = c.loc[int(r.contact_community_id)]
            rows.append(dict(level="community", grid_id=None, community_id=int(r.contact_community_id),
                             point=cm["name"], geometry=cm.geometry.representative_point()))
        else:
            rows.append(dict(level=None, grid_id=None, community_id=None, point="", geometry=None))
    out = pd.concat([people[["person_id", "leader"]], pd.DataFrame(rows, index=people.index)], axis=1)
    seen = _visit_counts(engine, out["person_id"].tolist(), today)
    out = out.merge(seen, on="person_id", how="left")
    out["visits_quarter"] = out["visits_quarter"].fillna(0).astype(int)
    out["due"] = out["level"].notna() & (out["visits_quarter"] == 0)
    out["open_tickets"] = [_open_count(engine, point_scope(r)) if r["level"] else 0 for _, r in out.iterrows()]
    return gpd.GeoDataFrame(out, geometry="geometry", crs=settings.STORAGE_CRS)


def _visit_counts(engine: Engine, people: list[int], today: date) -> pd.DataFrame:
    v = LeaderVisit.__table__
    since = quarter_start(today)
    df = store.read_frame(engine, select(
        v.c.person_id, func.max(v.c.visited_on).label("last_visit"),
        func.sum(case((v.c.visited_on >= since, 1), else_=0)).label("visits_quarter"))
        .where(v.c.person_id.in_(people or [-1])).group_by(v.c.person_id))
    return df if len(df) else pd.DataFrame(columns=["person_id", "last_visit", "visits_quarter"])


def _open_count(engine: Engine, scope: Scope) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Ticket).where(
            scope.clause(Ticket.__table__), Ticket.state.in_(workflow.OPEN_STATES))).scalar_one())


def point_scope(point) -> Scope:
    """The area of a contact point (a row of ``contact_points`` or ``my_point``), for tickets and figures."""
    if point["level"] == "grid":
        return Scope("grid", community_id=int(point["community_id"]), grid_id=int(point["grid_id"]))
    if point["level"] == "community":
        return Scope("community", community_id=int(point["community_id"]))
    raise ValidationError("尚未设置联系点 / no contact point set")


def my_point(engine: Engine, user, *, today: date) -> dict[str, Any] | None:
    """The signed-in leader's own contact point (None: the login is bound to no leader, or none is set)."""
    if user.person_id is None:
        return None
    points = contact_points(engine, scope=user.scope, today=today)
    mine = points[points["person_id"] == user.person_id]
    if mine.empty or mine["level"].iloc[0] is None:
        return None
    return mine.iloc[0].to_dict()


def set_contact_point(engine: Engine, user, person_id: int, *, now: datetime, grid_id: int | None = None,
                      community_id: int | None = None) -> None:
    """Bind a leader to a grid or (``community_id`` alone) a community of the user's area; audited."""
    if not roles.may(user.role, "manage_contact_points"):
        raise PermissionError("您的角色不能设置领导联系点 / your role may not set contact points")
    if (grid_id is None) == (community_id is None):
        raise ValidationError("联系点须是一个网格或一个社区 / a contact point is one grid or one community")
    with engine.begin() as conn:
        who = conn.execute(select(Person.id, Person.name).where(Person.id == person_id, _leaders(user.scope))).first()
        if who is None:
            raise NotFoundError(f"领导 {person_id} 不存在或不在您的管辖范围内 / no such leader in your area")
        if grid_id is not None:
            row = conn.execute(select(Grid.name, Grid.community_id).where(
                Grid.id == grid_id, user.scope.clause(Grid.__table__))).first()
            where, values = row and row[0], dict(contact_grid_id=grid_id, contact_community_id=None,
                                                 community_id=row and row[1])
        else:
            row = conn.execute(select(Community.name).where(
                Community.id == community_id, user.scope.clause(Community.__table__))).first()
            where, values = row and row[0], dict(contact_grid_id=None, contact_community_id=community_id,
                                                 community_id=community_id)
        if row is None:
            raise NotFoundError("联系点不在您的管辖范围内 / the place is not in your area")
        conn.execute(update(Person).where(Person.id == person_id).values(**values))
        audit.record(conn, at=now, username=user.username, role=user.role, action="contact.point",
                     object_type="person", object_id=int(person_id), grid_id=grid_id,
                     detail=f"{who[1]} 联系点：{where}")


def record_visit(engine: Engine, user, person_id: int, *, visited_on: date, now: datetime, note: str = "",
                 ticket: dict[str, Any] | None = None) -> dict[str, Any]:
    """A leader's visit to their contact point (their own, or by staff on their behalf), like a household visit:
    a note, and optionally a ticket (``category``, ``description``, ``lon``/``lat`` or the point's middle)
    reported in the same transaction. Returns the visit (with ``ticket_code``)."""
    if not roles.may(user.role, "record_leader_visit"):
        raise PermissionError("您的角色不能登记联系点调研 / your role may not record contact-point visits")
    if user.role == "street_leader" and user.person_id not in (None, person_id):
        raise PermissionError("街道领导只登记本人的联系点调研 / a leader records their own visits")
    if visited_on > now.date():
        raise ValidationError("调研日期不能晚于今天 / a visit cannot be in the future")
    note = (note or "").strip()
    if len(note) > 2000:
        raise ValidationError("调研记录不能超过 2000 字 / at most 2000 characters")
    if ticket and ticket.get("category") not in categories.CATEGORIES:
        raise ValidationError("请选择工单类别 / choose the ticket's category")
    points = contact_points(engine, scope=user.scope, today=now.date())
    mine = points[points["person_id"] == person_id]
    if mine.empty:
        raise NotFoundError(f"领导 {person_id} 不存在或不在您的管辖范围内 / no such leader in your area")
    point = mine.iloc[0]
    if point["level"] is None:
        raise ValidationError(f"{point['leader']} 尚未设置联系点，请先设置 / set the contact point first")
    with engine.begin() as conn:
        made = None
        if ticket:
            lon = ticket.get("lon", point.geometry.x)
            lat = ticket.get("lat", point.geometry.y)
            made = service.report(engine, category=ticket["category"], conn=conn, by=rules.actor_for(user),
                                  description=(ticket.get("description") or note or "").strip(), lon=lon, lat=lat,
                                  now=now, source="patrol")
        row = dict(person_id=int(person_id), community_id=int(point["community_id"]),
                   grid_id=None if point["level"] != "grid" else int(point["grid_id"]), visited_on=visited_on,
                   note=note or None, ticket_id=made["id"] if made else None, recorded_by=user.label, created_at=now)
        vid = conn.execute(insert(LeaderVisit).returning(LeaderVisit.id), [row]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="contact.visit",
                     object_type="leader_visit", object_id=int(vid), grid_id=row["grid_id"],
                     detail=f"{point['leader']} 调研 {point['point']} {visited_on:%Y-%m-%d}"
                            + (f"；工单 {made['code']}" if made else ""))
    out = {**row, "id": int(vid)}
    if made:
        out["ticket_code"] = made["code"]
    return out


def visits(engine: Engine, *, scope: Scope, person_id: int | None = None, limit: int = 100) -> pd.DataFrame:
    """Leaders' visits in the scope, newest first: leader, visited_on, point, note, ticket code, recorded_by."""
    v = LeaderVisit.__table__
    stmt = (select(v.c.id, Person.name.label("leader"), v.c.visited_on, Community.name.label("community"),
                   Grid.name.label("grid"), v.c.note, Ticket.code.label("ticket"), v.c.recorded_by)
            .join(Person, Person.id == v.c.person_id).join(Community, Community.id == v.c.community_id)
            .outerjoin(Grid, Grid.id == v.c.grid_id).outerjoin(Ticket, Ticket.id == v.c.ticket_id)
            .where(scope.clause(v) if scope.level != "grid" else v.c.grid_id == scope.grid_id))
    if person_id is not None:
        stmt = stmt.where(v.c.person_id == person_id)
    df = store.read_frame(engine, stmt.order_by(v.c.visited_on.desc(), v.c.id.desc()).limit(limit))
    df["point"] = df["community"] + df["grid"].map(lambda g: f"·{g}" if isinstance(g, str) else "")
    return df.drop(columns=["community", "grid"])


__all__ = ["VISIT_EVERY_MONTHS", "quarter_start", "contact_points", "point_scope", "my_point", "set_contact_point",
           "record_visit", "visits"]
