"""Cut a community into grids automatically (自动划分网格): a regionalisation with a floor AND a ceiling.

The units are the community's land around each building: the community (or a
chosen set of its grids) is cut into blocks by its roads and lanes, and each block
into one cell per building (Voronoi cells of the footprints, each footprint whole
in its own cell), so the units tile the land exactly and a unit's households are
its building's. Grids made of whole units keep buildings whole, tile the land with
no overlap or gap, and their edges run along roads wherever two units of
different blocks meet.

Why not spopt's max-p alone: max-p (``MaxPHeuristic``) maximises the number of
regions above a floor and has no ceiling, so it leaves grids of 600+ households
beside grids of 300. This module cuts by recursive bisection instead ("split"):
a block of units that must become k grids is split in two along the straight line
(12 directions tried) whose cut runs most along roads and least through estates,
with households on each side inside the interval that lets each side become its
own number of grids within the bounds; each side must be contiguous, checked on
the units' adjacency graph, and a side left in pieces is repaired by handing
small pieces over ("repair"). A k=1 leaf is within the bounds by construction.
bench/gridcut_bench.py compares both on every demo community.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import Engine, select

from geo import settings
from geo.access import roles
from geo.db import store
from geo.db.schema import Community, Road
from geo.grids import boundaries, rules
from geo.grids.boundaries import BoundaryError, Plan
from geo.place import projection

#: Roads that bound blocks (footways lead to doors and do not).
BLOCK_ROADS = ("arterial", "street", "lane")
#: Directions tried for each straight cut (degrees, 0–180).
ANGLES = tuple(range(0, 180, 15))
#: Cutting along a road costs this share of cutting between two buildings of one block.
ROAD_COST = 0.15
#: Cutting between two buildings of one estate costs this much more per metre.
ESTATE_COST = 4.0
#: Shared edges shorter than this (metres) do not make two units neighbours.
TOUCH_M = 0.5
#: Two cells this close (metres) touch: cells of two blocks meet along a road split at different vertices,
#: so their edges agree only to floating-point noise.
SNAP_M = 0.001
#: Units smaller than this (m²) are slivers of the road network, merged into their longest neighbour.
SLIVER_M2 = 20.0


@dataclass
class Units:
    """The land cut into units (metric): ``gdf`` has households, residents, block, estate_id,
    building_id (-1: land with no building) and the cell; ``edges``: i, j, length (m), cost."""

    gdf: gpd.GeoDataFrame
    edges: pd.DataFrame
    crs: str

    @property
    def n(self) -> int:
        return len(self.gdf)


@dataclass
class Cut:
    """A proposal: ``labels`` (grid number of each unit), ``grids`` (lon-lat outlines with households,
    residents, compactness), the bounds it was cut to and how long it took."""

    labels: np.ndarray
    grids: gpd.GeoDataFrame
    bounds: tuple[int, int]
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def within(self) -> float:
        hh = self.grids["households"]
        return float(((hh >= self.bounds[0]) & (hh <= self.bounds[1])).mean()) if len(hh) else 0.0


# --------------------------------------------------------------------------- units

def units_from(region, buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None, crs: str) -> Units:
    """Units over ``region`` (metric polygon) from ``buildings`` (metric footprints with households,
    residents, id, estate_id; those whose door lies in ``region``) and ``roads`` (metric lines)."""
    blocks = _blocks(region, roads)
    fp = np.asarray(buildings.geometry.values, dtype=object)
    anchor = shapely.point_on_surface(fp)
    block_of = rules.assign_points(blocks, [f"{i:05d}" for i in range(len(blocks))], anchor)
    nearest = shapely.STRtree(blocks).nearest(anchor[block_of < 0]) if (block_of < 0).any() else []
    block_of[block_of < 0] = nearest
    cells, owner, blk = [], [], []
    for k, block in enumerate(blocks):
        mine = np.flatnonzero(block_of == k)
        if not len(mine):
            cells.append(block), owner.append(-1), blk.append(k)
            continue
        if len(mine) == 1:
            parts = [block]
        else:
            vor = shapely.voronoi_polygons(shapely.multipoints(anchor[mine]), extend_to=block.buffer(10),
                                           ordered=True)
            parts = list(shapely.intersection(shapely.get_parts(vor), block))
        cells += parts
        owner += list(mine)
        blk += [k] * len(mine)
    owner = np.asarray(owner)
    cells, stray = _one_piece(_footprints_whole(np.asarray(cells, dtype=object), owner, fp), owner, fp)
    b = buildings.reset_index(drop=True)
    has = owner >= 0
    gdf = gpd.GeoDataFrame({
        "households": np.where(has, b["households"].to_numpy(float)[np.maximum(owner, 0)], 0).astype(int),
        "residents": np.where(has, b["residents"].to_numpy(float)[np.maximum(owner, 0)], 0).astype(int),
        "estate_id": np.where(has, pd.to_numeric(b["estate_id"], errors="coerce").fillna(-1).to_numpy()[
            np.maximum(owner, 0)], -1).astype(int) if "estate_id" in b else -1,
        "building_id": np.where(has, b["id"].to_numpy()[np.maximum(owner, 0)], -1).astype(int),
        "block": np.asarray(blk)}, geometry=list(cells), crs=crs)
    gdf = _merge_small(gdf, stray)
    gdf = gdf.set_geometry(_renode(np.asarray(gdf.geometry.values, dtype=object)))
    return Units(gdf=gdf, edges=_edges(gdf, roads), crs=crs)


def _blocks(region, roads: gpd.GeoDataFrame | None) -> list:
    """``region`` cut by the roads crossing it (polygonised; every piece of land in exactly one block)."""
    lines = [region.boundary]
    if roads is not None and len(roads):
        inside = shapely.intersection(np.asarray(roads.geometry.values, dtype=object), region)
        lines += [g for g in inside if not g.is_empty]
    noded = shapely.union_all(lines)
    faces = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
             if region.covers(f.representative_point())]
    return faces or [region]


def _footprints_whole(cells: np.ndarray, owner: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Each footprint whole in its building's cell, taken out of every other cell (tiling kept)."""
    cells = cells.copy()
    tree = shapely.STRtree(cells)
    where = {int(b): i for i, b in enumerate(owner) if b >= 0}
    for b, foot in enumerate(fp):
        if b not in where:
            continue
        own = where[b]
        hits = [int(i) for i in tree.query(foot, predicate="intersects") if int(i) != own]
        for i in hits:
            piece = shapely.intersection(cells[i], foot)
            if shapely.area(piece) > 1e-6:
                cells[own] = shapely.union(cells[own], piece)
                cells[i] = shapely.difference(cells[i], foot)
    return cells


