"""The data model: street → community → grid → estate → building → household → resident,
with the people who run the grids, facilities, cameras, roads and tickets.

Geometries are stored in WGS 84 longitude-latitude. On PostgreSQL they are
real PostGIS ``geometry(…, 4326)`` columns with GiST indexes, so spatial
filters run in SQL; on SQLite (the embedded default, no SpatiaLite needed)
they are WKB blobs beside a bounding box (``minx … maxy``) that SQL filters
on before shapely tests the exact shape. The ``Geometry`` type hides the
difference: both sides read and write shapely geometries.
"""
from __future__ import annotations

from datetime import date, datetime

import shapely
from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
    UniqueConstraint, func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

SRID = 4326


class _PostGISGeometry(UserDefinedType):
    """``geometry(Geometry, 4326)`` on PostGIS, exchanged as WKB."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return f"geometry(Geometry, {SRID})"

    def bind_expression(self, bindvalue):
        return func.ST_GeomFromWKB(bindvalue, SRID, type_=self)

    def column_expression(self, col):
        return func.ST_AsBinary(col, type_=self)

    def result_processor(self, dialect, coltype):
        return _from_wkb


def _from_wkb(value):
    if value is None or isinstance(value, shapely.Geometry):
        return value
    return shapely.from_wkb(bytes(value))


class Geometry(TypeDecorator):
    """A shapely geometry column: PostGIS geometry on PostgreSQL, WKB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISGeometry())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return shapely.to_wkb(value)

    def process_result_value(self, value, dialect):
        return _from_wkb(value)


class Base(DeclarativeBase):
    pass


class _Spatial:
    """Geometry plus its bounding box (the SQLite spatial pre-filter)."""

    geom: Mapped[object] = mapped_column(Geometry, nullable=True)
    minx: Mapped[float | None] = mapped_column(Float)
    miny: Mapped[float | None] = mapped_column(Float)
    maxx: Mapped[float | None] = mapped_column(Float)
    maxy: Mapped[float | None] = mapped_column(Float)


class Street(_Spatial, Base):
    __tablename__ = "street"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # 9-digit division code
    name: Mapped[str] = mapped_column(String(64))


class Community(_Spatial, Base):
    __tablename__ = "community"
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), index=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # 12-digit division code
    name: Mapped[str] = mapped_column(String(64))
    workflow: Mapped[str | None] = mapped_column(String(24))  # ticket loop (geo.tickets.workflow); None: the default


class Grid(_Spatial, Base):
    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # community code + 3 digits
    name: Mapped[str] = mapped_column(String(64))
    grid_type: Mapped[str] = mapped_column(String(16))  # area / estate / courtyard / unit
    # A retired grid (geo.grids.edits.retire) keeps its row and code, because closed tickets and visits
    # still name it, but holds no land: its geometry is emptied (no spatial query finds it) and every
    # list of grids leaves it out (``retired_at IS NULL``).
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    retired_by: Mapped[str | None] = mapped_column(String(64))


class Estate(_Spatial, Base):
    __tablename__ = "estate"
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # commercial / old / resettlement / courtyard / unit
    has_property_company: Mapped[bool] = mapped_column(Boolean, default=True)
    has_owners_committee: Mapped[bool] = mapped_column(Boolean, default=True)
    # 红色物业 and 三无小区 (geo.people.estates): who manages it, and when it became a 三有小区
    property_company: Mapped[str | None] = mapped_column(String(64))  # its name; None: no property company
    supervising_unit: Mapped[str | None] = mapped_column(String(64))  # 主管单位; None: 无主管
    red_property: Mapped[bool] = mapped_column(Boolean, default=False)  # party-led property service (红色物业)
    three_have_on: Mapped[date | None] = mapped_column(Date)  # 三无 → 三有 (organisation, rules, activities)
    three_have_note: Mapped[str | None] = mapped_column(Text)


class Building(_Spatial, Base):
    __tablename__ = "building"
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    floors: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    residents: Mapped[int] = mapped_column(Integer)
    entrance_lon: Mapped[float] = mapped_column(Float)
    entrance_lat: Mapped[float] = mapped_column(Float)
    # a street's own key for the building (楼栋编码) and its address: a re-import matches buildings by
    # code (else address), and a household register names its building by either (geo.load)
    code: Mapped[str | None] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(128))


