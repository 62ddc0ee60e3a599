"""The wall down to one grid (issue 19, item 3): who answers for it, who helps, what is open.

The grid's figures are the wall's own (``wall.build`` with ``Scope("grid", ...)``: the same
functions, never a second count); this module adds what only a single grid shows:

- its team (网格长 first, then 网格员 …, geo.people.bindings.TEAM_ROLES): names shown (a grid's
  team is posted on its notice board), phones masked (geo.access.masks) unless ``reveal``;
- its helpers: party members, 联户长, 楼栋长 (geo.people.bindings.HELPER_ROLES) and volunteers
  bound to the grid, with how many households each looks after (包保 / 联户); phones never shown;
- its open tickets, from the wall's own ticket frame: overdue first, then urgent, then the oldest.

Who may see a team member's phone unmasked is geo.access.roles' ``call_grid_team``; the page
also masks on a kiosk (a wall in a room is read by whoever walks by).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from geo.access.masks import mask_phone
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import CareLink, Community, Grid, Person
from geo.maps.layers import category_names
from geo.people.bindings import HELPER_ROLES, TEAM_ROLES
from geo.screen.figures import grid_ids
from geo.tickets import workflow

#: The helpers a grid's card lists, in this order (the people around the grid, issue 17).
HELPERS: tuple[str, ...] = (*HELPER_ROLES, "volunteer")


@dataclass
class GridCard:
    """One grid as the wall shows it beside its figures."""

    grid_id: int
    code: str
    name: str
    community_id: int
    community: str
    team: pd.DataFrame  # role, name, phone (masked unless revealed)
    helpers: pd.DataFrame  # role, name, households (looked after)
    helper_counts: dict[str, int]  # per HELPERS role, zero included
    open_tickets: pd.DataFrame  # code, category, state, created_at, due_at, overdue, urgent, hours_over


def grid_in(engine: Engine, scope: Scope, grid_id: int) -> dict | None:
    """The grid ``grid_id`` (id, code, name, community_id, community) if it lies in ``scope`` and is not
    retired, else None: an address naming another street's grid shows nothing of it."""
    g = Grid.__table__
    stmt = (select(g.c.id, g.c.code, g.c.name, g.c.community_id, Community.name.label("community"))
            .join(Community, Community.id == g.c.community_id)
            .where(g.c.id == grid_id, g.c.retired_at.is_(None), g.c.id.in_(grid_ids(scope))))
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def team(engine: Engine, grid_id: int, *, reveal: bool = False) -> pd.DataFrame:
    """The grid's team (TEAM_ROLES order, then id): role, name, phone — masked unless ``reveal``."""
    p = Person.__table__
    df = store.read_frame(engine, select(p.c.id, p.c.role, p.c.name, p.c.phone)
                          .where(p.c.grid_id == grid_id, p.c.role.in_(list(TEAM_ROLES))).order_by(p.c.id))
    order = {r: i for i, r in enumerate(TEAM_ROLES)}
    df = df.assign(_o=df["role"].map(order)).sort_values(["_o", "id"]).reset_index(drop=True)
    df["phone"] = df["phone"].fillna("").astype(str) if reveal else df["phone"].map(mask_phone)
    return df[["role", "name", "phone"]]


def helpers(engine: Engine, grid_id: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """The grid's helpers (HELPERS order, then id): role, name, households they look after; and the
    count per role. Counted from the same person rows as the wall's party-member and volunteer figures."""
    p, c = Person.__table__, CareLink.__table__
    here = select(p.c.id).where(p.c.grid_id == grid_id)  # counted for the grid's people only, not everyone's
    cared = (select(c.c.person_id, func.count().label("households")).where(c.c.person_id.in_(here))
             .group_by(c.c.person_id).subquery())
    df = store.read_frame(engine, select(p.c.id, p.c.role, p.c.name, cared.c.households)
                          .outerjoin(cared, cared.c.person_id == p.c.id)
                          .where(p.c.grid_id == grid_id, p.c.role.in_(HELPERS)).order_by(p.c.id))
    order = {r: i for i, r in enumerate(HELPERS)}
    df = df.assign(_o=df["role"].map(order)).sort_values(["_o", "id"]).reset_index(drop=True)
    df["households"] = df["households"].fillna(0).astype(int)
    counts = {r: int((df["role"] == r).sum()) for r in HELPERS}
    return df[["role", "name", "households"]], counts


def by_role(helpers: pd.DataFrame, counts: dict[str, int]) -> list[tuple[str, int, str]]:
    """Per HELPERS role: (role, how many, the name of the one looking after most households) — what a
    wall has room for; "" when the grid has nobody of that role."""
    out = []
    for role in HELPERS:
        rows = helpers[helpers["role"] == role].sort_values("households", ascending=False, kind="stable")
        out.append((role, counts.get(role, 0), str(rows["name"].iloc[0]) if len(rows) else ""))
    return out


def open_tickets(frame: pd.DataFrame, now: datetime, grid_id: int, *, lang: str = "zh") -> pd.DataFrame:
    """The grid's open tickets from the wall's frame: overdue first (longest over first), then urgent,
    then the oldest. Columns: code, category (named), state (named), created_at, due_at, overdue,
    urgent, hours_over (0 when not overdue)."""
    cols = ["code", "category", "state", "created_at", "due_at", "overdue", "urgent", "hours_over"]
    o = frame[(frame["grid_id"] == grid_id) & frame["state"].isin(workflow.OPEN_STATES)]
    if not len(o):
        return pd.DataFrame(columns=cols)
    over = np.asarray(workflow.overdue(o["state"], o["due_at"], now), dtype=bool)
    hours = ((pd.Timestamp(now) - o["due_at"]).dt.total_seconds() / 3600).clip(lower=0).round(1)
    out = o.assign(overdue=over, hours_over=np.where(over, hours, 0.0),
                   category=o["category"].map(category_names(lang)).fillna(o["category"]),
                   state=[workflow.STATES[s].name(lang) for s in o["state"]])
    out = out.sort_values(["overdue", "hours_over", "urgent", "created_at", "code"],
                          ascending=[False, False, False, True, True])
    return out[cols].reset_index(drop=True)


def card(engine: Engine, now: datetime, scope: Scope, grid_id: int, frame: pd.DataFrame, *,
         reveal: bool = False, lang: str = "zh") -> GridCard | None:
    """The card of grid ``grid_id`` seen from ``scope`` (None when it is not in it). ``frame``: the
    wall's ticket frame for the grid (figures.load_tickets), so the list and the figures agree."""
    g = grid_in(engine, scope, grid_id)
    if g is None:
        return None
    people, counts = helpers(engine, grid_id)
    return GridCard(grid_id=int(g["id"]), code=str(g["code"]), name=str(g["name"]),
                    community_id=int(g["community_id"]), community=str(g["community"]),
                    team=team(engine, grid_id, reveal=reveal), helpers=people, helper_counts=counts,
                    open_tickets=open_tickets(frame, now, grid_id, lang=lang))


def role_name(role: str, lang: str = "zh") -> str:
    """网格长, 党员, 志愿者 … (the people module's names; volunteers are not in its tables)."""
    names = {**TEAM_ROLES, **HELPER_ROLES, "volunteer": ("志愿者", "Volunteer")}
    zh, en = names.get(role, (role, role))
    return zh if lang == "zh" else en


__all__ = ["GridCard", "HELPERS", "card", "grid_in", "team", "helpers", "by_role", "open_tickets", "role_name"]
