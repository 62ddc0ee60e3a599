"""The command-centre big screen (指挥中心大屏): every figure and map aggregate it shows.

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
- 15-minute circle: the share of residents whose building door reaches a
  facility of *every* required type (geo.place.catalogue.required_types, the
  complete-community standard) within a 15-minute walk (geo.coverage.network.
  walk_distance_m: 1,125 m at 4.5 km/h) along the road and footpath network
  (geo.coverage.coverage, walking). When the walking plan cannot be built (no roads),
  the same rule in a straight line is the fallback, and says so. Facilities
  outside the scope still serve it: people cross community lines.
- comparisons (``compare``): today's counts against yesterday at the same
  time of day, the open and overdue counts against 24 hours ago, the 30-day
  rates against the 30 days before; each change knows whether up is good news.
- newly overdue (``newly_overdue``): open tickets whose limit ran out in
  (since, now], i.e. since the wall's last refresh: the only ones that flash.

At district scale the browser never receives every ticket: density goes to
H3 cells (``ticket_cells``), load to grids (``grid_load``), and only the few
overdue or urgent tickets travel as points (``alerts``).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, or_, select, true

from geo.place import catalogue, projection
from geo.coverage import coverage, network
from geo.tickets import indicators, workflow
from geo.db import store
from geo.maps.layers import category_names
from geo.access.roles import Scope
from geo.db.schema import (
    Building, Camera, Community, Facility, Grid, Household, Person, Road, Street, Ticket, TicketEvent)

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

def _whole(scope: Scope) -> bool:
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


def _in_scope(column, scope: Scope):
    """WHERE for a table that only knows its grid (buildings, households, cameras)."""
    return true() if _whole(scope) else column.in_(grid_ids(scope))


# --------------------------------------------------------------------------- figures

def population(engine: Engine, scope: Scope) -> dict[str, int]:
    """Residents, households, communities, grids, party members and volunteers in ``scope``."""
    with engine.connect() as conn:
        def n(stmt) -> int:
            return int(conn.execute(stmt).scalar_one() or 0)

        grids = grid_ids(scope).subquery()
        return {
            "residents": n(select(func.sum(Building.residents)).where(_in_scope(Building.grid_id, scope))),
            "households": n(select(func.count()).select_from(Household)
                            .where(_in_scope(Household.grid_id, scope))),
            "communities": n(select(func.count(func.distinct(Grid.community_id)))
                             .where(Grid.id.in_(select(grids.c.id)))),
            "grids": n(select(func.count()).select_from(grids)),
            "party_members": n(select(func.count()).select_from(Person).where(
                Person.role == "party_member", _in_scope(Person.grid_id, scope))),
            "volunteers": n(select(func.count()).select_from(Person).where(
                Person.role == "volunteer", _in_scope(Person.grid_id, scope))),
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
    stmt = select(*[t.c[f] for f in _TICKET_FIELDS], t.c.minx.label("lon"), t.c.miny.label("lat")).where(
        scope.clause(t),
        or_(t.c.state.in_(workflow.OPEN_STATES), t.c.created_at >= start, t.c.closed_at >= start))
    df = store.read_frame(engine, stmt)
    for col in ("created_at", "closed_at", "due_at", "resolved_at", "accepted_at", "first_response_at"):
        df[col] = pd.to_datetime(df[col])
    df["urgent"] = df["urgent"].astype(bool)
    return df


def _midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def ticket_figures(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS) -> dict[str, float]:
    """Open / new today / closed today / overdue now, and the window's rates."""
    today = pd.Timestamp(_midnight(now))
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
    }


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
    at_ts, day = pd.Timestamp(at), pd.Timestamp(_midnight(at))
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
                            .where(_in_scope(Camera.grid_id, scope)).group_by(Camera.status))
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


