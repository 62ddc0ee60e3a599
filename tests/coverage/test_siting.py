"""Maximal covering and set covering: known optima, greedy's known failure, errors."""
from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from scipy import sparse
from shapely.geometry import Point, box

from geo import settings
from geo.coverage import siting
from geo.errors import ValidationError

# Six demand rows, three sites. Site 0 covers a–d, site 1 a, b, e; site 2 c, d, f.
# Greedy takes site 0 first (4 rows) and then needs both others; the optimum is {1, 2}.
TRAP = sparse.csr_matrix(np.array([
    [1, 1, 0],
    [1, 1, 0],
    [1, 0, 1],
    [1, 0, 1],
    [0, 1, 0],
    [0, 0, 1],
], dtype=bool))


def test_mclp_beats_greedy_on_the_trap():
    m = siting.MaximalCovering(TRAP, k=2).solve()
    assert m.solution.objective == 6 and sorted(m.solution.sites) == [1, 2]
    assert m.greedy_solution.objective == 5 and m.greedy_solution.sites[0] == 0
    assert m.solution.gains.sum() == m.solution.objective


def test_lscp_beats_greedy_on_the_trap():
    s = siting.SetCovering(TRAP).solve()
    assert s.n_sites == 2 and sorted(s.solution.sites) == [1, 2] and s.proven
    assert len(s.greedy_solution.sites) == 3
    assert s.solution.covered.all()


def _brute_force(reach: np.ndarray, w: np.ndarray, k: int) -> float:
    best = 0.0
    for combo in itertools.combinations(range(reach.shape[1]), k):
        best = max(best, w[reach[:, combo].any(axis=1)].sum())
    return best


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_mclp_matches_brute_force(k):
    rng = np.random.default_rng(k)
    demand, sites = rng.uniform(0, 1000, (60, 2)), rng.uniform(0, 1000, (12, 2))
    w = rng.integers(1, 500, 60).astype(float)
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    m = siting.MaximalCovering.from_cost_matrix(cost, 250, w, k=k).solve()
    assert m.solution.objective == pytest.approx(_brute_force(cost <= 250, w, k))
    assert m.greedy_solution.objective <= m.solution.objective + 1e-9
    # the sparse pair list gives the same model
    sp = siting.pair_costs(demand, sites, 250)
    assert siting.MaximalCovering.from_cost_matrix(sp, 250, w, k=k).solve().solution.objective == \
        pytest.approx(m.solution.objective)


def test_lscp_matches_brute_force_and_reports_uncoverable():
    rng = np.random.default_rng(7)
    demand, sites = rng.uniform(0, 1000, (50, 2)), rng.uniform(0, 1000, (10, 2))
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    reach = cost <= 300
    s = siting.SetCovering.from_cost_matrix(cost, 300).solve()
    coverable = reach.any(axis=1)
    fewest = next(k for k in range(1, 11) for c in itertools.combinations(range(10), k)
                  if (reach[:, c].any(axis=1) | ~coverable).all())
    assert s.n_sites == fewest
    assert s.uncoverable.tolist() == np.flatnonzero(~coverable).tolist()


def test_explicit_zero_cost_is_a_pair():
    cost = sparse.coo_matrix((np.array([0.0, 50.0]), (np.array([0, 1]), np.array([0, 0]))), shape=(2, 2))
    m = siting.MaximalCovering.from_cost_matrix(cost, 100, [3, 4], k=1).solve()
    assert m.solution.objective == 7


class _Res:
    """What scipy's milp returns, faked: HiGHS status, answer (or None), bound."""

    def __init__(self, status, x=None, bound=None, message="time limit reached"):
        self.status, self.x, self.mip_dual_bound, self.message = status, x, bound, message


def test_failed_solves_are_refused(monkeypatch):
    monkeypatch.setattr(siting, "milp", lambda c, **k: _Res(2, message="infeasible"))
    with pytest.raises(siting.SolverError, match="optimum"):
        siting.MaximalCovering(TRAP, k=2).solve()
    with pytest.raises(siting.SolverError, match="optimum"):
        siting.SetCovering(TRAP).solve()


def test_set_cover_cut_short_keeps_its_feasible_answer_but_says_so(monkeypatch):
    # HiGHS at its time limit with an incumbent (every column left after presolve) and a bound
    monkeypatch.setattr(siting, "milp", lambda c, **k: _Res(1, np.ones(len(c)), bound=1.2))
    s = siting.SetCovering(TRAP).solve(time_limit=0.1)
    assert s.n_sites == 2 and not s.proven and s.solution.covered.all()
    assert s.lower_bound == 2  # ceil(1.2)
    assert siting.SetCovering(TRAP).proven  # fresh, nothing to doubt
    # no incumbent at all: the greedy cover (3 sites) stands in, not proven
    monkeypatch.setattr(siting, "milp", lambda c, **k: _Res(1, None, bound=1.0))
    s = siting.SetCovering(TRAP).solve(time_limit=0.1)
    assert s.n_sites == 3 and not s.proven and s.solution.covered.all()


