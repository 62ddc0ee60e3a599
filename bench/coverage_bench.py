"""Benchmark: walking coverage and site selection against common baselines.

    pip install -r bench/requirements.txt
    python bench/coverage_bench.py            # street and district scale
    python bench/coverage_bench.py --street   # street only (quick)

Part 1, walking coverage of every facility of the town (all types), each side
timed from road lines to covered doors, graph build included:
  ours     geo.network: noding + CSR graph + snapping + one bounded multi-source
           Dijkstra per type (+ the isochrone polygons, timed separately)
  naive    networkx: graph from the same noded segments, one bounded Dijkstra
           per facility, a convex hull per facility
  pandana  contraction hierarchies: Network + precompute + nearest_pois per type
The three must find the same covered doors; a mismatch is printed and fails.

Part 2, site selection on one instance (≥ 5,000 demand buildings × 800
candidate intersections, walking reach): geo.siting (sparse pairs → HiGHS)
against spopt's LSCP / MCLP.from_cost_matrix (dense matrix → PuLP/CBC), equal
objective values required. Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo import catalogue, coverage, demo, network, projection, siting  # noqa: E402


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def optional(name):
    try:
        return __import__(name)
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip this column"
        print(f"  ({name} unavailable: {exc}; its column is skipped)")
        return None


# --------------------------------------------------------------------------- part 1

def ours(frames, door_xy, fac_xy, fac_type, reaches, *, polygons: bool):
    g = network.graph_from_lines(frames["roads"])
    doors = network.snap_points(g, *door_xy.T)
    fac = network.snap_points(g, *fac_xy.T)
    covered, areas = {}, {}
    for t, reach in reaches.items():
        src = fac.subset(fac_type == t)
        nd = network.node_distances(g, src, limit=reach + 1)
        d = network.point_distances(g, nd, doors, src)
        covered[t] = d <= reach
        covered["_d_" + t] = d
        if polygons:
            lines = network.reached_lines(g, nd, reach, src)
            areas[t] = network.band(lines)
    return covered, areas


def point_graph(frames, door_xy, fac_xy):
    """Our noded graph with every door and facility made a real node (plus its access leg):
    the common network both baselines get, so all three answer the same question."""
    g = network.graph_from_lines(frames["roads"])
    pts = network.snap_points(g, *np.vstack([door_xy, fac_xy]).T)
    g2, on_edge = network.graph_from_network_and_points(g, pts)
    n = g2.n_nodes
    ok = pts.ok
    own = np.full(len(pts), -1)
    own[ok] = n + np.arange(ok.sum())
    xy = np.vstack([g2.xy, np.vstack([door_xy, fac_xy])[ok]])
    u = np.r_[g2.u, on_edge[ok]]
    v = np.r_[g2.v, own[ok]]
    length = np.r_[g2.length, pts.access[ok]]
    return xy, u, v, length, own[: len(door_xy)], own[len(door_xy):]


def naive_networkx(nx, xy, u, v, length, door_node, fac_node, fac_type, reaches):
    g = nx.Graph()
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), length.tolist()))
    covered, hulls = {}, {}
    for t, reach in reaches.items():
        best = {}
        polys = []
        for f in fac_node[(fac_type == t) & (fac_node >= 0)]:
            dist = nx.single_source_dijkstra_path_length(g, int(f), cutoff=reach)
            for node, d in dist.items():
                if d < best.get(node, np.inf):
                    best[node] = d
            polys.append(shapely.convex_hull(shapely.multipoints(xy[list(dist)])))
        covered[t] = np.array([best.get(int(n), np.inf) <= reach if n >= 0 else False for n in door_node])
        hulls[t] = shapely.union_all(polys)
    return covered


def pandana_cov(pdna, pd, xy, u, v, length, door_node, fac_node, fac_type, reaches):
    nodes = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    edges = pd.DataFrame({"from": u, "to": v, "w": length})
    net = pdna.Network(nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["w"]], twoway=True)
    top = max(reaches.values())
    net.precompute(top + 1)
    covered = {}
    for t, reach in reaches.items():
        f = fac_node[(fac_type == t) & (fac_node >= 0)]
        net.set_pois(t, top + 1, 1, pd.Series(xy[f, 0]), pd.Series(xy[f, 1]))
        d = net.nearest_pois(reach, t, num_pois=1, max_distance=np.inf)[1]
        dn = d.reindex(door_node).to_numpy()
        covered[t] = np.where(door_node >= 0, dn <= reach, False)
    return covered


def part1(scale: str, town) -> None:
    frames = coverage.frames_from_town(town)
    b = frames["buildings"]
    door_xy = np.c_[projection.lonlat_to_metric(b["entrance_lon"], b["entrance_lat"])]
    fac = frames["facilities"]
    fac_xy = shapely.get_coordinates(projection.to_metric(fac).geometry.values)
    fac_type = fac["type"].to_numpy()
    reaches = {t: ft.reach_m for t, ft in catalogue.FACILITY_TYPES.items() if (fac_type == t).any()}
    roads = len(frames["roads"])
    print(f"\n[{scale}] {roads:,} road lines, {len(b):,} buildings, {len(fac):,} facilities "
          f"of {len(reaches)} types")
    (cov, _), t_search = timed(ours, frames, door_xy, fac_xy, fac_type, reaches, polygons=False)
    (_, _), t_poly = timed(ours, frames, door_xy, fac_xy, fac_type, reaches, polygons=True)
    _, t_build = timed(network.graph_from_lines, frames["roads"])
    common, t_common = timed(point_graph, frames, door_xy, fac_xy)
    rows = [("ours: graph + snap + search per type", t_search, "—"),
            (f"  of which graph build (noding) {t_build:.2f} s", None, ""),
            ("ours: … + isochrone polygons", t_poly, "—")]

    def same(other) -> str:
        # doors whose walk differs from the reach by < 1 cm are float ties, counted apart
        diff = {t: np.flatnonzero(other[t] != cov[t]) for t in reaches}
        ties = sum(int((np.abs(cov["_d_" + t][i] - reaches[t]) < 0.01).sum()) for t, i in diff.items())
        real = sum(len(i) for i in diff.values()) - ties
        return "yes" if real == 0 and ties == 0 else f"{real} differ, {ties} ties<1cm"

    nx = optional("networkx")
    if nx is not None:
        naive, t_nx = timed(naive_networkx, nx, *common, fac_type, reaches)
        rows.append(("networkx: search per facility + hull", t_nx + t_common, same(naive)))
    pdna = optional("pandana")
    if pdna is not None:
        import pandas as pd
        pcov, t_pd = timed(pandana_cov, pdna, pd, *common, fac_type, reaches)
        rows.append(("pandana: network + precompute + nearest_pois", t_pd + t_common, same(pcov)))
    covered = {t: int(b["residents"].to_numpy()[cov[t]].sum()) for t in reaches}
    print(f"  (baselines get our noded graph with doors/facilities as nodes, {t_common:.2f} s, "
          f"added to their time)")
    print(f"  {'method':48s} {'seconds':>9s} {'× ours':>8s} {'same covered doors':>22s}")
    for name, sec, ok in rows:
        if sec is None:
            print(f"  {name}")
            continue
        print(f"  {name:48s} {sec:9.3f} {sec / t_search:8.1f} {ok:>22s}")
    print(f"  residents covered per type (walking): {covered}")


# --------------------------------------------------------------------------- part 2

def part2(town, n_demand: int, n_sites: int, reach: float, k: int) -> None:
    frames = coverage.frames_from_town(town)
    plan = coverage.build_plan(frames)
    rng = np.random.default_rng(6)
    people = np.flatnonzero((plan.buildings["residents"] > 0).to_numpy() & plan.doors.ok)
    dem = np.sort(rng.choice(people, n_demand, replace=False))
    cand = np.sort(rng.choice(plan.graph.intersections(), n_sites, replace=False))
    sites = network.snap_nodes(plan.graph, cand)
    cost, t_pairs = timed(network.reach_pairs, plan.graph, sites, plan.doors.subset(dem), limit=reach)
    w = plan.buildings["residents"].to_numpy(float)[dem]
    coverable = cost.getnnz(axis=1) > 0
    cost, w = cost[np.flatnonzero(coverable)], w[coverable]
    print(f"\n[siting] {cost.shape[0]:,} demand buildings (coverable of {n_demand:,}) × {cost.shape[1]} "
          f"intersections, walking reach {reach:.0f} m, {cost.nnz:,} pairs (found in {t_pairs:.2f} s), k = {k}")
    mclp, t_m = timed(lambda: siting.MaximalCovering.from_cost_matrix(cost, reach, w, k=k).solve())
    lscp, t_l = timed(lambda: siting.SetCovering.from_cost_matrix(cost, reach, w).solve())
    rows = [("ours MCLP (HiGHS, sparse) + greedy", t_m, mclp.solution.objective),
            ("  greedy alone", mclp.greedy_solution.seconds, mclp.greedy_solution.objective),
            ("ours LSCP (HiGHS, sparse) + greedy", t_l, lscp.n_sites),
            ("  greedy alone", lscp.greedy_solution.seconds, len(lscp.greedy_solution.sites))]
    spopt = optional("spopt")
    pulp = optional("pulp")
    if spopt is not None and pulp is not None:
        from spopt.locate import LSCP, MCLP
        dense = np.full(cost.shape, 1e7)
        c = cost.tocoo()
        dense[c.row, c.col] = c.data

        def sp_mclp():
            m = MCLP.from_cost_matrix(dense, w, service_radius=reach, p_facilities=k)
            return m.solve(pulp.PULP_CBC_CMD(msg=False))

        def sp_lscp():
            m = LSCP.from_cost_matrix(dense, service_radius=reach)
            return m.solve(pulp.PULP_CBC_CMD(msg=False))

        m2, t_m2 = timed(sp_mclp)
        l2, t_l2 = timed(sp_lscp)
        rows.insert(2, ("spopt MCLP.from_cost_matrix (CBC, dense)", t_m2, pulp.value(m2.problem.objective)))
        rows.append(("spopt LSCP.from_cost_matrix (CBC, dense)", t_l2, pulp.value(l2.problem.objective)))
        ok_m = abs(pulp.value(m2.problem.objective) - mclp.solution.objective) < 1e-6
        ok_l = abs(pulp.value(l2.problem.objective) - lscp.n_sites) < 1e-6
        print(f"  equal objectives: MCLP {ok_m}, LSCP {ok_l}; spopt/ours: MCLP {t_m2 / t_m:.1f}×, "
              f"LSCP {t_l2 / t_l:.1f}×")
    print(f"  {'solver':48s} {'seconds':>9s} {'objective':>12s}")
    for name, sec, obj in rows:
        print(f"  {name:48s} {sec:9.3f} {obj:12,.0f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--street", action="store_true", help="street scale only (skip the district)")
    ap.add_argument("--demand", type=int, default=7000, help="sampled buildings; the coverable ones (≥ 5,000) enter the model")
    ap.add_argument("--sites", type=int, default=800)
    ap.add_argument("--reach", type=float, default=500.0)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args(argv)
    street = demo.generate(tickets_per_street=0)
    part1("street", street)
    if not args.street:
        t0 = time.perf_counter()
        district = demo.generate(scale="district", tickets_per_street=0)
        print(f"\n(district generated in {time.perf_counter() - t0:.0f} s, not counted)")
        part1("district", district)
        part2(district, args.demand, args.sites, args.reach, args.k)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
