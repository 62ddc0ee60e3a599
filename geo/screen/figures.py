"""The command-centre big screen (指挥中心大屏): its configuration and headline figures.

Everything here works for any ``Scope`` (the whole street or district, one
community, one grid) and takes the clock as an argument, so tests pin it.
The page (pages/screen.py) only caches, lays out and draws.

Definitions (rates come from geo.tickets.indicators, so the screen and the reports agree):

- residents: sum of building populations; households: household rows;
  party members: people with role ``party_member`` (双报到 included);
  volunteers: people with role ``volunteer``.
- open: tickets in an open state (geo.tickets.workflow); new today: reported since
  midnight; closed today: closed as a case (结案: fixed or closed unfixed)
  since midnight; overdue now: open and past the whole ticket's limit.
- on-time closure (按期结案率) and satisfaction (满意率): over tickets
  reported in the last ``PERIOD_DAYS`` days (geo.tickets.indicators.compute).
- cameras: online, offline and fault counted apart (offline and fault both
  give no picture, but a fault needs a repair crew, offline a network check).
- 15-minute circle: geo.coverage.coverage.circle, the planning page's figure: the
  share of residents whose building door reaches a facility of *every* required
  type (geo.place.catalogue.required_types, the complete-community standard) within
  that type's own standard reach, walking along the road and footpath network;
  beneath it, named 宽口径, the looser reading (every type within a 15-minute walk,
  1,125 m). When the walking plan cannot be built (no roads), the same rules in a
  straight line are the fallback, and say so. Facilities outside the scope still
  serve it: people cross community lines.
- comparisons (``compare``): today's counts against yesterday at the same
  time of day, the open and overdue counts against 24 hours ago, the 30-day
  rates against the 30 days before; each change knows whether up is good news.
- newly overdue (``newly_overdue``): open tickets whose limit ran out in
  (since, now], i.e. since the wall's last refresh: the only ones that flash.

The panels are in geo.screen.panels, the map's data in geo.screen.map_data,
one whole refresh in geo.screen.wall.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, exists, func, or_, select, true

from geo.place import catalogue, projection
from geo.coverage import coverage, network
from geo.tickets import indicators, workflow
from geo.db import store
from geo.access import audit
from geo.maps.layers import category_names
from geo.access.roles import Scope
from geo.db.schema import (
    AuditLog, Building, Camera, Community, Facility, Grid, Household, Person, Street, Ticket, TicketEvent)

log = logging.getLogger(__name__)

#: Refresh interval when SHEQU_SCREEN_REFRESH_S is unset or unusable, and the shortest allowed (s).
DEFAULT_REFRESH_S, MIN_REFRESH_S = 30, 5
#: "offline": the town's own roads and outlines, no outside host; "carto": Carto's dark tiles
#: (internet); "tiles": a self-hosted XYZ tile server (SHEQU_SCREEN_TILES, for intranets).
BASEMAPS: tuple[str, ...] = ("offline", "carto", "tiles")


def refresh_seconds(raw: str | None) -> int:
    """SHEQU_SCREEN_REFRESH_S as whole seconds (at least 5); anything else warns and gives 30.

    A typo in the wall's configuration must not take the wall down.
    """
    text = (raw or "").strip()
    if not text:
        return DEFAULT_REFRESH_S
    try:
        value = int(text)
    except ValueError:
        log.warning("SHEQU_SCREEN_REFRESH_S=%r is not a whole number of seconds; using %d",
                    raw, DEFAULT_REFRESH_S)
        return DEFAULT_REFRESH_S
    if value < MIN_REFRESH_S:
        log.warning("SHEQU_SCREEN_REFRESH_S=%d is below %d s; using %d", value, MIN_REFRESH_S, MIN_REFRESH_S)
        return MIN_REFRESH_S
    return value


def tile_url_ok(url: str) -> bool:
    """An XYZ tile template the browser can ask: http(s):// or a same-host path, with {z}, {x} and {y}."""
    return (url.startswith(("http://", "https://", "/"))
            and all(k in url for k in ("{z}", "{x}", "{y}")))


