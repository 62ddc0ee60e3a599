"""Estates and red property (红色物业): who manages each estate, the 三无小区 and 无主管楼院, and 三无 → 三有.

- 三无小区 (什邡市): an estate with no property company, no owners' committee and no supervising unit.
- 无主管楼院 (二七区祥和社区: 29 of them): nobody manages it — no supervising unit and no property company.
- 红色物业 (淮河路街道亚新, 正安县): a property service led by a party organisation.
- 三有小区: a 三无小区 that got 有组织、有制度、有活动 (a residents' self-governing group, rules, activities);
  the day it did is recorded (``three_have_on``), with what was set up.

``status`` classifies an estate in one place; every list, map colour and figure asks it. Estates are
read through the user's scope (an estate belongs to a grid); changes are audited with old → new.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, func, select, update

from geo import settings
from geo.access import audit, roles
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Building, Community, Estate, Grid, Ticket
from geo.errors import NotFoundError, ValidationError
from geo.tickets import workflow

#: Status key → (zh, en, map colour), most urgent first.
STATUSES: dict[str, tuple[str, str, str]] = {
    "three_none": ("三无小区", "No management at all (三无)", "#d62828"),
    "no_supervisor": ("无主管楼院", "No supervising unit or property company", "#f77f00"),
    "three_have": ("三有小区（已转化）", "Turned 三有 (organised, rules, activities)", "#2a9d8f"),
    "red_property": ("红色物业", "Red property (party-led)", "#7b2cbf"),  # not red: 三无 is the red on the map
    "managed": ("有物业或主管单位", "Managed", "#457b9d"),
}
_NOT_HERE = "小区 {id} 不存在或不在您的管辖范围内 / no such estate in your area"


def status(*, property_company: str | None, owners_committee: bool, supervising_unit: str | None,
           red_property: bool, three_have_on: date | None) -> str:
    """The one classification of an estate (see STATUSES)."""
    if three_have_on is not None:
        return "three_have"
    if not property_company and not owners_committee and not supervising_unit:
        return "three_none"
    if not property_company and not supervising_unit:
        return "no_supervisor"
    return "red_property" if red_property and property_company else "managed"


def status_label(key: str, lang: str = "zh") -> str:
    zh, en, _ = STATUSES[key]
    return zh if lang == "zh" else en


def estates(engine: Engine, *, scope: Scope) -> gpd.GeoDataFrame:
    """The estates of the scope with their management, status, households and open tickets inside them.

    Columns: id, name, kind, grid_id, grid, community, property_company, owners_committee, supervising_unit,
    red_property, three_have_on, three_have_note, status, households, open_tickets, ticket_codes, geometry.
    """
    e = store.read_layer(engine, Estate, where=scope.clause(Estate.__table__))
    names = store.read_frame(engine, select(Grid.id.label("grid_id"), Grid.name.label("grid"),
                                            Community.name.label("community"))
                             .join(Community, Community.id == Grid.community_id)
                             .where(Grid.id.in_(e["grid_id"].tolist() or [-1])))
    hh = store.read_frame(engine, select(Building.estate_id, func.sum(Building.households).label("households"))
                          .where(Building.estate_id.in_(e["id"].tolist() or [-1])).group_by(Building.estate_id))
    e = e.merge(names, on="grid_id", how="left").merge(hh, left_on="id", right_on="estate_id", how="left")
    e["households"] = e["households"].fillna(0).astype(int)
    e["owners_committee"] = e.pop("has_owners_committee").astype(bool)
    e["red_property"] = e["red_property"].fillna(False).astype(bool)
    e["property_company"] = e["property_company"].where(e["has_property_company"].astype(bool), None)
    e["status"] = [status(property_company=p if isinstance(p, str) and p else None, owners_committee=o,
                          supervising_unit=s if isinstance(s, str) and s else None, red_property=r,
                          three_have_on=d if isinstance(d, date) else None)
                   for p, o, s, r, d in zip(e["property_company"], e["owners_committee"], e["supervising_unit"],
                                            e["red_property"], e["three_have_on"])]
    tickets = _tickets_inside(engine, scope, e)
    e = e.merge(tickets, on="id", how="left")
    e["open_tickets"] = e["open_tickets"].fillna(0).astype(int)
    e["ticket_codes"] = e["ticket_codes"].fillna("")
    cols = ["id", "name", "kind", "grid_id", "grid", "community", "property_company", "owners_committee",
            "supervising_unit", "red_property", "three_have_on", "three_have_note", "status", "households",
            "open_tickets", "ticket_codes", "geometry"]
    return gpd.GeoDataFrame(e[cols], geometry="geometry", crs=settings.STORAGE_CRS)


def _tickets_inside(engine: Engine, scope: Scope, estates_: gpd.GeoDataFrame) -> pd.DataFrame:
    """Open tickets of the scope lying inside each estate (a spatial join, vectorised): id, count, codes."""
    if estates_.empty:
        return pd.DataFrame(columns=["id", "open_tickets", "ticket_codes"])
    t = store.read_layer(engine, Ticket, columns=["code", "geom"], where=(
        scope.clause(Ticket.__table__) & Ticket.state.in_(workflow.OPEN_STATES)))
    if t.empty:
        return pd.DataFrame(columns=["id", "open_tickets", "ticket_codes"])
    hits = gpd.sjoin(t, estates_[["id", "geometry"]], predicate="within", how="inner")
    g = hits.groupby("id")["code"]
    return pd.DataFrame({"open_tickets": g.size(), "ticket_codes": g.apply(lambda s: "、".join(sorted(s)))}
                        ).reset_index()


def figures(table: pd.DataFrame) -> dict[str, int]:
    """Counts by status, and households in estates nobody manages (三无 + 无主管)."""
    out = {k: int((table["status"] == k).sum()) for k in STATUSES}
    out["estates"] = len(table)
    out["unmanaged_households"] = int(table.loc[table["status"].isin(["three_none", "no_supervisor"]),
                                                "households"].sum())
    return out


def _check(user) -> None:
    if not roles.may(user.role, "edit_estates"):
        raise PermissionError("您的角色不能修改小区物业信息 / your role may not change estates")


def _estate(conn, scope: Scope, estate_id: int) -> dict[str, Any]:
    e = Estate.__table__
    row = conn.execute(select(e.c.id, e.c.name, e.c.grid_id, e.c.has_property_company, e.c.property_company,
                              e.c.has_owners_committee, e.c.supervising_unit, e.c.red_property, e.c.three_have_on)
                       .where(e.c.id == estate_id, scope.clause(e))).mappings().first()
    if row is None:
        raise NotFoundError(_NOT_HERE.format(id=estate_id))
    return dict(row)


def _clean(name: str | None, what: str) -> str | None:
    name = (name or "").strip()
    if len(name) > 64:
        raise ValidationError(f"{what}名称不能超过 64 字 / at most 64 characters")
    return name or None


def update_management(engine: Engine, user, estate_id: int, *, property_company: str | None,
                      owners_committee: bool, supervising_unit: str | None, red_property: bool,
                      now: datetime) -> str:
    """Record who manages an estate now; returns its new status. Audited with old → new."""
    _check(user)
    company, unit = _clean(property_company, "物业公司"), _clean(supervising_unit, "主管单位")
    if red_property and not company:
        raise ValidationError("红色物业须有物业服务企业（填写物业公司名称） / red property needs a property company")
    with engine.begin() as conn:
        was = _estate(conn, user.scope, estate_id)
        old = (was["property_company"] if was["has_property_company"] else None, bool(was["has_owners_committee"]),
               was["supervising_unit"], bool(was["red_property"]))
        new = (company, bool(owners_committee), unit, bool(red_property))
        if old == new:
            return status(property_company=company, owners_committee=owners_committee, supervising_unit=unit,
                          red_property=red_property, three_have_on=was["three_have_on"])
        conn.execute(update(Estate).where(Estate.id == estate_id).values(
            has_property_company=company is not None, property_company=company,
            has_owners_committee=bool(owners_committee), supervising_unit=unit, red_property=bool(red_property)))
        words = ("物业公司", "业委会", "主管单位", "红色物业")
        shown = [(w, a, b) for w, a, b in zip(words, old, new) if a != b]
        audit.record(conn, at=now, username=user.username, role=user.role, action="estate.update",
                     object_type="estate", object_id=int(estate_id), grid_id=was["grid_id"],
                     detail=f"{was['name']}：" + "；".join(f"{w} {_yn(a)} → {_yn(b)}" for w, a, b in shown))
    return status(property_company=company, owners_committee=owners_committee, supervising_unit=unit,
                  red_property=red_property, three_have_on=was["three_have_on"])


def _yn(v) -> str:
    if isinstance(v, bool):
        return "有" if v else "无"
    return v or "无"


def record_three_have(engine: Engine, user, estate_id: int, *, on: date, note: str, now: datetime) -> None:
    """A 三无小区 (or 无主管楼院) became a 三有小区 on ``on``: what was set up (organisation, rules, activities)."""
    _check(user)
    note = (note or "").strip()
    if len(note) < 4:
        raise ValidationError("请写明建立了什么组织、制度和活动（如：成立居民自治小组，制定院落公约，每月开展清扫） / "
                              "say what organisation, rules and activities were set up")
    if on > now.date():
        raise ValidationError("转化日期不能晚于今天 / the date cannot be in the future")
    with engine.begin() as conn:
        was = _estate(conn, user.scope, estate_id)
        if was["three_have_on"] is not None:
            raise ValidationError(f"{was['name']} 已于 {was['three_have_on']:%Y-%m-%d} 转为三有小区 / already recorded")
        before = status(property_company=was["property_company"] if was["has_property_company"] else None,
                        owners_committee=bool(was["has_owners_committee"]), supervising_unit=was["supervising_unit"],
                        red_property=bool(was["red_property"]), three_have_on=None)
        if before not in ("three_none", "no_supervisor"):
            raise ValidationError(f"{was['name']} 有物业或主管单位，不是三无小区或无主管楼院 / only unmanaged estates turn 三有")
        conn.execute(update(Estate).where(Estate.id == estate_id).values(three_have_on=on, three_have_note=note[:2000]))
        audit.record(conn, at=now, username=user.username, role=user.role, action="estate.three_have",
                     object_type="estate", object_id=int(estate_id), grid_id=was["grid_id"],
                     detail=f"{was['name']}：{STATUSES[before][0]} → 三有小区（{on:%Y-%m-%d}）")


__all__ = ["STATUSES", "status", "status_label", "estates", "figures", "update_management", "record_three_have"]