class Household(Base):
    __tablename__ = "household"
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    unit_no: Mapped[int] = mapped_column(Integer)
    room: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)
    elderly_alone: Mapped[bool] = mapped_column(Boolean, default=False)
    low_income: Mapped[bool] = mapped_column(Boolean, default=False)
    code: Mapped[str | None] = mapped_column(String(32), index=True)  # 户编号 from the register (geo.load)


class Resident(Base):
    __tablename__ = "resident"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    gender: Mapped[str] = mapped_column(String(1))  # M / F
    birth_year: Mapped[int] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(16))
    id_number: Mapped[str] = mapped_column(String(18))
    elderly_alone: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    low_income: Mapped[bool] = mapped_column(Boolean, default=False)
    party_member: Mapped[bool] = mapped_column(Boolean, default=False)


class VolunteerTeam(Base):
    """A volunteer team of a community, by specialty (纠纷调解, 环境清洁 …), serving it or one of its grids."""

    __tablename__ = "volunteer_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    specialty: Mapped[str] = mapped_column(String(32))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)  # the grid it serves; None: all
    leader_id: Mapped[int | None] = mapped_column(Integer)  # person.id of its leader (person is made after teams)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)


class Person(Base):
    """Someone with a governance role, bound to a place.

    role: grid_head, grid_worker, grid_assistant, grid_supervisor, building_head,
    household_link_head, party_member, volunteer, community_staff, street_staff, leader.
    """

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(24), index=True)
    name: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(16))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_team.id"))
    workplace: Mapped[str | None] = mapped_column(String(64))  # 双报到: the unit they work in
    contact_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))  # 领导联系点: a grid …
    contact_community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))  # … or a community
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class CareLink(Base):
    """Someone bound to a household: a party member who looks after it (包保, 5–8 households
    each, kind "party") or the household-link head of its neighbours (联户长, ~30, kind "link").

    A table of its own rather than a column on household: people are loaded after the
    households they live in, so a household cannot point at a person yet.
    """

    __tablename__ = "care_link"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    # indexed on its own: "who looks after this household" (the key leads with person_id) would scan
    # every link in the database for each household of a grid (issue 15)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(8), default="party")  # party / link


class Facility(_Spatial, Base):
    __tablename__ = "facility"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(24), index=True)  # key in geo.place.catalogue
    name: Mapped[str] = mapped_column(String(64))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    address: Mapped[str | None] = mapped_column(String(128))
    open_hours: Mapped[str | None] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(32), index=True)  # the street's own key (geo.load matches by it)


class Camera(_Spatial, Base):
    __tablename__ = "camera"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    heading: Mapped[float] = mapped_column(Float)  # degrees clockwise from north
    fov: Mapped[float] = mapped_column(Float)  # field of view, degrees
    range_m: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12))  # online / offline / fault
    kind: Mapped[str] = mapped_column(String(16))  # 雪亮 / 天网 / gate


class Road(_Spatial, Base):
    __tablename__ = "road"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # arterial / street / lane / footway
    name: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(32), index=True)  # e.g. osm:w123 for a way from OpenStreetMap
    level: Mapped[int | None] = mapped_column(Integer)  # 0 ground, >0 bridge, <0 tunnel (the walking graph's levels)


class OpenSpace(_Spatial, Base):
    """A public open space or an empty parcel: park, square (activity ground) or vacant lot.

    Squares and parks are what cameras should watch and residents use as activity
    grounds; vacant lots are where a new station could be built (coverage siting).
    """

    __tablename__ = "open_space"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    kind: Mapped[str] = mapped_column(String(12))  # vacant / square / park
    name: Mapped[str] = mapped_column(String(64))
    area_m2: Mapped[float | None] = mapped_column(Float)


