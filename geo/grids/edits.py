"""Split, merge, new and retire (拆分 / 合并 / 新建 / 撤销网格): the four edits a street makes to its grids.

Each edit only works out new outlines, in metres, and hands them to
geo.grids.boundaries.plan_adjustment, so every edit is checked, previewed and
applied by the same machinery as an uploaded file: gaps and overlaps refused,
the grid rule checked (geo.grids.rules), the buildings, households, residents,
open tickets, facilities and cameras of the land that changes moved in one
audited transaction, a retired grid's team listed for reassignment.

Buildings stay whole: where a cutting line or a division crosses a building,
the whole footprint goes to the side holding its door (the rule everything
else follows), so no edit made here cuts a building.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import split as split_polygon
from sqlalchemy import Engine, select

from geo import settings
from geo.db import store
from geo.db.schema import Building, Community
from geo.grids import boundaries, rules
from geo.grids.boundaries import BoundaryError, Plan
from geo.io import vector_files
from geo.place import projection

#: Points sampled along a shared edge every this many metres to share a retired grid's land out.
EDGE_STEP_M = 5.0
#: Neighbours share at least this much boundary (metres); touching at a corner is not neighbouring.
NEIGHBOUR_EDGE_M = 1.0


def split(engine: Engine, user, code: str, cut, *, renumber: bool = False) -> Plan:
    """Split grid ``code`` along ``cut`` (a lon-lat line, or several, drawn across the grid).

    The part holding most households keeps the grid's code, name and team; every other
    part is a new grid (community code + next free number). Raises BoundaryError when
    the line does not cross the grid from edge to edge.
    """
    grid, crs = _one(engine, user, code)
    if cut is None or shapely.is_empty(cut):
        raise BoundaryError("cut_line", code=code)
    line = _metric_geom(cut, crs)
    poly = grid.geometry.iloc[0]
    parts = [p for p in shapely.get_parts(split_polygon(poly, _lines(line))) if p.area > rules.TOLERANCE_M ** 2]
    if len(parts) < 2:
        raise BoundaryError("cut_line", code=code)
    parts = _whole_buildings(engine, parts, [int(grid["id"].iloc[0])], crs)
    hh = _households_in(engine, parts, [int(grid["id"].iloc[0])], crs)
    first = int(np.argmax(hh))
    codes = [code if i == first else "" for i in range(len(parts))]
    return _plan(engine, user, codes, parts, crs, kind="split", renumber=renumber,
                 grid_type=grid["grid_type"].iloc[0])


def merge(engine: Engine, user, codes: list[str], *, keep: str | None = None, renumber: bool = False) -> Plan:
    """Merge neighbouring grids ``codes`` into one: ``keep`` (default: the one with most households)
    keeps its code, name and team; the others are retired, their teams listed for reassignment."""
    codes = list(dict.fromkeys(codes))
    if len(codes) < 2:
        raise BoundaryError("merge_two")
    grids, crs = _some(engine, user, codes)
    union = shapely.union_all(grids.geometry.values, grid_size=boundaries.GRID_SIZE_M)
    if len(rules.pieces(union)) > 1:
        raise BoundaryError("not_neighbours", codes="、".join(codes))
    if keep is None:
        hh = _households_in(engine, list(grids.geometry.values), list(grids["id"]), crs)
        keep = str(grids["code"].iloc[int(np.argmax(hh))])
    elif keep not in codes:
        raise BoundaryError("unknown", codes=keep)
    others = [c for c in codes if c != keep]
    return _plan(engine, user, [keep, *others], [union, *[None] * len(others)], crs, kind="merge",
                 retire=[False] + [True] * len(others), renumber=renumber)


def create(engine: Engine, user, area, *, grid_type: str = "area", name: str | None = None,
           renumber: bool = False) -> Plan:
    """A new grid on the land inside ``area`` (lon-lat polygon) that no grid of its community holds.

    The drawn outline is cut to that land, so a rough outline drawn over the edges of
    neighbouring grids is enough. Raises BoundaryError when the outline holds none.
    """
    if grid_type not in rules.GRID_TYPES:
        raise BoundaryError("grid_type", kinds="、".join(rules.GRID_TYPES))
    drawn = gpd.GeoDataFrame({"code": [""]}, geometry=[_polygon(area)], crs=settings.STORAGE_CRS)
    community_id = boundaries.community_of(engine, user, pd.DataFrame(), drawn)
    live = boundaries.grids_of(engine, user.scope, community_id=community_id)
    outline = store.read_frame(engine, select(Community.geom).where(Community.id == community_id))
    crs = projection.metric_crs_for(drawn)
    unheld = boundaries.unheld_land(live, outline["geom"].iloc[0], crs)
    land = shapely.intersection(_metric_geom(drawn.geometry.iloc[0], crs), unheld, grid_size=boundaries.GRID_SIZE_M)
    pieces = rules.pieces(land)
    if not len(pieces):
        raise BoundaryError("no_land")
    piece = max(pieces, key=lambda p: p.area)  # one grid is one piece; slivers beside it stay unheld
    return _plan(engine, user, [""], [piece], crs, kind="new", renumber=renumber, grid_type=grid_type,
                 names=[name or ""])


def retire(engine: Engine, user, code: str, *, into: str | None = None, renumber: bool = False) -> Plan:
    """Retire grid ``code``: its land goes to ``into`` (a neighbour of the same community), or, by
    default, is shared among its neighbours (each piece to the one whose edge is nearest, buildings
    whole). Its code is not given again; its team, contact points and logins are listed for
    reassignment; closed tickets and visits keep naming it."""
    grid, crs = _one(engine, user, code)
    poly = grid.geometry.iloc[0]
    live = boundaries.grids_of(engine, user.scope, community_id=int(grid["community_id"].iloc[0]))
    live = live[live["code"] != code]
    live_m = projection.to_metric(live, crs=crs)
    shared = shapely.length(shapely.intersection(live_m.geometry.values, poly.boundary))
    near = live_m[shared > NEIGHBOUR_EDGE_M]
    if into is not None:
        near = near[near["code"] == into]
    if not len(near):
        raise BoundaryError("no_neighbour", code=code)
    regions = _share_out(poly, list(near.geometry.values))
    regions = _whole_buildings(engine, regions, [int(grid["id"].iloc[0])], crs)
    outlines = [shapely.union_all([g, r], grid_size=boundaries.GRID_SIZE_M) if not r.is_empty else None
                for g, r in zip(near.geometry.values, regions)]
    keep = [(c, o) for c, o in zip(near["code"], outlines) if o is not None]
    return _plan(engine, user, [c for c, _ in keep] + [code], [o for _, o in keep] + [None], crs, kind="retire",
                 retire=[False] * len(keep) + [True], renumber=renumber)


# --------------------------------------------------------------------------- helpers

def _one(engine: Engine, user, code: str) -> tuple[gpd.GeoDataFrame, str]:
    grids, crs = _some(engine, user, [code])
    return grids, crs


def _some(engine: Engine, user, codes: list[str]) -> tuple[gpd.GeoDataFrame, str]:
    """The live grids ``codes`` of the user's area, in metres (BoundaryError "unknown" otherwise)."""
    boundaries.may_edit(user)
    mine = boundaries.grids_of(engine, user.scope)
    found = mine[mine["code"].isin(codes)]
    missing = sorted(set(codes) - set(found["code"]))
    if missing:
        raise BoundaryError("unknown", codes=vector_files.quote_list(missing))
    crs = projection.metric_crs_for(found)
    found = found.set_index("code").loc[codes].reset_index()
    return projection.to_metric(gpd.GeoDataFrame(found, geometry="geometry", crs=settings.STORAGE_CRS), crs=crs), crs


