"""Benchmark: what the coverage page costs per user area, against the whole database, in one run.

    python -m bench.pages_bench              # demo street and a 5-street district (quick enough)
    python -m bench.pages_bench --streets 20 # the full district (slow: ~1.5 M residents)

For each town (SQLite file in a temporary folder): the coverage page's server work (frames read,
plan built, required-set coverage, the 15-minute circle, service areas, the folium map rendered)
and the bytes of the map's HTML, for a grid, a community and a street, each beside the same work on
the whole database (what the page did for everyone before issue 15), as ratios. Each figure is the
minimum of 3 runs. The area's covered residents are checked against the whole computation
restricted to its buildings (exit status 1 on a mismatch). Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.access.roles import Scope  # noqa: E402
from geo.coverage import coverage, coverage_map  # noqa: E402
from geo.db import store  # noqa: E402
from geo.demo import generator  # noqa: E402


def page_work(engine, scope: Scope | None) -> tuple[coverage.Plan, int]:
    """What the coverage page computes and draws on its first run for ``scope`` (None: everything)."""
    plan = coverage.build_plan(coverage.load_frames(engine, scope=scope))
    result = coverage.analyse(plan, coverage.REQUIRED)
    coverage.coverage_table(plan)
    coverage.circle(plan)
    areas = result.service_areas()
    html = coverage_map.coverage_map(coverage_map.base_layers(plan), result, areas=areas).get_root().render()
    return plan, len(html.encode())


def best(fn, runs: int = 3):
    out, times = None, []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def town_db(folder: Path, streets: int | None) -> str:
    t0 = time.perf_counter()
    town = generator.generate(tickets_per_street=0, **({"scale": "district", "streets": streets} if streets else {}))
    url = f"sqlite:///{folder / f'town_{streets or 1}.db'}"
    eng = store.make_engine(url)
    store.load_town(eng, town)
    eng.dispose()
    print(f"  town built in {time.perf_counter() - t0:.0f} s: {len(town['building']):,} buildings, "
          f"{sum(b['residents'] for b in town['building']):,} residents, {len(town['grid']):,} grids, "
          f"{len(town['road']):,} road lines")
    return url


def run(url: str, label: str, runs: int) -> bool:
    eng = store.make_engine(url)
    whole_s, (whole, whole_bytes) = best(lambda: page_work(eng, None), runs)
    covered = np.asarray(coverage.analyse(whole, coverage.REQUIRED).covered)
    people = whole.buildings["residents"].to_numpy()
    b = whole.buildings
    grid = int(b.groupby("grid_id")["residents"].sum().idxmax())
    comm = int(b.loc[b["grid_id"] == grid, "community_id"].iloc[0])
    street = int(b.loc[b["grid_id"] == grid, "street_id"].iloc[0])
    print(f"\n{label}: whole database {whole_s:.2f} s, map {whole_bytes / 1e6:.2f} MB, "
          f"graph {whole.graph.n_edges:,} edges")
    print(f"  {'area':<10} {'server s':>9} {'× whole':>8} {'map MB':>8} {'× whole':>8} {'edges':>8}  check")
    ok = True
    for level, scope, key, value in (("grid", Scope("grid", grid_id=grid), "grid_id", grid),
                                     ("community", Scope("community", community_id=comm), "community_id", comm),
                                     ("street", Scope("street", street_id=street), "street_id", street)):
        s, (plan, size) = best(lambda: page_work(eng, scope), runs)
        mine = b[key].to_numpy() == value
        got = coverage.analyse(plan, coverage.REQUIRED).summary().loc[coverage.REQUIRED, "covered"]
        same = int(got) == int(people[mine & covered].sum())
        ok &= same
        print(f"  {level:<10} {s:9.2f} {s / whole_s:8.3f} {size / 1e6:8.2f} {size / whole_bytes:8.3f} "
              f"{plan.graph.n_edges:8,}  {'same covered residents' if same else 'MISMATCH'}")
    eng.dispose()
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streets", type=int, default=5, help="streets of the district town (20: the full district)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        print("demo street")
        ok &= run(town_db(Path(tmp), None), "demo street", args.runs)
        print(f"\ndistrict town, {args.streets} streets")
        ok &= run(town_db(Path(tmp), args.streets), f"district ({args.streets} streets)", args.runs)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
