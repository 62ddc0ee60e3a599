"""The ticket service: report, route, act, escalate, merge, assign — on the database.

Entry points (pages, api.py) call these with plain values and get plain
values or domain errors back. Every write is one transaction; every change
of a ticket is guarded by its version (optimistic locking): two people acting
on the same ticket at once, one wins and the other gets ConcurrentEditError
with nothing written.

Every reader and writer takes ``scope`` as a required keyword (a
``geo.access.roles.Scope``; ``roles.WHOLE_STREET`` for system jobs), so no caller can
forget it and see the whole street by accident. Outside its scope a ticket
does not exist (NotFoundError).

The clock: ``escalate_due(engine, now)`` makes every escalation that has
fallen due, for the whole street, each stamped at the moment it fell due.
app.py runs it once a minute, whichever page loads (one indexed query when
nothing is due), and cron can run
``python -m geo.tickets.service escalate``.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Connection, Engine, Float, and_, bindparam, case, false, func, insert, literal_column, or_, select, text, update)
from sqlalchemy.dialects.postgresql import ARRAY

from geo.access import audit
from geo.place import projection
from geo.db import store
from geo.tickets import routing, rules, workflow
from geo.errors import ConcurrentEditError, NotFoundError, OutsideAreaError, ValidationError
from geo.access.masks import mask_name, mask_phone
from geo.access.roles import WHOLE_STREET, Scope
from geo.db.schema import SRID, Building, Community, Grid, Household, Person, Resident, Ticket, TicketEvent

#: A point this close outside every grid is still routed to the nearest grid (and flagged).
ROUTING_TOLERANCE_M = 30.0
#: Open tickets of the same category this close are suggested as duplicates.
DUPLICATE_RADIUS_M = 100.0
DUPLICATE_DAYS = 14
#: Rows the desk draws on screen (overdue first); an export always holds every matching ticket.
DESK_ROWS = 1000

_COLUMNS = [c.name for c in Ticket.__table__.c if c.name not in ("minx", "miny", "maxx", "maxy")]


@dataclass(frozen=True)
class Routing:
    """Where a reported point belongs, and how sure we are."""

    grid_id: int
    community_id: int
    street_id: int
    flag: str | None  # None: inside one grid; "boundary": on a shared edge; "snapped": just outside
    distance_m: float = 0.0
    #: The ticket loop the community runs (Community.workflow; None: the default) — read with the grid.
    workflow: str | None = field(default=None, compare=False)


# --------------------------------------------------------------------------- routing

def route(engine: Engine | Connection, lon: float, lat: float, *, tolerance_m: float = ROUTING_TOLERANCE_M) -> Routing:
    """The grid, community and street of a point (point-in-polygon, deterministic).

    ``engine`` may be the caller's open Connection: a report written in the caller's transaction
    routes on that same connection, so a busy server never holds one connection while it waits for
    a second from the pool (with every request doing so, the pool runs dry and they all wait).

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
                       "boundary" if len(ids) > 1 else None, workflow=_workflow_key(best))
    pad = routing.pad_degrees(tolerance_m)
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
                           float(best.dist), workflow=_workflow_key(best))
    raise OutsideAreaError(
        f"该位置不在本街道任何网格内（{lon:.6f}, {lat:.6f}），请在地图上重新选点 / "
        "this point is outside every grid of the street")