def test_max_cover_cut_short_keeps_the_better_of_incumbent_and_greedy(monkeypatch):
    # At the time limit HiGHS may hold an answer worse than greedy, or none: the planner
    # still gets the greedy answer (5 people), marked not proven, instead of an error.
    monkeypatch.setattr(siting, "milp", lambda c, **k: _Res(1, None))
    m = siting.MaximalCovering(TRAP, k=2).solve(time_limit=0.1)
    assert not m.proven and m.solution.objective == 5 and m.solution.method == "exact"
    monkeypatch.setattr(siting, "milp", lambda c, **k: _Res(1, np.zeros(len(c))))
    assert siting.MaximalCovering(TRAP, k=2).solve(time_limit=0.1).solution.objective == 5
    # an incumbent better than greedy is kept
    def best(c, **k):
        x = np.zeros(len(c))  # three site columns (none dominated), then the demand rows
        x[[1, 2]] = 1  # sites 1 and 2: everyone
        return _Res(1, x)
    monkeypatch.setattr(siting, "milp", best)
    m = siting.MaximalCovering(TRAP, k=2).solve(time_limit=0.1)
    assert m.solution.objective == 6 and sorted(m.solution.sites) == [1, 2] and not m.proven


def test_presolve_merges_rows_drops_dominated_sites_and_implied_rows():
    # rows 0 and 1 are reached by the same sites {0, 1}: one row of weight 3.
    # site 2 reaches {2} ⊂ site 3's {2, 3}: dominated. Site 4 reaches nobody.
    # row 4 is reached by no site: gone.
    reach = sparse.csr_matrix(np.array([
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0],
    ], dtype=bool))
    w = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    first, merged = siting.merge_identical_rows(reach[:4], w[:4])
    assert first.tolist() == [0, 2, 3] and merged.tolist() == [3.0, 4.0, 8.0]
    # site 0 reaches {0, 1} ⊂ site 1's {0, 1, 3}; site 2 {2} ⊂ site 3 {2, 3}; site 4 nobody
    assert siting.undominated_columns(reach).tolist() == [1, 3]
    p = siting.presolve(reach, w, set_cover=False)
    assert p.rows.tolist() == [0, 2, 3] and p.cols.tolist() == [1, 3] and p.weights.tolist() == [3, 4, 8]
    # set covering also drops row 3: whichever site covers row 0 (site 1) covers it too
    p = siting.presolve(reach, w, set_cover=True)
    assert p.rows.tolist() == [0, 2] and p.cols.tolist() == [1, 3] and p.shape == (5, 5)
    # and the answers on the whole model are unchanged (sites mapped back to their ids)
    assert sorted(siting.SetCovering(reach, w).solve().solution.sites) == [1, 3]
    best = siting.MaximalCovering(reach, w, k=1).solve().solution
    assert best.objective == 12 and best.sites.tolist() == [3]  # rows 2 and 3: 4 + 8


def test_bad_inputs_are_refused():
    with pytest.raises(ValidationError, match="k must"):
        siting.MaximalCovering(TRAP, k=0)
    with pytest.raises(ValidationError, match="weights"):
        siting.MaximalCovering(TRAP, [1, 1, 1, 1, 1, -1], k=1)
    with pytest.raises(ValidationError, match="one value per demand"):
        siting.SetCovering(TRAP, [1, 2])
    with pytest.raises(ValidationError, match="service_radius"):
        siting.SetCovering.from_cost_matrix(np.zeros((2, 2)), -1)


def test_geodataframe_wrapper_checks_crs_and_geometry():
    pts = gpd.GeoDataFrame({"people": [10, 20]}, geometry=[Point(0, 0), Point(400, 0)], crs=settings.METRIC_CRS)
    site = gpd.GeoDataFrame(geometry=[Point(100, 0), Point(350, 0)], crs=settings.METRIC_CRS)
    m = siting.MaximalCovering.from_geodataframe(pts, site, service_radius=120, weights_col="people", k=1).solve()
    assert m.solution.objective == 20 and m.solution.sites.tolist() == [1]
    with pytest.raises(ValidationError, match="CRS"):
        siting.SetCovering.from_geodataframe(pts.set_crs(None, allow_override=True), site, service_radius=1)
    with pytest.raises(ValidationError, match="points"):
        siting.SetCovering.from_geodataframe(
            gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=settings.METRIC_CRS), site, service_radius=1)
    with pytest.raises(ValidationError, match="column"):
        siting.SetCovering.from_geodataframe(pts, site, service_radius=1, weights_col="nobody")
