"""Open311 GeoReport v2 over the ticket loop: services, requests, tokens and errors, in JSON and XML.

The shapes follow the GeoReport v2 specification element for element (services/service,
service_definition/attributes/attribute/values/value, service_requests/request,
errors/error); api.py only parses HTTP and maps the errors here to status codes.

- Services are the ticket categories (geo.tickets.categories), grouped as GB/T 30428
  groups cases (公用设施, 市容环境, 街面秩序 …), with keywords; a category that needs more
  (a hazard: is anyone in danger?) has attributes (``metadata`` true).
- A request is a ticket, its ``service_request_id`` the ticket code. Its states map to
  open / closed with ``status_notes`` naming the step; ``agency_responsible`` names the
  grid and the department; ``expected_datetime`` is the ticket's time limit; every time
  is ISO 8601 with the street's zone (settings.TIMEZONE).
- No GET returns a personal field: never the reporter's name or phone, never a photo
  (photos stay inside the signed-in pages); phone and ID numbers written into a
  description are masked; the descriptions of categories about people's own affairs
  (disputes, legal aid, jobs, wages, elderly care) are withheld and their place given
  only to about 100 m.
- ``jurisdiction_id`` is the street's 9-digit code; an unknown one is refused.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, select

from geo import settings
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Community, Grid, Street, Ticket
from geo.errors import NotFoundError
from geo.intake import address as address_, doors
from geo.intake.keys import Key
from geo.tickets import categories, workflow
from geo.tickets.rules import MAX_DESCRIPTION

#: GB/T 30428 groups for the categories (部件: 公用设施 …; 事件: 市容环境, 街面秩序, 突发事件 …) and search words.
SERVICE_GROUPS: dict[str, tuple[str, str]] = {
    "streetlight_road": ("公用设施", "路灯, 道路, 井盖, 坑洼, streetlight, road, pothole"),
    "water": ("公用设施", "停水, 水压, 漏水, 水管, water, leak"),
    "sanitation": ("市容环境", "垃圾, 卫生, 堆放, 异味, rubbish, litter"),
    "property": ("房屋土地", "物业, 电梯, 绿化, 停车, property, lift"),
    "dispute": ("社会事务", "纠纷, 噪音, 邻里, dispute, noise"),
    "safety_hazard": ("突发事件", "隐患, 危险, 坠落, 电线, hazard, danger"),
    "fire_equipment": ("公用设施", "消防, 灭火器, 消防通道, fire, extinguisher"),
    "public_order": ("街面秩序", "治安, 占道, 扰民, order, nuisance"),
    "employment": ("社会事务", "就业, 找工作, 培训, jobs"),
    "elderly_care": ("社会事务", "养老, 老人, 助餐, elderly"),
    "legal_aid": ("社会事务", "法律, 咨询, 援助, legal"),
    "epidemic": ("突发事件", "防疫, 疫情, 排查, epidemic"),
    "wage_arrears": ("社会事务", "欠薪, 工资, 拖欠, wages"),
}
#: Categories about people's own affairs: description withheld, place to ~100 m in every GET.
PRIVATE_CATEGORIES = frozenset({"dispute", "legal_aid", "employment", "wage_arrears", "elderly_care"})
WITHHELD = "（涉及个人事务，内容不公开）"
#: The longest span and the most rows one GET /requests returns (the specification's defaults).
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
SERVICE_NOTICE = "已受理，将按时限办理；请凭 token 查询进度 / received; follow it with the token"


@dataclass(frozen=True)
class Attribute:
    """A question a category asks beyond the description (a service definition's attribute)."""

    code: str
    description: str
    datatype: str = "singlevaluelist"
    required: bool = False
    values: tuple[tuple[str, str], ...] = ()
    order: int = 1
    urgent_if: str | None = None  # the value that makes the ticket urgent


ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "safety_hazard": (Attribute("danger", "是否正危及人身安全（有人受伤、被困或随时可能发生）", required=True,
                                values=(("yes", "是"), ("no", "否")), urgent_if="yes"),),
    "fire_equipment": (Attribute("blocked", "消防通道是否被堵", values=(("yes", "是"), ("no", "否"))),),
    "water": (Attribute("extent", "影响范围", values=(("home", "本户"), ("building", "整栋楼"),
                                                 ("estate", "整个小区或更大"))),),
}


