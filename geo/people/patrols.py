"""Patrols and ratings (巡查评比): a grid's monthly patrol rates households and buildings.

致和镇: “定期巡查社区环境卫生情况、矛盾隐患新增数、不安全隐患等情况。针对日常巡查、群众互评、单元长点评等方式，
制定‘清洁文明户’‘卫生单元楼’‘安全楼栋’评选机制。” Each rating is 1–5 stars with a note and an optional photo;
``AWARD_STARS`` or more earns the title for the month, ``LOW_STARS`` or fewer may open a ticket at the
building's entrance (through geo.tickets.service.report, routed like any report, source "patrol"), in
the same transaction as the rating. One patrol per grid and month; rating the same place again in the
month replaces the earlier stars (the latest walk counts), audited with old → new.

``RATING_KINDS`` is the list a community rates on; a city edits it (a kind needs a target, household or
building, and the ticket category a low rating opens).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, insert, select, update

from geo import settings
from geo.access import audit, roles
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Building, Grid, Household, Patrol, PatrolRating, Ticket
from geo.errors import NotFoundError, ValidationError
from geo.tickets import categories, rules, service


@dataclass(frozen=True)
class RatingKind:
    key: str
    name_zh: str
    name_en: str
    target: str  # household / building
    category: str  # the ticket category a low rating opens (geo.tickets.categories)

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


#: 致和镇's three titles. A city adds or renames its own.
RATING_KINDS: dict[str, RatingKind] = {k.key: k for k in (
    RatingKind("clean_household", "清洁文明户", "Clean household", "household", "sanitation"),
    RatingKind("clean_building", "卫生单元楼", "Clean unit building", "building", "sanitation"),
    RatingKind("safe_building", "安全楼栋", "Safe building", "building", "safety_hazard"),
)}
#: Stars that earn the month's title, and stars low enough to open a ticket.
AWARD_STARS = 4
LOW_STARS = 2


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def _check(user) -> None:
    if not roles.may(user.role, "record_patrol"):
        raise PermissionError("您的角色不能登记巡查评比 / your role may not record patrols")


def _grid(conn, scope: Scope, grid_id: int) -> dict[str, Any]:
    where = Grid.id == scope.grid_id if scope.level == "grid" else scope.clause(Grid.__table__)
    row = conn.execute(select(Grid.id, Grid.name, Grid.community_id).where(Grid.id == grid_id, where)).mappings().first()
    if row is None:
        raise NotFoundError(f"网格 {grid_id} 不存在或不在您的管辖范围内 / no such grid in your area")
    return dict(row)


# --------------------------------------------------------------------------- writing

def patrol(engine: Engine, user, grid_id: int, *, patrolled_on: date, now: datetime, note: str = "") -> int:
    """The grid's patrol of ``patrolled_on``'s month, made if it is the month's first; returns its id."""
    _check(user)
    if patrolled_on > now.date():
        raise ValidationError("巡查日期不能晚于今天 / a patrol cannot be in the future")
    month = month_of(patrolled_on)
    with engine.begin() as conn:
        grid = _grid(conn, user.scope, grid_id)
        store.lock_rows(conn, Grid.__table__, [grid_id])  # two walkers starting the month at once: one patrol
        found = conn.execute(select(Patrol.id).where(Patrol.grid_id == grid_id, Patrol.month == month)).scalar()
        if found is not None:
            return int(found)
        pid = conn.execute(insert(Patrol).returning(Patrol.id), [dict(
            grid_id=grid_id, month=month, patrolled_on=patrolled_on, patroller=user.label,
            note=(note or "").strip()[:2000] or None, created_at=now)]).scalar_one()
        audit.record(conn, at=now, username=user.username, role=user.role, action="patrol.start",
                     object_type="patrol", object_id=int(pid), grid_id=grid_id,
                     detail=f"{grid['name']} {month} 巡查（{patrolled_on:%m-%d}）")
    return int(pid)


