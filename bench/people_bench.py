"""Benchmark: a grid head's lists (geo.people.households: households, people to visit, helpers) on a
big database, against the same queries with the residents' and visits' aggregates over the whole
database, as they were before issue 15.

    python -m geo.demo --scale district --stream --output postgresql+psycopg://…/shequ_district
    python -m bench.people_bench --url postgresql+psycopg://…/shequ_district
    python -m bench.people_bench --streets 3        # a 3-street town streamed into a temporary SQLite file

For a few grids spread over the database (first, middle and last by id) each list is timed as the grid
head's page asks for it (a grid scope); each figure is the best of 3 runs, and the table gives the median
over the grids. Both versions must return the same rows (the script exits 1 if not). The baseline is
made by lifting the area's condition out of the sub-queries (``households._in_area`` answering "all"),
so it is exactly the old SQL. Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import numpy as np
from sqlalchemy import func, select, true

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.access.roles import Scope  # noqa: E402
from geo.db import store  # noqa: E402
from geo.db.schema import Grid, Resident  # noqa: E402
from geo.people import households  # noqa: E402

LISTS = {
    "households": lambda eng, scope, now: households.households(eng, scope=scope, now=now, grid_id=scope.grid_id),
    "to_visit": lambda eng, scope, now: households.to_visit(eng, scope=scope, now=now, grid_id=scope.grid_id),
    "helpers": lambda eng, scope, now: households.helpers(eng, scope=scope, grid_id=scope.grid_id),
}


def best(fn, runs: int = 3):
    out, seconds = None, float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - t0)
    return out, seconds


def grids(engine, n: int = 3) -> list[Scope]:
    """First, middle and last grid by id, as grid heads' scopes."""
    rows = store.read_frame(engine, select(Grid.id, Grid.community_id).order_by(Grid.id))
    picks = rows.iloc[np.linspace(0, len(rows) - 1, n).round().astype(int)]
    return [Scope("grid", community_id=int(c), grid_id=int(g)) for g, c in zip(picks["id"], picks["community_id"])]


def build_sqlite(streets: int, folder: str) -> str:
    from geo.demo import generator

    url = f"sqlite:///{Path(folder) / 'people.db'}"
    generator.main(["--scale", "district", "--stream", "--streets", str(streets), "--output", url])
    return url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a database holding a town (default: build --streets into SQLite)")
    ap.add_argument("--streets", type=int, default=3)
    ap.add_argument("--grids", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or build_sqlite(args.streets, folder)
        engine = store.make_engine(url)
        with engine.connect() as conn:
            residents = conn.execute(select(func.count()).select_from(Resident)).scalar_one()
            n_grids = conn.execute(select(func.count()).select_from(Grid)).scalar_one()
        print(f"{engine.dialect.name}: {residents:,} residents in {n_grids:,} grids; "
              f"{args.grids} grids timed, best of 3 each, median over grids")
        now, problems = datetime.now(), []
        print(f"  {'list':12s} {'ours ms':>9s} {'before ms':>10s} {'ours/before':>12s} {'rows':>6s}")
        for name, fn in LISTS.items():
            ours, before, rows = [], [], []
            for scope in grids(engine, args.grids):
                new, t_new = best(lambda: fn(engine, scope, now))
                with mock.patch.object(households, "_in_area", lambda table, scope, grid_id: true()):
                    old, t_old = best(lambda: fn(engine, scope, now))
                if not new.reset_index(drop=True).equals(old.reset_index(drop=True)):
                    problems.append(f"{name}: grid {scope.grid_id} differs")
                ours.append(t_new)
                before.append(t_old)
                rows.append(len(new))
            o, b = float(np.median(ours)) * 1000, float(np.median(before)) * 1000
            print(f"  {name:12s} {o:9.1f} {b:10.1f} {o / b:12.3f} {int(np.median(rows)):6d}")
        engine.dispose()
    for p in problems:
        print(f"MISMATCH: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
