"""The 12345 hotline's work orders (派单表) as tickets: read, placed, previewed, imported in one transaction.

A batch is a CSV or Excel sheet read through geo.io.vector_files.read_table (the one door for
uploads): the hotline's order number, time, category text, address or coordinates, content.
Each order is placed, in this order:

1. its address matched to a building (geo.intake.address): the building's door;
2. else its coordinates (WGS 84 / CGCS2000, or GCJ-02 as Gaode-based platforms export them),
   routed by the desk's own rule (point in grid, 30 m tolerance);
3. else listed for a person, with the reason (no category we know, no place, outside the street).

``plan`` only reads; ``commit`` stores every placeable order through the hotline door
(source "hotline", door "12345", doors.submit → tickets.service.report) in one transaction: all or nothing.
The order number is kept (ticket_intake.external_id, unique per door), so a batch imported
twice adds nothing the second time; orders seen before are listed as such.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from geo.access import audit, roles
from geo.db.schema import TicketIntake
from geo.errors import ValidationError
from geo.intake import address, doors
from geo.intake.open311 import SERVICE_GROUPS
from geo.io import vector_files
from geo.place import coords
from geo.tickets import categories, routing, service
from geo.tickets.rules import MAX_DESCRIPTION

DOOR = "12345"
#: Column names hotline exports use (and plain English ones), per field.
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_no": ("工单编号", "工单号", "热线工单号", "诉求编号", "编号", "order_no", "order"),
    "at": ("受理时间", "来电时间", "派单时间", "登记时间", "时间", "time", "created_at"),
    "category": ("诉求类别", "问题类别", "问题分类", "诉求分类", "类别", "分类", "category"),
    "address": ("事发地址", "诉求地址", "地址", "事发地点", "address"),
    "lon": ("经度", "lon", "lng", "longitude", "x"),
    "lat": ("纬度", "lat", "latitude", "y"),
    "content": ("诉求内容", "来电内容", "问题描述", "内容", "description", "content"),
    "urgent": ("紧急程度", "是否紧急", "urgent"),
}
REQUIRED = ("order_no", "content")
DATUMS = ("wgs84", "gcj02")
#: How each order was placed (plan's ``how``).
BY_ADDRESS, BY_POINT, SEEN, MANUAL = "address", "point", "seen", "manual"


@dataclass
class Plan:
    """Every order of a batch with how it was placed (``how``), its place and category, or why not."""

    rows: pd.DataFrame

    def counts(self) -> dict[str, int]:
        how = self.rows["how"].value_counts()
        return {k: int(how.get(k, 0)) for k in (BY_ADDRESS, BY_POINT, SEEN, MANUAL)}

    @property
    def to_import(self) -> pd.DataFrame:
        return self.rows[self.rows["how"].isin((BY_ADDRESS, BY_POINT))]

    @property
    def manual(self) -> pd.DataFrame:
        return self.rows[self.rows["how"] == MANUAL]


def _pick(frame: pd.DataFrame) -> dict[str, str]:
    """Our field → the sheet's column, by the names in COLUMNS (case and spaces ignored)."""
    names = {re.sub(r"\s+", "", str(c)).lower(): c for c in frame.columns}
    found = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias.lower() in names:
                found[key] = names[alias.lower()]
                break
    missing = [k for k in REQUIRED if k not in found]
    if missing:
        wanted = "、".join(COLUMNS[k][0] for k in missing)
        raise ValidationError(f"表中缺少列：{wanted}（第一行须为列名：工单编号、受理时间、诉求类别、事发地址或经度/纬度、诉求内容） / "
                              f"missing columns: {', '.join(missing)}")
    if "address" not in found and not {"lon", "lat"} <= set(found):
        raise ValidationError("表中须有「事发地址」列，或「经度」「纬度」两列 / an address column, or lon and lat, is needed")
    return found


def category_of(text: str, content: str = "") -> str | None:
    """Our category for the hotline's category text (by name, then by keyword; the content as a last resort)."""
    words = {key: [c.name_zh, key, *(w.strip() for w in SERVICE_GROUPS[key][1].split(","))]
             for key, c in categories.CATEGORIES.items()}
    for source in (address.normalise(text), address.normalise(content)):
        if not source:
            continue
        for key, names in words.items():
            if source in (key, categories.CATEGORIES[key].name_zh):
                return key
        for key, names in words.items():
            if any(w and not w.isascii() and w in source for w in names):
                return key
    return None


def plan(engine: Engine, data: bytes, filename: str, *, now: datetime, street_id: int | None = None,
         datum: str = "wgs84") -> Plan:
    """Read a batch and place each order; nothing is written."""
    if datum not in DATUMS:
        raise ValidationError(f"坐标系须为 {' / '.join(DATUMS)} / datum is one of {', '.join(DATUMS)}")
    frame = vector_files.read_table(data, filename)
    if frame.empty:
        raise ValidationError("表中没有工单 / the sheet holds no orders")
    cols = _pick(frame)
    get = (lambda key: frame[cols[key]].astype(str).str.strip() if key in cols else pd.Series("", index=frame.index))
    rows = pd.DataFrame({k: get(k) for k in COLUMNS}).reset_index(drop=True)
    rows["line"] = np.arange(2, len(rows) + 2)  # the sheet's own row number (row 1 is the header)
    matcher = address.Matcher(engine, street_id=street_id)
    with engine.connect() as conn:
        seen = set(conn.execute(select(TicketIntake.external_id).where(
            TicketIntake.door == DOOR, TicketIntake.external_id.in_(rows["order_no"].tolist()))).scalars())
    placed = [_place(matcher, r, seen, datum, now) for r in rows.itertuples()]
    _route_points(engine, placed, street_id)
    rows = pd.concat([rows, pd.DataFrame(placed, index=rows.index)], axis=1)
    twice = rows["order_no"].duplicated() & rows["how"].isin((BY_ADDRESS, BY_POINT))
    rows.loc[twice, ["how", "reason"]] = [SEEN, "同一批次中重复出现 / repeated in this batch"]
    return Plan(rows)