def walking_circle(plan: coverage.Plan, scope: Scope) -> dict[str, Any]:
    """Residents of ``scope`` who reach every required type within a 15-minute walk (geo.coverage.coverage)."""
    reach = circle_reach_m()
    required = catalogue.required_types()
    result = coverage.analyse(plan, coverage.REQUIRED, method="walking",
                              scenario=coverage.Scenario(reach=tuple((t, reach) for t in required)))
    b = plan.buildings
    if scope.level == "grid":
        mask = b["grid_id"] == scope.grid_id
    elif scope.level == "community":
        mask = b["community_id"] == scope.community_id
    else:
        mask = pd.Series(True, index=b.index) if scope.street_id is None else b["street_id"] == scope.street_id
    mask = mask.to_numpy()
    people = b["residents"].to_numpy()[mask]
    inside = int(people[np.asarray(result.covered)[mask]].sum())
    # the stricter reading beside it: each type within its own standard reach (300 m for a
    # kindergarten), the figure the planning page opens on, so the wall and the planner agree.
    # Every standard reach is within the 15-minute walk, so the distances above already hold it
    # (coverage.door_distances: within reach + TOLERANCE_M) and no second search is needed.
    if any(catalogue.facility_type(t).reach_m > reach for t in required):
        standard = np.asarray(coverage.analyse(plan, coverage.REQUIRED, method="walking").covered)
    else:
        d = result.distance
        standard = np.all([d[t].to_numpy() <= catalogue.facility_type(t).reach_m + coverage.TOLERANCE_M
                           for t in required], axis=0) if required else np.ones(len(d), bool)
    strict = int(people[standard[mask]].sum())
    total = int(people.sum())
    return _circle(inside, total, "walking", reach) | {
        "circle_standard_share": strict / total if total else float("nan")}


def _circle(inside: int, total: int, method: str, reach: float) -> dict[str, Any]:
    return {"circle_residents": inside, "circle_share": inside / total if total else float("nan"),
            "circle_method": method, "circle_reach_m": reach, "circle_types": len(catalogue.required_types())}


def service_circle(engine: Engine, scope: Scope, *, plan: coverage.Plan | None = None) -> dict[str, Any]:
    """The 15-minute figure: walking on ``plan`` when there is one, else the straight-line fallback.

    The fallback is the same rule (every required type within 1,125 m) measured
    in a straight line, which overstates: a wall without a walking network says
    "straight line" beside the figure (``circle_method``).
    """
    if plan is not None:
        return walking_circle(plan, scope)
    reach = circle_reach_m()
    b = store.read_frame(engine, select(Building.residents, Building.entrance_lon, Building.entrance_lat)
                         .where(_in_scope(Building.grid_id, scope)))
    f = store.read_frame(engine, select(Facility.type, Facility.minx.label("lon"), Facility.miny.label("lat")))
    people = b["residents"].to_numpy()
    covered = straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True, reach_m=reach)
    return _circle(int(people[covered].sum()), int(people.sum()), "straight", reach)


def walking_plan(engine: Engine) -> coverage.Plan | None:
    """The walking plan of the whole database, or None (with a warning) when it cannot be built."""
    try:
        return coverage.build_plan(coverage.load_frames(engine))
    except Exception as exc:  # no roads, a broken import…: the wall falls back to straight lines
        log.warning("walking plan for the 15-minute circle unavailable (%s); using straight lines", exc)
        return None


