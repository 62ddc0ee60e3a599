"""The command-centre big screen (指挥中心大屏): every figure and map aggregate it shows.

Everything here works for any ``Scope`` (the whole street or district, one
community, one grid) and takes the clock as an argument, so tests pin it.
The page (pages/screen.py) only caches, lays out and draws.

Definitions (rates come from geo.indicators, so the screen and the reports agree):

- residents: sum of building populations; households: household rows;
  party members: people with role ``party_member`` (双报到 included);
  volunteers: people with role ``volunteer``.
- open: tickets in an open state (geo.workflow); new today: reported since
  midnight; closed today: closed as a case (结案: fixed or closed unfixed)
  since midnight; overdue now: open and past the whole ticket's limit.
- on-time closure (按期结案率) and satisfaction (满意率): over tickets
  reported in the last ``PERIOD_DAYS`` days (geo.indicators.compute).
- cameras offline: every camera not ``online`` (offline or fault: no picture).
- 15-minute circle (straight line, the first cut until the walking version):
  every facility is buffered by its catalogue reach (geo.catalogue) in metres
  (geo.projection); a resident is inside the circle when the entrance of their
  building lies in at least one buffer. Beside it, the stricter "complete set"
  share: the entrance is within reach of a facility of *every* required type
  (geo.catalogue.required_types, the complete-community standard) — the same
  rule as geo.coverage's straight-line REQUIRED target. Facilities outside the
  scope still serve it: people cross community lines.

At district scale the browser never receives every ticket: density goes to
H3 cells (``ticket_cells``), load to grids (``grid_load``), and only the few
overdue or urgent tickets travel as points (``alerts``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, or_, select, true

from geo import catalogue, indicators, projection, store, workflow
from geo.layers import category_names
from geo.roles import Scope
from geo.schema import (
    Building, Camera, Community, Facility, Grid, Household, Person, Road, Street, Ticket, TicketEvent,
)

#: Seconds between refreshes of the screen (env SHEQU_SCREEN_REFRESH_S).
REFRESH_S: int = max(5, int(os.environ.get("SHEQU_SCREEN_REFRESH_S", "30") or 30))
#: Basemap: "offline" (the town's own roads and outlines, no outside host) or "carto" (online tiles).
BASEMAP: str = os.environ.get("SHEQU_SCREEN_BASEMAP", "offline").strip().lower() or "offline"
#: Window of the rates, the trend and the density layer.
PERIOD_DAYS: int = 30
#: H3 resolution of the ticket-density layer (9: cells of about 0.1 km², edge ~174 m).
H3_RESOLUTION: int = 9
#: Ticket history actions shown in the live feed.
FEED_ACTIONS: tuple[str, ...] = ("report", "escalate")
#: Road classes drawn as the offline basemap (footways to every door are too fine for a wall).
BASEMAP_ROADS: tuple[str, ...] = ("arterial", "street", "lane")
#: Simplification of outlines and roads before they go to the browser (metres).
SIMPLIFY_M: float = 3.0

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


def load_tickets(engine: Engine, now: datetime, scope: Scope, *, days: int = PERIOD_DAYS) -> pd.DataFrame:
    """The tickets the screen needs: every open one, and those reported or closed in the window.

    Carries the indicator fields plus code, urgency and the point (lon, lat:
    the bounding box of a point is the point, so no geometry is decoded).
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


def cameras(engine: Engine, scope: Scope) -> dict[str, int]:
    """Cameras online and offline (offline = no picture: status offline or fault)."""
    rows = store.read_frame(engine, select(Camera.status, func.count().label("n"))
                            .where(_in_scope(Camera.grid_id, scope)).group_by(Camera.status))
    by = dict(zip(rows["status"], rows["n"].astype(int)))
    online = by.get("online", 0)
    return {"cameras": sum(by.values()), "cameras_online": online,
            "cameras_offline": sum(by.values()) - online, "cameras_fault": by.get("fault", 0)}