def _polygon(area):
    geom = shapely.make_valid(area) if area is not None else None
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise BoundaryError("draw_polygon")
    return geom


def _metric_geom(geom, crs: str):
    return projection.to_metric(gpd.GeoDataFrame(geometry=[geom], crs=settings.STORAGE_CRS), crs=crs).geometry.iloc[0]


def _lines(line):
    """A cutting line (or several) as one (Multi)LineString; a polygon's outline is a line too."""
    parts = [p.boundary if p.geom_type == "Polygon" else p for p in shapely.get_parts(line)]
    return shapely.union_all(parts)


def _doors(engine: Engine, grid_ids: list[int], crs: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Footprints, doors (metres) and households of the buildings of ``grid_ids``."""
    b = store.read_layer(engine, Building, columns=["id", "households", "entrance_lon", "entrance_lat", "geom"],
                         where=Building.grid_id.in_([int(i) for i in grid_ids]))
    b = projection.to_metric(b, crs=crs)
    return np.asarray(b.geometry.values, dtype=object), rules.doors(b), b["households"].to_numpy(float)


def _whole_buildings(engine: Engine, parts: list, grid_ids: list[int], crs: str) -> list:
    """``parts`` (metric polygons tiling some land) with every building they cut given whole to the
    part holding its door."""
    fps, doors, _ = _doors(engine, grid_ids, crs)
    parts = list(parts)
    if not len(fps):
        return parts
    owner = rules.assign_points(parts, [f"{i:04d}" for i in range(len(parts))], doors)
    for fp, k in zip(fps, owner):
        hit = [i for i, p in enumerate(parts) if shapely.area(shapely.intersection(p, fp)) > 1e-6]
        if k < 0 or len(hit) < 2:
            continue
        land = shapely.union_all([shapely.intersection(parts[i], fp) for i in hit])
        for i in hit:
            parts[i] = shapely.union(parts[i], land, grid_size=boundaries.GRID_SIZE_M) if i == k else \
                shapely.difference(parts[i], fp, grid_size=boundaries.GRID_SIZE_M)
    return parts


def _households_in(engine: Engine, parts: list, grid_ids: list[int], crs: str) -> np.ndarray:
    fps, doors, hh = _doors(engine, grid_ids, crs)
    owner = rules.assign_points(parts, [f"{i:04d}" for i in range(len(parts))], doors)
    return np.bincount(owner[owner >= 0], weights=hh[owner >= 0], minlength=len(parts))


def _share_out(poly, neighbours: list) -> list:
    """``poly`` divided among ``neighbours`` (metric): each point to the neighbour whose shared edge is
    nearest (Voronoi cells of points along the shared edges, merged per neighbour)."""
    if len(neighbours) == 1:
        return [poly]
    points, label = [], []
    for k, n in enumerate(neighbours):
        edge = shapely.intersection(n.boundary, poly.boundary)
        for line in shapely.get_parts(shapely.line_merge(edge) if edge.geom_type != "Point" else edge):
            if line.length <= 0:
                continue
            steps = np.linspace(0, line.length, max(2, int(line.length / EDGE_STEP_M) + 1))
            pts = shapely.line_interpolate_point(line, steps)
            points.extend(pts)
            label.extend([k] * len(pts))
    pts = shapely.points(np.unique(np.round(shapely.get_coordinates(np.array(points, dtype=object)), 3), axis=0))
    xy = np.round(shapely.get_coordinates(np.array(points, dtype=object)), 3)
    first = {tuple(p): lab for p, lab in zip(xy, label)}
    lab = np.array([first[tuple(c)] for c in shapely.get_coordinates(pts)])
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly.buffer(50),
                                                       ordered=True))
    out = []
    for k in range(len(neighbours)):
        mine = shapely.union_all(cells[lab == k]) if (lab == k).any() else shapely.Polygon()
        out.append(shapely.intersection(poly, mine, grid_size=boundaries.GRID_SIZE_M))
    return out


def _plan(engine: Engine, user, codes: list[str], geoms: list, crs: str, *, kind: str, renumber: bool,
          retire: list[bool] | None = None, grid_type: str = "area", names: list[str] | None = None) -> Plan:
    """Hand the edit's outlines (metric; None for a retired grid) to boundaries.plan_adjustment."""
    retire = retire or [False] * len(codes)
    shapes = [g if g is not None else shapely.Polygon() for g in geoms]
    frame = gpd.GeoDataFrame({"code": codes, "retire": retire, "grid_type": grid_type,
                              "name": names or [""] * len(codes)}, geometry=shapes, crs=crs).to_crs(settings.STORAGE_CRS)
    return boundaries.plan_adjustment(engine, user, frame, kind=kind, renumber=renumber)