def _one_piece(cells: np.ndarray, owner: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, list]:
    """Each cell as one polygon: a building's the piece holding most of its footprint, an empty cell its
    largest piece; the stray pieces (a concave block, a corner) are returned to be merged."""
    out, stray = cells.copy(), []
    for i, cell in enumerate(cells):
        parts = [p for p in shapely.get_parts(cell) if p.geom_type == "Polygon" and p.area > 0]
        if len(parts) <= 1:
            out[i] = parts[0] if parts else cell
            continue
        key = (lambda p: shapely.area(shapely.intersection(p, fp[owner[i]]))) if owner[i] >= 0 else shapely.area
        parts.sort(key=key, reverse=True)
        out[i] = parts[0]
        stray += parts[1:]
    return out, stray


def _renode(cells: np.ndarray) -> np.ndarray:
    """The cells rebuilt from one noding of all their edges, so two neighbours share the very same edge
    (cells of two blocks along a road are otherwise split at different vertices, and grids made of
    them would show seams, slivers and holes). Each face goes to the cell holding its inner point; a
    sliver no cell holds goes to the nearest."""
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(cells)))))
    inner = shapely.point_on_surface(faces)
    tree = shapely.STRtree(cells)
    owner = np.full(len(faces), -1)
    fi, ci = tree.query(inner, predicate="within")
    owner[fi] = ci
    lost = np.flatnonzero(owner < 0)
    if len(lost):
        owner[lost] = tree.nearest(inner[lost])
    out = cells.copy()
    for i in range(len(cells)):
        mine = faces[owner == i]
        if len(mine):
            out[i] = shapely.union_all(mine)
    return out