def rate(engine: Engine, user, patrol_id: int, kind: str, *, building_id: int, stars: int, now: datetime,
         household_id: int | None = None, note: str = "", photo: str | None = None, open_ticket: bool = False,
         ticket_description: str | None = None) -> dict[str, Any]:
    """Rate one household or building on the patrol; returns the rating (with ``ticket_code`` when it opened one).

    ``open_ticket`` (only for ``LOW_STARS`` or fewer) reports a ticket of the kind's category at the
    building's entrance in the same transaction: a ticket that cannot be routed leaves no rating behind.
    """
    _check(user)
    k = RATING_KINDS.get(kind)
    if k is None:
        raise ValidationError(f"未知的评比项目 {kind!r} / unknown rating kind")
    if stars not in (1, 2, 3, 4, 5):
        raise ValidationError("评分须为 1–5 星 / a rating is 1 to 5 stars")
    if open_ticket and stars > LOW_STARS:
        raise ValidationError(f"只有 {LOW_STARS} 星及以下的评分可以直接生成工单 / only low ratings open a ticket")
    if (k.target == "household") != (household_id is not None):
        raise ValidationError("“清洁文明户”评到户，楼栋评比评到楼 / household titles rate a household, building titles a building")
    note = (note or "").strip()
    if len(note) > 2000:
        raise ValidationError("评语不能超过 2000 字 / at most 2000 characters")
    with engine.begin() as conn:
        p = conn.execute(select(Patrol.id, Patrol.grid_id, Patrol.month).where(Patrol.id == patrol_id)).mappings().first()
        if p is None:
            raise NotFoundError(f"巡查 {patrol_id} 不存在 / no such patrol")
        _grid(conn, user.scope, p["grid_id"])
        b = conn.execute(select(Building.id, Building.name, Building.entrance_lon, Building.entrance_lat).where(
            Building.id == building_id, Building.grid_id == p["grid_id"])).mappings().first()
        if b is None:
            raise NotFoundError(f"楼栋 {building_id} 不在本次巡查的网格内 / the building is not in this patrol's grid")
        place = b["name"]
        if household_id is not None:
            h = conn.execute(select(Household.unit_no, Household.room).where(
                Household.id == household_id, Household.building_id == building_id)).first()
            if h is None:
                raise NotFoundError("该户不在所选楼栋内 / the household is not in that building")
            place = f"{b['name']}{h[0]}单元{h[1]}"
        target = f"h{household_id}" if household_id is not None else f"b{building_id}"
        store.lock_rows(conn, Patrol.__table__, [patrol_id])
        old = conn.execute(select(PatrolRating.id, PatrolRating.stars, PatrolRating.ticket_id).where(
            PatrolRating.patrol_id == patrol_id, PatrolRating.kind == kind, PatrolRating.target == target)
        ).mappings().first()
        made = None
        if open_ticket and not (old and old["ticket_id"]):
            made = service.report(engine, category=k.category, source="patrol", by=rules.actor_for(user), conn=conn,
                                  description=(ticket_description or note or f"{place}{k.name_zh}评比 {stars} 星，需整改").strip(),
                                  lon=b["entrance_lon"], lat=b["entrance_lat"], now=now)
        values = dict(stars=stars, note=note or None, rated_by=user.label, created_at=now,
                      **({"photo": photo} if photo else {}), **({"ticket_id": made["id"]} if made else {}))
        if old is None:
            rid = conn.execute(insert(PatrolRating).returning(PatrolRating.id), [{
                "patrol_id": patrol_id, "grid_id": p["grid_id"], "kind": kind, "target": target,
                "building_id": building_id, "household_id": household_id, "ticket_id": None, "photo": None,
                **values}]).scalar_one()
        else:
            rid = old["id"]
            conn.execute(update(PatrolRating).where(PatrolRating.id == rid).values(**values))
        was = f"{old['stars']}星 → " if old else ""
        audit.record(conn, at=now, username=user.username, role=user.role, action="patrol.rate",
                     object_type="patrol_rating", object_id=int(rid), grid_id=p["grid_id"],
                     detail=f"{p['month']} {k.name_zh} {place}：{was}{stars}星" + (f"；工单 {made['code']}" if made else ""))
    out = dict(id=int(rid), kind=kind, stars=stars, place=place, awarded=stars >= AWARD_STARS)
    if made:
        out["ticket_code"] = made["code"]
    return out


# --------------------------------------------------------------------------- reading

def ratings(engine: Engine, *, scope: Scope, month: str | None = None, grid_id: int | None = None) -> pd.DataFrame:
    """Ratings in the scope: id, month, grid_id, grid, kind, building_id, building, place, stars, awarded, low,
    note, photo, ticket, rated_by. Households appear by address only (no names)."""
    r = PatrolRating.__table__
    stmt = (select(r.c.id, Patrol.month, r.c.grid_id, Grid.name.label("grid"), r.c.kind, r.c.building_id,
                   Building.name.label("building"), Household.unit_no, Household.room, r.c.stars, r.c.note,
                   r.c.photo, Ticket.code.label("ticket"), r.c.rated_by, r.c.created_at)
            .join(Patrol, Patrol.id == r.c.patrol_id).join(Grid, Grid.id == r.c.grid_id)
            .join(Building, Building.id == r.c.building_id).outerjoin(Household, Household.id == r.c.household_id)
            .outerjoin(Ticket, Ticket.id == r.c.ticket_id).where(scope.clause(r)))
    if month:
        stmt = stmt.where(Patrol.month == month)
    if grid_id is not None:
        stmt = stmt.where(r.c.grid_id == grid_id)
    df = store.read_frame(engine, stmt.order_by(Patrol.month.desc(), r.c.grid_id, r.c.building_id, r.c.id))
    unit = df["unit_no"].astype("Int64").astype(str)
    df["place"] = df["building"].where(df["unit_no"].isna(), df["building"] + unit + "单元" + df["room"].fillna(""))
    df["awarded"] = df["stars"] >= AWARD_STARS
    df["low"] = df["stars"] <= LOW_STARS
    return df.drop(columns=["unit_no", "room"])