class Ticket(_Spatial, Base):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    category: Mapped[str] = mapped_column(String(24), index=True)
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24), index=True)
    workflow: Mapped[str] = mapped_column(String(24), default="five_step")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="resident")  # resident / patrol / video / hotline
    # indexed: the wall and every street-wide reader filter by street (issue 15, checked with EXPLAIN on PostGIS)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    routing_flag: Mapped[str | None] = mapped_column(String(24))  # boundary / snapped
    reporter_name: Mapped[str | None] = mapped_column(String(32))
    reporter_phone: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    department: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(12), default="grid")  # grid / community / street
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)  # the wall: closed today / this month
    due_at: Mapped[datetime | None] = mapped_column(DateTime)  # the whole ticket's limit
    step_due_at: Mapped[datetime | None] = mapped_column(DateTime)  # limit of the current step
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    arrive_by: Mapped[datetime | None] = mapped_column(DateTime)  # party member on site within 30 min
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime)
    photo: Mapped[str | None] = mapped_column(String(255))  # file name under data/uploads
    rating: Mapped[int | None] = mapped_column(Integer)  # the latest rating (every one is in ticket_event)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # who gave the latest rating (geo.tickets.rules.RATING_CHANNELS): the resident themselves, or staff on the
    # resident's behalf after a phone call, a home visit, on site, or the 12345 hotline's follow-up
    rating_channel: Mapped[str | None] = mapped_column(String(16))
    first_resolved_at: Mapped[datetime | None] = mapped_column(DateTime)  # kept through reopens
    ratings_given: Mapped[int] = mapped_column(Integer, default=0)  # every rating, reopening ones too
    ratings_satisfied: Mapped[int] = mapped_column(Integer, default=0)  # of those, 3 stars or more
    ratings_self: Mapped[int] = mapped_column(Integer, default=0)  # of ratings_given, by the resident themselves
    ratings_self_satisfied: Mapped[int] = mapped_column(Integer, default=0)  # of those, 3 stars or more
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class TicketEvent(Base):
    """One transition in a ticket's history: who moved it, when, from where to where."""

    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(48))
    actor_role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)  # stars given with this event (rate / reopen)
    rating_channel: Mapped[str | None] = mapped_column(String(16))  # who gave them (geo.tickets.rules.RATING_CHANNELS)


class Meta(Base):
    """Key/value facts about the database (schema version, how it was built)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoadMapping(Base):
    """The last column mapping a street used for one kind of layer (geo.load.mapping): the next
    yearly reload of the same office's files starts from it instead of from a guess."""

    __tablename__ = "load_mapping"
    street_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    layer: Mapped[str] = mapped_column(String(16), primary_key=True)  # geo.load.fields.LAYERS key
    columns: Mapped[str] = mapped_column(Text)  # JSON: our field → the file's column
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class User(Base):
    """A login: a role and the area it answers for (see geo.access.roles.scope_for).

    ``password_hash`` is an argon2id PHC string (geo.access.auth); the clear password
    is never stored. ``app_user`` because ``user`` is reserved in PostgreSQL.
    """

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))  # key in geo.access.roles.ROLES
    display_name: Mapped[str] = mapped_column(String(48))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginThrottle(Base):
    """Sign-in attempts counted per key, so guessing is slowed and a restart does not reset it (geo.access.throttle).

    One row per key: ``kind`` "pair" (a name from one address), "name" (a name
    from anywhere), "addr" (an address, any name) or "kiosk" (wall tokens from
    one address); the unused part of the key is "". ``failures`` counts the
    current streak, attempts still being checked included (they are reserved
    before the password is); ``blocked_until`` is when the next attempt is let
    through. ``refused`` counts attempts turned away while blocked.
    """

    __tablename__ = "login_throttle"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    address: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_at: Mapped[datetime | None] = mapped_column(DateTime)  # the latest attempt let through
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)  # "pair": this name signed in from here


class KioskToken(Base):
    """The wall displays' sign-in token (geo.access.kiosk): only its SHA-256 is stored, never the token.

    At most one row has ``retired_at`` empty: the current token. Sessions a wall
    started with a token carry its id, so retiring it ends them.
    """

    __tablename__ = "kiosk_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))  # a user name, or SHEQU_SCREEN_TOKEN when seeded from it
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    retired_by: Mapped[str | None] = mapped_column(String(64))


class LoginSession(Base):
    """A signed-in browser (geo.access.sessions): a random token lives in its cookie, only its SHA-256 here.

    ``role_area`` is the role and area the user had at sign-in; when the user's
    row no longer matches it (role or area changed), the session is over. A
    wall display's session carries the kiosk token it signed in with
    (``kiosk_token_id``): retiring that token ends it. Made on first start for databases built before it existed (geo.access.sessions.ensure_table).
    """

    __tablename__ = "login_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    role_area: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    address: Mapped[str | None] = mapped_column(String(64))  # where it signed in from (geo.access.throttle.client_address)
    kiosk_token_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_token.id"), index=True)  # a wall's