def basemap_choice(raw: str | None, tiles: str | None) -> tuple[str, str | None]:
    """(basemap, tile URL) from SHEQU_SCREEN_BASEMAP and SHEQU_SCREEN_TILES.

    A tile URL alone selects "tiles"; an unknown basemap, or "tiles" without a
    usable URL, warns and falls back to "offline" (which always works).
    """
    name = (raw or "").strip().lower()
    url = (tiles or "").strip()
    if url and not tile_url_ok(url):
        log.warning("SHEQU_SCREEN_TILES=%r is not an http(s) XYZ template with {z}/{x}/{y}; ignored", url)
        url = ""
    if not name:
        name = "tiles" if url else "offline"
    if name not in BASEMAPS:
        log.warning("SHEQU_SCREEN_BASEMAP=%r is not one of %s; using the offline basemap", raw, BASEMAPS)
        return "offline", None
    if name == "tiles" and not url:
        log.warning("SHEQU_SCREEN_BASEMAP=tiles needs SHEQU_SCREEN_TILES=http://host/{z}/{x}/{y}.png; "
                    "using the offline basemap")
        return "offline", None
    return name, url if name == "tiles" else None


#: Seconds between refreshes of the screen (env SHEQU_SCREEN_REFRESH_S).
REFRESH_S: int = refresh_seconds(os.environ.get("SHEQU_SCREEN_REFRESH_S"))
#: The basemap and, for "tiles", the tile URL template (env SHEQU_SCREEN_BASEMAP, SHEQU_SCREEN_TILES).
BASEMAP, TILES = basemap_choice(os.environ.get("SHEQU_SCREEN_BASEMAP"), os.environ.get("SHEQU_SCREEN_TILES"))
#: Window of the rates, the trend and the density layer.
PERIOD_DAYS: int = 30
#: H3 resolution of the ticket-density layer (9: cells of about 0.1 km², edge ~174 m).
H3_RESOLUTION: int = 9
#: Coarser cells when the scope spans several streets (8: ~0.7 km², edge ~460 m, about a community):
#: tickets, cameras and facilities are counted per cell instead of sent one by one.
WIDE_H3_RESOLUTION: int = 8
#: Ticket history actions shown in the live feed.
FEED_ACTIONS: tuple[str, ...] = ("report", "escalate")
#: Road classes drawn as the offline basemap (footways to every door are too fine for a wall).
BASEMAP_ROADS: tuple[str, ...] = ("arterial", "street", "lane")
#: ... and across several streets only arterials: a lane is narrower than a pixel there, and streets
#: run along the grid outlines that are drawn anyway (they were a third of a district's bytes).
WIDE_ROADS: tuple[str, ...] = ("arterial",)
#: Simplification of outlines and roads before they go to the browser (metres); across several
#: streets half a map pixel (MAP_WIDTH_PX over the area's width) when that is more.
SIMPLIFY_M: float = 3.0
MAP_WIDTH_PX: int = 1000
#: An area needs this many cases due in the window before it is ranked by on-time rate
#: (one late case out of one is not a 0 % area).
MIN_DUE: int = 3
#: On-time closure rate bands for the wall's rankings (按期结案率): below the first a row is red, up to
#: the second amber, from it green. Local targets differ (many 12345 centres score 90–95 %): set yours.
ON_TIME_BANDS: tuple[float, float] = (0.80, 0.95)


def on_time_tone(rate: float | None, bands: tuple[float, float] = ON_TIME_BANDS) -> str:
    """"bad", "warn" or "good" for an on-time rate by ``bands``; "" when there is no rate (nothing due)."""
    if rate is None or rate != rate:
        return ""
    return "bad" if rate < bands[0] else "warn" if rate < bands[1] else "good"


#: Age buckets of open tickets (days since report): < 1, 1–3, 3–7, ≥ 7.
AGE_EDGES_D: tuple[float, ...] = (1, 3, 7)
#: Where an open ticket waits (geo.tickets.workflow levels), in the order of the loop.
STAGES: tuple[str, ...] = (workflow.GRID, workflow.COMMUNITY, workflow.STREET, workflow.HANDLER,
                           workflow.RESIDENT)
