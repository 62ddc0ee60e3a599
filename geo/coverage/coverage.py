"""Coverage of the 15-minute service circle, counted in people.

A resident is covered by a facility type when the door of their building is
within the type's reach (geo.place.catalogue) of some facility of that type, either
in a straight line (the first cut: a buffer in metres) or along the walking
network (what people really walk; geo.coverage.network). "All of the required set"
covers a resident only when every required type is within reach.

Everything a question needs (buildings with their people, facilities, the
walking graph, the doors already snapped) is gathered once into a ``Plan``;
each question (which type, which method, what if this one closes, what if a
station is added here) is then a few array operations and one bounded
Dijkstra per type, fast enough to answer while a planner clicks.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, false, func, select, true

from geo import settings
from geo.place import catalogue, projection
from geo.coverage import network
from geo.db import store
from geo.access.roles import Scope
from geo.errors import ValidationError
from geo.db.schema import (
    Building, Camera, Community, Estate, Facility, Grid, Household, OpenSpace, Resident, Road, Street)

#: The pseudo-type meaning "every type of catalogue.required_types()".
REQUIRED = "required"
METHODS = ("walking", "straight")
LEVELS = {"street": "street_id", "community": "community_id", "grid": "grid_id"}
#: Doors within this much of the reach still count: lon-lat round trips move points by
#: micrometres, which must not flip a door standing exactly at the limit.
TOLERANCE_M: float = 0.001
#: A blind stretch of road shorter than this is a gap between two views, not worth listing.
MIN_BLIND_M: float = 20.0
#: Read beyond an area's border on top of the longest reach: a door and a facility each snap up to
#: network.SNAP_M to a road, plus a margin for network.JOIN_M joins and degree round-off.
BORDER_PAD_M: float = 2 * network.SNAP_M + 50.0


# --------------------------------------------------------------------------- inputs

@dataclass
class Plan:
    """Everything coverage questions need, built once (pages cache it as a resource)."""

    buildings: gpd.GeoDataFrame  # lon-lat polygons; id, name, grid/community/street ids, people
    facilities: gpd.GeoDataFrame  # lon-lat points; id, type, name
    areas: dict[str, gpd.GeoDataFrame]  # street / community / grid polygons with names
    roads: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame
    graph: network.WalkGraph
    door_xy: np.ndarray = field(repr=False)  # (B, 2) metric entrance points
    doors: network.Snapped = field(repr=False)
    fac_xy: np.ndarray = field(repr=False)
    fac_snap: network.Snapped = field(repr=False)
    snap_m: float = network.SNAP_M
    crs: str = settings.METRIC_CRS  # the metric CRS of every measurement (UTM zone of the data)
    open_spaces: gpd.GeoDataFrame | None = None  # parks, squares, vacant lots (lon-lat polygons)
    filled_doors: np.ndarray = field(default_factory=lambda: np.empty(0, int))  # ids, door from footprint
    outline: shapely.Geometry | None = None  # the area the plan is for (lon-lat); None: the whole database
    border_m: float = float("inf")  # reaches up to this are exact for the area's buildings (load_frames)

    def in_area(self, gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
        """Rows of ``gdf`` touching the plan's area (all of them for a whole-database plan):
        what the area's own figures count (its roads, cameras, squares), the border left out."""
        if gdf is None or self.outline is None or not len(gdf):
            return gdf
        return gdf[shapely.intersects(gdf.geometry.values, self.outline)]

    @property
    def unreachable_doors(self) -> np.ndarray:
        """Building ids whose door is farther than ``snap_m`` from any usable road."""
        return self.buildings["id"].to_numpy()[~self.doors.ok]


def border_m(reach: Iterable[tuple[str, float]] = ()) -> float:
    """How far around an area coverage must read to be exact for the area's residents: the longest
    reach asked (every type's standard reach and the 15-minute walk, or a planner's own ``reach``
    pairs). People cross grid lines: a station just over the line serves the grid's residents, and
    their walk may leave the area on the way."""
    return max(network.walk_distance_m(), *(ft.reach_m for ft in catalogue.FACILITY_TYPES.values()),
               *(float(r) for _, r in reach))