def headline(engine: Engine, now: datetime, scope: Scope, frame: pd.DataFrame | None = None, *,
             plan: coverage.Plan | None = None, circle: dict[str, Any] | None = None,
             camera_rows: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every headline figure of the screen, in one dict (see the module docstring).

    ``circle`` (the 15-minute figures) and ``camera_rows`` (``camera_points``) may be passed
    in when the caller has them; otherwise they are computed here.
    """
    frame = load_tickets(engine, now, scope) if frame is None else frame
    cams = cameras(engine, scope) if camera_rows is None else camera_counts(camera_rows)
    return {**population(engine, scope), **ticket_figures(frame, now), **cams,
            **(circle if circle is not None else service_circle(engine, scope, plan=plan))}


def data_as_of(engine: Engine, now: datetime, scope: Scope) -> datetime | None:
    """The newest ticket event in ``scope`` up to ``now``: how fresh the wall's data is."""
    e, t = TicketEvent.__table__, Ticket.__table__
    stmt = select(func.max(e.c.at)).join(t, t.c.id == e.c.ticket_id).where(e.c.at <= now, scope.clause(t))
    with engine.connect() as conn:
        value = conn.execute(stmt).scalar_one()
    return pd.Timestamp(value).to_pydatetime() if value is not None else None


# --------------------------------------------------------------------------- panels

def clock_labels(at: pd.Series, now: datetime) -> list[str]:
    """"HH:MM" for today's times, "MM-DD HH:MM" for older ones (so yesterday never reads as today)."""
    at = pd.to_datetime(at)
    today = at.dt.normalize() == pd.Timestamp(_midnight(now))
    return np.where(today, at.dt.strftime("%H:%M"), at.dt.strftime("%m-%d %H:%M")).tolist() if len(at) else []


def feed(engine: Engine, now: datetime, scope: Scope, *, limit: int = 10, lang: str = "zh") -> pd.DataFrame:
    """The newest reports and escalations, newest first: at, when, action, code, category, place, urgent."""
    e, t = TicketEvent.__table__, Ticket.__table__
    stmt = (select(e.c.at, e.c.action, e.c.to_state, t.c.code, t.c.category, t.c.urgent,
                   Grid.name.label("grid"), Community.name.label("community"))
            .join(t, t.c.id == e.c.ticket_id)
            .outerjoin(Grid, Grid.id == t.c.grid_id).outerjoin(Community, Community.id == t.c.community_id)
            .where(e.c.action.in_(FEED_ACTIONS), e.c.at <= now, scope.clause(t))
            .order_by(e.c.at.desc(), e.c.id.desc()).limit(limit))
    df = store.read_frame(engine, stmt)
    df["at"] = pd.to_datetime(df["at"])
    df["when"] = clock_labels(df["at"], now)
    df["category"] = df["category"].map(category_names(lang)).fillna(df["category"])
    df["to_state_name"] = [workflow.STATES[s].name(lang) for s in df["to_state"]]
    return df


def trend(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS) -> pd.DataFrame:
    """Per day of the last ``days`` (today included): reported, closed (as cases), and reported on the
    same day of the previous window (``reported_prev``: the line to compare with)."""
    first = pd.Timestamp(_midnight(now)) - pd.Timedelta(days=days - 1)
    index = pd.date_range(first, periods=days, freq="D")
    shift = pd.Timedelta(days=days)

    def per_day(times: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
        counts = times[(times >= lo) & (times <= hi)].dt.normalize().value_counts()
        return counts.reindex(index - (first - lo), fill_value=0).to_numpy()

    closed_at = frame.loc[frame["state"].isin(workflow.CASE_CLOSED_STATES), "closed_at"]
    return pd.DataFrame({"day": index,
                         "reported": per_day(frame["created_at"], first, pd.Timestamp(now)),
                         "closed": per_day(closed_at, first, pd.Timestamp(now)),
                         "reported_prev": per_day(frame["created_at"], first - shift,
                                                  pd.Timestamp(now) - shift)})


def by_category(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS, lang: str = "zh") -> pd.DataFrame:
    """Per category: reported in the window and open now, most reported first."""
    start = pd.Timestamp(now - timedelta(days=days))
    recent = frame[(frame["created_at"] >= start) & (frame["created_at"] <= pd.Timestamp(now))]
    out = pd.DataFrame({"reported": recent.groupby("category").size(),
                        "open": frame[frame["state"].isin(workflow.OPEN_STATES)].groupby("category").size()})
    out = out.fillna(0).astype(int).rename_axis("category").reset_index()
    out["name"] = out["category"].map(category_names(lang)).fillna(out["category"])
    return out.sort_values(["reported", "open", "category"], ascending=[False, False, True],
                           ignore_index=True)


def on_time_by(frame: pd.DataFrame, key: str, now: datetime, *, days: int = PERIOD_DAYS) -> pd.DataFrame:
    """Cases due and closed on time per value of ``key`` over the window, and the on-time rate.

    The definitions of geo.tickets.indicators (按期结案率 = 按期结案数 / 应结案数), computed
    for every area at once: a loop of indicators.compute over 1,400 district grids
    takes seconds, this takes milliseconds (tests check both agree).
    """
    created = frame["created_at"]
    p = frame[(created >= pd.Timestamp(now - timedelta(days=days))) & (created < pd.Timestamp(now))]
    c = p[p["accepted_at"].notna() & ~p["state"].isin(("rejected", "merged"))]
    closed = c["state"].isin(workflow.CASE_CLOSED_STATES)
    due = (c["due_at"] < pd.Timestamp(now)) | closed
    finished = c["resolved_at"].fillna(c["closed_at"])
    on_time = closed & (finished <= c["due_at"])
    out = pd.DataFrame({"due": due.groupby(c[key]).sum(), "on_time": on_time.groupby(c[key]).sum()})
    out = out.astype(int)
    out["on_time_rate"] = out["on_time"] / out["due"].where(out["due"] > 0)
    return out


def _open_overdue(frame: pd.DataFrame, now: datetime, key: str) -> pd.DataFrame:
    """Open and overdue tickets per value of ``key`` (only values with some; the rest is the caller's)."""
    is_open = frame["state"].isin(workflow.OPEN_STATES)
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    return pd.DataFrame({"open": frame[is_open].groupby(key).size(),
                         "overdue": frame[overdue].groupby(key).size()})


def area_table(frame: pd.DataFrame, now: datetime, names: pd.Series, *, key: str = "community_id",
               days: int = PERIOD_DAYS) -> pd.DataFrame:
    """Every area of ``names`` (id → name) with its open, overdue, cases due, on time and on-time rate."""
    rates = on_time_by(frame, key, now, days=days)
    t = _open_overdue(frame, now, key).reindex(names.index)
    t[["due", "on_time"]] = rates[["due", "on_time"]].reindex(names.index)
    t = t.fillna(0).astype(int).rename_axis("id").reset_index()
    t["on_time_rate"] = rates["on_time_rate"].reindex(t["id"]).to_numpy()
    t["name"] = names.reindex(t["id"]).to_numpy()
    return t


def rank_areas(table: pd.DataFrame, *, by: str = "load", top: int = 8, min_due: int = MIN_DUE) -> pd.DataFrame:
    """The first ``top`` rows of an ``area_table``, by load or by the worst on-time rate (see ``ranking``)."""
    if by not in ("load", "on_time"):
        raise ValueError(f"by must be 'load' or 'on_time', not {by!r}")
    if by == "load":
        t = table.sort_values(["open", "overdue", "id"], ascending=[False, False, True])
    else:
        t = table[table["due"] >= min_due].sort_values(["on_time_rate", "due", "id"], ascending=[True, False, True])
    return t.head(top).reset_index(drop=True)


def ranking(frame: pd.DataFrame, now: datetime, names: pd.Series, *, key: str = "community_id",
            top: int = 8, days: int = PERIOD_DAYS, by: str = "load", min_due: int = MIN_DUE) -> pd.DataFrame:
    """The areas to look at first, with open, overdue, cases due and on-time rate.

    ``by="load"``: most open tickets, then most overdue; every area of ``names``
    is listed (a calm one at the bottom). ``by="on_time"``: the worst on-time
    rate over the window first, among areas with at least ``min_due`` cases due.
    """
    return rank_areas(area_table(frame, now, names, key=key, days=days), by=by, top=top, min_due=min_due)


def open_by_stage_age(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open tickets by where they wait (STAGES: grid, community, street, handler, resident) and by
    age since report (AGE_EDGES_D buckets, columns 0…3), with a ``total`` column."""
    o = frame[frame["state"].isin(workflow.OPEN_STATES)]
    stage = o["state"].map(lambda s: workflow.STATES[s].level)
    age_d = (pd.Timestamp(now) - o["created_at"]).dt.total_seconds().to_numpy() / 86400
    bucket = np.digitize(age_d, AGE_EDGES_D)
    table = pd.crosstab(stage.to_numpy(), bucket) if len(o) else pd.DataFrame()
    table = table.reindex(index=list(STAGES), columns=range(len(AGE_EDGES_D) + 1), fill_value=0).fillna(0)
    table = table.astype(int)
    table["total"] = table.sum(axis=1)
    return table.rename_axis(index="stage", columns=None)


def area_names(engine: Engine, scope: Scope) -> dict[str, pd.Series]:
    """Names of the communities and grids in ``scope`` (id → name)."""
    g = store.read_frame(engine, select(Grid.id, Grid.name, Grid.community_id).where(Grid.id.in_(grid_ids(scope))))
    c = store.read_frame(engine, select(Community.id, Community.name)
                         .where(Community.id.in_(g["community_id"].unique().tolist() or [-1])))
    return {"community": c.set_index("id")["name"].sort_index(), "grid": g.set_index("id")["name"].sort_index()}


# --------------------------------------------------------------------------- map aggregates

def grid_load(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open and overdue tickets per grid (the extrusion / colour of the grid layer)."""
    out = _open_overdue(frame, now, "grid_id")
    return out.fillna(0).astype(int).rename_axis("grid_id").reset_index()


def ticket_cells(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS,
                 resolution: int = H3_RESOLUTION) -> pd.DataFrame:
    """Tickets reported in the window, counted per H3 cell: hex, count (most first)."""
    start = pd.Timestamp(now - timedelta(days=days))
    recent = frame[(frame["created_at"] >= start) & (frame["created_at"] <= pd.Timestamp(now))
                   & frame["lon"].notna()]
    cells = [h3.latlng_to_cell(lat, lon, resolution) for lat, lon in zip(recent["lat"], recent["lon"])]
    counts = pd.Series(cells, dtype=object).value_counts()
    return pd.DataFrame({"hex": counts.index.astype(str), "count": counts.to_numpy().astype(int)})


def cell_counts(points: pd.DataFrame, by: str, *, resolution: int = WIDE_H3_RESOLUTION) -> pd.DataFrame:
    """Points counted per H3 cell and per value of ``by``: lon, lat (the cell's centre), n, and one
    column per value. What a district map draws instead of thousands of cameras or facilities."""
    if not len(points):
        return pd.DataFrame(columns=["lon", "lat", "n"])
    cells = [h3.latlng_to_cell(lat, lon, resolution) for lat, lon in zip(points["lat"], points["lon"])]
    table = pd.crosstab(pd.Series(cells, name="hex"), points[by].to_numpy())
    centres = np.array([h3.cell_to_latlng(c) for c in table.index])
    out = table.reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    return out.assign(lon=centres[:, 1], lat=centres[:, 0], n=table.sum(axis=1).to_numpy())


def alerts(frame: pd.DataFrame, now: datetime, *, lang: str = "zh") -> pd.DataFrame:
    """Open tickets that must stand out: overdue or urgent (few, so sent as points)."""
    is_open = frame["state"].isin(workflow.OPEN_STATES).to_numpy()
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    keep = is_open & (overdue | frame["urgent"].to_numpy())
    out = frame.loc[keep, ["code", "category", "urgent", "lon", "lat", "due_at", "grid_id"]].copy()
    out["overdue"] = overdue[keep]
    out["hours_over"] = ((pd.Timestamp(now) - out["due_at"]).dt.total_seconds() / 3600).clip(lower=0).round(1)
    out["category"] = out["category"].map(category_names(lang)).fillna(out["category"])
    return out.drop(columns="due_at").sort_values(["overdue", "hours_over"], ascending=False, ignore_index=True)


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float = SIMPLIFY_M) -> gpd.GeoDataFrame:
    """Geometries simplified in metres (never in degrees), back in lon-lat."""
    if not len(gdf):
        return gdf
    m = projection.to_metric(gdf)
    m = m.set_geometry(m.geometry.simplify(tolerance_m, preserve_topology=True))
    return projection.to_storage(m)


@dataclass
class Basemap:
    """What does not change between refreshes: outlines, roads, grid shapes, facilities.

    ``wide``: the scope spans several streets, so facilities come per H3 cell
    (columns lon, lat, n) rather than one by one (type, name, lon, lat).
    """

    street: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    facilities: pd.DataFrame
    bounds: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))
    wide: bool = False