#: Whether a rise is good news (True), bad news (False) or neither (None), per compared figure.
GOOD_WHEN_UP: dict[str, bool | None] = {
    "open": False, "new_today": None, "closed_today": True, "overdue": False, "reported_period": None,
    "on_time_rate": True, "satisfaction_rate": True}

_TICKET_FIELDS = [*indicators.FIELDS, "code", "urgent"]


# --------------------------------------------------------------------------- scope helpers

def is_whole(scope: Scope) -> bool:
    return scope.level == "street" and scope.street_id is None


def grid_ids(scope: Scope):
    """A subquery of the ids of the grids inside ``scope``."""
    stmt = select(Grid.id)
    if scope.level == "grid":
        return stmt.where(Grid.id == scope.grid_id)
    if scope.level == "community":
        return stmt.where(Grid.community_id == scope.community_id)
    if scope.street_id is not None:
        return stmt.join(Community, Community.id == Grid.community_id).where(
            Community.street_id == scope.street_id)
    return stmt


def in_scope(column, scope: Scope):
    """WHERE for a table that only knows its grid (buildings, households, cameras)."""
    return true() if is_whole(scope) else column.in_(grid_ids(scope))


# --------------------------------------------------------------------------- figures

def population(engine: Engine, scope: Scope) -> dict[str, int]:
    """Residents, households, communities, grids, party members and volunteers in ``scope``."""
    with engine.connect() as conn:
        def n(stmt) -> int:
            return int(conn.execute(stmt).scalar_one() or 0)

        grids = grid_ids(scope).subquery()
        return {
            "residents": n(select(func.sum(Building.residents)).where(in_scope(Building.grid_id, scope))),
            "households": n(select(func.count()).select_from(Household)
                            .where(in_scope(Household.grid_id, scope))),
            "communities": n(select(func.count(func.distinct(Grid.community_id)))
                             .where(Grid.id.in_(select(grids.c.id)))),
            "grids": n(select(func.count()).select_from(Grid).where(Grid.id.in_(select(grids.c.id)),
                                                                     Grid.retired_at.is_(None))),
            "party_members": n(select(func.count()).select_from(Person).where(
                Person.role == "party_member", in_scope(Person.grid_id, scope))),
            "volunteers": n(select(func.count()).select_from(Person).where(
                Person.role == "volunteer", in_scope(Person.grid_id, scope))),
        }


def streets_in(engine: Engine, scope: Scope) -> int:
    """How many streets ``scope`` spans (more than one: the map aggregates instead of drawing points)."""
    if scope.level != "street" or scope.street_id is not None:
        return 1
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Street)).scalar_one() or 0)


def load_tickets(engine: Engine, now: datetime, scope: Scope, *, days: int = 2 * PERIOD_DAYS) -> pd.DataFrame:
    """The tickets the screen needs: every open one, and those reported or closed in the last ``days``.

    Two windows by default: the current 30 days and the 30 before them (the
    comparison). Carries the indicator fields plus code, urgency and the point
    (lon, lat: the bounding box of a point is the point, so no geometry is decoded).
    """
    t = Ticket.__table__
    start = now - timedelta(days=days)
    return _typed(store.read_frame(engine, _ticket_rows().where(
        scope.clause(t), or_(t.c.state.in_(workflow.OPEN_STATES), t.c.created_at >= start, t.c.closed_at >= start))))


def _ticket_rows():
    t = Ticket.__table__
    return select(*[t.c[f] for f in _TICKET_FIELDS], t.c.minx.label("lon"), t.c.miny.label("lat"))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("created_at", "closed_at", "due_at", "resolved_at", "accepted_at", "first_response_at"):
        df[col] = pd.to_datetime(df[col])
    df["urgent"] = df["urgent"].astype(bool)
    return df


def in_window(frame: pd.DataFrame, now: datetime, *, days: int = 2 * PERIOD_DAYS) -> pd.Series:
    """The rows ``load_tickets`` would read at ``now``: open, or reported or closed in the last ``days``."""
    start = pd.Timestamp(now - timedelta(days=days))
    return frame["state"].isin(workflow.OPEN_STATES) | (frame["created_at"] >= start) | (frame["closed_at"] >= start)