def straight_line_covered(door_lon, door_lat, facilities: pd.DataFrame, types: list[str] | None = None, *,
                          every: bool = False) -> np.ndarray:
    """True per door within a facility's catalogue reach (straight line, metres).

    ``facilities`` has columns type, lon, lat. With ``every=False`` a door is
    covered by any facility of ``types`` (default: every catalogue type); with
    ``every=True`` it needs one of *each* type (default: the required set), and
    a type with no facility at all covers nobody.
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
            hit = tree.query(doors, predicate="dwithin", distance=catalogue.facility_type(ftype).reach_m)
            within[np.unique(hit[0])] = True
        covered = covered & within if every else covered | within
    return covered


def service_circle(engine: Engine, scope: Scope) -> dict[str, float]:
    """Residents of ``scope`` inside the 15-minute circle (straight line), and the complete-set share."""
    b = store.read_frame(engine, select(Building.residents, Building.entrance_lon, Building.entrance_lat)
                         .where(_in_scope(Building.grid_id, scope)))
    f = store.read_frame(engine, select(Facility.type, Facility.minx.label("lon"), Facility.miny.label("lat")))
    people = b["residents"].to_numpy()
    total = int(people.sum())
    inside = int(people[straight_line_covered(b["entrance_lon"], b["entrance_lat"], f)].sum())
    complete = int(people[straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True)].sum())
    return {"circle_residents": inside, "circle_share": inside / total if total else float("nan"),
            "complete_residents": complete, "complete_share": complete / total if total else float("nan")}


def headline(engine: Engine, now: datetime, scope: Scope, frame: pd.DataFrame | None = None) -> dict[str, float]:
    """Every headline figure of the screen, in one dict (see the module docstring)."""
    frame = load_tickets(engine, now, scope) if frame is None else frame
    return {**population(engine, scope), **ticket_figures(frame, now), **cameras(engine, scope),
            **service_circle(engine, scope)}


# --------------------------------------------------------------------------- panels

def feed(engine: Engine, now: datetime, scope: Scope, *, limit: int = 10, lang: str = "zh") -> pd.DataFrame:
    """The newest reports and escalations, newest first: at, action, code, category, place, urgent."""
    e, t = TicketEvent.__table__, Ticket.__table__
    stmt = (select(e.c.at, e.c.action, e.c.to_state, t.c.code, t.c.category, t.c.urgent,
                   Grid.name.label("grid"), Community.name.label("community"))
            .join(t, t.c.id == e.c.ticket_id)
            .outerjoin(Grid, Grid.id == t.c.grid_id).outerjoin(Community, Community.id == t.c.community_id)
            .where(e.c.action.in_(FEED_ACTIONS), e.c.at <= now, scope.clause(t))
            .order_by(e.c.at.desc(), e.c.id.desc()).limit(limit))
    df = store.read_frame(engine, stmt)
    df["category"] = df["category"].map(category_names(lang)).fillna(df["category"])
    df["to_state_name"] = [workflow.STATES[s].name(lang) for s in df["to_state"]]
    return df


def trend(frame: pd.DataFrame, now: datetime, *, days: int = PERIOD_DAYS) -> pd.DataFrame:
    """Tickets reported and closed (as cases) per day over the last ``days`` days, today included."""
    first = pd.Timestamp(_midnight(now)) - pd.Timedelta(days=days - 1)
    index = pd.date_range(first, periods=days, freq="D")
    created = frame["created_at"]
    reported = created[(created >= first) & (created <= pd.Timestamp(now))].dt.normalize().value_counts()
    closed_at = frame.loc[frame["state"].isin(workflow.CASE_CLOSED_STATES), "closed_at"]
    closed = closed_at[(closed_at >= first) & (closed_at <= pd.Timestamp(now))].dt.normalize().value_counts()
    return pd.DataFrame({"day": index, "reported": reported.reindex(index, fill_value=0).to_numpy(),
                         "closed": closed.reindex(index, fill_value=0).to_numpy()})


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


def ranking(frame: pd.DataFrame, now: datetime, names: pd.Series, *, key: str = "community_id",
            top: int = 8, days: int = PERIOD_DAYS) -> pd.DataFrame:
    """The areas with the most open tickets (then most overdue), with their on-time rate.

    ``names`` maps area id → name; areas with no open ticket are listed too
    (so a calm community still appears, at the bottom). The on-time rate of
    each listed area comes from geo.indicators over the window.
    """
    is_open = frame["state"].isin(workflow.OPEN_STATES)
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    counts = pd.DataFrame({"open": frame[is_open].groupby(key).size(),
                           "overdue": frame[overdue].groupby(key).size()}).reindex(names.index)
    counts = counts.fillna(0).astype(int).rename_axis("id").reset_index()
    counts["name"] = names.reindex(counts["id"]).to_numpy()
    counts = counts.sort_values(["open", "overdue", "id"], ascending=[False, False, True]).head(top)
    start = now - timedelta(days=days)
    counts["on_time_rate"] = [
        indicators.compute(frame[frame[key] == i], now, start=start, end=now)["on_time_rate"]
        for i in counts["id"]]
    return counts.reset_index(drop=True)


def area_names(engine: Engine, scope: Scope) -> dict[str, pd.Series]:
    """Names of the communities and grids in ``scope`` (id → name)."""
    g = store.read_frame(engine, select(Grid.id, Grid.name, Grid.community_id).where(Grid.id.in_(grid_ids(scope))))
    c = store.read_frame(engine, select(Community.id, Community.name)
                         .where(Community.id.in_(g["community_id"].unique().tolist() or [-1])))
    return {"community": c.set_index("id")["name"].sort_index(), "grid": g.set_index("id")["name"].sort_index()}


# --------------------------------------------------------------------------- map aggregates

def grid_load(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open and overdue tickets per grid (the extrusion / colour of the grid layer)."""
    is_open = frame["state"].isin(workflow.OPEN_STATES)
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    out = pd.DataFrame({"open": frame[is_open].groupby("grid_id").size(),
                        "overdue": frame[overdue].groupby("grid_id").size()})
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
    """What does not change between refreshes: outlines, roads, grid shapes, facilities."""

    street: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    facilities: pd.DataFrame
    bounds: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))


