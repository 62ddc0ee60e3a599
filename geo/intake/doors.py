"""Tickets through the residents' doors, the resident's tracking token, what they see, and their rating.

Every door ends in ``geo.tickets.service.report``, the desk's own function (routing by
point-in-polygon, the 30 m tolerance, the boundary and snapped flags), in one
transaction with its ``ticket_intake`` row: a ticket is stored with how it came in, or
not at all. A door bound to a street (an API key's, a ``jurisdiction_id``) refuses a
point routed into another street, and nothing is written.

The resident who posts from a phone (or through an API client acting for them) gets a
tracking token: 32 random characters, of which only the SHA-256 is stored. Whoever holds
it sees the ticket's steps (``track``: state names, times and the standard reasons, never
a member of staff's name, a note staff wrote, nor anything of other residents) and rates
the fix (``rate``): 3–5 stars close it, 1–2 reopen it, as the loop says (geo.tickets.rules),
recorded as the resident's own rating (rating source "resident").
"""
from __future__ import annotations

import hashlib
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select

from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Community, Grid, Ticket, TicketEvent, TicketIntake
from geo.errors import NotFoundError, OutsideAreaError, ValidationError
from geo.people import councils
from geo.tickets import categories, rules, service, workflow

#: door → (Chinese, English) name, and the ticket's source (Ticket.source) for tickets through it.
DOORS: dict[str, tuple[str, str]] = {
    "open311": ("开放接口（Open311）", "Open311 API"),
    "phone": ("群众点单（手机）", "phone page"),
    "qr": ("一码通（扫码）", "QR code"),
    "12345": ("12345热线", "12345 hotline"),
}
#: The ticket's source (tickets.rules.SOURCES, one list for every door and the desk): a resident through another
#: system is a resident's report; the door itself is kept in ticket_intake.door.
SOURCES: dict[str, str] = {"open311": "resident", "phone": "resident", "qr": "resident", "12345": "hotline"}
#: The phone page's big icons, one per category (geo.tickets.categories).
CATEGORY_ICONS: dict[str, str] = {
    "streetlight_road": "💡", "water": "🚰", "sanitation": "🗑️", "property": "🏢", "dispute": "🤝",
    "safety_hazard": "⚠️", "fire_equipment": "🧯", "public_order": "🚓", "employment": "💼", "elderly_care": "👵",
    "legal_aid": "⚖️", "epidemic": "🩺", "wage_arrears": "💰",
}
TOKEN_BYTES = 24
#: Who a resident's own rating is by, in histories (names of residents are masked anyway).
RESIDENT_NAME = "群众"


@dataclass(frozen=True)
class Receipt:
    """A stored ticket and the resident's tracking token (None for the hotline: they follow up by phone)."""

    ticket: dict[str, Any]
    token: str | None


def token_digest(token: str) -> str:
    return hashlib.sha256(f"track:{token}".encode()).hexdigest()


def submit(engine: Engine, *, door: str, category: str, description: str, lon: float, lat: float, now: datetime,
           urgent: bool = False, reporter_name: str | None = None, reporter_phone: str | None = None,
           photo: str | None = None, street_id: int | None = None, api_key_id: int | None = None,
           external_id: str | None = None, address: str | None = None, media_url: str | None = None,
           with_token: bool = True, conn=None, where: service.Routing | None = None) -> Receipt:
    """Store a ticket that came through ``door``: the desk's report, plus how it came in, in one transaction.

    ``street_id``: the door's street; a point routed elsewhere is refused (OutsideAreaError) and
    nothing is stored. ``external_id``: the hotline's order number, unique per door (a second
    import of it is refused by the database, the whole transaction with it). ``conn``: write in the
    caller's open transaction (a hotline batch is stored whole or not at all). ``where``: the point's
    routing when the caller routed a whole batch at once (service.as_routings).
    """
    if door not in DOORS:
        raise ValueError(f"unknown door {door!r}; known: {', '.join(DOORS)}")
    if reporter_phone is not None:
        reporter_phone = check_phone(reporter_phone)
    token = secrets.token_urlsafe(TOKEN_BYTES) if with_token else None
    with nullcontext(conn) if conn is not None else engine.begin() as conn:
        ticket = service.report(engine, category=category, description=description, lon=lon, lat=lat, now=now,
                                urgent=urgent, reporter_name=(reporter_name or "").strip()[:32] or None,
                                reporter_phone=reporter_phone, photo=photo, source=SOURCES[door], conn=conn,
                                by=door_actor(door, api_key_id), where=where)
        if street_id is not None and ticket["street_id"] != street_id:
            raise OutsideAreaError(f"该位置不在本街道辖区内（{lon:.6f}, {lat:.6f}），请确认位置 / this point is outside "
                                   "the street this door serves")
        conn.execute(insert(TicketIntake), [dict(
            ticket_id=ticket["id"], door=door, token_hash=token_digest(token) if token else None,
            api_key_id=api_key_id, external_id=external_id, address=(address or None) and address[:255],
            media_url=(media_url or None) and media_url[:1024], created_at=now)])
    return Receipt(ticket, token)


