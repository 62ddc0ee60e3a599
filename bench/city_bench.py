"""The demo town into PostGIS two ways, in one run: whole in memory (generator.generate + store.load_town,
one transaction of INSERTs) against streamed street by street (geo.demo.stream: COPY, a transaction a
street). Prints time, rows/s and peak RSS of each and the ratios, and what a city of 265 streets would take.

    python bench/city_bench.py                      # a district: 20 streets of 8 communities, 3,000 tickets
    python bench/city_bench.py --streets 5 --only stream

Each way runs in a process of its own (peak RSS is per process) into a database of its own, created on
TEST_DATABASE_URL's server (or --url) and dropped afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 23, 9)
CITY_STREETS, CITY_TICKETS = 265, 3800


def child(mode: str, url: str, streets: int, communities: int, tickets: int) -> dict:
    """Build the town one way into ``url``; the figures as a dict."""
    from geo import settings
    from geo.db import store
    from geo.demo import generator, stream

    engine = store.make_engine(url)
    t0 = time.perf_counter()
    if mode == "memory":
        town = generator.generate(seed=settings.DEMO_SEED, now=NOW, streets=streets, communities=communities, tickets_per_street=tickets)
        t1 = time.perf_counter()
        store.load_town(engine, town)
        rows = sum(len(v) for v in town.values())
        build_s, write_s = t1 - t0, time.perf_counter() - t1
    else:
        per_street = []
        rows = stream.build(engine, stream.Plan(seed=settings.DEMO_SEED, now=NOW, streets=streets, communities=communities,
                                                tickets=tickets), report=per_street.append)
        build_s = sum(d.build_s for d in per_street if d.written)
        write_s = sum(d.write_s for d in per_street if d.written)
    seconds = time.perf_counter() - t0
    counts = store.counts(engine)
    engine.dispose()
    return dict(mode=mode, seconds=seconds, build_s=build_s, write_s=write_s, rows=rows,
                peak_rss_mb=stream.peak_rss_mb(), residents=counts["resident"], tickets=counts["ticket"])


def _server(url: str | None):
    from sqlalchemy.engine import make_url

    raw = url or os.environ.get("TEST_DATABASE_URL", "")
    if not raw:
        sys.exit("需要一个 PostGIS 服务器：设置 TEST_DATABASE_URL 或 --url。/ Set TEST_DATABASE_URL or --url.")
    return make_url(raw).set(drivername="postgresql+psycopg")


def _admin(server, sql: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    eng = create_engine(server.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(sql))
    eng.dispose()


def run(mode: str, server, args) -> dict:
    name = f"shequ_city_bench_{mode}_{os.getpid()}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url, "--streets", str(args.streets),
                              "--communities", str(args.communities), "--tickets", str(args.tickets)],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        _admin(server, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        return figures
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}"')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streets", type=int, default=20)
    ap.add_argument("--communities", type=int, default=8)
    ap.add_argument("--tickets", type=int, default=3000, help="tickets per street")
    ap.add_argument("--url", help="a PostgreSQL URL on the server to use (default TEST_DATABASE_URL)")
    ap.add_argument("--only", choices=["memory", "stream"])
    ap.add_argument("--child", choices=["memory", "stream"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.url, args.streets, args.communities, args.tickets)))
        return 0
    server = _server(args.url)
    print(f"{args.streets} streets × {args.communities} communities, {args.tickets:,} tickets a street, "
          f"into PostGIS ({server.render_as_string(hide_password=True)}); {os.cpu_count()} cores")
    results = {}
    for mode in ([args.only] if args.only else ["memory", "stream"]):
        r = results[mode] = run(mode, server, args)
        print(f"{mode:>6}: {r['seconds']:7.1f} s (build {r['build_s']:.1f} s, write {r['write_s']:.1f} s), "
              f"{r['rows']:,} rows, {r['rows'] / r['seconds']:,.0f} rows/s, peak RSS {r['peak_rss_mb']:,.0f} MB, "
              f"{r['residents']:,} residents, {r['tickets']:,} tickets", flush=True)
    if len(results) == 2:
        m, s = results["memory"], results["stream"]
        print(f"stream / memory: time {s['seconds'] / m['seconds']:.2f}×, write {s['write_s'] / m['write_s']:.2f}×, "
              f"peak RSS {s['peak_rss_mb'] / m['peak_rss_mb']:.2f}×")
    if "stream" in results:
        s = results["stream"]
        per_street = s["seconds"] / args.streets
        print(f"a city of {CITY_STREETS} streets streamed, extrapolated (not run): ~{per_street * CITY_STREETS / 60:.0f} min "
              f"at {per_street:.1f} s a street of {args.tickets:,} tickets (a city's streets have {CITY_TICKETS:,}), "
              f"peak RSS about the same as here ({s['peak_rss_mb']:,.0f} MB: one street or two in memory)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