class Open311Error(Exception):
    """An error in the specification's form: an HTTP status and a description (Chinese / English)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


# --------------------------------------------------------------------------- services

def services(lang: str = "zh") -> list[dict[str, Any]]:
    """GET services: every category as a service."""
    return [dict(service_code=key, service_name=c.name(lang),
                 description=f"{c.name_zh}（{c.name_en}）：一般 {c.limit_days:g} 个工作日内办结，紧急 {c.urgent_limit_h:g} 小时",
                 metadata=key in ATTRIBUTES, type="realtime", keywords=SERVICE_GROUPS[key][1],
                 group=SERVICE_GROUPS[key][0])
            for key, c in categories.CATEGORIES.items()]


def definition(service_code: str) -> dict[str, Any]:
    """GET services/{code}: the category's attributes (none for most)."""
    _service(service_code)
    return dict(service_code=service_code, attributes=[
        dict(variable=True, code=a.code, datatype=a.datatype, required=a.required, datatype_description="",
             order=a.order, description=a.description,
             values=[dict(key=k, name=n) for k, n in a.values])
        for a in ATTRIBUTES.get(service_code, ())])


def _service(code: str | None) -> categories.Category:
    if not code:
        raise Open311Error(400, "缺少 service_code / service_code is required")
    if code not in categories.CATEGORIES:
        raise Open311Error(404, f"没有服务 {code[:40]!r}，请先读 services 列表 / unknown service_code")
    return categories.CATEGORIES[code]


def attribute_answers(code: str, answers: dict[str, str]) -> tuple[bool, str]:
    """(urgent, words to add to the description) from a request's attribute[...] values; 400 when a required
    one is missing or a value is not one of its keys."""
    urgent, words = False, []
    for a in ATTRIBUTES.get(code, ()):
        value = (answers.get(a.code) or "").strip()
        if not value:
            if a.required:
                raise Open311Error(400, f"缺少必填属性 attribute[{a.code}]（{a.description}） / attribute[{a.code}] "
                                        "is required for this service")
            continue
        names = dict(a.values)
        if names and value not in names:
            raise Open311Error(400, f"attribute[{a.code}] 须为 {'、'.join(names)} 之一 / attribute[{a.code}] must be "
                                    f"one of {', '.join(names)}")
        urgent |= a.urgent_if is not None and value == a.urgent_if
        words.append(f"{a.description}：{names.get(value, value)}")
    return urgent, "；".join(words)


# --------------------------------------------------------------------------- jurisdiction

def jurisdiction(engine: Engine, jurisdiction_id: str | None) -> int | None:
    """The street id of ``jurisdiction_id`` (a street code); None when not given. Unknown: 404."""
    if jurisdiction_id is None or jurisdiction_id == "":
        return None
    with engine.connect() as conn:
        sid = conn.execute(select(Street.id).where(Street.code == str(jurisdiction_id)[:12])).scalar()
    if sid is None:
        raise Open311Error(404, f"没有 jurisdiction_id {str(jurisdiction_id)[:20]!r}：应为本街道的 9 位代码 / unknown "
                                "jurisdiction_id (the street's code)")
    return sid


# --------------------------------------------------------------------------- posting

@dataclass
class Post:
    """POST requests' fields, as the specification names them."""

    service_code: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    description: str | None = None
    media_url: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _coordinate(text: str | None, name: str, lo: float, hi: float) -> float:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        raise Open311Error(400, f"{name} 不是数字：{str(text)[:20]!r} / {name} is not a number") from None
    if not lo <= value <= hi or value != value:
        raise Open311Error(400, f"{name} 超出范围（{lo}…{hi}） / {name} out of range")
    return value


def locate(engine: Engine, post: Post, *, street_id: int | None) -> tuple[float, float]:
    """Where the request is: lat/long, else address_string matched to a building; 400 otherwise."""
    if post.lat not in (None, "") or post.long not in (None, ""):
        if post.lat in (None, "") or post.long in (None, ""):
            raise Open311Error(400, "lat 和 long 须同时提供 / give both lat and long")
        return _coordinate(post.long, "long", -180, 180), _coordinate(post.lat, "lat", -90, 90)
    if post.address_string and post.address_string.strip():
        place = address_.Matcher(engine, street_id=street_id).match(post.address_string)
        if place is None:
            raise Open311Error(400, "无法从 address_string 找到楼栋，请提供 lat/long / address_string matched no "
                                    "building; send lat and long")
        return place.lon, place.lat
    raise Open311Error(400, "缺少位置：请提供 lat 和 long，或 address_string / a location is required (lat and long, "
                            "or address_string)")


