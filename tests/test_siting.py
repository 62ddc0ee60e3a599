"""Maximal covering and set covering: known optima, greedy's known failure, errors."""
from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from scipy import sparse
from shapely.geometry import Point, box

from geo import settings, siting
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


def test_non_optimal_answers_are_refused(monkeypatch):
    class Res:
        status, x, message = 1, None, "time limit reached"
    monkeypatch.setattr(siting, "milp", lambda *a, **k: Res())
    with pytest.raises(siting.SolverError, match="optimum"):
        siting.MaximalCovering(TRAP, k=2).solve()


def test_set_cover_cut_short_keeps_its_feasible_answer_but_says_so(monkeypatch):
    class Res:  # HiGHS at its time limit with an incumbent: all three sites
        status, x, message = 1, np.array([1.0, 1.0, 1.0]), "time limit reached"
    monkeypatch.setattr(siting, "milp", lambda *a, **k: Res())
    s = siting.SetCovering(TRAP).solve(time_limit=0.1)
    assert s.n_sites == 3 and not s.proven and s.solution.covered.all()
    assert siting.SetCovering(TRAP).proven  # fresh, nothing to doubt
    Res.x = None  # no feasible answer at all: still refused
    with pytest.raises(siting.SolverError, match="optimum"):
        siting.SetCovering(TRAP).solve()


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