def _place(matcher, r, seen, datum, now) -> dict:
    """One order placed by its address, or its coordinates to route (``point``, routed with the
    batch's others in _route_points), or why not."""
    out = dict(how=MANUAL, reason="", category_key=None, x=np.nan, y=np.nan, building="", grid_id=None,
               created=now)
    if not r.order_no:
        return {**out, "reason": "缺少工单编号 / no order number"}
    if r.order_no in seen:
        return {**out, "how": SEEN, "reason": "已导入过 / imported before"}
    if len(r.order_no) > 64 or not r.content or len(r.content) > MAX_DESCRIPTION - 40:
        return {**out, "reason": "工单编号过长，或诉求内容为空或过长 / order number too long, or content empty or too long"}
    key = category_of(r.category, r.content)
    if key is None:
        return {**out, "reason": f"无法识别诉求类别「{r.category[:20]}」 / category not recognised"}
    created = pd.to_datetime(r.at, errors="coerce")
    out.update(category_key=key, created=now if pd.isna(created) else min(created.to_pydatetime(), now))
    spot = matcher.match(r.address) if r.address else None
    if spot is not None:
        return {**out, "how": BY_ADDRESS, "x": spot.lon, "y": spot.lat, "building": spot.label,
                "grid_id": spot.grid_id}
    try:
        lon, lat = float(r.lon), float(r.lat)
    except ValueError:
        return {**out, "reason": "地址未匹配到楼栋，且无经纬度 / address matched no building, and no coordinates"}
    if datum == "gcj02":
        x, y = coords.gcj02_to_wgs84([lon], [lat])
        lon, lat = float(x[0]), float(y[0])
    return {**out, "point": (lon, lat)}


def _route_points(engine: Engine, placed: list[dict], street_id: int | None) -> None:
    """Route every order placed by its coordinates in one call (service.route_many: the desk's rule,
    point in grid, 30 m tolerance), in place."""
    todo = [i for i, p in enumerate(placed) if "point" in p]
    if not todo:
        return
    lon, lat = zip(*(placed[i].pop("point") for i in todo))
    routed = service.route_many(engine, lon, lat)
    for i, x, y, grid_id, street, flag in zip(todo, lon, lat, routed["grid_id"], routed["street_id"],
                                              routed["flag"]):
        if flag in (routing.OUTSIDE, routing.INVALID):
            placed[i]["reason"] = "坐标不在本街道任何网格内 / the coordinates are outside the street"
        elif street_id is not None and street != street_id:
            placed[i]["reason"] = "坐标不在本街道 / the coordinates are in another street"
        else:
            placed[i].update(how=BY_POINT, x=x, y=y, grid_id=int(grid_id))


def commit(engine: Engine, batch: Plan, *, by, now: datetime, street_id: int | None = None) -> list[str]:
    """Store every placeable order of ``batch`` as a ticket (source "hotline"), all in one transaction;
    returns the new ticket codes. ``by`` (a geo.access.users.User) needs "import_hotline"; audited."""
    if not roles.may(by.role, "import_hotline"):
        raise PermissionError("您的角色不能导入热线工单 / your role may not import hotline orders")
    todo = batch.to_import
    codes = []
    try:
        with engine.begin() as conn:
            # routed again here, in the storing transaction (a boundary may have moved since the preview), but
            # once for the whole batch (route_many) rather than one query per order
            routed = service.as_routings(service.route_many(conn, todo["x"].astype(float), todo["y"].astype(float)))
            for r, where in zip(todo.itertuples(), routed):
                urgent = "急" in r.urgent or r.urgent.lower() in ("1", "true", "yes", "是")
                receipt = doors.submit(
                    engine, door=DOOR, category=r.category_key, description=f"【12345 工单 {r.order_no}】{r.content}",
                    lon=float(r.x), lat=float(r.y), now=r.created, urgent=urgent, street_id=street_id,
                    external_id=r.order_no, address=r.address or None, with_token=False, conn=conn, where=where)
                codes.append(receipt.ticket["code"])
            audit.record(conn, at=now, username=by.username, role=by.role, action="hotline.import",
                         object_type="ticket", detail=f"导入 12345 工单 {len(codes)} 条（{', '.join(codes[:5])}"
                                                      f"{' …' if len(codes) > 5 else ''}）")
    except IntegrityError:
        raise ValidationError("其中有工单刚被他人导入，本次未导入任何工单；请重新上传预览 / some orders were just imported "
                              "by someone else; nothing was imported, preview again") from None
    return codes