def load_frames(engine: Engine, *, scope: Scope | None = None, border: float | None = None
                ) -> dict[str, gpd.GeoDataFrame]:
    """Read what coverage needs from the store: people per building, facilities, roads…

    ``scope`` (geo.access.roles.Scope) reads one street, community or grid: its own buildings
    (in SQL, by the containment tree) and the facilities, roads, cameras and open spaces within
    ``border`` metres (default ``border_m()``) of it, by bounding box (the GiST index on PostGIS,
    the box columns on SQLite). Any walk of at most ``border`` metres from one of the area's doors
    stays inside that box, so the area's figures are those of the whole database restricted to its
    buildings, for every reach up to ``border`` (Plan.border_m). No scope, or a district-wide one
    (street level, no street): the whole database.
    """
    whole = scope is None or (scope.level == "street" and scope.street_id is None)
    where = (lambda table: true()) if whole else scope.clause
    border = border if border is not None else border_m()
    b = store.read_layer(engine, Building, columns=[
        "id", "name", "grid_id", "estate_id", "floors", "residents", "households", "entrance_lon", "entrance_lat",
        "geom"], where=where(Building.__table__))
    estates = select(Estate.id.label("estate_id"), Estate.name.label("estate"))
    if not whole:
        estates = estates.where(Estate.id.in_(select(Building.estate_id).where(where(Building.__table__))))
    estates = store.read_frame(engine, estates)
    b = b.merge(estates, on="estate_id", how="left").drop(columns="estate_id")  # a building people can find
    alone = store.read_frame(engine, select(Household.building_id.label("id"),
                                            func.count(Resident.id).label("elderly_alone"))
                             .join(Resident, Resident.household_id == Household.id)
                             .join(Building, Building.id == Household.building_id)
                             .where(Resident.elderly_alone.is_(True), where(Building.__table__))
                             .group_by(Household.building_id))
    b = b.merge(alone, on="id", how="left")
    b["elderly_alone"] = b["elderly_alone"].fillna(0).astype(int)
    frames = {"buildings": gpd.GeoDataFrame(b, geometry="geometry", crs=settings.STORAGE_CRS)}
    if whole:
        near = {m: None for m in (Facility, Road, Camera, OpenSpace)}
        frames |= {"street": store.read_layer(engine, Street), "community": store.read_layer(engine, Community),
                   "grid": store.read_layer(engine, Grid, where=Grid.retired_at.is_(None))}
    else:
        frames |= _area_rows(engine, scope)
        outline = shapely.union_all(frames["outline"].geometry.values)
        box = projection.padded_box([outline.bounds, frames["buildings"].total_bounds], border + BORDER_PAD_M)
        near = {m: store.in_box(engine, m.__table__, box) if box else false() for m in (Facility, Road, Camera, OpenSpace)}
    frames |= {
        "facilities": store.read_layer(engine, Facility, columns=["id", "type", "name", "community_id", "geom"],
                                       where=near[Facility]),
        "roads": store.read_layer(engine, Road, where=near[Road]),
        "cameras": store.read_layer(engine, Camera, where=near[Camera]),
        "open_spaces": store.read_layer(engine, OpenSpace, where=near[OpenSpace]),
    }
    if not whole:
        frames["border_m"] = border
    return frames


def _area_rows(engine: Engine, scope: Scope) -> dict[str, gpd.GeoDataFrame]:
    """The scope's own street, communities and (live) grids, and its outline (the polygons of its level)."""
    if scope.level == "grid":
        grid_w = Grid.id == scope.grid_id
        comm_w = Community.id.in_(select(Grid.community_id).where(grid_w))
    elif scope.level == "community":
        comm_w = Community.id == scope.community_id
        grid_w = Grid.community_id == scope.community_id
    else:
        comm_w = Community.street_id == scope.street_id
        grid_w = Grid.community_id.in_(select(Community.id).where(comm_w))
    rows = {"grid": store.read_layer(engine, Grid, where=grid_w & Grid.retired_at.is_(None)),
            "community": store.read_layer(engine, Community, where=comm_w),
            "street": store.read_layer(engine, Street, where=Street.id.in_(select(Community.street_id).where(comm_w))
                                       if scope.level != "street" else Street.id == scope.street_id)}
    rows["outline"] = rows[scope.level][["geometry"]]
    return rows


