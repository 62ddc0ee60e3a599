"""党员接单: tickets offered to party members, their claims, and arrival on site within 30 minutes.

正安's "群众点单、网格下单、党员接单" and 务川's "党员干部在半小时内上门接单", on the ticket loop:
an open ticket waiting in the grid or the community (geo.tickets.workflow.claimable_states), of a
category a neighbour can help with (geo.tickets.categories.PARTY_CATEGORIES), is *offered* to the
party members bound to its grid and to those whose grid lies within ``OFFER_NEAR_M`` of it. A member
claims it from their phone; the first claim wins: the ticket row is locked, re-read and moved only if
it is still waiting (geo.tickets.service.locked / save), so a second member racing for it is told who
took it and nothing of theirs is written. The claim starts the 30-minute promise (``arrive_by``);
the member records arrival on site, then reports the work done or hands it back with a reason.

Every move is a ticket event with its audit row (ticket.claim, ticket.arrive, …), in one transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine, false, or_, select, update

from geo.access import audit, roles
from geo.db import store
from geo.db.schema import Building, Grid, Household, Person, Resident, Ticket
from geo.errors import ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError
from geo.place import projection
from geo.tickets import categories, rules, service, workflow

#: Tickets this close outside a member's own grid are offered to them too ("in or near their grid").
OFFER_NEAR_M = 300.0
#: Tickets a member may have claimed and not yet reached at once: one can only be on the way to one place.
MAX_ON_THE_WAY = 1

_NOT_OFFERED = "工单 {id} 不存在，或不在您可以接单的范围内（本网格及周边 {m:.0f} 米） / no such ticket within your reach"


class ClaimTakenError(ConcurrentEditError):
    """The ticket was claimed (or moved on) by someone else first: nothing was written."""


# --------------------------------------------------------------------------- who is claiming

def member(engine: Engine, user) -> dict[str, Any]:
    """The party member behind a login: their person row, grid and home (for distances).

    PermissionError for a role that does not claim tickets or a login bound to no party member.
    """
    if not roles.may(user.role, "claim_ticket"):
        raise PermissionError("只有党员可以接单 / only party members claim tickets")
    if user.person_id is None:
        raise PermissionError("您的账号没有绑定党员信息，请联系社区 / your account is bound to no party member")
    p = Person.__table__
    stmt = (select(p.c.id, p.c.name, p.c.grid_id, p.c.community_id, p.c.available, p.c.workplace,
                   Building.entrance_lon.label("home_lon"), Building.entrance_lat.label("home_lat"))
            .outerjoin(Resident, Resident.id == p.c.resident_id)
            .outerjoin(Household, Household.id == Resident.household_id)
            .outerjoin(Building, Building.id == Household.building_id)
            .where(p.c.id == user.person_id, p.c.role == "party_member"))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None or row["grid_id"] is None:
        raise PermissionError("您的账号没有绑定网格中的党员信息，请联系社区 / your account is bound to no party member")
    return dict(row)


def _reach(engine: Engine, who: dict[str, Any], near_m: float):
    """SQL: tickets in the member's grid, or in a nearby grid and within ``near_m`` of the member's grid."""
    grid = store.read_layer(engine, Grid, columns=["id", "geom"], where=Grid.id == who["grid_id"])
    grown = projection.to_metric(grid).buffer(near_m)
    area = projection.to_storage(gpd.GeoDataFrame(geometry=grown, crs=grown.crs)).geometry.iloc[0]
    near = store.ids_intersecting(engine, Ticket, area)
    t = Ticket.__table__
    return or_(t.c.grid_id == who["grid_id"], t.c.id.in_(near) if near else false())


def _offered():
    """SQL: a ticket that waits for a party member (state and category)."""
    t = Ticket.__table__
    return t.c.state.in_(workflow.claimable_states()) & t.c.category.in_(sorted(categories.PARTY_CATEGORIES))


# --------------------------------------------------------------------------- reading

def offers(engine: Engine, user, *, now: datetime, near_m: float = OFFER_NEAR_M) -> pd.DataFrame:
    """Tickets offered to this member now: urgent first, then nearest, then oldest.

    Columns: id, code, category (key), state, urgent, created_at, due_at, grid_id, grid, description,
    version, distance_m (from the member's home building, else from their grid; NaN if unknown),
    own_grid. Nothing personal: no reporter's name or phone. A member who set themselves
    unavailable is offered nothing.
    """
    who = member(engine, user)
    t = Ticket.__table__
    cols = ["id", "code", "category", "state", "urgent", "created_at", "due_at", "grid_id", "description",
            "version"]
    if not who["available"]:
        return pd.DataFrame(columns=[*cols, "grid", "distance_m", "own_grid", "lon", "lat"])
    stmt = (select(*[t.c[c] for c in cols], t.c.minx.label("lon"), t.c.miny.label("lat"),
                   Grid.name.label("grid"))
            .join(Grid, Grid.id == t.c.grid_id)
            .where(_offered(), _reach(engine, who, near_m)))
    df = store.read_frame(engine, stmt)
    df["own_grid"] = df["grid_id"] == who["grid_id"]
    df["distance_m"] = _distances(df, who)
    df["urgent"] = df["urgent"].astype(bool)
    return df.sort_values(["urgent", "distance_m", "created_at"], ascending=[False, True, True],
                          na_position="last", ignore_index=True)


def _distances(df: pd.DataFrame, who: dict[str, Any]) -> np.ndarray:
    """Metres from the member's home entrance to each ticket (NaN without a home on record)."""
    if df.empty or who.get("home_lon") is None:
        return np.full(len(df), np.nan)
    x, y = projection.lonlat_to_metric(df["lon"].to_numpy(), df["lat"].to_numpy())
    hx, hy = projection.lonlat_to_metric([who["home_lon"]], [who["home_lat"]])
    return np.round(np.hypot(np.asarray(x) - hx[0], np.asarray(y) - hy[0]), 0)


def my_tickets(engine: Engine, user, *, now: datetime) -> pd.DataFrame:
    """The member's own open tickets (claimed or assigned to them), with the 30-minute clock.

    ``minutes_left``: minutes until ``arrive_by`` (negative: late) while arrival is awaited.
    """
    who = member(engine, user)
    t = Ticket.__table__
    df = store.read_frame(engine, select(
        t.c.id, t.c.code, t.c.category, t.c.state, t.c.urgent, t.c.description, t.c.assigned_at,
        t.c.arrive_by, t.c.arrived_at, t.c.due_at, t.c.version, t.c.minx.label("lon"), t.c.miny.label("lat"),
        Grid.name.label("grid"))
        .join(Grid, Grid.id == t.c.grid_id)
        .where(t.c.assignee_id == who["id"], t.c.state.in_(workflow.OPEN_STATES))
        .order_by(t.c.assigned_at.desc()))
    waiting = df["arrive_by"].notna() & df["arrived_at"].isna() & (df["state"] == "in_progress")
    left = (pd.to_datetime(df["arrive_by"]) - pd.Timestamp(now)).dt.total_seconds() / 60
    df["minutes_left"] = left.where(waiting).round(0)
    df["urgent"] = df["urgent"].astype(bool)
    return df


def on_the_way(engine: Engine, *, scope, now: datetime) -> pd.DataFrame:
    """Party members who claimed (or were sent to) a ticket and have not arrived yet, in ``scope``.

    Columns: ticket id, code, category, grid_id, lon, lat, member (name: 亮身份, posted on the grid's
    board), assigned_at, arrive_by, minutes_left (negative: late). What the grid head's page lists
    and the big screen rings.
    """
    t = Ticket.__table__
    df = store.read_frame(engine, select(
        t.c.id, t.c.code, t.c.category, t.c.grid_id, t.c.minx.label("lon"), t.c.miny.label("lat"),
        Person.name.label("member"), t.c.assigned_at, t.c.arrive_by)
        .join(Person, Person.id == t.c.assignee_id)
        .where(scope.clause(t), t.c.state == "in_progress", t.c.arrive_by.is_not(None), t.c.arrived_at.is_(None))
        .order_by(t.c.arrive_by))
    df["minutes_left"] = ((pd.to_datetime(df["arrive_by"]) - pd.Timestamp(now)).dt.total_seconds() / 60).round(0)
    return df


# --------------------------------------------------------------------------- writing

def claim(engine: Engine, user, ticket_id: int, *, now: datetime, near_m: float = OFFER_NEAR_M) -> dict[str, Any]:
    """The member takes an offered ticket: in progress, assigned to them, on site by now + 30 minutes.

    One transaction: the member's row and then the ticket's are locked first, so of two members
    claiming at once one wins and the other gets ClaimTakenError naming who took it, and one member
    cannot claim two tickets at once past ``MAX_ON_THE_WAY``. Refused with nothing written: a ticket
    outside the member's reach (NotFoundError), not waiting any more (ClaimTakenError), of a
    category not offered (ValidationError), or while the member is unavailable or still on the way
    to another ticket (ValidationError).
    """
    who = member(engine, user)
    if not who["available"]:
        raise ValidationError("您已设为“暂不接单”，请先切换为可以接单 / you are set as unavailable; switch it back first")
    reach = _reach(engine, who, near_m)
    actor = rules.actor_for(user)
    t_ = Ticket.__table__
    with engine.begin() as conn:
        store.lock_rows(conn, Person.__table__, [who["id"]])
        busy = conn.execute(select(t_.c.code).where(
            t_.c.assignee_id == who["id"], t_.c.state == "in_progress", t_.c.arrive_by.is_not(None),
            t_.c.arrived_at.is_(None))).scalars().all()
        if len(busy) >= MAX_ON_THE_WAY:
            raise ValidationError(f"您接的工单 {busy[0]} 还没有登记到场，请先到场再接新单 / you have not reached "
                                  f"{busy[0]} yet; record your arrival first")
        t = service.locked(conn, ticket_id, reach)
        if t is None:
            raise NotFoundError(_NOT_OFFERED.format(id=ticket_id, m=near_m))
        if t["state"] not in workflow.claimable_states():
            raise ClaimTakenError(_taken(conn, t))
        if t["category"] not in categories.PARTY_CATEGORIES:
            name = categories.CATEGORIES[t["category"]].name_zh
            raise ValidationError(f"「{name}」类工单由职能部门办理，不开放党员接单 / this category is not offered to "
                                  "party members")
        read = t["version"]
        event = rules.apply(t, "claim", actor, now, note=f"党员{who['name']}接单，{limit_minutes()}分钟内到场")
        service.save(conn, t, read, event)
    return t


def _taken(conn, t: dict[str, Any]) -> str:
    """Who took a ticket first (a party member's name is public: 亮身份), or where it went."""
    name = None
    if t.get("assignee_id") is not None:
        name = conn.execute(select(Person.name).where(Person.id == t["assignee_id"])).scalar()
    if t["state"] == "in_progress" and name:
        return (f"工单 {t['code']} 已由党员 {name} 接单，本次未保存；请看看其他待接工单 / {t['code']} was just taken by "
                f"{name}; nothing was saved")
    state = workflow.STATES[t["state"]].name_zh
    return f"工单 {t['code']} 已是「{state}」，不再待接单，本次未保存 / {t['code']} is no longer waiting; nothing was saved"


def arrive(engine: Engine, user, ticket_id: int, *, now: datetime) -> dict[str, Any]:
    """The member is on site: the 30-minute promise kept or broken (the event's note says which)."""
    who = member(engine, user)
    with engine.begin() as conn:
        t = service.locked(conn, ticket_id, Ticket.__table__.c.assignee_id == who["id"])
        if t is None:
            raise NotFoundError(f"工单 {ticket_id} 没有派给您 / ticket {ticket_id} is not yours")
        read = t["version"]
        event = rules.record_arrival(t, rules.actor_for(user), now)
        service.save(conn, t, read, event)
    return t


def finish(engine: Engine, user, ticket_id: int, *, note: str, now: datetime) -> dict[str, Any]:
    """The member reports the work done (办结反馈): the resident rates it next. Arrival comes first."""
    return _move(engine, user, ticket_id, "resolve", note=(note or "").strip() or "已处理完毕", now=now)


def hand_back(engine: Engine, user, ticket_id: int, *, reason: str, now: datetime) -> dict[str, Any]:
    """The member cannot do it (needs a department, not at home …): back for re-dispatch, with a reason."""
    if not (reason or "").strip():
        raise ValidationError("退回须写明原因 / say why you hand it back")
    return _move(engine, user, ticket_id, "return", note=reason.strip(), now=now)


def _move(engine: Engine, user, ticket_id: int, action: str, *, note: str, now: datetime) -> dict[str, Any]:
    who = member(engine, user)
    with engine.begin() as conn:
        t = service.locked(conn, ticket_id, Ticket.__table__.c.assignee_id == who["id"])
        if t is None:
            raise NotFoundError(f"工单 {ticket_id} 没有派给您 / ticket {ticket_id} is not yours")
        if action == "resolve" and t.get("arrive_by") is not None and t.get("arrived_at") is None:
            raise IllegalTransitionError("请先登记到场，再反馈办结 / record your arrival on site first")
        read = t["version"]
        event = rules.apply(t, action, rules.actor_for(user), now, note=note)
        service.save(conn, t, read, event)
    return t


def set_available(engine: Engine, user, available: bool, *, now: datetime) -> None:
    """The member says whether they can take tickets now (on a trip, ill …); audited."""
    who = member(engine, user)
    with engine.begin() as conn:
        conn.execute(update(Person).where(Person.id == who["id"]).values(available=bool(available)))
        audit.record(conn, at=now, username=user.username, role=user.role, action="party.available",
                     object_type="person", object_id=who["id"], grid_id=who["grid_id"],
                     detail="可以接单" if available else "暂不接单")


def limit_minutes() -> int:
    """The promise, in minutes (categories.ARRIVAL_LIMIT), for pages to state."""
    return int(categories.ARRIVAL_LIMIT.total_seconds() // 60)


__all__ = ["OFFER_NEAR_M", "MAX_ON_THE_WAY", "ClaimTakenError", "member", "offers", "my_tickets", "on_the_way",
           "claim", "arrive", "finish", "hand_back", "set_available", "limit_minutes"]