class TicketFeed:
    """The wall's ticket frame for one area, kept up to date by what changed since the last read.

    A wall refreshes every minute; at city scale rereading two months of tickets each time is
    the cost of the whole refresh (issue 15). Every ticket change writes an audit row in its own
    transaction (geo.tickets.service), so a refresh reads the audit rows after the last one seen,
    rereads only those tickets, and drops rows that left the window. The newest ``OVERLAP``
    audit rows are looked at again each time, and the ones not seen before count: on PostgreSQL
    an id is handed out before its transaction commits, so a change can appear after a newer one. A full read happens at the
    first use, every ``full_every``, when the clock goes back, when more than ``CATCH_UP_LIMIT``
    tickets changed, and when the street's layout was reloaded (geo.access.audit.LAYOUT_ACTIONS).
    Thread-safe: one feed serves every wall of a server showing the same area.
    """

    OVERLAP = 500
    CATCH_UP_LIMIT = 20_000

    def __init__(self, scope: Scope, *, days: int = 2 * PERIOD_DAYS,
                 full_every: timedelta = timedelta(minutes=10)) -> None:
        self.scope, self.days, self.full_every = scope, days, full_every
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._mark, self._full_at, self._last_now = 0, datetime.min, datetime.min
        self._seen: set[int] = set()  # audit ids of the last OVERLAP rows already taken in
        self.full_reads = self.catch_ups = 0  # what it did, for tests and bench/screen_bench.py

    def read(self, engine: Engine, now: datetime) -> pd.DataFrame:
        """The tickets ``load_tickets(engine, now, scope)`` would give (rows in no particular order)."""
        with self._lock:
            if self._frame is None or now < self._last_now or now - self._full_at >= self.full_every \
                    or not self._catch_up(engine):
                self._full(engine, now)
            self._last_now = now
            frame = self._frame[in_window(self._frame, now, days=self.days)]
            return frame.reset_index(drop=True)

    def _full(self, engine: Engine, now: datetime) -> None:
        mark = _newest_audit_id(engine)  # first: a change after it is read again at the next refresh
        seen = self._changes(engine, mark)
        self._frame = load_tickets(engine, now, self.scope, days=self.days)
        self._mark, self._seen, self._full_at = mark, set(seen["id"]), now
        self.full_reads += 1

    def _changes(self, engine: Engine, mark: int) -> pd.DataFrame:
        """The ticket and layout audit rows after ``mark`` less OVERLAP (those committed so far)."""
        a = AuditLog.__table__
        return store.read_frame(engine, select(a.c.id, a.c.object_id, a.c.action).where(
            a.c.id > mark - self.OVERLAP, or_(a.c.object_type == "ticket", a.c.action.in_(audit.LAYOUT_ACTIONS))))

    def _catch_up(self, engine: Engine) -> bool:
        """Reread the tickets changed since the last read; False when a full read is due instead.

        Only audit rows not seen before count: a row that committed late (an id below the mark)
        is new to the feed, one seen at the last refresh is not."""
        window = self._changes(engine, self._mark)
        rows = window[~window["id"].isin(self._seen)]
        if rows.empty:
            return True
        changed = rows.loc[rows["action"].str.startswith("ticket."), "object_id"].dropna().astype(int).unique()
        if rows["action"].isin(audit.LAYOUT_ACTIONS).any() or len(changed) > self.CATCH_UP_LIMIT:
            return False
        t = Ticket.__table__
        fresh = [_typed(store.read_frame(engine, _ticket_rows().where(self.scope.clause(t), t.c.id.in_(chunk.tolist()))))
                 for chunk in np.array_split(changed, max(1, len(changed) // 5000 + 1)) if len(chunk)]
        kept = self._frame[~self._frame["id"].isin(changed)]
        self._frame = pd.concat([kept, *[_like(f, kept) for f in fresh if len(f)]], ignore_index=True)
        self._mark, self._seen = max(self._mark, int(rows["id"].max())), set(window["id"])
        self.catch_ups += 1
        return True


def _like(fresh: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """``fresh`` with ``kept``'s column types where they differ (a few rows with nothing in a column
    read as None objects, where the full read made a datetime or a float column), so the joined frame
    is what a full read gives."""
    for col in fresh.columns:
        if col in kept and fresh[col].dtype != kept[col].dtype:
            if pd.api.types.is_datetime64_any_dtype(kept[col]):
                fresh[col] = pd.to_datetime(fresh[col]).astype(kept[col].dtype)
            elif pd.api.types.is_float_dtype(kept[col]):
                fresh[col] = pd.to_numeric(fresh[col], errors="coerce").astype(kept[col].dtype)
    return fresh


def _newest_audit_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(AuditLog.id))).scalar() or 0)


#: Seconds between a wall's looks for a ticket change in its area (a new ticket shows within about this).
WATCH_S: int = 2


class ChangeWatch:
    """When this server first saw the newest ticket change in one area: a wall redraws at once on it.

    A refresh every ``REFRESH_S`` keeps the figures current; a ticket posted in between should
    not wait for it (issue 15: on the wall within 5 s). Every wall looks here every ``WATCH_S``;
    the look reads only the audit rows after the newest one already seen (the primary key's
    range), at most once a second per area however many walls show it, and says when it saw
    the last change. A change whose id was handed out before a newer one committed (PostgreSQL)
    is not seen here but at the next refresh (TicketFeed's overlap). Thread-safe."""

    def __init__(self, scope: Scope, *, every: timedelta = timedelta(seconds=1)) -> None:
        self.scope, self.every = scope, every
        self._lock = threading.Lock()
        self._mark: int | None = None
        self._looked_at = datetime.min
        self.changed_at = datetime.min  # when a change in the area was first seen (min: none since start)
        self.looks = 0

    def look(self, engine: Engine, now: datetime) -> datetime:
        """When the newest change in the area was first seen (``datetime.min`` before any)."""
        with self._lock:
            if self._mark is None:
                self._mark = _newest_audit_id(engine)
            elif now - self._looked_at >= self.every or now < self._looked_at:
                newest = self._newest_change(engine)
                if newest > self._mark:
                    self._mark, self.changed_at = newest, now
            else:
                return self.changed_at
            self._looked_at = now
            self.looks += 1
            return self.changed_at

    def _newest_change(self, engine: Engine) -> int:
        """The newest audit id after the mark of a ticket change in the area or a layout change."""
        a, t = AuditLog.__table__, Ticket.__table__
        ticket_in_area = (a.c.object_type == "ticket") & exists().where(t.c.id == a.c.object_id, self.scope.clause(t))
        with engine.connect() as conn:
            newest = conn.execute(select(func.max(a.c.id)).where(
                a.c.id > self._mark, or_(a.c.action.in_(audit.LAYOUT_ACTIONS), ticket_in_area))).scalar()
        return int(newest or self._mark)


def midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def ticket_figures(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS) -> dict[str, float]:
    """Open / new today / closed today / overdue now, and the window's rates."""
    today = pd.Timestamp(midnight(now))
    created, closed_at = frame["created_at"], frame["closed_at"]
    is_open = frame["state"].isin(workflow.OPEN_STATES)
    case_closed = frame["state"].isin(workflow.CASE_CLOSED_STATES)
    ind = indicators.compute(frame, now, start=now - timedelta(days=days), end=now)
    return {
        "open": int(is_open.sum()),
        "new_today": int(((created >= today) & (created <= pd.Timestamp(now))).sum()),
        "closed_today": int((case_closed & (closed_at >= today) & (closed_at <= pd.Timestamp(now))).sum()),
        "overdue": int(ind["overdue_now"]),
        "urgent_open": int((is_open & frame["urgent"]).sum()),
        "reported_period": int(ind["reported"]),
        "on_time_rate": ind["on_time_rate"],
        "satisfaction_rate": ind["satisfaction_rate"],
        # 党员接单 (geo.tickets.indicators: the 30-minute promise), and members on their way right now
        "arrival_rate": ind["arrival_rate"],
        "arrival_median_min": ind["arrival_median_min"],
        "arrived_late": ind["arrived_late"] + ind["arrival_missing"],
        "on_the_way": int(waiting_arrival(frame).sum()),
    }


def waiting_arrival(frame: pd.DataFrame) -> pd.Series:
    """Tickets a party member has taken (or been sent to) and not yet reached: on their way, or late."""
    if not len(frame) or "arrive_by" not in frame:
        return pd.Series(False, index=frame.index)
    return (frame["state"] == "in_progress") & frame["arrive_by"].notna() & frame["arrived_at"].isna()


def open_at(frame: pd.DataFrame, at: datetime) -> np.ndarray:
    """Tickets that were open at the moment ``at``: reported by then and not closed by then.

    From today's rows: a ticket closed, reopened and closed again counts from its
    last closure (the history is in ticket events; the screen does not need it).
    """
    at = pd.Timestamp(at)
    closed = frame["state"].isin(workflow.CLOSED_STATES) & (frame["closed_at"] <= at)
    return ((frame["created_at"] <= at) & ~closed).to_numpy()


def _day_counts(frame: pd.DataFrame, at: datetime) -> dict[str, int]:
    """Open, new since midnight, closed since midnight and overdue, as they stood at ``at``.

    Overdue as workflow.overdue counts it: a ticket already resolved by then (waiting for
    the resident's rating) owed no more work, so it was not overdue, whatever its limit.
    """
    at_ts, day = pd.Timestamp(at), pd.Timestamp(midnight(at))
    created, closed_at = frame["created_at"], frame["closed_at"]
    was_open = open_at(frame, at)
    owing = was_open & ~(frame["resolved_at"] <= at_ts).to_numpy()
    case_closed = frame["state"].isin(workflow.CASE_CLOSED_STATES)
    return {"open": int(was_open.sum()),
            "new_today": int(((created >= day) & (created <= at_ts)).sum()),
            "closed_today": int((case_closed & (closed_at >= day) & (closed_at <= at_ts)).sum()),
            "overdue": int((owing & (frame["due_at"] < at_ts).to_numpy()).sum())}


@dataclass(frozen=True)
class Change:
    """A figure now and in the period it is compared with; ``good_when_up`` gives its tone."""

    current: float
    previous: float
    good_when_up: bool | None = None

    @property
    def delta(self) -> float:
        return self.current - self.previous

    @property
    def tone(self) -> str:
        """"good", "bad", "flat" (no change) or "neutral" (a change that is neither, or unknown)."""
        d = self.delta
        if d != d:  # NaN: one side has no data
            return "neutral"
        if d == 0:
            return "flat"
        if self.good_when_up is None:
            return "neutral"
        return "good" if (d > 0) == self.good_when_up else "bad"


def compare(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS,
            figures: dict[str, Any] | None = None) -> dict[str, Change]:
    """Each headline ticket figure (as ``ticket_figures`` gives it) against its previous period.

    Counts of the day (open, new, closed, overdue) against the same moment
    24 hours earlier, so at 10:00 today's new tickets meet yesterday's until
    10:00, not yesterday's whole day; the window's rates and report count
    against the ``days`` before the window. ``frame`` must reach back two
    windows (``load_tickets`` does). ``figures``: today's ``ticket_figures`` (or a dict holding
    them, as ``headline`` gives), when the caller has them already.
    """
    today = ticket_figures(frame, now, days=days) if figures is None else figures
    yesterday = _day_counts(frame, now - timedelta(days=1))
    window = timedelta(days=days)
    prev = indicators.compute(frame, now, start=now - 2 * window, end=now - window)
    prev = {**yesterday, "reported_period": prev["reported"], "on_time_rate": prev["on_time_rate"],
            "satisfaction_rate": prev["satisfaction_rate"]}
    return {k: Change(today[k], prev[k], up) for k, up in GOOD_WHEN_UP.items()}


def newly_overdue(frame: pd.DataFrame, since: datetime, now: datetime, *, lang: str = "zh") -> pd.DataFrame:
    """Open tickets that passed their limit in (since, now]: overdue now and not yet at ``since``.

    The wall flashes only these (since = its previous refresh); the steady
    overdue count does not blink. Newest limit first.
    """
    cols = ["id", "code", "category", "grid_id", "urgent", "lon", "lat", "due_at"]
    if not len(frame):
        return pd.DataFrame(columns=cols)
    now_over = workflow.overdue(frame["state"], frame["due_at"], now)
    was_over = workflow.overdue(frame["state"], frame["due_at"], since)
    out = frame.loc[now_over & ~was_over, cols]
    out = out.assign(category=out["category"].map(category_names(lang)).fillna(out["category"]))
    return out.sort_values(["due_at", "id"], ascending=False, ignore_index=True)


def cameras(engine: Engine, scope: Scope) -> dict[str, int]:
    """Cameras in all, online, offline and fault (offline: no link; fault: the camera itself broken)."""
    rows = store.read_frame(engine, select(Camera.status, func.count().label("n"))
                            .where(in_scope(Camera.grid_id, scope)).group_by(Camera.status))
    by = dict(zip(rows["status"], rows["n"].astype(int)))
    total, online, fault = sum(by.values()), by.get("online", 0), by.get("fault", 0)
    return {"cameras": total, "cameras_online": online, "cameras_offline": total - online - fault,
            "cameras_fault": fault}


def camera_counts(points: pd.DataFrame) -> dict[str, int]:
    """``cameras``' figures from ``camera_points`` (one per camera or per cell): the rows the map
    reads anyway, so a refresh reads the cameras once."""
    return {"cameras": int(points["n"].sum()), "cameras_online": int(points["online"].sum()),
            "cameras_offline": int(points["offline"].sum()), "cameras_fault": int(points["fault"].sum())}


def straight_line_covered(door_lon, door_lat, facilities: pd.DataFrame, types: list[str] | None = None, *,
                          every: bool = False, reach_m: float | None = None) -> np.ndarray:
    """True per door within reach of a facility (straight line, metres).

    ``facilities`` has columns type, lon, lat. With ``every=False`` a door is
    covered by any facility of ``types`` (default: every catalogue type); with
    ``every=True`` it needs one of *each* type (default: the required set), and
    a type with no facility at all covers nobody. The reach is each type's
    catalogue reach, or ``reach_m`` for all of them.
    """
    known = [t for t in facilities["type"].unique() if t in catalogue.FACILITY_TYPES]
    types = list(types or (catalogue.required_types() if every else known))
    dx, dy = projection.lonlat_to_metric(door_lon, door_lat)
    doors = shapely.points(dx, dy)
    covered = np.full(len(doors), every, dtype=bool)
    for ftype in types:
        f = facilities[facilities["type"] == ftype]
        within = np.zeros(len(doors), dtype=bool)
        if len(f) and len(doors):
            fx, fy = projection.lonlat_to_metric(f["lon"], f["lat"])
            tree = shapely.STRtree(shapely.points(fx, fy))
            reach = reach_m if reach_m is not None else catalogue.facility_type(ftype).reach_m
            hit = tree.query(doors, predicate="dwithin", distance=reach)
            within[np.unique(hit[0])] = True
        covered = covered & within if every else covered | within
    return covered


def circle_reach_m() -> float:
    """The 15-minute walk in metres (geo.coverage.network: 15 min at 4.5 km/h = 1,125 m)."""
    return network.walk_distance_m()


def scope_mask(buildings: pd.DataFrame, scope: Scope) -> np.ndarray:
    """The buildings (of a coverage plan) inside ``scope``."""
    if scope.level == "grid":
        mask = buildings["grid_id"] == scope.grid_id
    elif scope.level == "community":
        mask = buildings["community_id"] == scope.community_id
    elif scope.street_id is None:
        return np.ones(len(buildings), bool)
    else:
        mask = buildings["street_id"] == scope.street_id
    return mask.to_numpy()


def walking_circle(plan: coverage.Plan, scope: Scope) -> dict[str, Any]:
    """The 15-minute circle of ``scope`` by coverage.circle: the planning page's figure, to the person."""
    return _circle(coverage.circle(plan, mask=scope_mask(plan.buildings, scope)))


def _circle(c: coverage.Circle) -> dict[str, Any]:
    return {"circle_residents": c.covered, "circle_share": c.share, "circle_loose_residents": c.loose_covered,
            "circle_loose_share": c.loose_share, "circle_method": c.method, "circle_reach_m": c.loose_reach_m,
            "circle_types": c.types}


def service_circle(engine: Engine, scope: Scope, *, plan: coverage.Plan | None = None) -> dict[str, Any]:
    """The 15-minute figure (coverage.Circle): walking on ``plan`` when there is one, else in a straight line.

    The fallback is the same rule (every required type within its standard reach; the looser
    reading within 1,125 m) measured in a straight line, which overstates: a wall without a
    walking network says "straight line" beside the figure (``circle_method``).
    """
    if plan is not None:
        return walking_circle(plan, scope)
    reach = circle_reach_m()
    b = store.read_frame(engine, select(Building.residents, Building.entrance_lon, Building.entrance_lat)
                         .where(in_scope(Building.grid_id, scope)))
    f = store.read_frame(engine, select(Facility.type, Facility.minx.label("lon"), Facility.miny.label("lat")))
    people = b["residents"].to_numpy()
    standard = straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True)
    loose = straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True, reach_m=reach)
    return _circle(coverage.Circle(residents=int(people.sum()), covered=int(people[standard].sum()),
                                   loose_covered=int(people[loose].sum()), method="straight", loose_reach_m=reach,
                                   types=len(catalogue.required_types())))


