"""The ticket service: report, route, act, escalate, merge, assign — on the database.

Entry points (pages, api.py) call these with plain values and get plain
values or domain errors back. Every write is one transaction; every change
of a ticket is guarded by its version (optimistic locking): two people acting
on the same ticket at once, one wins and the other gets ConcurrentEditError
with nothing written.
"""
from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from geo import audit, projection, store, tickets, workflow
from geo.errors import ConcurrentEditError, NotFoundError, OutsideAreaError, ValidationError
from geo.roles import Scope
from geo.schema import Building, Grid, Household, Person, Resident, Ticket, TicketEvent

#: A point this close outside every grid is still routed to the nearest grid (and flagged).
ROUTING_TOLERANCE_M = 30.0
#: Open tickets of the same category this close are suggested as duplicates.
DUPLICATE_RADIUS_M = 100.0
DUPLICATE_DAYS = 14

_COLUMNS = [c.name for c in Ticket.__table__.c if c.name not in ("minx", "miny", "maxx", "maxy")]


@dataclass(frozen=True)
class Routing:
    """Where a reported point belongs, and how sure we are."""

    grid_id: int
    community_id: int
    street_id: int
    flag: str | None  # None: inside one grid; "boundary": on a shared edge; "snapped": just outside
    distance_m: float = 0.0


# --------------------------------------------------------------------------- routing