class AuditLog(Base):
    """Who did what, when: every change, every reveal of personal data, every login."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str | None] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(32), index=True)  # e.g. household.reveal, ticket.accept
    object_type: Mapped[str | None] = mapped_column(String(24))
    object_id: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class Visit(Base):
    """A grid worker's visit to a household (入户走访): what was found, and any ticket it opened."""

    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    visited_on: Mapped[date] = mapped_column(Date, index=True)
    visitor: Mapped[str] = mapped_column(String(48))
    note: Mapped[str | None] = mapped_column(Text)
    issues: Mapped[str | None] = mapped_column(String(255))  # comma-separated keys of geo.people.visits.ISSUES
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime)


class ApiKey(Base):
    """A key another system posts tickets with over the Open311 API (geo.intake.keys).

    Street staff make, name and revoke keys on the dashboard; only the key's SHA-256 is
    stored (a random 160-bit key needs no slow hash) and its first characters, so staff
    can tell keys apart. ``per_minute`` is the key's own rate limit.
    """

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))  # posts only into this street
    per_minute: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class TicketIntake(Base):
    """How a ticket came in through a residents' door (geo.intake): the door, the resident's tracking
    token (its SHA-256 only), the API key, the hotline's own order number, the address as given.

    One row per ticket that came through a door; tickets entered on the desk have none. The
    hotline's order number is unique per door, so importing the same batch twice adds nothing.
    """

    __tablename__ = "ticket_intake"
    __table_args__ = (UniqueConstraint("door", "external_id", name="uq_ticket_intake_external"),)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True)
    door: Mapped[str] = mapped_column(String(12), index=True)  # open311 / phone / qr / 12345
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64))  # the 12345 hotline's order number
    address: Mapped[str | None] = mapped_column(String(255))  # address_string, the hotline's address
    media_url: Mapped[str | None] = mapped_column(String(1024))  # Open311 media_url: kept as text, never fetched
    created_at: Mapped[datetime] = mapped_column(DateTime)


class IntakeCounter(Base):
    """Posts counted per key, address or phone in fixed windows (geo.intake.limits): the doors' rate limits.

    ``subject`` is an API key id, an address, or a phone number's SHA-256 (never the number).
    """

    __tablename__ = "intake_counter"
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- the people around the grid (issue 17)

class VolunteerActivity(_Spatial, Base):
    """One volunteer activity: when, where (a point on the map), which team, and how long it ran."""

    __tablename__ = "volunteer_activity"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    title: Mapped[str] = mapped_column(String(64))
    place: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    hours: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class VolunteerAttendance(Base):
    """Who came to an activity and the minutes each is credited with (人次 and hours)."""

    __tablename__ = "volunteer_attendance"
    activity_id: Mapped[int] = mapped_column(ForeignKey("volunteer_activity.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True, index=True)
    minutes: Mapped[int] = mapped_column(Integer)


class TimeAccount(Base):
    """A volunteer's time bank account (志愿服务互助银行), in minutes. The CHECK is the last guard:
    geo.people.volunteers spends only with a conditional UPDATE, so a balance never goes below zero."""

    __tablename__ = "time_account"
    __table_args__ = (CheckConstraint("balance_min >= 0", name="ck_time_account_not_negative"),)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    balance_min: Mapped[int] = mapped_column(Integer, default=0)
    earned_min: Mapped[int] = mapped_column(Integer, default=0)
    spent_min: Mapped[int] = mapped_column(Integer, default=0)


class TimeEntry(Base):
    """One movement of a time bank account: earned at an activity or by serving, spent on a service."""

    __tablename__ = "time_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    minutes: Mapped[int] = mapped_column(Integer)  # + earned, - spent
    kind: Mapped[str] = mapped_column(String(16))  # activity / served / received
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_activity.id"))
    counterpart_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))  # the other volunteer of a service
    note: Mapped[str | None] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(64))