def door_actor(door: str, api_key_id: int | None = None) -> rules.Actor:
    """Who a door's report is by: the resident (群众, masked like every resident), audited under the door's
    name (and the API key's id), never under the name a resident typed."""
    return rules.Actor(RESIDENT_NAME, workflow.RESIDENT,
                       username=f"{door}:key{api_key_id}" if api_key_id is not None else door)


def check_phone(phone: str) -> str | None:
    """A mainland mobile (11 digits from 1) or a landline (7–12 digits, with area code); "" → None."""
    digits = "".join(c for c in str(phone) if c.isdigit())
    if not digits:
        return None
    if not (7 <= len(digits) <= 12) or (len(digits) == 11 and not digits.startswith("1")):
        raise ValidationError("电话号码格式不对：请填写 11 位手机号或带区号的座机号 / enter an 11-digit mobile or a landline")
    return digits


# --------------------------------------------------------------------------- the resident's view

def ticket_for_token(engine: Engine, token: str | None) -> dict[str, Any]:
    """The ticket a tracking token opens (NotFoundError for anything else: one message for all)."""
    if not token or len(token) > 128:
        raise NotFoundError("查询链接无效，请使用提交后得到的完整链接 / this tracking link is not valid")
    with engine.connect() as conn:
        tid = conn.execute(select(TicketIntake.ticket_id).where(
            TicketIntake.token_hash == token_digest(token))).scalar()
    if tid is None:
        raise NotFoundError("查询链接无效，请使用提交后得到的完整链接 / this tracking link is not valid")
    return service.get(engine, tid, scope=_own(engine, tid))


def _own(engine: Engine, ticket_id: int) -> Scope:
    """The one-ticket scope a token gives: the ticket's grid (the token already named the ticket)."""
    with engine.connect() as conn:
        grid_id = conn.execute(select(Ticket.grid_id).where(Ticket.id == ticket_id)).scalar()
    return Scope("grid", grid_id=grid_id if grid_id is not None else -1)


def public_steps(engine: Engine, ticket: dict[str, Any], lang: str = "zh") -> pd.DataFrame:
    """The ticket's steps as a resident may see them: when, what was done, the state after.

    No actor (staff names stay inside), no notes except the resident's own rating words and
    the standard reasons of a refusal (geo.tickets.workflow.REJECT_REASONS).
    """
    e = TicketEvent.__table__
    h = store.read_frame(engine, select(e.c.at, e.c.action, e.c.from_state, e.c.to_state, e.c.note, e.c.actor_role)
                         .where(e.c.ticket_id == ticket["id"]).order_by(e.c.at, e.c.id))
    wf = workflow.workflow(ticket["workflow"])
    zh = lang == "zh"
    own = {"report": "提交诉求" if zh else "Reported", "arrive": "工作人员到场" if zh else "On site",
           "merged_from": "合并了重复诉求" if zh else "Duplicate merged in"}

    def what(row) -> str:
        move = wf.move(row.from_state, row.action) if row.from_state else None
        return move.name(lang) if move else own.get(row.action, row.action)

    def said(row) -> str:
        if row.actor_role == workflow.RESIDENT and row.action in ("rate", "reopen"):
            return str(row.note or "")
        if row.action == "reject" and row.note in workflow.REJECT_REASONS:
            return str(row.note)
        return ""

    return pd.DataFrame({
        "at": pd.to_datetime(h["at"]), "step": [what(r) for r in h.itertuples()],
        "state": [workflow.STATES[s].name(lang) for s in h["to_state"]],
        "note": [said(r) for r in h.itertuples()],
    })