#: Past this many streets the wall and the report measure the 15-minute circle in a straight line (and say
#: so): a walking plan of a whole city (265 streets, 350,000 buildings) would take minutes and gigabytes.
WALK_PLAN_MAX_STREETS: int = 20


def walking_plan(engine: Engine, scope: Scope | None = None) -> coverage.Plan | None:
    """The walking plan of ``scope`` (its buildings, and the roads and facilities within the longest walk
    around it: coverage.load_frames, exact for the area's residents), or None (with a warning) when it
    cannot be built or the area spans more than WALK_PLAN_MAX_STREETS streets. No scope: the whole database.

    Issue 15: a street's wall on a city database built the plan of every street in it."""
    if scope is not None and streets_in(engine, scope) > WALK_PLAN_MAX_STREETS:
        log.info("the area spans more than %d streets: the 15-minute circle in a straight line", WALK_PLAN_MAX_STREETS)
        return None
    try:
        return coverage.build_plan(coverage.load_frames(engine, scope=scope))
    except Exception as exc:  # no roads, a broken import…: the wall falls back to straight lines
        log.warning("walking plan for the 15-minute circle unavailable (%s); using straight lines", exc)
        return None


def headline(engine: Engine, now: datetime, scope: Scope, frame: pd.DataFrame | None = None, *,
             plan: coverage.Plan | None = None, circle: dict[str, Any] | None = None,
             camera_rows: pd.DataFrame | None = None, people: dict[str, int] | None = None) -> dict[str, Any]:
    """Every headline figure of the screen, in one dict (see the module docstring).

    ``circle`` (the 15-minute figures), ``camera_rows`` (``camera_points``) and ``people``
    (``population``) may be passed in when the caller has them; otherwise they are computed here.
    """
    frame = load_tickets(engine, now, scope) if frame is None else frame
    cams = cameras(engine, scope) if camera_rows is None else camera_counts(camera_rows)
    return {**(people if people is not None else population(engine, scope)), **ticket_figures(frame, now), **cams,
            **(circle if circle is not None else service_circle(engine, scope, plan=plan))}


def data_as_of(engine: Engine, now: datetime, scope: Scope) -> datetime | None:
    """The newest ticket event in ``scope`` up to ``now``: how fresh the wall's data is.

    Newest first, one row (not max()): PostgreSQL then walks the index on ``at`` backwards and stops at
    the first event in the area; max() over the join read every event of the city (0.8 s of a 1.8 s
    city-wide refresh; 2 ms now)."""
    e, t = TicketEvent.__table__, Ticket.__table__
    stmt = (select(e.c.at).join(t, t.c.id == e.c.ticket_id).where(e.c.at <= now, scope.clause(t))
            .order_by(e.c.at.desc()).limit(1))
    with engine.connect() as conn:
        value = conn.execute(stmt).scalar()
    return pd.Timestamp(value).to_pydatetime() if value is not None else None