def _merge_small(gdf: gpd.GeoDataFrame, extra: list) -> gpd.GeoDataFrame:
    """Stray pieces and tiny empty cells (where roads meet) go to the neighbour they share most edge with."""
    base = len(gdf)
    if extra:
        pad = pd.DataFrame({"households": 0, "residents": 0, "estate_id": -1, "building_id": -1,
                            "block": -1}, index=range(len(extra)))
        gdf = gpd.GeoDataFrame(pd.concat([gdf, gpd.GeoDataFrame(pad, geometry=extra, crs=gdf.crs)],
                                         ignore_index=True), geometry="geometry", crs=gdf.crs)
    small = ((gdf.area < SLIVER_M2) | (gdf.index >= base)) & (gdf["building_id"] < 0)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    keep = ~small.to_numpy()
    tree = shapely.STRtree(geoms)
    for i in np.argsort(shapely.area(geoms)):
        if keep[i]:
            continue
        near = [int(j) for j in tree.query(geoms[i], predicate="intersects") if keep[int(j)]]
        shared = [shapely.length(shapely.intersection(geoms[i].boundary, shapely.buffer(geoms[j], SNAP_M)))
                  for j in near]
        if near and max(shared) > TOUCH_M:
            j = near[int(np.argmax(shared))]
            geoms[j] = shapely.union(geoms[j], geoms[i])
        else:
            keep[i] = True  # an island of land with nothing beside it stays a unit of its own
    return gdf.set_geometry(list(geoms))[keep].reset_index(drop=True)


def _edges(gdf: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Neighbouring units and what cutting between them costs: the shared length, cheaper along a road
    (different blocks), dearer inside an estate."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    near = shapely.buffer(geoms, SNAP_M)  # cells of two blocks meet along a road split at different vertices
    i, j = shapely.STRtree(near).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    length = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), near[j]))
    ok = length > TOUCH_M
    i, j, length = i[ok], j[ok], length[ok]
    block = gdf["block"].to_numpy()
    estate = gdf["estate_id"].to_numpy()
    cost = np.where(block[i] != block[j], ROAD_COST, 1.0)
    cost = cost + np.where((estate[i] >= 0) & (estate[i] == estate[j]), ESTATE_COST, 0.0)
    return pd.DataFrame({"i": i, "j": j, "length": length, "cost": cost * length})


# --------------------------------------------------------------------------- the regionalisation

