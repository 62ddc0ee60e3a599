"""Where should the next stations go: maximal covering and set covering, exact and greedy.

Shape borrowed from spopt's ``locate`` (an array core built ``from_cost_matrix``,
a thin GeoDataFrame wrapper that checks CRS and geometry, ``solve()`` returning
``self`` and refusing a result that is not optimal), with one difference that
matters for speed: the model is built from **sparse** demand–site reach pairs
(only pairs within reach exist), not a dense cost matrix. A dense 5,000 × 800
model is what makes general tools take tens of seconds; the sparse one is
handed straight to HiGHS through ``scipy.optimize.milp``.

A greedy answer is always computed beside the exact one, because planners ask
"why not just take the best site, then the next best?": the gap is shown.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from geo import settings
from geo.coverage import coverage, network
from geo.place import projection
from geo.errors import ValidationError

CANDIDATE_KINDS = ("intersections", "vacant_lots", "buildings", "points")


class SolverError(RuntimeError):
    """The solver did not prove an optimum (time limit, infeasible, numerical trouble)."""


@dataclass
class Solution:
    """Chosen sites (column indices, in order of marginal gain) and what they cover."""

    method: str  # "exact" or "greedy"
    sites: np.ndarray
    gains: np.ndarray  # weight each site adds, in order (sums to the objective)
    covered: np.ndarray  # (n_demand,) bool
    objective: float
    seconds: float


def _reach_from_cost(cost, service_radius: float) -> sparse.csr_matrix:
    """Boolean (demand × site) reach matrix from a cost matrix.

    Sparse input: stored entries are the pairs a search found (explicit zeros
    count: a door at the site), absent ones are out of reach. Dense input:
    every entry is a cost (inf/nan = unreachable).
    """
    if service_radius is None or not np.isfinite(service_radius) or service_radius < 0:
        raise ValidationError(f"service_radius must be a non-negative number, got {service_radius}")
    if sparse.issparse(cost):
        c = sparse.coo_matrix(cost)
        keep = c.data <= service_radius
        return sparse.csr_matrix((np.ones(int(keep.sum()), bool), (c.row[keep], c.col[keep])), shape=c.shape)
    c = np.asarray(cost, dtype=float)
    if c.ndim != 2:
        raise ValidationError(f"cost matrix must be 2-D, got shape {c.shape}")
    return sparse.csr_matrix(np.nan_to_num(c, nan=np.inf) <= service_radius)


def _order_by_gain(reach: sparse.csc_matrix, w: np.ndarray, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sites`` reordered so each adds the most still-uncovered weight; with each one's gain."""
    left = list(sites)
    cov = np.zeros(reach.shape[0], bool)
    order, gains = [], []
    while left:
        g = np.asarray(reach[:, left].T @ (w * ~cov)).ravel()
        i = int(np.argmax(g))
        j = left.pop(i)
        order.append(j); gains.append(g[i])
        cov[reach[:, j].indices] = True
    return np.array(order, int), np.array(gains, float)