def route_many(engine: Engine | Connection, lon, lat, *, tolerance_m: float = ROUTING_TOLERANCE_M) -> pd.DataFrame:
    """``route`` for many points at once: one row per point, in order (geo.tickets.routing.COLUMNS:
    grid_id, community_id, street_id, flag, distance_m, workflow).

    Same answers as ``route`` point for point; where ``route`` refuses, the row says why instead of
    raising (flag ``"outside"``, or ``"invalid"`` for a coordinate that is no lon-lat; grid_id NA),
    so one bad order does not stop a batch. One query reads the grids near the points (their box
    padded by the tolerance: the GiST index on PostGIS, the bounding-box columns on SQLite), then
    the points are routed in memory on both backends (routing.route_points: shapely STRtree, whole
    arrays). ``engine`` may be the caller's open Connection, as for ``route``.
    """
    x, y = routing.as_arrays(lon, lat)
    ok = routing.valid_lonlat(x, y)
    cols = [Grid.id, Grid.code, Grid.community_id, Community.street_id, Community.workflow, Grid.geom]
    stmt = select(*cols).join(Community, Community.id == Grid.community_id)
    pad = routing.pad_degrees(tolerance_m)
    if not ok.any():
        stmt = stmt.where(false())
    elif store.is_postgis(engine) and ok.sum() <= JOIN_MAX_POINTS:
        stmt = stmt.where(Grid.id.in_(_grids_near_points(x[ok], y[ok], pad)))
    else:
        box = (x[ok].min() - pad, y[ok].min() - pad, x[ok].max() + pad, y[ok].max() + pad)
        stmt = stmt.where(store.in_box(engine, Grid.__table__, box))
    grids = store.to_gdf(store.read_frame(engine, stmt))
    return routing.route_points(grids, x, y, tolerance_m=tolerance_m)


#: Up to this many points, PostGIS finds the grids near each point (one join of the points against the
#: GiST index) instead of reading every grid in the batch's bounding box: a 12345 batch of 1,000 orders
#: spread over a city then reads the grids around them, not the city's 18,000 (0.03 s against 0.16 s;
#: bench/routing_bench.py --url). At 10,000 orders over the city the box was cheaper (0.17 s against
#: 0.20 s): the points then cover their box anyway.
JOIN_MAX_POINTS = 5_000


def _grids_near_points(x: np.ndarray, y: np.ndarray, pad: float):
    """The ids of grids whose box meets some point's box of ``pad`` degrees: every grid that can cover a
    point or be snapped to (routing.route_points then decides among exactly these, so the answers are the
    bounding-box read's). The points go as two arrays (unnest), one statement however many."""
    points = (select(literal_column("u.x").label("x"), literal_column("u.y").label("y"))
              .select_from(text("unnest(:xs, :ys) AS u(x, y)")
                           .bindparams(bindparam("xs", x.tolist(), type_=ARRAY(Float)),
                                       bindparam("ys", y.tolist(), type_=ARRAY(Float))))
              .subquery("p"))
    box = func.ST_Expand(func.ST_SetSRID(func.ST_MakePoint(points.c.x, points.c.y), SRID), pad)
    return select(Grid.id).join(points, Grid.geom.op("&&")(box)).distinct()


def as_routings(routed: pd.DataFrame) -> list[Routing | None]:
    """``route_many``'s rows as ``route`` would give them (None where ``route`` refuses: outside, invalid),
    so a batch routed once stores each ticket with its answer instead of routing it again."""
    out: list[Routing | None] = []
    for r in routed.itertuples(index=False):
        if r.flag in (routing.OUTSIDE, routing.INVALID):
            out.append(None)
        else:
            out.append(Routing(int(r.grid_id), int(r.community_id), int(r.street_id), r.flag,
                               float(r.distance_m) if r.flag == routing.SNAPPED else 0.0, workflow=r.workflow))
    return out


def _grid_rows(engine: Engine | Connection, ids: list[int], with_geom: bool = False):
    cols = [Grid.id, Grid.code, Grid.community_id, Community.street_id, Community.workflow]
    stmt = select(*cols, *( [Grid.geom] if with_geom else [])).join(
        Community, Community.id == Grid.community_id).where(Grid.id.in_(ids))
    df = store.read_frame(engine, stmt)
    return store.to_gdf(df) if with_geom else df


def _workflow_key(row) -> str | None:
    """The routed grid's community loop, read in the same query (None, or NaN from pandas: the default)."""
    key = row["workflow"]
    return key if isinstance(key, str) and key else None