def route(engine: Engine, lon: float, lat: float, *, tolerance_m: float = ROUTING_TOLERANCE_M) -> Routing:
    """The grid, community and street of a point (point-in-polygon, deterministic).

    A point on a shared boundary goes to the grid with the smallest code; a
    point within ``tolerance_m`` outside every grid goes to the nearest grid;
    both are flagged so a person can check. Anything farther is refused.
    """
    if not (np.isfinite(lon) and np.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(f"坐标无效：{lon}, {lat}（应为经度、纬度） / invalid lon-lat")
    ids = store.grids_covering(engine, lon, lat)
    if ids:
        grids = _grid_rows(engine, ids)
        best = grids.sort_values("code").iloc[0]
        return Routing(int(best.id), int(best.community_id), int(best.street_id),
                       "boundary" if len(ids) > 1 else None)
    pad = tolerance_m / 90_000  # degrees, generous at this latitude
    near = store.ids_intersecting(engine, Grid, shapely.box(lon - pad, lat - pad, lon + pad, lat + pad))
    if near:
        grids = _grid_rows(engine, near, with_geom=True)
        metric = projection.to_metric(grids.set_crs(store.settings.STORAGE_CRS, allow_override=True))
        x, y = projection.lonlat_to_metric([lon], [lat])
        dist = metric.distance(shapely.Point(x[0], y[0]))
        grids = grids.assign(dist=dist.to_numpy()).sort_values(["dist", "code"])
        best = grids.iloc[0]
        if best.dist <= tolerance_m:
            return Routing(int(best.id), int(best.community_id), int(best.street_id), "snapped",
                           float(best.dist))
    raise OutsideAreaError(
        f"该位置不在本街道任何网格内（{lon:.6f}, {lat:.6f}），请在地图上重新选点 / "
        "this point is outside every grid of the street")


def _grid_rows(engine: Engine, ids: list[int], with_geom: bool = False):
    from geo.schema import Community

    cols = [Grid.id, Grid.code, Grid.community_id, Community.street_id]
    stmt = select(*cols, *( [Grid.geom] if with_geom else [])).join(
        Community, Community.id == Grid.community_id).where(Grid.id.in_(ids))
    df = store.read_frame(engine, stmt)
    return store.to_gdf(df) if with_geom else df


# --------------------------------------------------------------------------- reading

def get(engine: Engine, ticket_id: int, *, scope: Scope | None = None) -> dict[str, Any]:
    """One ticket as a dict (geometry as shapely). Outside the caller's scope it does not exist."""
    stmt = select(*[Ticket.__table__.c[c] for c in _COLUMNS]).where(Ticket.id == ticket_id)
    if scope is not None:
        stmt = stmt.where(scope.clause(Ticket.__table__))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFoundError(f"工单 {ticket_id} 不存在或不在您的管辖范围内 / no such ticket in your area")
    return dict(row)


def history(engine: Engine, ticket_id: int) -> pd.DataFrame:
    """The ticket's history, oldest first."""
    t = TicketEvent.__table__
    return store.read_frame(engine, select(t.c.at, t.c.actor, t.c.actor_role, t.c.action, t.c.from_state,
                                           t.c.to_state, t.c.note)
                            .where(t.c.ticket_id == ticket_id).order_by(t.c.at, t.c.id))


def query(engine: Engine, *, now: datetime, scope: Scope | None = None, states: list[str] | None = None,
          categories: list[str] | None = None, community_id: int | None = None, grid_id: int | None = None,
          min_age_days: float | None = None, overdue_only: bool = False, open_only: bool = False,
          limit: int | None = None):
    """Tickets filtered as the desk asks, newest first, with ``overdue`` and ``age_days``."""
    t = Ticket.__table__
    stmt = select(*[t.c[c] for c in _COLUMNS if c != "description"], t.c.description)
    if scope is not None:
        stmt = stmt.where(scope.clause(t))
    if states:
        stmt = stmt.where(t.c.state.in_(states))
    if open_only or overdue_only:
        stmt = stmt.where(t.c.state.in_(workflow.OPEN_STATES))
    if overdue_only:
        stmt = stmt.where(t.c.due_at < now)
    if categories:
        stmt = stmt.where(t.c.category.in_(categories))
    if community_id is not None:
        stmt = stmt.where(t.c.community_id == community_id)
    if grid_id is not None:
        stmt = stmt.where(t.c.grid_id == grid_id)
    if min_age_days:
        stmt = stmt.where(t.c.created_at <= now - timedelta(days=min_age_days))
    stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    gdf = store.to_gdf(store.read_frame(engine, stmt))
    gdf["overdue"] = workflow.overdue(gdf["state"], gdf["due_at"], now) if len(gdf) else []
    gdf["age_days"] = ((pd.Timestamp(now) - pd.to_datetime(gdf["created_at"])).dt.total_seconds() / 86400
                       if len(gdf) else [])
    return gdf


# --------------------------------------------------------------------------- writing

def report(engine: Engine, *, category: str, description: str, lon: float, lat: float, now: datetime,
           urgent: bool = False, reporter_name: str | None = None, reporter_phone: str | None = None,
           photo: str | None = None, source: str = "resident", workflow_key: str | None = None,
           tolerance_m: float = ROUTING_TOLERANCE_M, conn: Connection | None = None) -> dict[str, Any]:
    """Take a new report: route it by place, store it with its first event. Returns the ticket.

    ``conn``: write in the caller's open transaction instead of a new one (a
    visit and the ticket it opens are stored together or not at all).
    """
    where = route(engine, lon, lat, tolerance_m=tolerance_m)
    t, event = tickets.new_ticket(
        category=category, description=description, created=now, urgent=urgent, workflow_key=workflow_key,
        source=source, reporter_name=reporter_name, reporter_phone=reporter_phone, photo=photo,
        geom=shapely.Point(lon, lat), grid_id=where.grid_id, community_id=where.community_id,
        street_id=where.street_id, routing_flag=where.flag)
    with nullcontext(conn) if conn is not None else engine.begin() as conn:
        row = store.with_bbox([t])[0]
        placeholder = f"NEW-{uuid.uuid4().hex[:16]}"  # the code carries the id, known after insert
        tid = conn.execute(insert(Ticket).returning(Ticket.id), [{**row, "code": placeholder}]).scalar_one()
        code = f"GD{now:%Y%m%d}{tid:05d}"
        conn.execute(update(Ticket).where(Ticket.id == tid).values(code=code))
        conn.execute(insert(TicketEvent), [{**event, "ticket_id": tid}])
        audit.ticket_changed(conn, {**t, "id": tid, "code": code}, event)
    return {**t, "id": tid, "code": code}


def act(engine: Engine, ticket_id: int, action: str, actor: tickets.Actor, *, expected_version: int,
        now: datetime, scope: Scope | None = None, **details: Any) -> dict[str, Any]:
    """Make one move on a ticket, if nobody changed it since ``expected_version`` was read.

    ``details`` go to ``tickets.apply`` (note, rating, assignee_id, department,
    merged_into_id). A merge also writes an event on the ticket kept, so both
    histories show the link.
    """
    with engine.begin() as conn:
        t = _load_for_update(conn, ticket_id, expected_version, scope)
        if action == "assign" and details.get("assignee_id") and "assignee_is_party_member" not in details:
            role = conn.execute(select(Person.role).where(Person.id == details["assignee_id"])).scalar()
            details["assignee_is_party_member"] = role == "party_member"
        if action == "merge":
            _check_merge_target(conn, t, details.get("merged_into_id"))
        event = tickets.apply(t, action, actor, now, **details)
        _save(conn, t, expected_version, event)
        if action == "merge":
            target = conn.execute(select(Ticket.state).where(Ticket.id == details["merged_into_id"])).scalar_one()
            conn.execute(insert(TicketEvent), [dict(
                ticket_id=details["merged_into_id"], at=now, actor=actor.name, actor_role=actor.role,
                action="merged_from", from_state=target, to_state=target,
                note=f"合并了重复工单 {t['code']}：{details.get('note') or ''}")])
    return t


def arrive(engine: Engine, ticket_id: int, actor: tickets.Actor, *, expected_version: int, now: datetime,
           scope: Scope | None = None) -> dict[str, Any]:
    """Record that the party member is on site (the 30-minute promise)."""
    with engine.begin() as conn:
        t = _load_for_update(conn, ticket_id, expected_version, scope)
        event = tickets.record_arrival(t, actor, now)
        _save(conn, t, expected_version, event)
    return t


def escalate_due(engine: Engine, now: datetime, *, scope: Scope | None = None) -> list[int]:
    """Let the clock escalate every urgent or step-overdue ticket. Returns the ids moved.

    Idempotent: a ticket moved once is in a new step with a new limit. A
    ticket someone else changed meanwhile is skipped, not overwritten.
    """
    t = Ticket.__table__
    stmt = select(t.c.id, t.c.version, t.c.state, t.c.urgent, t.c.step_due_at, t.c.workflow).where(
        t.c.state.in_(("reported", "grid_accepted", "community_dispatched")),
        or_(t.c.urgent.is_(True), t.c.step_due_at < now))
    if scope is not None:
        stmt = stmt.where(scope.clause(t))
    moved = []
    for row in store.read_frame(engine, stmt).to_dict("records"):
        if tickets.escalation_due(row, now) is None:
            continue
        try:
            act(engine, int(row["id"]), "escalate", tickets.SYSTEM_ACTOR, expected_version=int(row["version"]),
                now=now, note="超过本环节时限，自动升级" if not row["urgent"] else "急事直报社区")
            moved.append(int(row["id"]))
        except ConcurrentEditError:
            continue
    return moved


def _load_for_update(conn, ticket_id: int, expected_version: int, scope: Scope | None) -> dict[str, Any]:
    stmt = select(*[Ticket.__table__.c[c] for c in _COLUMNS]).where(Ticket.id == ticket_id)
    if scope is not None:
        stmt = stmt.where(scope.clause(Ticket.__table__))
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFoundError(f"工单 {ticket_id} 不存在或不在您的管辖范围内 / no such ticket in your area")
    if row["version"] != expected_version:
        raise ConcurrentEditError(_CONFLICT)
    return dict(row)


_CONFLICT = "该工单刚被他人处理过，您的操作未保存。请刷新查看最新状态后再操作。 / Someone else changed this ticket; nothing was saved. Reload and try again."


def _save(conn, t: dict[str, Any], expected_version: int, event: dict[str, Any]) -> None:
    """Write the ticket only if its version is still the one read; then its event."""
    values = {k: v for k, v in t.items() if k not in ("id", "geom", "code", "minx", "miny", "maxx", "maxy")}
    done = conn.execute(update(Ticket.__table__).where(
        and_(Ticket.__table__.c.id == t["id"], Ticket.__table__.c.version == expected_version)).values(**values))
    if done.rowcount != 1:
        raise ConcurrentEditError(_CONFLICT)
    conn.execute(insert(TicketEvent), [{**event, "ticket_id": t["id"]}])
    audit.ticket_changed(conn, t, event)


def _check_merge_target(conn, t: dict[str, Any], target_id: int | None) -> None:
    if not target_id or target_id == t["id"]:
        raise ValidationError("请选择要合并到的另一张工单 / choose another ticket to merge into")
    target = conn.execute(select(Ticket.state, Ticket.category).where(Ticket.id == target_id)).first()
    if target is None:
        raise NotFoundError(f"工单 {target_id} 不存在 / no such ticket")
    if not workflow.is_open(target.state):
        raise ValidationError("只能合并到未办结的工单 / merge into an open ticket")


# --------------------------------------------------------------------------- suggestions

def duplicates(engine: Engine, *, category: str, lon: float, lat: float, now: datetime,
               radius_m: float = DUPLICATE_RADIUS_M, days: float = DUPLICATE_DAYS,
               exclude_id: int | None = None) -> pd.DataFrame:
    """Open tickets of the same category reported nearby recently: likely the same problem."""
    pad = radius_m / 90_000
    ids = store.ids_intersecting(engine, Ticket, shapely.box(lon - pad, lat - pad, lon + pad, lat + pad))
    if not ids:
        return pd.DataFrame(columns=["id", "code", "state", "created_at", "description", "distance_m"])
    t = Ticket.__table__
    df = store.to_gdf(store.read_frame(engine, select(
        t.c.id, t.c.code, t.c.state, t.c.created_at, t.c.description, t.c.geom).where(
        t.c.id.in_(ids), t.c.category == category, t.c.state.in_(workflow.OPEN_STATES),
        t.c.created_at >= now - timedelta(days=days))))
    if exclude_id is not None:
        df = df[df["id"] != exclude_id]
    if df.empty:
        return pd.DataFrame(df.drop(columns="geometry"))
    x, y = projection.lonlat_to_metric([lon], [lat])
    df["distance_m"] = projection.to_metric(df).distance(shapely.Point(x[0], y[0])).round(1).to_numpy()
    df = df[df["distance_m"] <= radius_m].sort_values("distance_m")
    return pd.DataFrame(df.drop(columns="geometry"))


def suggest_assignees(engine: Engine, ticket_id: int, *, n: int = 5) -> pd.DataFrame:
    """Available party members and volunteers bound to the ticket's grid, nearest first.

    Distance is from the ticket to the building the party member lives in
    (双报到: they register where they live); volunteers, whose homes are not
    recorded, follow at the grid's distance. Current open assignments are
    shown so work is spread.
    """
    t = get(engine, ticket_id)
    people = store.read_frame(engine, select(
        Person.id, Person.name, Person.role, Person.phone, Building.entrance_lon, Building.entrance_lat)
        .outerjoin(Resident, Resident.id == Person.resident_id)
        .outerjoin(Household, Household.id == Resident.household_id)
        .outerjoin(Building, Building.id == Household.building_id)
        .where(Person.grid_id == t["grid_id"], Person.available.is_(True),
               Person.role.in_(("party_member", "volunteer"))))
    if people.empty:
        return people
    load = store.read_frame(engine, select(Ticket.assignee_id, func.count().label("open_tickets"))
                            .where(Ticket.state.in_(workflow.OPEN_STATES), Ticket.assignee_id.is_not(None))
                            .group_by(Ticket.assignee_id))
    people = people.merge(load, left_on="id", right_on="assignee_id", how="left").drop(columns="assignee_id")
    people["open_tickets"] = people["open_tickets"].fillna(0).astype(int)
    tx, ty = projection.lonlat_to_metric([t["geom"].x], [t["geom"].y])
    px, py = projection.lonlat_to_metric(people["entrance_lon"].fillna(t["geom"].x),
                                         people["entrance_lat"].fillna(t["geom"].y))
    dist = np.hypot(px - tx[0], py - ty[0])
    people["distance_m"] = np.where(people["entrance_lon"].isna(), np.nan, dist.round(0))
    people = people.sort_values(["distance_m", "open_tickets", "id"], na_position="last")
    return people.drop(columns=["entrance_lon", "entrance_lat"]).head(n).reset_index(drop=True)


# --------------------------------------------------------------------------- display

def listing(gdf, engine: Engine, lang: str = "zh") -> pd.DataFrame:
    """The desk's table: readable names, no personal data, deadlines and overdue flag."""
    from geo.categories import CATEGORIES

    grid_names = dict(store.read_frame(engine, select(Grid.id, Grid.name)).itertuples(index=False))
    zh = lang == "zh"
    cols = {
        "id": "ID", "code": "工单号" if zh else "Code",
        "category": "类别" if zh else "Category", "state": "状态" if zh else "State",
        "grid_id": "网格" if zh else "Grid", "urgent": "紧急" if zh else "Urgent",
        "created_at": "上报时间" if zh else "Reported", "due_at": "办理时限" if zh else "Due",
        "overdue": "超期" if zh else "Overdue", "age_days": "已历时(天)" if zh else "Age (days)",
        "description": "描述" if zh else "Description",
    }
    out = pd.DataFrame(gdf)[list(cols)].copy()
    out["category"] = out["category"].map(lambda k: CATEGORIES[k].name(lang))
    out["state"] = out["state"].map(lambda k: workflow.STATES[k].name(lang))
    out["grid_id"] = out["grid_id"].map(grid_names)
    out["age_days"] = out["age_days"].round(1)
    return out.rename(columns=cols)


def history_table(engine: Engine, ticket_id: int, lang: str = "zh") -> pd.DataFrame:
    """The history as people read it: time, who, what (the move's name), from → to, note."""
    h = history(engine, ticket_id)
    wf_key = get(engine, ticket_id)["workflow"]
    names = {m.action: m.name(lang) for m in workflow.workflow(wf_key).moves}
    names.update(report=("群众上报" if lang == "zh" else "Reported"),
                 arrive=("党员到场" if lang == "zh" else "Arrived on site"),
                 merged_from=("合并了重复工单" if lang == "zh" else "Duplicate merged in"))
    state = {k: s.name(lang) for k, s in workflow.STATES.items()}
    zh = lang == "zh"
    return pd.DataFrame({
        "时间" if zh else "Time": pd.to_datetime(h["at"]).dt.strftime("%m-%d %H:%M"),
        "办理人" if zh else "By": h["actor"],
        "操作" if zh else "Action": h["action"].map(names).fillna(h["action"]),
        "状态" if zh else "State": h["from_state"].map(state).fillna("—") + " → " + h["to_state"].map(state),
        "意见" if zh else "Note": h["note"].fillna(""),
    })