def merge_identical_rows(reach: sparse.spmatrix, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Demand rows reached by exactly the same sites, merged: (one row id per group,
    summed weight per group). Buildings along one lane share every candidate."""
    a = sparse.csr_matrix(reach, dtype=bool)
    a.sort_indices()
    keys = [a.indices[a.indptr[i]:a.indptr[i + 1]].tobytes() for i in range(a.shape[0])]
    group, _ = pd.factorize(pd.Series(keys, dtype=object))
    first = np.full(group.max() + 1 if len(group) else 0, -1)
    first[group[::-1]] = np.arange(len(group))[::-1]
    return first, np.bincount(group, weights=w, minlength=len(first))


def undominated_columns(reach: sparse.spmatrix) -> np.ndarray:
    """Sites whose reach is not contained in another site's (ties: the lowest index stays).

    A site that reaches a subset of what another reaches can be swapped for it in any
    answer without losing coverage, for MCLP and LSCP alike, so it can go.
    """
    a = sparse.csc_matrix(reach, dtype=np.int32)
    size = np.asarray(a.sum(axis=0)).ravel()
    shared = sparse.coo_matrix(a.T @ a)  # shared[i, j] = demand rows both i and j reach
    i, j, n = shared.row, shared.col, shared.data
    beats = (i != j) & (n == size[j]) & ((size[i] > size[j]) | (i < j))
    out = np.ones(a.shape[1], bool)
    out[j[beats]] = False
    return np.flatnonzero(out & (size > 0))


def implied_rows(reach: sparse.spmatrix) -> np.ndarray:
    """Rows of a set-covering model that stay after dropping every row implied by another.

    If the sites reaching row s all reach row r too, covering s covers r: r is redundant
    (ties were merged before). Only for set covering: MCLP weighs every row.
    """
    a = sparse.csr_matrix(reach, dtype=np.int32)
    deg = np.asarray(a.sum(axis=1)).ravel()
    shared = sparse.coo_matrix(a @ a.T)
    s_, r_, n = shared.row, shared.col, shared.data
    implied = (s_ != r_) & (n == deg[s_]) & ((deg[s_] < deg[r_]) | (s_ < r_))
    keep = np.ones(a.shape[0], bool)
    keep[r_[implied]] = False
    return np.flatnonzero(keep)


@dataclass
class Presolved:
    """A covering model cut down before the solver sees it; ``rows``/``cols`` map back."""

    reach: sparse.csc_matrix
    weights: np.ndarray
    rows: np.ndarray  # original demand row of each kept row
    cols: np.ndarray  # original site of each kept column
    shape: tuple[int, int]  # the original model's size


def presolve(reach: sparse.spmatrix, w: np.ndarray, *, set_cover: bool, rounds: int = 4) -> Presolved:
    """Drop demand no site reaches, merge identical demand rows, drop dominated sites and,
    for set covering, rows implied by others; repeated while anything changes."""
    a = sparse.csc_matrix(reach, dtype=bool)
    shape = a.shape
    rows = np.flatnonzero((np.asarray(a.sum(axis=1)).ravel() > 0) & ((w > 0) | set_cover))
    cols = np.arange(a.shape[1])
    a, w = a[rows], np.asarray(w, float)[rows]
    for _ in range(rounds):
        before = a.shape
        first, w = merge_identical_rows(a, w)
        a, rows = a[first], rows[first]
        keep = undominated_columns(a)
        a, cols = a[:, keep], cols[keep]
        if set_cover:
            keep = implied_rows(a)
            a, rows, w = a[keep], rows[keep], w[keep]
        if a.shape == before:
            break
    return Presolved(sparse.csc_matrix(a), w, rows, cols, shape)


class _Covering:
    """Shared core: a boolean reach matrix (demand × site) and demand weights."""

    def __init__(self, reach: sparse.spmatrix, weights=None, *, name: str = "") -> None:
        reach = sparse.csc_matrix(reach, dtype=bool)
        n, m = reach.shape
        w = np.ones(n) if weights is None else np.asarray(weights, float)
        if w.shape != (n,):
            raise ValidationError(f"weights must have one value per demand row ({n}), got {w.shape}")
        if (w < 0).any() or not np.isfinite(w).all():
            raise ValidationError("weights must be finite and non-negative (people, not scores)")
        if m == 0:
            raise ValidationError("no candidate sites")
        self.name, self.reach, self.weights = name, reach, w
        self.coverable = np.asarray(reach.sum(axis=1)).ravel() > 0
        self.solution: Solution | None = None
        self.greedy_solution: Solution | None = None
        self.proven = True  # False when HiGHS stopped at its time limit (the answer may not be best)
        self.bound: float | None = None  # HiGHS's bound on the objective (minimised form)
        self.presolved: Presolved | None = None

    @classmethod
    def from_cost_matrix(cls, cost, service_radius: float, weights=None, **kw):
        """From a (demand × site) cost matrix, sparse (pairs within search) or dense."""
        return cls(_reach_from_cost(cost, service_radius), weights, **kw)

    @classmethod
    def from_geodataframe(cls, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, *,
                          service_radius: float, weights_col: str | None = None,
                          graph: network.WalkGraph | None = None, **kw):
        """From point layers: straight-line metres, or walking metres on ``graph``."""
        for what, g in (("demand", demand), ("sites", sites)):
            if not isinstance(g, gpd.GeoDataFrame) or g.crs is None:
                raise ValidationError(f"{what} must be a GeoDataFrame with a CRS")
            kinds = set(g.geometry.geom_type)
            if kinds - {"Point"}:
                raise ValidationError(f"{what} must be points (doors, sites), got {sorted(kinds)}")
        if weights_col is not None and weights_col not in demand:
            raise ValidationError(f"demand has no column {weights_col!r}")
        crs = graph.crs if graph is not None else projection.metric_crs_for(demand)
        dxy = shapely.get_coordinates(projection.to_metric(demand, crs=crs).geometry.values)
        sxy = shapely.get_coordinates(projection.to_metric(sites, crs=crs).geometry.values)
        cost = pair_costs(dxy, sxy, service_radius, graph=graph)
        w = demand[weights_col].to_numpy(float) if weights_col else None
        return cls.from_cost_matrix(cost, service_radius, w, **kw)

    def _gain_solution(self, method: str, sites: np.ndarray, t0: float) -> Solution:
        order, gains = _order_by_gain(self.reach, self.weights, np.asarray(sites, int))
        cov = np.asarray(self.reach[:, order].sum(axis=1)).ravel() > 0 if len(order) else \
            np.zeros(self.reach.shape[0], bool)
        return Solution(method, order, gains, cov, float(self.weights[cov].sum()), time.perf_counter() - t0)

    def _milp(self, c, constraints, integrality, time_limit: float | None, what: str) -> np.ndarray | None:
        """Run HiGHS; the answer, or None when it stopped at its limit without one.

        An optimum sets ``proven``; an answer cut short by the time limit is kept
        (``proven`` False). scipy's ``milp`` takes no starting solution, so the greedy
        answer cannot seed HiGHS; instead ``_better`` keeps whichever of the two is
        better when HiGHS is cut short.
        """
        res = milp(c, constraints=constraints, integrality=integrality, bounds=Bounds(0, 1),
                   options={"time_limit": time_limit} if time_limit else {})
        self.bound = getattr(res, "mip_dual_bound", None)
        if res.status == 0 and res.x is not None:
            return res.x
        if res.status == 1:  # time or node limit: an incumbent if HiGHS found one
            self.proven = False
            return res.x
        raise SolverError(f"{what}: HiGHS did not prove an optimum ({res.status}: {res.message})")


class MaximalCovering(_Covering):
    """Choose up to ``k`` sites covering the most demand weight (MCLP)."""

    def __init__(self, reach, weights=None, *, k: int, name: str = "mclp") -> None:
        super().__init__(reach, weights, name=name)
        if int(k) != k or k < 1:
            raise ValidationError(f"k must be a positive whole number, got {k}")
        self.k = int(k)

    def solve(self, *, time_limit: float | None = None, reduce: bool = True) -> "MaximalCovering":
        """Exact MCLP with HiGHS on the presolved model (x binary per site, y in [0,1] per
        demand group), greedy beside it; at the time limit the better of the two is kept.
        ``reduce=False`` skips our presolve (the benchmark's before/after)."""
        t0 = time.perf_counter()
        self.proven = True
        p = presolve(self.reach, self.weights, set_cover=False, rounds=4 if reduce else 0)
        self.presolved = p
        greedy = self.greedy()
        n, m = p.reach.shape
        if n == 0:
            sites = np.array([], int)
        else:
            c = np.r_[np.zeros(m), -p.weights]
            link = sparse.hstack([-p.reach.astype(float), sparse.identity(n, format="csc")], format="csr")
            budget = sparse.csr_matrix(np.r_[np.ones(m), np.zeros(n)][None, :])
            x = self._milp(c, [LinearConstraint(link, -np.inf, 0.0), LinearConstraint(budget, 0, self.k)],
                           np.r_[np.ones(m), np.zeros(n)], time_limit, "maximal covering")
            sites = p.cols[np.flatnonzero(x[:m] > 0.5)] if x is not None else greedy.sites
        self.solution = self._gain_solution("exact", sites, t0)
        if not self.proven and greedy.objective > self.solution.objective:
            self.solution = self._gain_solution("exact", greedy.sites, t0)
        return self

    def greedy(self) -> Solution:
        """Take the site adding the most uncovered weight, k times."""
        t0 = time.perf_counter()
        cov = np.zeros(self.reach.shape[0], bool)
        chosen, gains = [], []
        for _ in range(self.k):
            g = np.asarray(self.reach.T @ (self.weights * ~cov)).ravel()
            j = int(np.argmax(g))
            if g[j] <= 0:
                break
            chosen.append(j); gains.append(g[j])
            cov[self.reach[:, j].indices] = True
        self.greedy_solution = Solution("greedy", np.array(chosen, int), np.array(gains, float), cov,
                                        float(self.weights[cov].sum()), time.perf_counter() - t0)
        return self.greedy_solution


class SetCovering(_Covering):
    """The fewest sites covering every coverable demand row (LSCP); the rest is reported."""

    def __init__(self, reach, weights=None, *, name: str = "lscp") -> None:
        super().__init__(reach, weights, name=name)

    @property
    def uncoverable(self) -> np.ndarray:
        """Demand rows no candidate reaches (no set of new sites can help them)."""
        return np.flatnonzero(~self.coverable)

    def solve(self, *, time_limit: float | None = None, reduce: bool = True) -> "SetCovering":
        """Exact LSCP with HiGHS on the presolved model, greedy beside it; at the time
        limit the smaller of the two answers is kept and marked not proven (``lower_bound``
        then says how few sites might do). ``reduce=False`` skips our presolve."""
        t0 = time.perf_counter()
        self.proven = True
        p = presolve(self.reach, self.weights, set_cover=True, rounds=4 if reduce else 0)
        self.presolved = p
        greedy = self.greedy()
        if p.reach.shape[0] == 0:
            sites = np.array([], int)
        else:
            m = p.reach.shape[1]
            # the greedy count bounds the optimum: a cut HiGHS can use from the start
            cons = [LinearConstraint(p.reach.astype(float), 1, np.inf),
                    LinearConstraint(np.ones((1, m)), 0, len(greedy.sites))]
            x = self._milp(np.ones(m), cons, np.ones(m), time_limit, "set covering")
            sites = p.cols[np.flatnonzero(x > 0.5)] if x is not None else greedy.sites
        self.solution = self._gain_solution("exact", sites, t0)
        if not self.proven and len(greedy.sites) < len(self.solution.sites):
            self.solution = self._gain_solution("exact", greedy.sites, t0)
        return self

    def greedy(self) -> Solution:
        """Take the site covering the most still-uncovered rows until all coverable are covered."""
        t0 = time.perf_counter()
        cov = ~self.coverable  # nothing to do for those
        ones = np.ones(self.reach.shape[0])
        chosen, gains = [], []
        while not cov.all():
            g = np.asarray(self.reach.T @ (ones * ~cov)).ravel()
            j = int(np.argmax(g))
            chosen.append(j); gains.append(float(self.weights[self.reach[:, j].indices][~cov[self.reach[:, j].indices]].sum()))
            cov[self.reach[:, j].indices] = True
        covered = cov & self.coverable
        self.greedy_solution = Solution("greedy", np.array(chosen, int), np.array(gains), covered,
                                        float(self.weights[covered].sum()), time.perf_counter() - t0)
        return self.greedy_solution

    @property
    def n_sites(self) -> int:
        return 0 if self.solution is None else len(self.solution.sites)

    @property
    def lower_bound(self) -> int:
        """No cover of the coverable demand has fewer sites than this (= n_sites when proven)."""
        if self.proven or self.bound is None or not np.isfinite(self.bound):
            return self.n_sites
        return int(np.ceil(self.bound - 1e-6))


# --------------------------------------------------------------------------- from the plan

def pair_costs(demand_xy: np.ndarray, site_xy: np.ndarray, limit: float, *,
               graph: network.WalkGraph | None = None, snap_m: float = network.SNAP_M) -> sparse.csr_matrix:
    """Sparse (demand × site) metres within ``limit``: walking on ``graph``, else straight."""
    if graph is not None:
        d = network.snap_points(graph, *np.asarray(demand_xy).T, snap_m=snap_m)
        s = network.snap_points(graph, *np.asarray(site_xy).T, snap_m=snap_m)
        return network.reach_pairs(graph, s, d, limit=limit)
    di, si = shapely.STRtree(shapely.points(site_xy)).query(shapely.points(demand_xy), predicate="dwithin",
                                                            distance=limit)
    dist = np.hypot(*(np.asarray(demand_xy)[di] - np.asarray(site_xy)[si]).T)
    return sparse.csr_matrix((dist, (di, si)), shape=(len(demand_xy), len(site_xy)))


def candidates(plan: coverage.Plan, kind: str, *, points: list[tuple[float, float]] | None = None
               ) -> gpd.GeoDataFrame:
    """Candidate sites in lon-lat: street corners, vacant lots (a point inside each),
    building doors, or given points."""
    if kind not in CANDIDATE_KINDS:
        raise ValidationError(f"candidate kind must be one of {CANDIDATE_KINDS}, got {kind!r}")
    if kind == "intersections":
        xy = network.street_junctions(plan.roads, crs=plan.crs) if len(plan.roads) else np.empty((0, 2))
        if not len(xy):
            xy = plan.graph.xy[plan.graph.intersections()]
        label = [f"路口 {i + 1}" for i in range(len(xy))]
    elif kind == "vacant_lots":
        lots = plan.open_spaces
        lots = lots[lots["kind"] == "vacant"] if lots is not None and "kind" in lots else None
        if lots is None or not len(lots):
            raise ValidationError("no vacant lots recorded in this area")
        inside = shapely.point_on_surface(projection.to_metric(lots, crs=plan.crs).geometry.values)
        xy = shapely.get_coordinates(inside)
        label = lots["name"].astype(str).tolist()
    elif kind == "buildings":
        xy = plan.door_xy
        label = plan.buildings["name"].astype(str).tolist()
    else:
        if not points:
            raise ValidationError("no candidate points given")
        xy = np.c_[projection.lonlat_to_metric(*np.asarray(points, float).T, crs=plan.crs)]
        label = [f"候选点 {i + 1}" for i in range(len(xy))]
    lon, lat = projection.metric_to_lonlat(*np.asarray(xy).T, crs=plan.crs)
    return gpd.GeoDataFrame({"label": label, "kind": kind}, geometry=gpd.points_from_xy(lon, lat),
                            crs=settings.STORAGE_CRS)


def cannot_run(target: str, kind: str, points: list | None = None) -> str | None:
    """Why new sites cannot be looked for with these choices (an i18n key the page shows beside its
    disabled button), or None when they can. A site has one facility type; clicked candidates need clicks."""
    if target == coverage.REQUIRED:
        return "coverage.run_needs_type"
    if kind == "points" and not points:
        return "coverage.run_needs_points"
    return None


#: A site this close to a named road is on it (a corner: two names); farther than NEAR_BUILDING_M from
#: every building it is described by the road alone.
ON_ROAD_M, NEAR_BUILDING_M = 20.0, 400.0
_DIRECTIONS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")


def place_names(plan: coverage.Plan, lon, lat) -> list[str]:
    """What a person can find each site by (issue 13: "路口 389" was no place): the named roads it
    stands on ("建设路与东三环路交叉口") and the nearest building with its estate, the way to it and the
    distance ("华小区07 3栋 东南约40米"). Measured in the plan's metric CRS."""
    x, y = projection.lonlat_to_metric(np.asarray(lon, float), np.asarray(lat, float), crs=plan.crs)
    pts = shapely.points(np.c_[x, y])
    if not len(pts):
        return []
    b = plan.buildings
    doors = shapely.points(plan.door_xy)
    ok = np.flatnonzero(np.isfinite(plan.door_xy).all(axis=1))
    near_b = ok[shapely.STRtree(doors[ok]).query_nearest(pts, all_matches=False)[1]] if len(ok) else None
    roads = plan.roads[plan.roads["name"].notna()] if "name" in plan.roads else plan.roads.iloc[:0].assign(name=None)
    rm = projection.to_metric(roads, what="roads", crs=plan.crs).geometry.values if len(roads) else []
    on_road = shapely.STRtree(rm).query(pts, predicate="dwithin", distance=ON_ROAD_M) if len(rm) else \
        np.empty((2, 0), int)
    grid_names = plan.areas["grid"].set_index("id")["name"].to_dict() if "grid" in plan.areas else {}
    names = []
    for i, pt in enumerate(pts):
        streets = sorted(set(roads["name"].iloc[on_road[1][on_road[0] == i]]))
        road = "与".join(streets[:2]) + "交叉口" if len(streets) > 1 else (streets[0] if streets else "")
        where = ""
        if near_b is not None:
            j = near_b[i]
            d = float(shapely.distance(pt, doors[j]))
            if d <= NEAR_BUILDING_M:
                row = b.iloc[j]
                estate = row.get("estate") if "estate" in b else None  # else the grid: "19栋" alone is many
                estate = estate if isinstance(estate, str) and estate else grid_names.get(row.get("grid_id"), "")
                building = f"{estate} {row['name']}".strip()
                if d < 15:
                    where = f"{building}门口"
                else:
                    dx, dy = x[i] - plan.door_xy[j, 0], y[i] - plan.door_xy[j, 1]
                    heading = int(((np.degrees(np.arctan2(dx, dy)) + 360 + 22.5) % 360) // 45)
                    where = f"{building} {_DIRECTIONS[heading]}约{int(round(d, -1)):,}米"
        names.append("，".join(p for p in (road, where) if p) or f"{lon[i]:.5f}, {lat[i]:.5f}")
    return names


@dataclass
class SitePlan:
    """New-site answers for one facility type: exact and greedy, with each site's gain."""

    ftype: str
    method: str
    k: int
    demand_residents: int  # uncovered residents that some candidate could reach
    uncovered_residents: int
    sites: gpd.GeoDataFrame  # rows per (method, rank): label, gain, cumulative; method exact /
    #                          greedy (the k best) or cover (the fewest covering everyone)
    mclp: MaximalCovering
    lscp: SetCovering


def plan_sites(plan: coverage.Plan, ftype: str, k: int, *, cands: gpd.GeoDataFrame,
               method: str = "walking", scenario: coverage.Scenario = coverage.Scenario(),
               time_limit: float | None = 30.0, cover_time_limit: float | None = 10.0) -> SitePlan:
    """Best k new ``ftype`` sites among ``cands`` for the residents the current ones leave out.

    Demand is aggregated to buildings (their door, their residents).
    """
    result = coverage.analyse(plan, ftype, method=method, scenario=scenario)
    b = plan.buildings
    need = ~np.asarray(result.covered) & (b["residents"].to_numpy() > 0)
    if len(cands) == 0:
        raise ValidationError("no candidate sites")
    reach = scenario.reach_of(ftype)
    sxy = shapely.get_coordinates(projection.to_metric(cands, what="candidates", crs=plan.crs).geometry.values)
    if method == "walking":
        s = network.snap_points(plan.graph, *sxy.T, snap_m=plan.snap_m)
        cost = network.reach_pairs(plan.graph, s, plan.doors.subset(need), limit=reach)
    else:
        cost = pair_costs(plan.door_xy[need], sxy, reach)
    w = b["residents"].to_numpy(float)[need]
    mclp = MaximalCovering.from_cost_matrix(cost, reach, w, k=k).solve(time_limit=time_limit)
    lscp = SetCovering.from_cost_matrix(cost, reach, w).solve(time_limit=cover_time_limit)
    rows = []
    for answer, sol in (("exact", mclp.solution), ("greedy", mclp.greedy_solution), ("cover", lscp.solution)):
        for rank, (j, g) in enumerate(zip(sol.sites, sol.gains), start=1):
            rows.append({"method": answer, "rank": rank, "candidate": int(j),
                         "label": cands["label"].iloc[j] if "label" in cands else str(j),
                         "gain": int(round(g)), "geometry": cands.geometry.iloc[j]})
    sites = gpd.GeoDataFrame(rows, geometry="geometry", crs=cands.crs) if rows else \
        gpd.GeoDataFrame(columns=["method", "rank", "candidate", "label", "gain", "geometry"],
                         geometry="geometry", crs=cands.crs)
    if len(sites):
        sites["cumulative"] = sites.groupby("method")["gain"].cumsum()
        where = place_names(plan, sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
        lot = (cands["kind"].iloc[sites["candidate"]] == "vacant_lots").to_numpy() if "kind" in cands else \
            np.zeros(len(sites), bool)  # a lot's own name leads: it is on the planning register
        sites["label"] = [f"{own}（{w}）" if is_lot else w for own, w, is_lot in zip(sites["label"], where, lot)]
    return SitePlan(ftype, method, k, int(w[mclp.coverable].sum()), int(w.sum()), sites, mclp, lscp)