def frames_from_town(town: dict[str, list[dict]]) -> dict[str, gpd.GeoDataFrame]:
    """The same frames from a generated town in memory (benchmarks, tests: no database)."""
    def gdf(rows: list[dict], cols: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        df = pd.DataFrame(rows)
        geoms = df.pop("geom")
        if cols:
            df = df[[c for c in cols if c in df]]
        return gpd.GeoDataFrame(df, geometry=list(geoms), crs=settings.STORAGE_CRS)

    hh = pd.DataFrame(town["household"])[["id", "building_id"]].rename(columns={"id": "household_id"})
    res = pd.DataFrame(town["resident"])[["household_id", "elderly_alone"]]
    alone = res[res["elderly_alone"]].merge(hh, on="household_id").groupby("building_id").size()
    b = gdf(town["building"], ["id", "name", "grid_id", "estate_id", "floors", "residents", "households",
                               "entrance_lon", "entrance_lat"])
    estates = {e["id"]: e["name"] for e in town.get("estate", [])}
    b["estate"] = b.pop("estate_id").map(estates)
    b["elderly_alone"] = b["id"].map(alone).fillna(0).astype(int)
    return {"buildings": b, "facilities": gdf(town["facility"], ["id", "type", "name", "community_id"]),
            "roads": gdf(town["road"]), "cameras": gdf(town["camera"]), "street": gdf(town["street"]),
            "open_spaces": gdf(town.get("open_space", [])) if town.get("open_space") else None,
            "community": gdf(town["community"]), "grid": gdf(town["grid"])}


def build_plan(frames: dict[str, gpd.GeoDataFrame], *, roads: gpd.GeoDataFrame | None = None,
               snap_m: float = network.SNAP_M, join_m: float = network.JOIN_M) -> Plan:
    """Join buildings to their grid/community/street, build the graph, snap doors and facilities.

    ``roads`` replaces the town's own roads (an OSM or GeoPackage import).
    """
    for key in ("buildings", "facilities", "grid", "community"):
        if key not in frames:
            raise ValidationError(f"coverage needs the {key!r} layer")
    b = frames["buildings"]
    missing = {"id", "residents", "grid_id", "entrance_lon", "entrance_lat"} - set(b.columns)
    if missing:
        raise ValidationError(f"buildings lack column(s) {sorted(missing)}")
    grid = frames["grid"][["id", "community_id", "name", "code", "geometry"]]
    comm = frames["community"][["id", "street_id", "name", "geometry"]]
    b = b.merge(grid[["id", "community_id"]].rename(columns={"id": "grid_id"}), on="grid_id", how="left")
    b = b.merge(comm[["id", "street_id"]].rename(columns={"id": "community_id"}), on="community_id", how="left")
    if "elderly_alone" not in b:
        b["elderly_alone"] = 0
    b = gpd.GeoDataFrame(b, geometry="geometry", crs=frames["buildings"].crs).reset_index(drop=True)
    b, filled = _fill_entrances(b)
    crs = projection.metric_crs_for(b)
    graph = network.graph_from_lines(roads if roads is not None else frames["roads"], join_m=join_m, crs=crs)
    door_xy = np.c_[projection.lonlat_to_metric(b["entrance_lon"], b["entrance_lat"], crs=crs)]
    f = frames["facilities"].reset_index(drop=True)
    fm = projection.to_metric(f, what="facilities", crs=crs)
    fac_xy = shapely.get_coordinates(fm.geometry.values) if len(f) else np.empty((0, 2))
    street = frames.get("street")
    areas = {"grid": grid, "community": comm,
             "street": street[["id", "name", "geometry"]] if street is not None else comm.iloc[:0]}
    empty = gpd.GeoDataFrame(geometry=[], crs=settings.STORAGE_CRS)
    outline = frames.get("outline")
    return Plan(buildings=b, facilities=f, areas=areas, roads=roads if roads is not None else frames.get("roads", empty),
                cameras=frames.get("cameras", empty), graph=graph, door_xy=door_xy,
                doors=network.snap_points(graph, *door_xy.T, snap_m=snap_m), fac_xy=fac_xy,
                fac_snap=network.snap_points(graph, *fac_xy.T, snap_m=snap_m), snap_m=snap_m,
                crs=crs, filled_doors=filled, open_spaces=frames.get("open_spaces"),
                outline=shapely.union_all(outline.geometry.values) if outline is not None else None,
                border_m=float(frames.get("border_m", float("inf"))))


def _fill_entrances(b: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Buildings whose entrance is missing get one from their footprint (a point
    inside it), so one bad row cannot knock the others out; their ids are returned
    so the page can say so."""
    lon, lat, fill = entrances(b["entrance_lon"], b["entrance_lat"], b.geometry.values)
    b = b.assign(entrance_lon=lon, entrance_lat=lat)
    return b, b["id"].to_numpy()[fill]


def entrances(lon, lat, footprints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each building's door (lon, lat): its entrance, else a point inside its footprint (the
    rule coverage counts people by, and grid boundaries move buildings by); also the mask of
    the doors so filled. A building with neither stays NaN."""
    lon = pd.to_numeric(lon, errors="coerce").to_numpy(float, copy=True)
    lat = pd.to_numeric(lat, errors="coerce").to_numpy(float, copy=True)
    footprints = np.asarray(footprints, dtype=object)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    fill = bad & ~shapely.is_missing(footprints) & ~shapely.is_empty(footprints)
    if fill.any():
        inside = shapely.point_on_surface(footprints[fill])
        lon[fill], lat[fill] = shapely.get_x(inside), shapely.get_y(inside)
    return lon, lat, fill


# --------------------------------------------------------------------------- questions

def target_types(target: str) -> list[str]:
    """``target`` (a type key or REQUIRED) as the list of types it stands for."""
    if target == REQUIRED:
        return catalogue.required_types()
    catalogue.facility_type(target)  # a clear error for an unknown key
    return [target]


@dataclass(frozen=True)
class Scenario:
    """A what-if: facilities closed, new ones added (lon, lat, type), reach overrides."""

    closed: frozenset[int] = frozenset()
    added: tuple[tuple[float, float, str], ...] = ()
    reach: tuple[tuple[str, float], ...] = ()

    def reach_of(self, ftype: str) -> float:
        return dict(self.reach).get(ftype, catalogue.facility_type(ftype).reach_m)


def _sources(plan: Plan, ftype: str, sc: Scenario) -> tuple[np.ndarray, network.Snapped]:
    """Metric points and snapped places of the open facilities of ``ftype`` (plus added ones)."""
    f = plan.facilities
    keep = (f["type"].to_numpy() == ftype) & ~f["id"].isin(sc.closed).to_numpy()
    xy, snap = plan.fac_xy[keep], plan.fac_snap.subset(keep)
    new = [(lon, lat) for lon, lat, t in sc.added if t == ftype]
    if new:
        nx_, ny_ = projection.lonlat_to_metric(*np.array(new).T, crs=plan.crs)
        xy = np.vstack([xy, np.c_[nx_, ny_]])
        snap = network.Snapped.concat([snap, network.snap_points(plan.graph, nx_, ny_, snap_m=plan.snap_m)])
    return xy, snap


def door_distances(plan: Plan, ftype: str, method: str, sc: Scenario = Scenario()) -> np.ndarray:
    """Metres from each building's door to the nearest open facility of ``ftype`` (inf beyond reach)."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}")
    reach = sc.reach_of(ftype) + TOLERANCE_M
    xy, snap = _sources(plan, ftype, sc)
    if not len(xy):
        return np.full(len(plan.buildings), np.inf)
    if method == "straight":
        # only doors with a place: a missing one (NaN) stays inf instead of shifting the rest
        d = np.full(len(plan.buildings), np.inf)
        ok = np.flatnonzero(np.isfinite(plan.door_xy).all(axis=1))
        di, fi = shapely.STRtree(shapely.points(xy)).query_nearest(shapely.points(plan.door_xy[ok]),
                                                                   all_matches=False)
        d[ok[di]] = np.hypot(*(plan.door_xy[ok[di]] - xy[fi]).T)
        return np.where(d <= reach, d, np.inf)
    d = network.distances_to_points(plan.graph, snap, plan.doors, limit=reach)
    return np.where(d <= reach, d, np.inf)


@dataclass
class CoverageResult:
    """Per-building distances and covered flags for one question, and its summaries."""

    plan: Plan
    target: str
    method: str
    scenario: Scenario
    distance: pd.DataFrame  # building × type, metres (inf = not within reach)

    @property
    def types(self) -> list[str]:
        return list(self.distance.columns)

    @property
    def covered(self) -> pd.Series:
        """True where every type of the target is within reach of the building's door."""
        return np.isfinite(self.distance).all(axis=1)

    def summary(self) -> pd.DataFrame:
        """One row per type (and the target as a whole): people and elderly-alone covered."""
        b = self.plan.buildings
        rows = []
        cols = {t: np.isfinite(self.distance[t]) for t in self.types}
        if len(self.types) > 1:
            cols[self.target] = self.covered
        for key, cov in cols.items():
            cov = np.asarray(cov)
            rows.append(_figures(b, cov) | {"type": key})
        return pd.DataFrame(rows).set_index("type")

    def by_area(self, level: str = "grid") -> pd.DataFrame:
        """Covered residents and elderly-alone by street, community or grid, with names."""
        if level not in LEVELS:
            raise ValidationError(f"level must be one of {list(LEVELS)}, got {level!r}")
        b, cov = self.plan.buildings, np.asarray(self.covered)
        key = LEVELS[level]
        parts = pd.DataFrame({key: b[key].to_numpy(), "residents": b["residents"].to_numpy(),
                              "covered": np.where(cov, b["residents"], 0),
                              "elderly_alone": b["elderly_alone"].to_numpy(),
                              "elderly_covered": np.where(cov, b["elderly_alone"], 0),
                              "buildings": 1, "buildings_covered": cov.astype(int)})
        g = parts.groupby(key).sum()
        g.insert(2, "share", g["covered"] / g["residents"].where(g["residents"] > 0))
        g.insert(5, "elderly_share", g["elderly_covered"] / g["elderly_alone"].where(g["elderly_alone"] > 0))
        names = self.plan.areas[level].set_index("id")["name"]
        g.insert(0, "name", names.reindex(g.index).to_numpy())
        if level == "grid":
            g.insert(1, "code", self.plan.areas["grid"].set_index("id")["code"].reindex(g.index).to_numpy())
        return g.reset_index().rename(columns={key: "id"})

    def blind_buildings(self) -> gpd.GeoDataFrame:
        """Buildings (with people) outside the target's reach, most people first."""
        b = self.plan.buildings
        out = b.loc[~np.asarray(self.covered) & (b["residents"] > 0),
                    ["id", "name", "grid_id", "residents", "elderly_alone", "geometry"]]
        out = out.assign(reachable=self.plan.doors.ok[out.index])
        return out.sort_values("residents", ascending=False)

    def blind_areas(self) -> gpd.GeoDataFrame:
        """Grid polygons shaded by how many uncovered people live in each."""
        t = self.by_area("grid")
        grid = self.plan.areas["grid"][["id", "geometry"]].merge(t, on="id")
        grid["uncovered"] = grid["residents"] - grid["covered"]
        return gpd.GeoDataFrame(grid, geometry="geometry", crs=self.plan.areas["grid"].crs)

    def service_areas(self, *, buffer_m: float = network.ISOCHRONE_BUFFER_M) -> gpd.GeoDataFrame:
        """One polygon per type: union of circles (straight) or the isochrone (walking), lon-lat."""
        geoms, rows = [], []
        for ftype in self.types:
            reach = self.scenario.reach_of(ftype)
            xy, snap = _sources(self.plan, ftype, self.scenario)
            if not len(xy):
                continue
            if self.method == "straight":
                geom = shapely.union_all(shapely.buffer(shapely.points(xy), reach, quad_segs=16))
            else:
                geom = network.isochrone(self.plan.graph, snap, reach, buffer_m=buffer_m)
            geoms.append(geom)
            rows.append({"type": ftype, "reach_m": reach, "method": self.method, "facilities": len(xy),
                         "area_km2": round(geom.area / 1e6, 3)})
        out = gpd.GeoDataFrame(rows, geometry=geoms, crs=self.plan.crs)
        return projection.to_storage(out) if len(out) else out.set_crs(settings.STORAGE_CRS, allow_override=True)


def _figures(b: pd.DataFrame, cov: np.ndarray) -> dict:
    res = b["residents"].to_numpy()
    old = b["elderly_alone"].to_numpy()
    tot, got = int(res.sum()), int(res[cov].sum())
    otot, ogot = int(old.sum()), int(old[cov].sum())
    return {"residents": tot, "covered": got, "share": got / tot if tot else 0.0,
            "elderly_alone": otot, "elderly_covered": ogot, "elderly_share": ogot / otot if otot else 0.0,
            "buildings": int(len(b)), "buildings_covered": int(cov.sum())}


def analyse(plan: Plan, target: str, *, method: str = "walking",
            scenario: Scenario = Scenario()) -> CoverageResult:
    """Coverage of ``target`` (a type or REQUIRED) by ``method`` under ``scenario``."""
    types = target_types(target)
    dist = pd.DataFrame({t: door_distances(plan, t, method, scenario) for t in types},
                        index=plan.buildings.index)
    return CoverageResult(plan, target, method, scenario, dist)


@dataclass(frozen=True)
class Circle:
    """The 15-minute service circle (15分钟服务圈) in people: the one figure both pages show.

    ``share``: residents whose door reaches a facility of every required type
    (catalogue.required_types, the complete-community set) within that type's own standard
    reach (catalogue: kindergarten 300 m, market 500 m …; GB 50180-2018, 完整居住社区建设标准),
    walking (or, without a walking network, in a straight line). ``loose_share``: the looser
    reading, every required type within a 15-minute walk (network.walk_distance_m: 1,125 m);
    it is named 宽口径 wherever it is shown, never the headline.
    """

    residents: int
    covered: int
    loose_covered: int
    method: str
    loose_reach_m: float
    types: int

    @property
    def share(self) -> float:
        return self.covered / self.residents if self.residents else float("nan")

    @property
    def loose_share(self) -> float:
        return self.loose_covered / self.residents if self.residents else float("nan")


def circle(plan: Plan, *, mask: np.ndarray | None = None, method: str = "walking") -> Circle:
    """The 15-minute circle (see ``Circle``) for the buildings where ``mask`` is True (default: all).

    The planning page opens on this figure (target 全部必需设施, walking) and the wall shows it
    (geo.screen.figures.service_circle): one definition, one function. Every standard reach is
    within the 15-minute walk, so the looser reading is read off the same distances (one search).
    """
    standard, within = circle_flags(plan, method=method)
    keep = np.ones(len(standard), bool) if mask is None else np.asarray(mask, bool)
    people = plan.buildings["residents"].to_numpy()[keep]
    return Circle(residents=int(people.sum()), covered=int(people[standard[keep]].sum()),
                  loose_covered=int(people[within[keep]].sum()), method=method,
                  loose_reach_m=network.walk_distance_m(), types=len(catalogue.required_types()))


def circle_flags(plan: Plan, *, method: str = "walking") -> tuple[np.ndarray, np.ndarray]:
    """Per building of ``plan`` (its order): inside the 15-minute circle (every required type within its
    standard reach) and inside the looser reading (every required type within the 15-minute walk).
    ``circle`` sums these; a report that shows the circle per grid groups the same flags."""
    required = catalogue.required_types()
    loose = network.walk_distance_m()
    reach = max([loose, *(catalogue.facility_type(t).reach_m for t in required)])
    d = analyse(plan, REQUIRED, method=method,
                scenario=Scenario(reach=tuple((t, reach) for t in required))).distance
    standard = np.all([d[t].to_numpy() <= catalogue.facility_type(t).reach_m + TOLERANCE_M for t in required],
                      axis=0) if required else np.ones(len(d), bool)
    within = np.all([d[t].to_numpy() <= loose + TOLERANCE_M for t in required], axis=0) if required \
        else np.ones(len(d), bool)
    return standard, within


def added_effects(plan: Plan, target: str, *, method: str = "walking", scenario: Scenario = Scenario()
                  ) -> pd.DataFrame:
    """What each facility the planner added in ``scenario`` brings, and why it brings nobody.

    One row per added facility of the target's types: lon, lat, type, ``gain`` (residents covered
    with it and not without it, the rest of the scenario kept) and ``reason`` when the gain is 0:
    "off_network" (walking, and the point is farther than ``plan.snap_m`` from every usable road:
    nobody can walk to it), "nobody" (no door with people within the type's reach of it) or
    "covered" (everyone within its reach is covered already). Issue 13: a what-if that added
    nobody said nothing.
    """
    types = set(target_types(target))
    added = [a for a in scenario.added if a[2] in types]
    rows = []
    if not added:
        return pd.DataFrame(columns=["lon", "lat", "type", "gain", "reason"])
    people = plan.buildings["residents"].to_numpy()
    with_all = np.asarray(analyse(plan, target, method=method, scenario=scenario).covered)
    for site in added:
        lon, lat, ftype = site
        without = replace(scenario, added=tuple(a for a in scenario.added if a is not site))
        gain = int(people[with_all & ~np.asarray(analyse(plan, target, method=method, scenario=without).covered)].sum())
        reason = None
        if gain == 0:
            x, y = projection.lonlat_to_metric([lon], [lat], crs=plan.crs)
            alone = Scenario(closed=frozenset(plan.facilities.loc[plan.facilities["type"] == ftype, "id"]),
                             added=(site,), reach=scenario.reach)
            reach_people = people[np.isfinite(door_distances(plan, ftype, method, alone))].sum()
            if method == "walking" and not network.snap_points(plan.graph, x, y, snap_m=plan.snap_m).ok[0]:
                reason = "off_network"
            elif reach_people == 0:
                reason = "nobody"
            else:
                reason = "covered"
        rows.append({"lon": lon, "lat": lat, "type": ftype, "gain": gain, "reason": reason})
    return pd.DataFrame(rows)


def coverage_table(plan: Plan, types: Iterable[str] | None = None, *,
                   scenario: Scenario = Scenario()) -> pd.DataFrame:
    """Straight-line next to walking coverage, per type and for the required set.

    The gap between the two columns is what a buffer overstates.
    """
    types = list(types or catalogue.FACILITY_TYPES)
    rows = []
    for target in [*types, REQUIRED]:
        row = {"type": target,
               "reach_m": None if target == REQUIRED else scenario.reach_of(target)}
        for method in METHODS:
            s = analyse(plan, target, method=method, scenario=scenario)
            f = _figures(plan.buildings, np.asarray(s.covered))
            row |= {f"{method}_covered": f["covered"], f"{method}_share": f["share"],
                    f"{method}_elderly_share": f["elderly_share"]}
        row["residents"] = int(plan.buildings["residents"].sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("type")


def weakest_first(table: pd.DataFrame) -> pd.DataFrame:
    """``coverage_table`` as the page shows it: the required set first, then every type with
    a facility by walking share, lowest first, with how many points a buffer overstates."""
    out = table.assign(gap=(table["straight_share"] - table["walking_share"]) * 100)
    req = out.loc[[REQUIRED]] if REQUIRED in out.index else out.iloc[:0]
    rest = out.drop(index=REQUIRED, errors="ignore").sort_values(["walking_share", "straight_share"])
    return pd.concat([req, rest])


# --------------------------------------------------------------------------- cameras

def camera_sectors(cameras: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None = None, *,
                   online_only: bool = True, arc_steps: int = 24) -> gpd.GeoDataFrame:
    """Each camera's view: a sector (heading clockwise from north, fov, range), minus
    building footprints and the shadow each building casts away from the camera."""
    need = {"heading", "fov", "range_m"} - set(cameras.columns)
    if need:
        raise ValidationError(f"cameras lack column(s) {sorted(need)}")
    crs = projection.metric_crs_for(cameras)
    cams = projection.to_metric(cameras, what="cameras", crs=crs)
    if online_only and "status" in cams:
        cams = cams[cams["status"] == "online"]
    cams = cams[cams["range_m"].fillna(0) > 0].reset_index(drop=True)
    if not len(cams):
        return gpd.GeoDataFrame(cams.drop(columns="geometry"), geometry=[], crs=settings.STORAGE_CRS)
    xy = shapely.get_coordinates(cams.geometry.values)
    fov = np.clip(cams["fov"].to_numpy(float), 1.0, 359.0)
    r = cams["range_m"].to_numpy(float)
    theta = np.radians(cams["heading"].to_numpy(float)[:, None]
                       + fov[:, None] * np.linspace(-0.5, 0.5, arc_steps)[None, :])
    arc = np.stack([xy[:, :1] + r[:, None] * np.sin(theta), xy[:, 1:] + r[:, None] * np.cos(theta)], axis=-1)
    ring = np.concatenate([xy[:, None, :], arc, xy[:, None, :]], axis=1)
    sectors = shapely.polygons(ring)
    if buildings is not None and len(buildings):
        sectors = _minus_shadows(sectors, xy, r, projection.to_metric(buildings, what="buildings", crs=crs))
    out = gpd.GeoDataFrame(cams.drop(columns="geometry"), geometry=sectors, crs=crs)
    out["area_m2"] = out.geometry.area.round(1)
    return projection.to_storage(out)


def _minus_shadows(sectors: np.ndarray, xy: np.ndarray, r: np.ndarray,
                   buildings: gpd.GeoDataFrame) -> np.ndarray:
    fp = buildings.geometry.values
    ci, bi = shapely.STRtree(fp).query(sectors, predicate="intersects")
    if not len(ci):
        return sectors
    hulls = shapely.convex_hull(fp[bi])
    mounted = shapely.dwithin(hulls, shapely.points(xy[ci]), 0.5)  # camera on that wall
    coords, k = shapely.get_coordinates(hulls, return_index=True)
    cam = xy[ci[k]]
    vec = coords - cam
    far = cam + vec / np.maximum(np.hypot(*vec.T), 1e-6)[:, None] * (2.0 * r[ci[k]])[:, None]
    both, owner = np.vstack([coords, far]), np.r_[k, k]
    order = np.argsort(owner, kind="stable")
    shadow = shapely.convex_hull(shapely.multipoints(both[order], indices=owner[order]))
    shadow = np.where(mounted, fp[bi], shapely.union(shadow, fp[bi]))
    blocked = gpd.GeoSeries(shadow).groupby(ci).agg(lambda s: shapely.union_all(s.values))
    out = sectors.copy()
    idx = blocked.index.to_numpy()
    out[idx] = shapely.difference(sectors[idx], blocked.to_numpy())
    return out


def _views(sectors: gpd.GeoDataFrame) -> Callable[[str], shapely.Geometry]:
    """The union of the views in a metric CRS: projected and unioned once per CRS, however
    many measurements (roads, public spaces) ask for it."""
    @functools.cache
    def seen(crs: str) -> shapely.Geometry:
        if not len(sectors):
            return shapely.Polygon()
        return shapely.union_all(projection.to_metric(sectors, what="sectors", crs=crs).geometry.values)
    return seen


def camera_road_coverage(sectors: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *,
                         min_blind_m: float = MIN_BLIND_M, views: Callable[[str], shapely.Geometry] | None = None
                         ) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Road length seen by cameras per road class, and the blind stretches (≥ ``min_blind_m``).

    ``views``: ``_views(sectors)`` when the caller measures more than roads against them."""
    crs = projection.metric_crs_for(roads)
    rm = projection.to_metric(roads, what="roads", crs=crs)
    seen = (views or _views(sectors))(crs)
    inside = shapely.intersection(rm.geometry.values, seen)
    kind = rm["kind"] if "kind" in rm else pd.Series("road", index=rm.index)
    table = pd.DataFrame({"kind": kind.to_numpy(), "length_m": shapely.length(rm.geometry.values),
                          "seen_m": shapely.length(inside)}).groupby("kind").sum()
    table.loc["all"] = table.sum()
    table["share"] = table["seen_m"] / table["length_m"].where(table["length_m"] > 0)
    name = rm["name"] if "name" in rm else pd.Series(None, index=rm.index, dtype=object)
    blind = gpd.GeoDataFrame({"kind": kind.to_numpy(), "name": name.to_numpy()},
                             geometry=shapely.difference(rm.geometry.values, seen), crs=crs)
    blind = blind.explode(index_parts=False)
    blind = blind[blind.geometry.length >= min_blind_m]
    blind["length_m"] = blind.geometry.length.round(1)
    return table, projection.to_storage(blind.reset_index(drop=True))


#: Open-space kinds that are public places people gather in (cameras should see them).
PUBLIC_SPACE_KINDS = ("square", "park")


def camera_space_coverage(sectors: gpd.GeoDataFrame, spaces: gpd.GeoDataFrame | None, *,
                          views: Callable[[str], shapely.Geometry] | None = None) -> gpd.GeoDataFrame:
    """Each public space (squares, parks) with the share of its area some online camera sees
    (``views`` as for camera_road_coverage)."""
    cols = ["name", "kind", "area_m2", "seen_m2", "share"]
    if spaces is None or not len(spaces):
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=settings.STORAGE_CRS)
    pub = spaces[spaces["kind"].isin(PUBLIC_SPACE_KINDS)] if "kind" in spaces else spaces
    crs = projection.metric_crs_for(pub)
    pm = projection.to_metric(pub, what="open spaces", crs=crs)
    seen = (views or _views(sectors))(crs)
    area = shapely.area(pm.geometry.values)
    seen_m2 = shapely.area(shapely.intersection(pm.geometry.values, seen))
    out = pub.assign(area_m2=area.round(1), seen_m2=seen_m2.round(1),
                     share=np.where(area > 0, seen_m2 / np.maximum(area, 1e-9), 0.0))
    return out[[c for c in cols if c in out] + ["geometry"]].sort_values("share").reset_index(drop=True)


@dataclass
class CameraCoverage:
    """What the cameras see: every camera, the views of the online ones, roads seen and blind,
    and the public spaces (squares, parks) with the share of their area in view."""

    cameras: gpd.GeoDataFrame  # every camera (lon-lat points) with its status
    sectors: gpd.GeoDataFrame  # views of the online cameras, clipped by buildings
    roads: pd.DataFrame  # per road kind and "all": length_m, seen_m, share
    blind: gpd.GeoDataFrame  # blind stretches of road (≥ MIN_BLIND_M), lon-lat
    spaces: gpd.GeoDataFrame | None = None  # squares and parks: area_m2, seen_m2, share

    def status(self) -> dict[str, int]:
        """Cameras in all, online, and not online (offline or faulty: they see nothing)."""
        st = self.cameras["status"] if "status" in self.cameras else pd.Series("online", index=self.cameras.index)
        online = int((st == "online").sum())
        return {"total": int(len(st)), "online": online, "offline": int(len(st)) - online}

    def space_share(self) -> float:
        """Share of all public-space area in view (nan when there are none)."""
        if self.spaces is None or not len(self.spaces) or self.spaces["area_m2"].sum() <= 0:
            return float("nan")
        return float(self.spaces["seen_m2"].sum() / self.spaces["area_m2"].sum())


def camera_coverage(cameras: gpd.GeoDataFrame, roads: gpd.GeoDataFrame,
                    buildings: gpd.GeoDataFrame | None = None, *, spaces: gpd.GeoDataFrame | None = None,
                    min_blind_m: float = MIN_BLIND_M) -> CameraCoverage:
    """Camera coverage of the roads and public spaces: online cameras' views (minus building
    shadows), the share of road length they see by road kind, the blind stretches, and the
    share of each square's and park's area in view."""
    sectors = camera_sectors(cameras, buildings, online_only=True)
    views = _views(sectors)  # one union of the views serves roads and spaces (same metric CRS: one projection)
    table, blind = camera_road_coverage(sectors, roads, min_blind_m=min_blind_m, views=views)
    return CameraCoverage(cameras=cameras, sectors=sectors, roads=table, blind=blind,
                          spaces=camera_space_coverage(sectors, spaces, views=views))