def public_view(engine: Engine, ticket: dict[str, Any], lang: str = "zh") -> dict[str, Any]:
    """What the resident's tracking page shows: code, category, place (grid, community), state, deadline,
    whether they may rate now (awaiting rating) or reopen (closed as fixed), and the department at work."""
    with engine.connect() as conn:
        place = conn.execute(select(Grid.name, Community.name.label("community")).join(
            Community, Community.id == Grid.community_id).where(Grid.id == ticket["grid_id"])).first()
    state = workflow.STATES[ticket["state"]]
    return dict(
        code=ticket["code"], category=categories.CATEGORIES[ticket["category"]].name(lang),
        description=ticket["description"], created_at=ticket["created_at"], due_at=ticket["due_at"],
        state=ticket["state"], state_name=state.name(lang), is_open=state.is_open,
        grid=place.name if place else "", community=place.community if place else "",
        department=ticket.get("department") or "", rating=ticket.get("rating"),
        may_rate=ticket["state"] == "resolved", may_reopen=ticket["state"] == "closed",
        steps=public_steps(engine, ticket, lang))


def rate(engine: Engine, token: str, stars: int, *, now: datetime, note: str | None = None) -> dict[str, Any]:
    """The resident rates the fix with their tracking token: 3–5 stars close the ticket, 1–2 reopen it
    (from "awaiting rating", or after it was closed). Their own rating: source "resident"."""
    ticket = ticket_for_token(engine, token)
    note = (note or "").strip()[:500] or None
    if ticket["state"] == "closed" and stars not in workflow.BAD_RATINGS:
        raise ValidationError("该诉求已办结并评价；如仍不满意，请给 1–2 星重新提出 / already closed; give 1–2 stars "
                              "to reopen it")
    actor = rules.Actor(RESIDENT_NAME, workflow.RESIDENT, username="resident")
    return service.act(engine, ticket["id"], "rate", actor, expected_version=ticket["version"], now=now,
                       scope=_own(engine, ticket["id"]), rating=int(stars), note=note)


def public_map_layers(engine: Engine, street_id: int | None) -> dict[str, Any]:
    """What the resident's map shows (geo.maps.leaflet.street_map layers): the street's outlines, grids, roads
    and buildings. No ticket, camera, facility or person: the page is public."""
    from geo.db.schema import Building, Road, Street
    from geo.maps import layers

    def where(table):
        if street_id is None:
            return Street.id.is_not(None) if table is Street.__table__ else Community.id.is_not(None) \
                if table is Community.__table__ else table.c.id.is_not(None)
        return table.c.id == street_id if table is Street.__table__ else Scope("street", street_id=street_id).clause(table)

    street = store.read_layer(engine, Street, where=where(Street.__table__))
    road_ids = store.ids_intersecting(engine, Road, street.geometry.union_all()) if len(street) else []
    return {
        "street": street,
        "communities": store.read_layer(engine, Community, where=where(Community.__table__)),
        "grids": layers.grids(engine, street_id),
        "roads": store.read_layer(engine, Road, where=Road.id.in_(road_ids)),
        "buildings": store.read_layer(engine, Building, columns=[
            "id", "name", "grid_id", "floors", "households", "residents", "geom"],
                                      where=where(Building.__table__)),
    }


def intake_of(engine: Engine, ticket_id: int) -> dict[str, Any] | None:
    """How a ticket came in (door, key, order number), for staff; None when it was entered on the desk."""
    t = TicketIntake.__table__
    with engine.connect() as conn:
        row = conn.execute(select(t.c.door, t.c.api_key_id, t.c.external_id, t.c.address, t.c.media_url,
                                  t.c.created_at).where(t.c.ticket_id == ticket_id)).mappings().first()
    return dict(row) if row else None


def council_notices(engine: Engine, lon: float, lat: float, lang: str = "zh") -> pd.DataFrame:
    """What the councils of the place's community and grid have made public (一征三议两公开's 两公开), for the
    resident's page: geo.people.councils.public_list, which holds no names. Empty for a place outside the street."""
    try:
        where = service.route(engine, lon, lat)
    except (OutsideAreaError, ValidationError):
        return pd.DataFrame(columns=list(councils.PUBLIC_FIELDS))
    return councils.public_list(engine, community_id=where.community_id, grid_id=where.grid_id, lang=lang)