def regionalise(units: Units, lo: int, hi: int, *, k: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Labels 0..k-1 for ``units``: contiguous groups with households within [lo, hi] where the counts
    allow it. ``k`` (default: households / the middle of the bounds, clipped to what fits)."""
    hh = units.gdf["households"].to_numpy(float)
    total = hh.sum()
    notes: list[str] = []
    k_min, k_max = max(1, math.ceil(total / hi)), max(1, math.floor(total / lo))
    if k_min > k_max:
        notes.append("counts")  # no number of grids fits these households within the bounds
    graph = _graph(units)
    if k is not None:
        return _smooth(_rebalance(_bisect_all(units, graph, hh, lo, hi, k), units, graph, hh, lo, hi),
                       units, graph, hh, lo, hi), notes
    middle = int(np.clip(round(total / ((lo + hi) / 2)), k_min, k_max)) if k_min <= k_max else k_min
    best = None
    for k in sorted({middle, *(c for c in (middle - 1, middle + 1) if k_min <= c <= k_max)},
                    key=lambda c: abs(c - middle)):
        labels = _rebalance(_bisect_all(units, graph, hh, lo, hi, k), units, graph, hh, lo, hi)
        miss = _violation(np.bincount(labels, weights=hh), lo, hi).sum()
        if best is None or miss < best[0]:
            best = (miss, labels)
        if miss == 0:
            break
    return _smooth(best[1], units, graph, hh, lo, hi), notes


def _bisect_all(units: Units, graph, hh: np.ndarray, lo: int, hi: int, k: int) -> np.ndarray:
    """Recursive bisection into ``k`` groups."""
    xy = shapely.get_coordinates(shapely.centroid(np.asarray(units.gdf.geometry.values, dtype=object)))
    labels = np.zeros(units.n, int)
    todo = [(np.arange(units.n), k)]
    next_label = 0
    while todo:
        members, parts = todo.pop()
        if parts == 1:
            labels[members] = next_label
            next_label += 1
            continue
        left, right, k1 = _bisect(members, parts, hh, xy, graph, units, lo, hi)
        todo += [(left, k1), (right, parts - k1)]
    return labels


def _smooth(labels: np.ndarray, units: Units, graph, hh: np.ndarray, lo: int, hi: int,
            rounds: int = 300) -> np.ndarray:
    """Straighten the edges: move a unit on a grid's edge to its neighbour when that shortens the cut
    (cheaper along roads, dearer through estates) and keeps both grids within the bounds (or no
    further outside) and contiguous; stop when no move helps."""
    labels = labels.copy()
    e = units.edges
    a, b, c = e["i"].to_numpy(), e["j"].to_numpy(), e["cost"].to_numpy()
    for _ in range(rounds):
        sizes = np.bincount(labels, weights=hh, minlength=labels.max() + 1)
        across = labels[a] != labels[b]
        best = None
        for u, v in zip(np.r_[a[across], b[across]], np.r_[b[across], a[across]]):
            src, dst = labels[u], labels[v]
            touch = (a == u) | (b == u)
            other = np.where(a[touch] == u, labels[b[touch]], labels[a[touch]])
            delta = c[touch][other == src].sum() - c[touch][other == dst].sum()  # cut after − before
            if delta >= -1e-6 or (best is not None and delta >= best[0]):
                continue
            before = _violation(sizes[[src, dst]], lo, hi).sum()
            after = _violation(np.array([sizes[src] - hh[u], sizes[dst] + hh[u]]), lo, hi).sum()
            if after > before:
                continue
            mine = labels == src
            mine[u] = False
            if mine.any() and _connected(graph, mine):
                best = (delta, u, dst)
        if best is None:
            break
        labels[best[1]] = best[2]
    return labels


def _violation(sizes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.maximum(0, lo - sizes) + np.maximum(0, sizes - hi)


def _rebalance(labels: np.ndarray, units: Units, graph, hh: np.ndarray, lo: int, hi: int,
               rounds: int = 400) -> np.ndarray:
    """The repair step: while a grid is outside the bounds, move one unit on its edge to or from a
    neighbouring grid, the move that most lowers the total excess (then costs least to cut), keeping
    both grids contiguous; stop when none helps."""
    labels = labels.copy()
    e = units.edges
    a, b, c = e["i"].to_numpy(), e["j"].to_numpy(), e["cost"].to_numpy()
    for _ in range(rounds):
        sizes = np.bincount(labels, weights=hh, minlength=labels.max() + 1)
        excess = _violation(sizes, lo, hi)
        if not excess.any():
            break
        best = None
        across = labels[a] != labels[b]
        for u, v in zip(np.r_[a[across], b[across]], np.r_[b[across], a[across]]):
            src, dst = labels[u], labels[v]  # move u from src to dst
            if not (excess[src] or excess[dst]) or hh[u] == 0 and not excess[src]:
                continue
            new_src, new_dst = sizes[src] - hh[u], sizes[dst] + hh[u]
            gain = excess[src] + excess[dst] - _violation(np.array([new_src, new_dst]), lo, hi).sum()
            if gain <= 0:
                continue
            mine = labels == src
            mine[u] = False
            if not mine.any() or not _connected(graph, mine):
                continue
            touch = (a == u) | (b == u)
            other = np.where(a[touch] == u, labels[b[touch]], labels[a[touch]])
            delta = c[touch][other == src].sum() - c[touch][other == dst].sum()
            score = (-gain, delta)
            if best is None or score < best[0]:
                best = (score, u, dst)
        if best is None:
            break
        labels[best[1]] = best[2]
    return labels


def _graph(units: Units):
    e = units.edges
    n = units.n
    m = coo_matrix((np.ones(2 * len(e)), (np.r_[e["i"], e["j"]], np.r_[e["j"], e["i"]])), shape=(n, n)).tocsr()
    return m


def _bisect(members: np.ndarray, k: int, hh: np.ndarray, xy: np.ndarray, graph, units: Units,
            lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Split ``members`` into two contiguous sides that can become k1 and k - k1 grids within the bounds,
    cutting along roads where it can (the cheapest straight cut of ANGLES that is feasible)."""
    k1 = k // 2
    total = hh[members].sum()
    want_lo = max(lo * k1, total - hi * (k - k1))
    want_hi = min(hi * k1, total - lo * (k - k1))
    target = total * k1 / k
    sub = graph[members][:, members]
    cost = _cost_matrix(units, members)
    best = None
    for angle in ANGLES:
        d = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
        order = np.argsort(xy[members] @ d, kind="stable")
        prefix = np.cumsum(hh[members][order])
        cuts = np.flatnonzero((prefix >= want_lo) & (prefix <= want_hi))
        if not len(cuts):
            cuts = np.array([int(np.argmin(np.abs(prefix - target)))])
        for c in _spread(cuts, 9):
            side = np.zeros(len(members), bool)
            side[order[: c + 1]] = True
            side = _repair(side, sub, hh[members], (want_lo, want_hi))
            h1 = hh[members][side].sum()
            miss = max(0.0, want_lo - h1, h1 - want_hi)
            split_ok = _connected(sub, side) and _connected(sub, ~side) and side.any() and (~side).any()
            score = (not split_ok, miss, _cut_cost(cost, side) + abs(h1 - target) * 0.5)
            if best is None or score < best[0]:
                best = (score, side.copy())
    side = best[1]
    return members[side], members[~side], k1


def _spread(cuts: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` positions spread over ``cuts`` (the feasible cut positions of one direction)."""
    if len(cuts) <= n:
        return cuts
    return cuts[np.linspace(0, len(cuts) - 1, n).round().astype(int)]


def _cost_matrix(units: Units, members: np.ndarray):
    e = units.edges
    index = -np.ones(units.n, int)
    index[members] = np.arange(len(members))
    a, b = index[e["i"].to_numpy()], index[e["j"].to_numpy()]
    ok = (a >= 0) & (b >= 0)
    return a[ok], b[ok], e["cost"].to_numpy()[ok]


def _cut_cost(cost, side: np.ndarray) -> float:
    a, b, c = cost
    return float(c[side[a] != side[b]].sum())


def _connected(sub, side: np.ndarray) -> bool:
    idx = np.flatnonzero(side)
    if len(idx) <= 1:
        return True
    n, _ = connected_components(sub[idx][:, idx], directed=False)
    return n == 1


def _repair(side: np.ndarray, sub, hh: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Make both sides contiguous: every piece but a side's largest (by households, then size) crosses
    over to the other side, to which it is attached; a crossing that leaves the window is undone
    only if the window was met before."""
    side = side.copy()
    for flag in (True, False):
        idx = np.flatnonzero(side == flag)
        if len(idx) <= 1:
            continue
        n, comp = connected_components(sub[idx][:, idx], directed=False)
        if n == 1:
            continue
        weight = np.bincount(comp, weights=hh[idx] + 1e-3, minlength=n)
        main = int(np.argmax(weight))
        for c in range(n):
            if c != main:
                side[idx[comp == c]] = not flag
    return side


# --------------------------------------------------------------------------- proposals

def community_units(engine: Engine, community_id: int, *, codes: list[str] | None = None
                    ) -> tuple[Units, gpd.GeoDataFrame, str]:
    """Units of a community (or of its grids ``codes``), with the live grids they replace (metric)."""
    comm = store.read_frame(engine, select(Community.code, Community.geom).where(Community.id == community_id))
    live = boundaries.grids_of(engine, roles.WHOLE_STREET, community_id=community_id)
    if codes:
        live = live[live["code"].isin(codes)]
        if set(codes) - set(live["code"]):
            raise BoundaryError("unknown", codes="、".join(sorted(set(codes) - set(live["code"]))))
    crs = projection.metric_crs_for(live)
    live_m = projection.to_metric(live, crs=crs)
    if codes:
        region = shapely.union_all(live_m.geometry.values, grid_size=boundaries.GRID_SIZE_M)
    else:
        region = projection.to_metric(gpd.GeoDataFrame(geometry=[comm["geom"].iloc[0]], crs=settings.STORAGE_CRS),
                                      crs=crs).geometry.iloc[0]
    b = rules.buildings_frame(engine, [community_id])
    b = b[b["grid_id"].isin(live["id"])].reset_index(drop=True)
    b_m = projection.to_metric(b, crs=crs)
    inside = shapely.covers(region.buffer(0.05), rules.doors(b_m))
    roads = store.read_layer(engine, Road, columns=["id", "kind", "geom"], where=Road.id.in_(
        store.ids_intersecting(engine, Road, comm["geom"].iloc[0])))
    roads = projection.to_metric(roads[roads["kind"].isin(BLOCK_ROADS)], crs=crs)
    return units_from(region, b_m[inside].reset_index(drop=True), roads, crs), live_m, crs


def dissolve(units: Units, labels: np.ndarray) -> gpd.GeoDataFrame:
    """One outline per label (metric) with households, residents and Polsby–Popper compactness."""
    out = []
    geoms = np.asarray(units.gdf.geometry.values, dtype=object)
    for lab in np.unique(labels):
        mine = labels == lab
        shape = shapely.union_all(geoms[mine])  # not snapped: a 1 mm grid can open the seam of two blocks
        out.append(dict(label=int(lab), households=int(units.gdf["households"][mine].sum()),
                        residents=int(units.gdf["residents"][mine].sum()), buildings=int((units.gdf["building_id"][mine] >= 0).sum()),
                        geometry=shape))
    gdf = gpd.GeoDataFrame(out, geometry="geometry", crs=units.crs)
    gdf["compactness"] = compactness(gdf.geometry.values)
    gdf["parts"] = [len(rules.pieces(g)) for g in gdf.geometry.values]
    return gdf


def compactness(geoms) -> np.ndarray:
    """Polsby–Popper: 4πA/P² (1 for a circle, ~0.785 for a square, lower for long thin shapes)."""
    geoms = np.asarray(geoms, dtype=object)
    return 4 * math.pi * shapely.area(geoms) / np.maximum(shapely.length(geoms), 1e-9) ** 2


def propose(engine: Engine, community_id: int, *, codes: list[str] | None = None, grid_type: str = "area",
            k: int | None = None) -> Cut:
    """Proposed grids for a community (or for its grids ``codes``), cut to ``grid_type``'s household bounds."""
    bounds = rules.bounds_for(grid_type).households
    t0 = time.perf_counter()
    units, _, _ = community_units(engine, community_id, codes=codes)
    labels, notes = regionalise(units, *bounds, k=k)
    grids = dissolve(units, labels)
    order = rules.reading_order(grids.geometry.values)
    grids = grids.iloc[order].reset_index(drop=True)
    return Cut(labels=labels, grids=grids.to_crs(settings.STORAGE_CRS), bounds=bounds,
               seconds=time.perf_counter() - t0, notes=notes)


def plan_cut(engine: Engine, user, community_id: int, cut: Cut, *, codes: list[str] | None = None,
             renumber: bool = True) -> Plan:
    """The proposal as a plan (geo.grids.boundaries): each proposed grid takes over the current grid
    whose households it holds most of (fewest people change grid), extra ones are new grids, current
    grids left over are retired; numbered west→east, north→south unless ``renumber`` is False."""
    live = boundaries.grids_of(engine, user.scope, community_id=community_id)
    if codes:
        live = live[live["code"].isin(codes)]
    if not len(live):
        raise BoundaryError("unknown", codes=str(community_id))
    b = rules.buildings_frame(engine, [community_id])
    b_m = projection.to_metric(b, crs=projection.metric_crs_for(cut.grids))
    grids_m = cut.grids.to_crs(b_m.crs)
    owner = rules.assign_points(grids_m.geometry.values, [f"{i:04d}" for i in range(len(grids_m))], rules.doors(b_m))
    overlap = np.zeros((len(grids_m), len(live)))
    col = {int(g): j for j, g in enumerate(live["id"])}
    for o, g, h in zip(owner, b["grid_id"], b["households"]):
        if o >= 0 and int(g) in col:
            overlap[o, col[int(g)]] += h
    rows, cols = linear_sum_assignment(-overlap)
    code_of = {int(r): str(live["code"].iloc[c]) for r, c in zip(rows, cols)}
    taken = set(code_of.values())
    frame = gpd.GeoDataFrame({"code": [code_of.get(i, "") for i in range(len(grids_m))], "retire": False},
                             geometry=list(_as_stored(cut.grids.geometry.values)), crs=settings.STORAGE_CRS)
    gone = live[~live["code"].isin(taken)]
    frame = pd.concat([frame, gpd.GeoDataFrame({"code": gone["code"].to_numpy(), "retire": True},
                                               geometry=[shapely.Polygon()] * len(gone), crs=settings.STORAGE_CRS)],
                      ignore_index=True)
    return boundaries.plan_adjustment(engine, user, gpd.GeoDataFrame(frame, geometry="geometry",
                                                                     crs=settings.STORAGE_CRS),
                                      kind="autocut", renumber=renumber)


def _as_stored(geoms) -> np.ndarray:
    """Outlines snapped as boundaries stores new ones (~1 cm in lon-lat): reprojecting a dissolved outline
    to lon-lat can fold two nearly equal vertices over each other, and the plan would refuse it as invalid
    (seen when cutting a chosen pair of grids)."""
    return shapely.set_precision(np.asarray(geoms, dtype=object), boundaries.STORE_GRID_DEG)