# --------------------------------------------------------------------------- reading

_NOT_FOUND = "工单 {id} 不存在或不在您的管辖范围内 / no such ticket in your area"


def get(engine: Engine, ticket_id: int, *, scope: Scope) -> dict[str, Any]:
    """One ticket as a dict (geometry as shapely). Outside the caller's scope it does not exist."""
    stmt = select(*[Ticket.__table__.c[c] for c in _COLUMNS]).where(
        Ticket.id == ticket_id, scope.clause(Ticket.__table__))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFoundError(_NOT_FOUND.format(id=ticket_id))
    return dict(row)


def history(engine: Engine, ticket_id: int, *, scope: Scope) -> pd.DataFrame:
    """The ticket's history, oldest first (the ticket must be in ``scope``)."""
    get(engine, ticket_id, scope=scope)
    t = TicketEvent.__table__
    return store.read_frame(engine, select(t.c.at, t.c.actor, t.c.actor_role, t.c.action, t.c.from_state,
                                           t.c.to_state, t.c.note, t.c.rating)
                            .where(t.c.ticket_id == ticket_id).order_by(t.c.at, t.c.id))


def query(engine: Engine, *, now: datetime, scope: Scope, states: list[str] | None = None,
          categories: list[str] | None = None, community_id: int | None = None, grid_id: int | None = None,
          min_age_days: float | None = None, overdue_only: bool = False, open_only: bool = False,
          search: str | None = None, limit: int | None = None, actionable_by: rules.Actor | None = None):
    """Tickets filtered as the desk asks, with ``overdue`` and ``age_days``.

    ``actionable_by``: only the tickets that actor can move now (待我办理): a state in which
    their workflow role has a move (rules.actionable_states), and for a handler only the
    tickets assigned to them.

    Ordered as a desk works: overdue first, then tickets still owing work by
    their deadline (soonest first), then those awaiting the resident's
    rating, then closed ones newest first. ``search``
    matches the ticket code or the description. No ``limit`` means every
    matching ticket (an export must never stop short).
    """
    t = Ticket.__table__
    stmt = select(*[t.c[c] for c in _COLUMNS if c != "description"], t.c.description).where(scope.clause(t))
    if states:
        stmt = stmt.where(t.c.state.in_(states))
    if open_only:
        stmt = stmt.where(t.c.state.in_(workflow.OPEN_STATES))
    if overdue_only:
        stmt = stmt.where(t.c.state.in_(workflow.OVERDUE_STATES), t.c.due_at < now)
    if actionable_by is not None:
        stmt = stmt.where(_actionable(t, actionable_by))
    if categories:
        stmt = stmt.where(t.c.category.in_(categories))
    if community_id is not None:
        stmt = stmt.where(t.c.community_id == community_id)
    if grid_id is not None:
        stmt = stmt.where(t.c.grid_id == grid_id)
    if min_age_days:
        stmt = stmt.where(t.c.created_at <= now - timedelta(days=min_age_days))
    if search and search.strip():
        stmt = stmt.where(or_(t.c.code.contains(search.strip(), autoescape=True),
                              t.c.description.contains(search.strip(), autoescape=True)))
    is_open = t.c.state.in_(workflow.OPEN_STATES)
    owing = t.c.state.in_(workflow.OVERDUE_STATES)
    first = case((and_(owing, t.c.due_at < now), 0), (owing, 1), (is_open, 2), else_=3)  # overdue, work owed,
    # awaiting the rating, closed
    stmt = stmt.order_by(first, case((is_open, t.c.due_at), else_=None).asc().nulls_last(),
                         t.c.created_at.desc(), t.c.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    gdf = store.to_gdf(store.read_frame(engine, stmt))
    gdf["overdue"] = workflow.overdue(gdf["state"], gdf["due_at"], now) if len(gdf) else []
    gdf["age_days"] = ((pd.Timestamp(now) - pd.to_datetime(gdf["created_at"])).dt.total_seconds() / 86400
                       if len(gdf) else [])
    return gdf


def _actionable(t, actor: rules.Actor):
    """WHERE the ticket is one ``actor`` can move now (see query's ``actionable_by``)."""
    default = workflow.DEFAULT_WORKFLOW.key
    per_loop = [and_(or_(t.c.workflow == key, t.c.workflow.is_(None)) if key == default else t.c.workflow == key,
                     t.c.state.in_(states))
                for key, states in rules.actionable_states(actor).items() if states]
    where = or_(*per_loop) if per_loop else false()
    if actor.role == workflow.HANDLER:
        where = and_(where, t.c.assignee_id == actor.person_id) if actor.person_id is not None else false()
    return where


# --------------------------------------------------------------------------- writing

def report(engine: Engine, *, category: str, description: str, lon: float, lat: float, now: datetime,
           urgent: bool = False, reporter_name: str | None = None, reporter_phone: str | None = None,
           photo: str | None = None, source: str = "resident", workflow_key: str | None = None,
           tolerance_m: float = ROUTING_TOLERANCE_M, by: rules.Actor | None = None,
           conn: Connection | None = None, where: Routing | None = None) -> dict[str, Any]:
    """Take a new report: route it by place, store it with its first event. Returns the ticket.

    ``by`` is the signed-in member of staff who entered it: the history and
    the audit log name them (the audit under their user name), while the
    typed contact name stays in ``reporter_name``. The loop is the one the
    routed community runs unless ``workflow_key`` says otherwise.
    ``conn``: write in the caller's open transaction instead of a new one (a
    visit and the ticket it opens are stored together or not at all).
    ``where``: the point's routing, when the caller routed a batch at once (``as_routings``).
    """
    if where is None:
        where = route(conn if conn is not None else engine, lon, lat, tolerance_m=tolerance_m)
    t, event = rules.new_ticket(
        category=category, description=description, created=now, urgent=urgent,
        workflow_key=workflow_key or where.workflow, source=source,
        reporter_name=reporter_name, reporter_phone=reporter_phone, photo=photo, by=by,
        geom=shapely.Point(lon, lat), grid_id=where.grid_id, community_id=where.community_id,
        street_id=where.street_id, routing_flag=where.flag)
    with nullcontext(conn) if conn is not None else engine.begin() as conn:
        row = store.with_bbox([t])[0]
        placeholder = f"NEW-{uuid.uuid4().hex[:16]}"  # the code carries the id, known after insert
        tid = conn.execute(insert(Ticket).returning(Ticket.id), [{**row, "code": placeholder}]).scalar_one()
        code = f"GD{now:%Y%m%d}{tid:05d}"
        conn.execute(update(Ticket).where(Ticket.id == tid).values(code=code))
        _write_event(conn, {**t, "id": tid, "code": code}, event)
    return {**t, "id": tid, "code": code}


def act(engine: Engine, ticket_id: int, action: str, actor: rules.Actor, *, expected_version: int,
        now: datetime, scope: Scope, **details: Any) -> dict[str, Any]:
    """Make one move on a ticket, if nobody changed it since ``expected_version`` was read.

    ``details`` go to ``tickets.apply`` (note, rating, assignee_id, department,
    merged_into_id). A merge also writes an event on the ticket kept, so both
    histories show the link; the kept ticket must be open, of the same
    category and inside the actor's scope, and its event is audited too.
    A merge locks both tickets (in id order) before reading either, so A→B
    and B→A made at the same moment cannot both go through: the second one
    finds its target merged away and is refused (ConcurrentEditError).
    """
    with engine.begin() as conn:
        if action == "merge" and details.get("merged_into_id"):
            store.lock_rows(conn, Ticket.__table__, [ticket_id, details["merged_into_id"]])
        t = _load_for_update(conn, ticket_id, expected_version, scope)
        if action == "assign" and details.get("assignee_id") and "assignee_is_party_member" not in details:
            role = conn.execute(select(Person.role).where(Person.id == details["assignee_id"])).scalar()
            details["assignee_is_party_member"] = role == "party_member"
        kept = _check_merge_target(conn, t, details.get("merged_into_id"), scope) if action == "merge" else None
        event = rules.apply(t, action, actor, now, **details)
        _save(conn, t, expected_version, event)
        if kept is not None:
            _write_event(conn, kept, dict(
                at=now, actor=actor.name, actor_role=actor.role, action="merged_from", from_state=kept["state"],
                to_state=kept["state"], note=f"合并了重复工单 {t['code']}：{details.get('note') or ''}",
                rating=None, username=actor.audit_name))
    return t


def arrive(engine: Engine, ticket_id: int, actor: rules.Actor, *, expected_version: int, now: datetime,
           scope: Scope) -> dict[str, Any]:
    """Record that the party member is on site (the 30-minute promise); only they may."""
    with engine.begin() as conn:
        t = _load_for_update(conn, ticket_id, expected_version, scope)
        event = rules.record_arrival(t, actor, now)
        _save(conn, t, expected_version, event)
    return t


def escalate_due(engine: Engine, now: datetime, *, scope: Scope = WHOLE_STREET) -> list[int]:
    """Let the clock make every escalation that has fallen due by ``now``. Returns the ids moved.

    Each escalation is stamped at the moment it fell due (the step's deadline,
    or the moment an urgent ticket entered its step), by the actor "系统",
    whenever this runs; a ticket whose next step also ran out meanwhile moves
    on again (a weekend without a page load catches up correctly).
    Idempotent, and safe to run from many pages and cron at once: a ticket
    someone else changed meanwhile is skipped, not overwritten.
    """
    t = Ticket.__table__
    stmt = select(t.c.id).where(scope.clause(t), or_(
        and_(t.c.state.in_(workflow.escalating_states()), t.c.step_due_at <= now),
        and_(t.c.state.in_(workflow.escalating_states(urgent=True)), t.c.urgent.is_(True))))
    with engine.connect() as conn:
        candidates = conn.execute(stmt.order_by(t.c.id)).scalars().all()
    moved = []
    for tid in candidates:
        try:
            row = get(engine, tid, scope=scope)
            while (at := rules.escalation_at(row)) is not None and at <= now:
                note = "急事不出社区：紧急工单自动升级" if row["urgent"] else "超过本环节时限，自动升级"
                row = act(engine, tid, "escalate", rules.SYSTEM_ACTOR, expected_version=row["version"],
                          now=at, scope=scope, note=note)
                if tid not in moved:
                    moved.append(tid)
        except (ConcurrentEditError, NotFoundError):
            continue
    return moved


def _load_for_update(conn, ticket_id: int, expected_version: int, scope: Scope) -> dict[str, Any]:
    stmt = select(*[Ticket.__table__.c[c] for c in _COLUMNS]).where(
        Ticket.id == ticket_id, scope.clause(Ticket.__table__))
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFoundError(_NOT_FOUND.format(id=ticket_id))
    if row["version"] != expected_version:
        raise ConcurrentEditError(CONFLICT)
    return dict(row)


def locked(conn: Connection, ticket_id: int, where) -> dict[str, Any] | None:
    """Lock one ticket for ``conn``'s transaction (geo.db.store.lock_rows), then read it if ``where``
    (an SQL clause: a scope's, or a party member's reach) holds; None otherwise.

    For writers outside this module that decide on the fresh row (a party member's claim,
    geo.people.orders): a second transaction waits at the lock and then reads what the first wrote.
    """
    store.lock_rows(conn, Ticket.__table__, [ticket_id])
    row = conn.execute(select(*[Ticket.__table__.c[c] for c in _COLUMNS]).where(
        Ticket.id == ticket_id, where)).mappings().first()
    return dict(row) if row is not None else None


def save(conn: Connection, t: dict[str, Any], expected_version: int, event: dict[str, Any]) -> None:
    """Write a moved ticket and its event (and audit row) in ``conn``'s transaction, guarded by the version
    it was read at: ConcurrentEditError, and nothing written, if someone changed it since."""
    _save(conn, t, expected_version, event)


#: What a person who acted on an out-of-date page is told (pages show the new state with it).
CONFLICT = ("该工单刚被他人处理过，您的操作未保存。下面是它的最新状态，请确认后再操作。 / "
            "Someone else changed this ticket; nothing was saved. Its new state is shown below.")


def _save(conn, t: dict[str, Any], expected_version: int, event: dict[str, Any]) -> None:
    """Write the ticket only if its version is still the one read; then its event."""
    values = {k: v for k, v in t.items() if k not in ("id", "geom", "code", "minx", "miny", "maxx", "maxy")}
    done = conn.execute(update(Ticket.__table__).where(
        and_(Ticket.__table__.c.id == t["id"], Ticket.__table__.c.version == expected_version)).values(**values))
    if done.rowcount != 1:
        raise ConcurrentEditError(CONFLICT)
    _write_event(conn, t, event)


def _write_event(conn, t: dict[str, Any], event: dict[str, Any]) -> None:
    """Store one history event and its audit row (under the actor's user name), in ``conn``'s transaction."""
    conn.execute(insert(TicketEvent), [{k: v for k, v in event.items() if k != "username"} | {"ticket_id": t["id"]}])
    audit.ticket_changed(conn, t, event)


def _check_merge_target(conn, t: dict[str, Any], target_id: int | None, scope: Scope) -> dict[str, Any]:
    """The ticket a duplicate is merged into: another open ticket of the same category, in scope."""
    if not target_id or target_id == t["id"]:
        raise ValidationError("请选择要合并到的另一张工单 / choose another ticket to merge into")
    target = conn.execute(select(Ticket.id, Ticket.code, Ticket.state, Ticket.category, Ticket.grid_id).where(
        Ticket.id == target_id, scope.clause(Ticket.__table__))).mappings().first()
    if target is None:
        raise NotFoundError(_NOT_FOUND.format(id=target_id))
    if not workflow.is_open(target["state"]):  # the desk offers open tickets only: someone changed it since
        state = workflow.STATES[target["state"]].name_zh
        raise ConcurrentEditError(f"要合并到的工单 {target['code']} 已是「{state}」（刚被他人处理），不能再合并到它；"
                                  f"本次未保存，请刷新后重新选择 / ticket {target['code']} is no longer open (someone "
                                  "just changed it); nothing was saved, choose again")
    if target["category"] != t["category"]:
        raise ValidationError("只能合并同一类别的工单 / merge into a ticket of the same category")
    return dict(target)


# --------------------------------------------------------------------------- suggestions

_DUP_COLUMNS = ["id", "code", "state", "created_at", "description", "distance_m"]


def _nearby_open(engine: Engine, *, category: str, lon: float, lat: float, now: datetime, radius_m: float,
                 days: float, exclude_id: int | None, where) -> pd.DataFrame:
    pad = routing.pad_degrees(radius_m)
    ids = store.ids_intersecting(engine, Ticket, shapely.box(lon - pad, lat - pad, lon + pad, lat + pad))
    ids = [i for i in ids if i != exclude_id]
    if not ids:
        return pd.DataFrame(columns=_DUP_COLUMNS)
    t = Ticket.__table__
    df = store.to_gdf(store.read_frame(engine, select(
        t.c.id, t.c.code, t.c.state, t.c.created_at, t.c.description, t.c.geom).where(
        t.c.id.in_(ids), t.c.category == category, t.c.state.in_(workflow.OPEN_STATES),
        t.c.created_at >= now - timedelta(days=days), where)))
    if df.empty:
        return pd.DataFrame(columns=_DUP_COLUMNS)
    x, y = projection.lonlat_to_metric([lon], [lat])
    df["distance_m"] = projection.to_metric(df).distance(shapely.Point(x[0], y[0])).round(1).to_numpy()
    df = df[df["distance_m"] <= radius_m].sort_values("distance_m")
    return pd.DataFrame(df.drop(columns="geometry"))[_DUP_COLUMNS].reset_index(drop=True)


def duplicates(engine: Engine, *, scope: Scope, category: str, lon: float, lat: float, now: datetime,
               radius_m: float = DUPLICATE_RADIUS_M, days: float = DUPLICATE_DAYS,
               exclude_id: int | None = None) -> pd.DataFrame:
    """Open tickets of the same category reported nearby recently, inside ``scope``: likely the same problem."""
    return _nearby_open(engine, category=category, lon=lon, lat=lat, now=now, radius_m=radius_m, days=days,
                        exclude_id=exclude_id, where=scope.clause(Ticket.__table__))


def duplicates_elsewhere(engine: Engine, *, scope: Scope, category: str, lon: float, lat: float,
                         now: datetime, radius_m: float = DUPLICATE_RADIUS_M, days: float = DUPLICATE_DAYS) -> int:
    """How many such tickets lie outside ``scope`` (a count only: their contents are not the caller's)."""
    return len(_nearby_open(engine, category=category, lon=lon, lat=lat, now=now, radius_m=radius_m, days=days,
                            exclude_id=None, where=~scope.clause(Ticket.__table__)))


def suggest_assignees(engine: Engine, ticket_id: int, *, scope: Scope, n: int = 5) -> pd.DataFrame:
    """Available party members and volunteers bound to the ticket's grid, nearest first.

    Distance is from the ticket to the building the party member lives in
    (双报到: they register where they live); volunteers, whose homes are not
    recorded, follow with no distance. Current open assignments are shown so
    work is spread. Phones are masked (138****1234).
    """
    t = get(engine, ticket_id, scope=scope)
    people = store.read_frame(engine, select(
        Person.id, Person.name, Person.role, Person.phone, Building.entrance_lon, Building.entrance_lat)
        .outerjoin(Resident, Resident.id == Person.resident_id)
        .outerjoin(Household, Household.id == Resident.household_id)
        .outerjoin(Building, Building.id == Household.building_id)
        .where(Person.grid_id == t["grid_id"], Person.available.is_(True),
               Person.role.in_(("party_member", "volunteer"))))
    if people.empty:
        return people
    people["phone"] = people["phone"].map(mask_phone)
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


def assignee_label(row, lang: str = "zh") -> str:
    """How the desk names a suggested assignee: name, role, distance (or "same grid" for volunteers)."""
    zh = lang == "zh"
    role = ("党员" if zh else "party member") if row.role == "party_member" else ("志愿者" if zh else "volunteer")
    where = (("本网格" if zh else "this grid") if pd.isna(row.distance_m) else f"{row.distance_m:.0f} m")
    busy = f"，在办 {row.open_tickets}" if zh else f", {row.open_tickets} open"
    return f"{row.name}（{role}，{where}{busy}）" if zh else f"{row.name} ({role}, {where}{busy})"


# --------------------------------------------------------------------------- display

def listing(gdf, engine: Engine, lang: str = "zh") -> pd.DataFrame:
    """The desk's table: readable names, no personal data, deadlines and overdue flag."""
    from geo.tickets.categories import CATEGORIES

    grid_names = dict(store.read_frame(engine, select(Grid.id, Grid.name)).itertuples(index=False))
    zh = lang == "zh"
    cols = {
        "id": "ID", "code": "工单号" if zh else "Code",
        "overdue": OVERDUE_TAG[lang == "zh"], "urgent": URGENT_TAG[lang == "zh"],
        "category": "类别" if zh else "Category", "state": "状态" if zh else "State",
        "grid_id": "网格" if zh else "Grid", "source": "来源" if zh else "Source",
        "created_at": "上报时间" if zh else "Reported", "due_at": "办理时限" if zh else "Due",
        "age_days": "已历时(天)" if zh else "Age (days)",
        "description": "描述" if zh else "Description",
    }
    out = pd.DataFrame(gdf).reindex(columns=list(cols)).copy()
    # tags a person reads (and an export keeps), not True/False checkboxes: the desk colours them
    out["overdue"] = np.where(out["overdue"].fillna(False).astype(bool), OVERDUE_TAG[lang == "zh"], "")
    out["urgent"] = np.where(out["urgent"].fillna(False).astype(bool), URGENT_TAG[lang == "zh"], "")
    out["category"] = out["category"].map(lambda k: CATEGORIES[k].name(lang))
    out["state"] = out["state"].map(lambda k: workflow.STATES[k].name(lang))
    out["grid_id"] = out["grid_id"].map(grid_names)
    out["source"] = out["source"].map(lambda k: rules.source_label(k, lang))
    out["age_days"] = out["age_days"].round(1)
    return out.rename(columns=cols)


#: The desk's tags (column name and the word in it): (English, Chinese).
OVERDUE_TAG, URGENT_TAG = ("Overdue", "超期"), ("Urgent", "紧急")


def history_table(engine: Engine, ticket_id: int, *, scope: Scope, lang: str = "zh") -> pd.DataFrame:
    """The history as people read it: time, who, what (the move's name), from → to, note.

    Residents are shown masked (张*) to everyone; staff by name, as they act
    in office.
    """
    h = history(engine, ticket_id, scope=scope)
    wf = workflow.workflow(get(engine, ticket_id, scope=scope)["workflow"])
    zh = lang == "zh"
    own = {"report": "上报" if zh else "Reported", "arrive": "党员到场" if zh else "Arrived on site",
           "merged_from": "合并了重复工单" if zh else "Duplicate merged in"}

    def move_name(source: str | None, action: str) -> str:  # one action has a name per state (社区派单 / 派发部门)
        move = wf.move(source, action) if source else None
        return move.name(lang) if move else own.get(action, action)

    state = {k: s.name(lang) for k, s in workflow.STATES.items()}
    who = h["actor"].where(h["actor_role"] != workflow.RESIDENT, h["actor"].map(mask_name))
    return pd.DataFrame({
        "时间" if zh else "Time": pd.to_datetime(h["at"]).dt.strftime("%m-%d %H:%M"),
        "办理人" if zh else "By": who,
        "操作" if zh else "Action": [move_name(s, a) for s, a in zip(h["from_state"], h["action"])],
        "状态" if zh else "State": h["from_state"].map(state).fillna("—") + " → " + h["to_state"].map(state),
        "意见" if zh else "Note": h["note"].fillna(""),
    })


# --------------------------------------------------------------------------- cron

def main(argv: list[str] | None = None) -> int:
    """``python -m geo.tickets.service escalate``: the clock's job, for cron (every minute is plenty)."""
    parser = argparse.ArgumentParser(prog="python -m geo.tickets.service", description=main.__doc__)
    parser.add_argument("job", choices=["escalate"])
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or data/shequ.db)")
    parser.add_argument("--now", help="the clock, ISO time (default: now, local time of SHEQU_TZ)")
    args = parser.parse_args(argv)
    from geo import settings

    engine = store.make_engine(args.url or settings.database_url())
    now = datetime.fromisoformat(args.now) if args.now else settings.now()
    moved = escalate_due(engine, now)
    print(f"{now:%Y-%m-%d %H:%M} 自动升级 {len(moved)} 张工单 / escalated {len(moved)} tickets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