def by_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Per grid and month (the table a street compares grids by): rated, mean stars, titles awarded per kind,
    low ratings, tickets opened."""
    if frame.empty:
        return pd.DataFrame(columns=["grid_id", "grid", "month", "rated", "mean_stars",
                                     *[f"awarded_{k}" for k in RATING_KINDS], "low", "tickets"])
    g = frame.groupby(["grid_id", "grid", "month"])
    out = pd.DataFrame({"rated": g.size(), "mean_stars": g["stars"].mean().round(2), "low": g["low"].sum(),
                        "tickets": g["ticket"].count()})
    for k in RATING_KINDS:
        out[f"awarded_{k}"] = frame[frame["kind"] == k].groupby(["grid_id", "grid", "month"])["awarded"].sum()
    out = out.fillna(0).reset_index()
    for col in ["rated", "low", "tickets", *[f"awarded_{k}" for k in RATING_KINDS]]:
        out[col] = out[col].astype(int)
    return out.sort_values(["month", "mean_stars"], ascending=[False, False], ignore_index=True)


def compare(engine: Engine, *, scope: Scope, month: str) -> pd.DataFrame:
    """The street compares its grids for a month: every grid of the scope, patrolled or not, best first."""
    grids = store.read_frame(engine, select(Grid.id.label("grid_id"), Grid.name.label("grid"), Grid.code)
                             .where(Grid.id == scope.grid_id if scope.level == "grid" else scope.clause(Grid.__table__))
                             .order_by(Grid.code))
    rated = by_grid(ratings(engine, scope=scope, month=month)).drop(columns=["grid", "month"])
    out = grids.merge(rated, on="grid_id", how="left")
    out["patrolled"] = out["rated"].notna()
    counts = ["rated", "low", "tickets", *[f"awarded_{k}" for k in RATING_KINDS]]
    out[counts] = out[counts].fillna(0).astype(int)
    return out.sort_values(["patrolled", "mean_stars", "code"], ascending=[False, False, True],
                           ignore_index=True).drop(columns="code")


def building_stars(engine: Engine, *, scope: Scope, month: str, grid_id: int | None = None) -> gpd.GeoDataFrame:
    """Buildings rated in the month, as points (their entrance) for the map: building, grid_id, one column of
    stars per building kind, households awarded / rated, mean stars of all its ratings."""
    df = ratings(engine, scope=scope, month=month, grid_id=grid_id)
    b = Building.__table__
    if df.empty:
        return gpd.GeoDataFrame(columns=["building_id", "building", "mean_stars", "geometry"], geometry="geometry",
                                crs=settings.STORAGE_CRS)
    per = df.groupby(["building_id", "building", "grid_id"]).agg(mean_stars=("stars", "mean")).reset_index()
    for k, rk in RATING_KINDS.items():
        mine = df[df["kind"] == k]
        if rk.target == "building":
            per[k] = per["building_id"].map(mine.set_index("building_id")["stars"])
        else:
            per[f"{k}_awarded"] = per["building_id"].map(mine.groupby("building_id")["awarded"].sum()).fillna(0)
            per[f"{k}_rated"] = per["building_id"].map(mine.groupby("building_id").size()).fillna(0)
    where = store.read_frame(engine, select(b.c.id.label("building_id"), b.c.entrance_lon, b.c.entrance_lat)
                             .where(b.c.id.in_(per["building_id"].tolist())))
    per = per.merge(where, on="building_id")
    per["mean_stars"] = per["mean_stars"].round(1)
    return gpd.GeoDataFrame(per.drop(columns=["entrance_lon", "entrance_lat"]),
                            geometry=gpd.points_from_xy(per["entrance_lon"], per["entrance_lat"]),
                            crs=settings.STORAGE_CRS)


def months(engine: Engine, *, scope: Scope) -> list[str]:
    """Months with a patrol in the scope, newest first."""
    p = Patrol.__table__
    where = p.c.grid_id == scope.grid_id if scope.level == "grid" else scope.clause(p)
    return store.read_frame(engine, select(p.c.month).where(where).distinct().order_by(p.c.month.desc()))["month"].tolist()


def kind_label(key: str, lang: str = "zh") -> str:
    k = RATING_KINDS.get(key)
    return k.name(lang) if k else key


def check_categories() -> None:
    """Every kind opens a known ticket category (called by the tests; a city's edit is checked the same way)."""
    for k in RATING_KINDS.values():
        categories.category(k.category)


__all__ = ["RatingKind", "RATING_KINDS", "AWARD_STARS", "LOW_STARS", "month_of", "patrol", "rate", "ratings",
           "by_grid", "compare", "building_stars", "months", "kind_label", "check_categories"]