def basemap(engine: Engine, scope: Scope) -> Basemap:
    """The static layers of the scope, simplified for a wall (a few metres lost, bytes saved)."""
    gids = grid_ids(scope)
    grids = store.read_layer(engine, Grid, columns=["id", "code", "name", "community_id", "geom"],
                             where=Grid.id.in_(gids))
    comm_ids = sorted(grids["community_id"].unique().tolist())
    communities = store.read_layer(engine, Community, columns=["id", "name", "street_id", "geom"],
                                   where=Community.id.in_(comm_ids or [-1]))
    street_ids = sorted(communities["street_id"].unique().tolist())
    street = store.read_layer(engine, Street, columns=["id", "name", "geom"], where=Street.id.in_(street_ids or [-1]))
    area = shapely.union_all(communities.geometry.values) if len(communities) else None
    x0, y0, x1, y1 = area.bounds if area is not None else (0, 0, 0, 0)
    roads = store.read_layer(engine, Road, columns=["id", "kind", "geom"], where=(
        Road.kind.in_(BASEMAP_ROADS) & (Road.maxx >= x0) & (Road.minx <= x1)
        & (Road.maxy >= y0) & (Road.miny <= y1)))
    if area is not None and not _whole(scope) and len(roads):
        roads = roads[roads.intersects(area)]
    facilities = store.read_frame(engine, select(Facility.type, Facility.name, Facility.minx.label("lon"),
                                                 Facility.miny.label("lat"))
                                  .where(_in_scope(Facility.grid_id, scope)))
    return Basemap(street=_simplified(street), communities=_simplified(communities), grids=_simplified(grids),
                   roads=_simplified(roads), facilities=facilities, bounds=(x0, y0, x1, y1))


# --------------------------------------------------------------------------- everything at once

@dataclass
class Screen:
    """One refresh of the screen: the figures, the panels and the map's live layers."""

    now: datetime
    scope: Scope
    figures: dict[str, float]
    feed: pd.DataFrame
    trend: pd.DataFrame
    categories: pd.DataFrame
    communities: pd.DataFrame
    grids: pd.DataFrame
    grid_load: pd.DataFrame
    cells: pd.DataFrame
    alerts: pd.DataFrame
    cameras: pd.DataFrame


def build(engine: Engine, now: datetime, scope: Scope, *, lang: str = "zh",
          circle: dict[str, float] | None = None) -> Screen:
    """Everything that changes between refreshes, in one pass over the tickets.

    ``circle`` (the 15-minute figures) may be passed in: it changes only
    when facilities or buildings do, so the page caches it longer.
    """
    frame = load_tickets(engine, now, scope)
    names = area_names(engine, scope)
    figures = {**population(engine, scope), **ticket_figures(frame, now), **cameras(engine, scope),
               **(circle if circle is not None else service_circle(engine, scope))}
    cams = store.read_frame(engine, select(Camera.status, Camera.minx.label("lon"), Camera.miny.label("lat"))
                            .where(_in_scope(Camera.grid_id, scope)))
    return Screen(now=now, scope=scope, figures=figures, feed=feed(engine, now, scope, lang=lang),
                  trend=trend(frame, now), categories=by_category(frame, now, lang=lang),
                  communities=ranking(frame, now, names["community"], key="community_id"),
                  grids=ranking(frame, now, names["grid"], key="grid_id"),
                  grid_load=grid_load(frame, now), cells=ticket_cells(frame, now),
                  alerts=alerts(frame, now, lang=lang), cameras=cams)


def street_title(engine: Engine, scope: Scope) -> str:
    """The name the screen is titled with: the street, the community, or the district's streets."""
    if scope.level == "community":
        return str(store.read_frame(engine, select(Community.name).where(Community.id == scope.community_id))
                   ["name"].iloc[0])
    where = Street.id == scope.street_id if scope.street_id is not None else true()
    names = store.read_frame(engine, select(Street.name).where(where).order_by(Street.id))["name"].tolist()
    return names[0] if len(names) == 1 else f"{names[0]}等{len(names)}个街道" if names else ""


__all__ = ["REFRESH_S", "BASEMAP", "PERIOD_DAYS", "H3_RESOLUTION", "population", "load_tickets",
           "ticket_figures", "cameras", "straight_line_covered", "service_circle", "headline", "feed", "trend",
           "by_category", "ranking", "area_names", "grid_load", "ticket_cells", "alerts", "Basemap", "basemap",
           "Screen", "build", "street_title"]