def tolerance_m(bounds: tuple[float, float, float, float], *, wide: bool) -> float:
    """How far outlines may move when simplified: SIMPLIFY_M, or half a map pixel across several streets."""
    if not wide:
        return SIMPLIFY_M
    x0, y0, x1, y1 = bounds
    width_m = (x1 - x0) * 111_320 * np.cos(np.radians((y0 + y1) / 2))
    return max(SIMPLIFY_M, width_m / MAP_WIDTH_PX / 2)


def basemap(engine: Engine, scope: Scope, *, wide: bool | None = None) -> Basemap:
    """The static layers of the scope, simplified for a wall (a few metres lost, bytes saved).

    ``wide`` (default: the scope spans several streets) keeps only arterials and counts facilities per cell.
    """
    gids = grid_ids(scope)
    wide = streets_in(engine, scope) > 1 if wide is None else wide
    grids = store.read_layer(engine, Grid, columns=["id", "code", "name", "community_id", "geom"],
                             where=Grid.id.in_(gids))
    comm_ids = sorted(grids["community_id"].unique().tolist())
    communities = store.read_layer(engine, Community, columns=["id", "name", "street_id", "geom"],
                                   where=Community.id.in_(comm_ids or [-1]))
    street_ids = sorted(communities["street_id"].unique().tolist())
    street = store.read_layer(engine, Street, columns=["id", "name", "geom"], where=Street.id.in_(street_ids or [-1]))
    area = shapely.union_all(communities.geometry.values) if len(communities) else None
    x0, y0, x1, y1 = area.bounds if area is not None else (0, 0, 0, 0)
    tol = tolerance_m((x0, y0, x1, y1), wide=wide)
    roads = store.read_layer(engine, Road, columns=["id", "kind", "geom"], where=(
        Road.kind.in_(WIDE_ROADS if wide else BASEMAP_ROADS) & (Road.maxx >= x0) & (Road.minx <= x1)
        & (Road.maxy >= y0) & (Road.miny <= y1)))
    if area is not None and not _whole(scope) and len(roads):
        roads = roads[roads.intersects(area)]
    facilities = store.read_frame(engine, select(Facility.type, Facility.name, Facility.minx.label("lon"),
                                                 Facility.miny.label("lat"))
                                  .where(_in_scope(Facility.grid_id, scope)))
    if wide:
        facilities = cell_counts(facilities, "type")[["lon", "lat", "n"]]
    return Basemap(street=_simplified(street, tol), communities=_simplified(communities, tol),
                   grids=_simplified(grids, tol), roads=_simplified(roads, tol), facilities=facilities,
                   bounds=(x0, y0, x1, y1), wide=wide)