class Patrol(Base):
    """A grid's monthly patrol (巡查): who walked it, when; its ratings are PatrolRating rows."""

    __tablename__ = "patrol"
    __table_args__ = (UniqueConstraint("grid_id", "month", name="uq_patrol_grid_month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    patrolled_on: Mapped[date] = mapped_column(Date)
    patroller: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class PatrolRating(Base):
    """One rating of a patrol: a household (清洁文明户) or a building (卫生单元楼, 安全楼栋), 1–5 stars.

    ``target`` ("h<id>" or "b<id>") makes one rating per kind and place per patrol.
    """

    __tablename__ = "patrol_rating"
    __table_args__ = (UniqueConstraint("patrol_id", "kind", "target", name="uq_patrol_rating_target"),
                      CheckConstraint("stars BETWEEN 1 AND 5", name="ck_patrol_rating_stars"))
    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # key of geo.people.patrols.RATING_KINDS
    target: Mapped[str] = mapped_column(String(16))
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"))
    stars: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(255))  # file name under data/uploads (geo.io.photos)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    rated_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LeaderVisit(Base):
    """A leader's visit to their contact point (领导联系点调研), recorded like a household visit."""

    __tablename__ = "leader_visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    visited_on: Mapped[date] = mapped_column(Date, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CouncilMatter(Base):
    """A matter before a community or grid council (议事会), through 一征三议两公开:
    opinions collected (一征), proposed, discussed and decided (三议), the decision and the outcome
    made public (两公开). ``stage`` is a key of geo.people.councils.STAGES; ``version`` guards edits."""

    __tablename__ = "council_matter"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)  # None: the community council
    title: Mapped[str] = mapped_column(String(80))
    summary: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    raised_on: Mapped[date] = mapped_column(Date)
    proposal: Mapped[str | None] = mapped_column(Text)  # 党组织提议
    deliberation: Mapped[str | None] = mapped_column(Text)  # 两委/联席会议商议
    decision: Mapped[str | None] = mapped_column(Text)  # 居民(代表)会议决议
    votes_for: Mapped[int | None] = mapped_column(Integer)
    votes_against: Mapped[int | None] = mapped_column(Integer)
    decided_on: Mapped[date | None] = mapped_column(Date)
    notice: Mapped[str | None] = mapped_column(Text)  # 决议公开
    published_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(Text)  # 实施结果公开
    outcome_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class CouncilOpinion(Base):
    """One opinion collected on a matter (一征): what was said and whether for or against; no names."""

    __tablename__ = "council_opinion"
    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("council_matter.id"), index=True)
    collected_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))  # key of geo.people.councils.CHANNELS
    stance: Mapped[str] = mapped_column(String(8))  # for / against / other
    text: Mapped[str] = mapped_column(Text)
    collected_by: Mapped[str] = mapped_column(String(64))


class CouncilTicket(Base):
    """A ticket that raised (or is answered by) a council matter."""

    __tablename__ = "council_ticket"
    matter_id: Mapped[int] = mapped_column(ForeignKey("council_matter.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True, index=True)



class EarlyWarning(Base):
    """A warning the detectors found (geo.tickets.warnings, 智能预警): what, where (a point and a radius
    for the map), since when, how unusual (a figure and its meaning), the tickets behind it; then who
    acknowledged and closed it. ``key`` names the finding (kind, place, category): a run that finds it
    again updates the row; after a person closed it, a new finding opens the next ``episode``."""

    __tablename__ = "warning"
    __table_args__ = (UniqueConstraint("key", "episode", name="uq_warning_key_episode"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), index=True)
    episode: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # spike / cluster / fall / repeat / pile
    state: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open / acknowledged / closed
    title: Mapped[str] = mapped_column(String(120))
    meaning: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    since: Mapped[datetime] = mapped_column(DateTime)
    detected_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(24))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"))
    ticket_ids: Mapped[str] = mapped_column(Text)  # JSON list of ticket ids
    grids: Mapped[str] = mapped_column(Text)  # JSON list of the grids its tickets are in
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)

SPATIAL_TABLES = [t.__table__ for t in (Street, Community, Grid, Estate, Building, Facility,
                                         Camera, Road, OpenSpace, Ticket, VolunteerActivity)]

# B-tree indexes on the bounding box serve SQLite's pre-filter; PostGIS gets GiST (store.py).
for _t in SPATIAL_TABLES:
    Index(f"ix_{_t.name}_bbox", _t.c.minx, _t.c.maxx, _t.c.miny, _t.c.maxy)