def post(engine: Engine, body: Post, *, key: Key, street_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """POST requests: checked, then stored through the phone-and-API door in one transaction.

    ``street_id``: from jurisdiction_id; a key of another street is refused (403).
    """
    if key.street_id is not None and street_id is not None and key.street_id != street_id:
        raise Open311Error(403, "该 api_key 不属于这个 jurisdiction_id / this api_key is not for this jurisdiction")
    street_id = street_id if street_id is not None else key.street_id
    _service(body.service_code)
    description = (body.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description 超过 {MAX_DESCRIPTION} 字（现 {len(description)} 字） / description is "
                                f"longer than {MAX_DESCRIPTION} characters")
    if not description:
        raise Open311Error(400, "缺少 description：请描述问题 / description is required")
    urgent, extra = attribute_answers(body.service_code, body.attributes)
    lon, lat = locate(engine, body, street_id=street_id)
    name = " ".join(p for p in ((body.last_name or "").strip(), (body.first_name or "").strip()) if p) or None
    receipt = doors.submit(
        engine, door="open311", category=body.service_code, description=f"{description}\n【{extra}】" if extra else
        description, lon=lon, lat=lat, now=now, urgent=urgent, reporter_name=name, reporter_phone=body.phone or None,
        street_id=street_id, api_key_id=key.id, address=body.address_string, media_url=body.media_url)
    return [dict(service_request_id=receipt.ticket["code"], token=receipt.token, service_notice=SERVICE_NOTICE,
                 account_id=body.account_id or "")]


# --------------------------------------------------------------------------- reading

_PHONE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{9}[\dXx](?![0-9A-Za-z])")


def public_text(text: str) -> str:
    """A description fit for anyone: ID numbers hidden, mobile numbers masked (138****1234)."""
    text = _ID.sub("[身份证号已隐藏]", str(text or ""))
    return _PHONE.sub(r"\1****\2", text)


def iso(value) -> str | None:
    """A stored (naive, street-local) time as ISO 8601 with the street's zone: 2026-11-23T09:00:00+08:00."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=ZoneInfo(settings.TIMEZONE)).isoformat(timespec="seconds")


def parse_time(text: str | None, name: str) -> datetime | None:
    """A w3c time (2026-11-23T09:00:00+08:00, …Z, or a bare date) as a naive street-local time; 400 if not one."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} 不是 ISO 8601 时间（如 2026-11-23T09:00:00+08:00） / {name} is not a w3c "
                                "datetime") from None
    if value.tzinfo is not None:
        value = value.astimezone(ZoneInfo(settings.TIMEZONE)).replace(tzinfo=None)
    return value


_REQUEST_COLUMNS = (Ticket.id, Ticket.code, Ticket.category, Ticket.description, Ticket.state, Ticket.created_at,
                    Ticket.updated_at, Ticket.due_at, Ticket.department, Ticket.merged_into_id, Ticket.geom,
                    Grid.name.label("grid"), Community.name.label("community"))


def requests(engine: Engine, *, now: datetime, street_id: int | None = None, ids: str | None = None,
             service_code: str | None = None, start_date: str | None = None, end_date: str | None = None,
             status: str | None = None, lang: str = "zh") -> list[dict[str, Any]]:
    """GET requests. ``ids`` (comma list of codes) overrides every other filter; otherwise the last 90 days
    (or start_date … end_date, at most 90 days apart), newest first, at most 1,000."""
    stmt = (select(*_REQUEST_COLUMNS).join(Grid, Grid.id == Ticket.grid_id)
            .join(Community, Community.id == Ticket.community_id))
    if street_id is not None:
        stmt = stmt.where(Scope("street", street_id=street_id).clause(Ticket.__table__))
    if ids:
        codes = [c.strip() for c in ids.split(",") if c.strip()][:MAX_RESULTS]
        stmt = stmt.where(Ticket.code.in_(codes))
    else:
        start, end = parse_time(start_date, "start_date"), parse_time(end_date, "end_date")
        if start is not None and end is not None and start > end:
            raise Open311Error(400, "start_date 晚于 end_date / start_date is after end_date")
        if start is not None and end is not None and end - start > timedelta(days=DEFAULT_DAYS):
            raise Open311Error(400, f"start_date 与 end_date 相隔不能超过 {DEFAULT_DAYS} 天 / at most {DEFAULT_DAYS} "
                                    "days between start_date and end_date")
        end = end or (start + timedelta(days=DEFAULT_DAYS) if start else now)
        start = start or end - timedelta(days=DEFAULT_DAYS)
        stmt = stmt.where(Ticket.created_at >= start, Ticket.created_at <= end)
        if service_code:
            codes = [c.strip() for c in service_code.split(",") if c.strip()]
            for code in codes:
                _service(code)
            stmt = stmt.where(Ticket.category.in_(codes))
        if status:
            wanted = {s.strip().lower() for s in status.split(",") if s.strip()}
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status 只能是 open 或 closed / status is open or closed")
            states = [s for s, st in workflow.STATES.items() if ("open" if st.is_open else "closed") in wanted]
            stmt = stmt.where(Ticket.state.in_(states))
    rows = store.read_frame(engine, stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_RESULTS))
    return _requests(engine, rows, lang)


