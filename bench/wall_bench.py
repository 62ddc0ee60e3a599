"""Benchmark: one wall refresh on a big database (a district or the city in PostGIS), per area, against a
refresh that rereads the area's tickets, as it did before issue 15.

    python -m geo.demo --scale city --output postgresql+psycopg://…/shequ_city     # ~25 min, 0.4 GB
    python -m bench.wall_bench --url postgresql+psycopg://…/shequ_city

Areas: the whole database (a city leader's wall), and the middle street, community and grid by id. For
each, every figure the best of 3 runs:

- reread: ``wall.build`` reading the area's two months of tickets afresh (the baseline);
- warm: ``wall.build`` with the area's ``TicketFeed`` after its first read and nothing new (a quiet
  refresh; target ≤ 1 s at city scale);
- after 20 new reports in the area: the refresh that takes them in (once: it is a catch-up);
- look: ``ChangeWatch.look`` with a report waiting, the query each wall runs every 2 s.

The 15-minute circle and the population counts, which the page caches (10 and 5 minutes), are computed
once per area (the circle in a straight line) and passed in (the circle's time printed apart). The 20 reports per area are written into the database
(kept: a benchmark database is a scratch copy). Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.people_bench import best  # noqa: E402 - (result, best seconds of 3)
from geo.access.roles import Scope  # noqa: E402
from geo.db import store  # noqa: E402
from geo.db.schema import Community, Grid, Ticket  # noqa: E402
from geo.screen import figures, wall  # noqa: E402
from geo.tickets import service  # noqa: E402

NEW_REPORTS = 20


def areas(engine) -> list[tuple[str, Scope]]:
    """The whole database, and the middle street, community and grid by id."""
    g = store.read_frame(engine, select(Grid.id, Grid.community_id, Community.street_id)
                         .join(Community, Community.id == Grid.community_id).order_by(Grid.id))
    mid = g.iloc[len(g) // 2]
    street, community, grid = int(mid["street_id"]), int(mid["community_id"]), int(mid["id"])
    return [("all", Scope("street")), ("street", Scope("street", street_id=street)),
            ("community", Scope("community", street_id=street, community_id=community)),
            ("grid", Scope("grid", street_id=street, community_id=community, grid_id=grid))]


def report_in(engine, scope: Scope, now, n: int) -> None:
    """``n`` new reports at the area's grids (cycling through them)."""
    where = Grid.id == scope.grid_id if scope.level == "grid" else scope.clause(Grid.__table__)
    g = store.read_layer(engine, Grid, where=where, columns=["id", "geom"])
    for i in range(n):
        p = g.geometry.iloc[i % len(g)].representative_point()
        service.report(engine, category="water", description="停水（基准测试）", lon=p.x, lat=p.y, now=now)


def measure(engine, name: str, scope: Scope, now) -> dict:
    circle_s = best(lambda: figures.service_circle(engine, scope), 1)
    circle, people = circle_s[0], figures.population(engine, scope)  # both cached by the page (10 / 5 min)
    reread, reread_s = best(lambda: wall.build(engine, now, scope, circle=circle, people=people))
    feed = figures.TicketFeed(scope)
    _, first_s = best(lambda: wall.build(engine, now, scope, circle=circle, feed=feed, people=people), 1)
    _, warm_s = best(lambda: wall.build(engine, now, scope, circle=circle, feed=feed, people=people))
    watch = figures.ChangeWatch(scope, every=timedelta(0))
    watch.look(engine, now)
    later = now + timedelta(seconds=30)
    report_in(engine, scope, later, NEW_REPORTS)
    _, look_s = best(lambda: watch.look(engine, later))
    after, after_s = best(lambda: wall.build(engine, later, scope, circle=circle, feed=feed, people=people), 1)
    again, _ = best(lambda: wall.build(engine, later, scope, circle=circle, people=people), 1)
    if after.figures["new_today"] != again.figures["new_today"] or len(after.frame) != len(again.frame):
        print(f"  {name}: the feed's refresh differs from a reread", file=sys.stderr)
        raise SystemExit(1)
    return dict(area=name, tickets=len(reread.frame), circle_s=circle_s[1], reread_s=reread_s, first_s=first_s,
                warm_s=warm_s, after_s=after_s, look_s=look_s, full_reads=feed.full_reads)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="a database holding a big town (a district or the city)")
    args = ap.parse_args(argv)
    engine = store.make_engine(args.url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Ticket)).scalar()
        now = conn.execute(select(func.max(Ticket.created_at))).scalar().replace(microsecond=0)
    print(f"{total:,} tickets in the database; the wall's clock {now:%Y-%m-%d %H:%M}")
    print(f"{'area':10} {'tickets':>9} | {'reread s':>8} {'warm s':>7} {'ratio':>6} | {'+20 new s':>9} "
          f"{'look ms':>7} | {'first s':>7} {'circle s':>8}")
    for name, scope in areas(engine):
        r = measure(engine, name, scope, now)
        print(f"{r['area']:10} {r['tickets']:>9,} | {r['reread_s']:>8.2f} {r['warm_s']:>7.2f} "
              f"{r['warm_s'] / r['reread_s']:>5.2f}x | {r['after_s']:>9.2f} {r['look_s'] * 1e3:>7.1f} | "
              f"{r['first_s']:>7.2f} {r['circle_s']:>8.2f}", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