def camera_points(engine: Engine, scope: Scope, *, wide: bool) -> pd.DataFrame:
    """Cameras for the map: lon, lat, n and the counts online / offline / fault.

    One row per camera (n = 1), or across several streets one per H3 cell.
    """
    cams = store.read_frame(engine, select(Camera.status, Camera.minx.label("lon"), Camera.miny.label("lat"))
                            .where(_in_scope(Camera.grid_id, scope)))
    cams["status"] = cams["status"].where(cams["status"].isin(("online", "fault")), "offline")
    if wide:
        out = cell_counts(cams, "status")
    else:
        out = pd.get_dummies(cams["status"]).astype(int).assign(lon=cams["lon"], lat=cams["lat"], n=1)
    for col in ("online", "offline", "fault"):
        if col not in out:
            out[col] = 0
    return out[["lon", "lat", "n", "online", "offline", "fault"]].reset_index(drop=True)


# --------------------------------------------------------------------------- everything at once

@dataclass
class Screen:
    """One refresh of the screen: the figures, the panels and the map's live layers."""

    now: datetime
    scope: Scope
    figures: dict[str, Any]
    changes: dict[str, Change]
    as_of: datetime | None
    feed: pd.DataFrame
    trend: pd.DataFrame
    categories: pd.DataFrame
    communities: pd.DataFrame
    grids: pd.DataFrame
    communities_on_time: pd.DataFrame
    grids_on_time: pd.DataFrame
    stages: pd.DataFrame
    grid_load: pd.DataFrame
    cells: pd.DataFrame
    alerts: pd.DataFrame
    cameras: pd.DataFrame
    names: dict[str, pd.Series]
    frame: pd.DataFrame = field(repr=False)
    wide: bool = False


