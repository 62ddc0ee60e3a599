"""Automatic grid cutting: geo.grids.autocut against spopt's max-p heuristic, on the same units.

For every community of the demo street (generated in memory, loaded into a
temporary SQLite file), both methods regionalise the same units (road blocks cut
into one cell per building, geo.grids.autocut.community_units) with the same
household bounds (geo.grids.rules: 300–500 by default):

- ours: recursive bisection with a floor and a ceiling (autocut.regionalise);
- spopt: ``MaxPHeuristic`` with the floor as its threshold, rook contiguity from
  the same adjacency, unit centroids as the attributes (so its regions are compact
  too); it knows no ceiling.

Printed per community and in total: grids, the share within both bounds, the
share of contiguous grids, mean Polsby–Popper compactness (4πA/P², a square is
0.785), the smallest and largest grid in households, and seconds (best of
``--repeat``). Exits 1 if ours leaves any grid outside the bounds or in pieces.

    pip install -r bench/requirements.txt
    python -m bench.gridcut_bench
    python -m bench.gridcut_bench --communities 3 --repeat 1
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from geo.db import store
from geo.demo import generator
from geo.grids import autocut, rules


def spopt_labels(units: autocut.Units, lo: int) -> np.ndarray:
    """spopt's max-p heuristic on the same units and adjacency (floor ``lo``, no ceiling)."""
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    neighbours = {i: [] for i in range(units.n)}
    for i, j in zip(units.edges["i"], units.edges["j"]):
        neighbours[int(i)].append(int(j))
        neighbours[int(j)].append(int(i))
    gdf = units.gdf.copy()
    c = gdf.geometry.centroid
    gdf["x"], gdf["y"] = c.x, c.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = W(neighbours, silence_warnings=True)
        model = MaxPHeuristic(gdf, w, ["x", "y"], "households", lo, top_n=2)
        np.random.seed(0)
        model.solve()
    return np.asarray(model.labels_)


def measure(units: autocut.Units, labels: np.ndarray, lo: int, hi: int) -> dict:
    grids = autocut.dissolve(units, labels)
    hh = grids["households"].to_numpy()
    return {"grids": len(grids), "within": float(((hh >= lo) & (hh <= hi)).mean()),
            "contiguous": float((grids["parts"] == 1).mean()), "compact": float(grids["compactness"].mean()),
            "min": int(hh.min()), "max": int(hh.max())}


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tight", default="380,450",
                    help="a second, narrower household band (a city's own rule) where the ceiling binds; '' skips it")
    args = ap.parse_args(argv)
    bands = [rules.bounds_for("area").households]
    if args.tight:
        bands.append(tuple(int(v) for v in args.tight.split(",")))
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.make_engine(f"sqlite:///{Path(tmp) / 'town.db'}")
        store.load_town(engine, generator.generate(communities=args.communities, tickets_per_street=10))
        units_of = {cid: autocut.community_units(engine, cid)[0] for cid in range(1, args.communities + 1)}
        engine.dispose()
    for lo, hi in bands:
        rows = []
        for cid, units in units_of.items():
            ours, t_ours = timed(lambda: autocut.regionalise(units, lo, hi)[0], args.repeat)
            theirs, t_spopt = timed(lambda: spopt_labels(units, lo), args.repeat)
            rows.append((cid, units.n, int(units.gdf["households"].sum()),
                         measure(units, ours, lo, hi) | {"s": t_ours}, measure(units, theirs, lo, hi) | {"s": t_spopt}))
        failed |= report(rows, lo, hi, strict=(lo, hi) == bands[0])
        print()
    return 1 if failed else 0


def report(rows: list, lo: int, hi: int, *, strict: bool) -> bool:
    """Print one band's table; True when ours failed where it must not (the shipped bounds)."""
    head = (f"{'community':>9} {'units':>5} {'hh':>5} | {'method':<6} {'grids':>5} {'within':>7} {'contig':>7} "
            f"{'compact':>7} {'min':>4} {'max':>4} {'s':>6}")
    print(f"household bounds {lo}–{hi}; compactness = Polsby–Popper 4πA/P² (square 0.785)")
    print(head)
    print("-" * len(head))
    for cid, n, hh, ours, theirs in rows:
        for name, m in (("ours", ours), ("spopt", theirs)):
            print(f"{cid:>9} {n:>5} {hh:>5} | {name:<6} {m['grids']:>5} {m['within']:>7.0%} {m['contiguous']:>7.0%} "
                  f"{m['compact']:>7.3f} {m['min']:>4} {m['max']:>4} {m['s']:>6.2f}")
    print("-" * len(head))
    for k, name in ((3, "ours"), (4, "spopt")):
        grids = sum(r[k]["grids"] for r in rows)
        within = sum(r[k]["within"] * r[k]["grids"] for r in rows) / grids
        contig = sum(r[k]["contiguous"] * r[k]["grids"] for r in rows) / grids
        compact = sum(r[k]["compact"] * r[k]["grids"] for r in rows) / grids
        secs = sum(r[k]["s"] for r in rows)
        print(f"{'all':>9} {sum(r[1] for r in rows):>5} {sum(r[2] for r in rows):>5} | {name:<6} {grids:>5} "
              f"{within:>7.0%} {contig:>7.0%} {compact:>7.3f} {min(r[k]['min'] for r in rows):>4} "
              f"{max(r[k]['max'] for r in rows):>4} {secs:>6.2f}")
    t_ours = sum(r[3]["s"] for r in rows)
    t_spopt = sum(r[4]["s"] for r in rows)
    print(f"time ours / spopt: {t_ours / t_spopt:.2f}")
    bad = [r[0] for r in rows if r[3]["within"] < 1 or r[3]["contiguous"] < 1]
    fits = [r[0] for r in rows if np.ceil(r[2] / hi) > np.floor(r[2] / lo)]
    if fits:
        print(f"communities {fits}: no number of grids fits their households within {lo}–{hi}")
    if bad and strict:
        print(f"FAIL: communities {bad} have grids outside the bounds or in pieces", file=sys.stderr)
    return bool(bad) and strict


if __name__ == "__main__":
    sys.exit(main())