def request(engine: Engine, code: str, *, street_id: int | None = None, lang: str = "zh") -> list[dict[str, Any]]:
    """GET requests/{id}: one request in a list (the specification's shape); 404 when there is none."""
    stmt = (select(*_REQUEST_COLUMNS).join(Grid, Grid.id == Ticket.grid_id)
            .join(Community, Community.id == Ticket.community_id).where(Ticket.code == str(code)[:24]))
    if street_id is not None:
        stmt = stmt.where(Scope("street", street_id=street_id).clause(Ticket.__table__))
    rows = store.read_frame(engine, stmt)
    if rows.empty:
        raise Open311Error(404, f"没有工单 {str(code)[:24]!r} / no such service request")
    return _requests(engine, rows, lang)


def token(engine: Engine, value: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: the request a token stands for (tickets are stored at once: always known)."""
    try:
        ticket = doors.ticket_for_token(engine, value)
    except NotFoundError:
        raise Open311Error(404, "没有这个 token / unknown token") from None
    return [dict(service_request_id=ticket["code"], token=value)]


def _requests(engine: Engine, rows: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
    merged = rows["merged_into_id"].dropna().astype(int).tolist()
    merged_codes = {}
    if merged:
        merged_codes = dict(store.read_frame(engine, select(Ticket.id, Ticket.code).where(Ticket.id.in_(merged)))
                            .itertuples(index=False))
    out = []
    for r in rows.itertuples():
        state = workflow.STATES[r.state]
        private = r.category in PRIVATE_CATEGORIES
        x, y = (round(r.geom.x, 3), round(r.geom.y, 3)) if private else (round(r.geom.x, 6), round(r.geom.y, 6))
        notes = state.name(lang)
        if r.state == "merged" and not pd.isna(r.merged_into_id):
            notes += f"：与 {merged_codes.get(int(r.merged_into_id), '')} 合并办理"
        agency = f"{r.community}{r.grid}" + (f" / {r.department}" if isinstance(r.department, str) and r.department
                                             else "")
        out.append(dict(
            service_request_id=r.code, status="open" if state.is_open else "closed", status_notes=notes,
            service_name=categories.CATEGORIES[r.category].name(lang), service_code=r.category,
            description=WITHHELD if private else public_text(r.description), agency_responsible=agency,
            service_notice="", requested_datetime=iso(r.created_at), updated_datetime=iso(r.updated_at),
            expected_datetime=iso(r.due_at), address=f"{r.community}{r.grid}", address_id="", zipcode="",
            lat=y, long=x, media_url=""))
    return out


# --------------------------------------------------------------------------- XML

def to_xml(root: str, item: str, rows: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    """The specification's XML: ``<root><item>…</item>…</root>`` (a dict: the root's own children)."""
    top = ET.Element(root)
    for row in ([rows] if isinstance(rows, dict) else rows):
        _fill(top if isinstance(rows, dict) else ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


#: Lists inside an element and the name of each entry (service_definition's attributes and values).
_LIST_ITEMS = {"attributes": "attribute", "values": "value"}


def _fill(element: ET.Element, row: dict[str, Any]) -> None:
    for name, value in row.items():
        child = ET.SubElement(element, name)
        if isinstance(value, list):
            for entry in value:
                _fill(ET.SubElement(child, _LIST_ITEMS.get(name, "item")), entry)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def errors_xml(status: int, description: str) -> bytes:
    return to_xml("errors", "error", [dict(code=status, description=description)])


def errors_json(status: int, description: str) -> list[dict[str, Any]]:
    return [dict(code=status, description=description)]