def build(engine: Engine, now: datetime, scope: Scope, *, lang: str = "zh",
          circle: dict[str, Any] | None = None, plan: coverage.Plan | None = None,
          wide: bool | None = None) -> Screen:
    """Everything that changes between refreshes, in one pass over the tickets.

    ``circle`` (the 15-minute figures) may be passed in: it changes only when
    facilities, buildings or roads do, so the page caches it longer. Without it,
    it is computed on ``plan`` (walking) or in straight lines. ``wide`` as for ``basemap``.
    """
    frame = load_tickets(engine, now, scope)
    names = area_names(engine, scope)
    wide = streets_in(engine, scope) > 1 if wide is None else wide
    cams = camera_points(engine, scope, wide=wide)
    figures = headline(engine, now, scope, frame, plan=plan, circle=circle, camera_rows=cams)
    tables = {key: area_table(frame, now, names[level], key=key)
              for level, key in (("community", "community_id"), ("grid", "grid_id"))}
    rank = {(key, by): rank_areas(table, by=by) for key, table in tables.items() for by in ("load", "on_time")}
    return Screen(now=now, scope=scope, figures=figures, changes=compare(frame, now, figures=figures),
                  as_of=data_as_of(engine, now, scope), feed=feed(engine, now, scope, lang=lang),
                  trend=trend(frame, now), categories=by_category(frame, now, lang=lang),
                  communities=rank["community_id", "load"], grids=rank["grid_id", "load"],
                  communities_on_time=rank["community_id", "on_time"], grids_on_time=rank["grid_id", "on_time"],
                  stages=open_by_stage_age(frame, now), grid_load=grid_load(frame, now),
                  cells=ticket_cells(frame, now, resolution=WIDE_H3_RESOLUTION if wide else H3_RESOLUTION),
                  alerts=alerts(frame, now, lang=lang), cameras=cams,
                  names=names, frame=frame, wide=wide)


def street_title(engine: Engine, scope: Scope) -> str:
    """The name the screen is titled with: the street, the community, or the district's streets."""
    if scope.level == "community":
        return str(store.read_frame(engine, select(Community.name).where(Community.id == scope.community_id))
                   ["name"].iloc[0])
    where = Street.id == scope.street_id if scope.street_id is not None else true()
    names = store.read_frame(engine, select(Street.name).where(where).order_by(Street.id))["name"].tolist()
    return names[0] if len(names) == 1 else f"{names[0]}等{len(names)}个街道" if names else ""


__all__ = ["REFRESH_S", "BASEMAP", "TILES", "BASEMAPS", "PERIOD_DAYS", "H3_RESOLUTION", "WIDE_H3_RESOLUTION",
           "refresh_seconds", "basemap_choice", "tile_url_ok", "population", "streets_in", "load_tickets",
           "ticket_figures", "open_at", "Change", "compare", "newly_overdue", "cameras", "camera_counts",
           "straight_line_covered",
           "circle_reach_m", "walking_circle", "service_circle", "walking_plan", "headline", "data_as_of",
           "clock_labels", "feed", "trend", "by_category", "on_time_by", "area_table", "rank_areas", "ranking", "open_by_stage_age",
           "area_names", "grid_load", "ticket_cells", "cell_counts", "alerts", "Basemap", "tolerance_m",
           "basemap", "camera_points", "Screen", "build", "street_title"]
