"""The demo town: a street modelled on a town around Pengzhou, Sichuan, and its first start.

``python -m geo.demo`` builds it into the database (or a file given with
``--output``) and prints a summary; ``ensure_database`` is the app's first
start. The same seed always gives the same town: the street (geo.demo.street),
a year of tickets (geo.demo.simulate), logins and visits (geo.demo.accounts).
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from geo import settings
from geo.tickets import workflow
from geo.demo import accounts, people, street, stream
from geo.db import migrate

# --------------------------------------------------------------------------- entry points

def default_now() -> datetime:
    """Today at 09:00 local time: the demo's tickets end 'now' so the map looks live."""
    return settings.now().replace(hour=9, minute=0, second=0, microsecond=0)


#: Streets per scale: one street, a district (Pengzhou has 20), a city (Chengdu: about 265 streets and towns).
STREETS = {"street": 1, "district": 20, "city": 265}
#: Tickets a street reports in a year: 3,000 in a street or a district; a city's ~1 M a year over 265 streets.
TICKETS_PER_STREET = {"street": 3000, "district": 3000, "city": 3800}


def generate(*, seed: int = settings.DEMO_SEED, scale: str = "street", now: datetime | None = None,
             tickets_per_street: int | None = None, communities: int = 8, streets: int | None = None,
             progress: street.Progress | None = None) -> street.Town:
    """Generate the demo town as rows per table (ready for ``store.load_town``), all in memory.

    ``communities``, ``tickets_per_street`` and ``streets`` (instead of the
    scale's 1 or 20) shrink the town for fast tests. A city does not fit in
    memory (~27 GB): geo.demo.stream writes it street by street.
    """
    n_streets = street_count(scale, streets)
    tickets = TICKETS_PER_STREET[scale] if tickets_per_street is None else tickets_per_street
    now = now or default_now()
    ids, town = street.Ids(), {}
    for s in range(n_streets):
        if progress:
            progress(0.5 * s / n_streets, f"street {s + 1}/{n_streets}")
        for table, rows in stream.build_street(s, n_streets, ids, seed=seed, now=now, communities=communities,
                                        tickets=tickets).items():
            town.setdefault(table, []).extend(rows)
    accounts.users_and_visits(town, seed, now)
    people.fill(town, ids, seed, now)
    return stream.plain(town)


def street_count(scale: str, streets: int | None = None) -> int:
    """How many streets ``scale`` has (``streets`` overrides it); ValueError for an unknown scale."""
    if scale not in STREETS:
        raise ValueError(f"scale must be one of {', '.join(STREETS)}, got {scale!r}")
    return streets or STREETS[scale]


def summary(town: street.Town) -> list[dict]:
    """Per-community summary rows (and a total): what a reader checks first."""
    by_comm: dict[int, dict] = {}
    grid_comm = {g["id"]: g["community_id"] for g in town["grid"]}
    for c in town["community"]:
        by_comm[c["id"]] = dict(社区=c["name"], 编码=c["code"], 网格=0, 楼栋=0, 户数=0, 人口=0,
                                独居老人=0, 党员=0, 设施=0, 监控=0, 工单=0, 在办=0)
    for g in town["grid"]:
        by_comm[g["community_id"]]["网格"] += 1
    for b in town["building"]:
        row = by_comm[grid_comm[b["grid_id"]]]
        row["楼栋"] += 1
        row["户数"] += b["households"]
        row["人口"] += b["residents"]
    for r in town["resident"]:
        row = by_comm[grid_comm[r["grid_id"]]]
        row["独居老人"] += r["elderly_alone"]
        row["党员"] += r["party_member"]
    for f in town["facility"]:
        by_comm[f["community_id"]]["设施"] += 1
    for cam in town["camera"]:
        if cam["grid_id"]:
            by_comm[grid_comm[cam["grid_id"]]]["监控"] += 1
    for t in town["ticket"]:
        by_comm[t["community_id"]]["工单"] += 1
        by_comm[t["community_id"]]["在办"] += workflow.is_open(t["state"])
    rows = list(by_comm.values())
    total = {k: (sum(r[k] for r in rows) if isinstance(v, int) else "") for k, v in rows[0].items()}
    total["社区"] = "合计"
    return rows + [total]


def format_table(rows: list[dict]) -> str:
    """A plain-text table (wide characters counted double) for the terminal."""
    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    keys = list(rows[0])
    cols = {k: max(width(str(k)), *(width(str(r[k])) for r in rows)) for k in keys}
    def line(vals):
        return "  ".join(str(v) + " " * (cols[k] - width(str(v))) for k, v in zip(keys, vals))
    out = [line(keys), line(["-" * cols[k] for k in keys])]
    out += [line([r[k] for k in keys]) for r in rows]
    return "\n".join(out)


def ensure_database(url: str | None = None, progress=None, **options):
    """The app's first start: open the database, building the demo town into it when it is empty.

    ``options`` go to ``generate`` (tests build smaller towns). The store only
    opens, checks and fills; what a first start fills in is decided here.
    """
    from geo.db import store

    return store.ensure_database(url, build=lambda prog: generate(progress=prog, **options), progress=progress)


def main(argv: list[str] | None = None) -> int:
    from geo.db import store

    ap = argparse.ArgumentParser(prog="python -m geo.demo", description="Build the demo town (社区治理一张图)")
    ap.add_argument("--scale", choices=list(STREETS), default="street",
                    help="one street (default), a district of 20 streets, or a city of 265 (streamed: see --stream)")
    ap.add_argument("--seed", type=int, default=settings.DEMO_SEED)
    ap.add_argument("--output", help="database URL or SQLite file path (default: DATABASE_URL or data/shequ.db)")
    ap.add_argument("--now", help="the demo's 'now' as YYYY-MM-DD (default: today; a resumed build: its own)")
    ap.add_argument("--force", action="store_true", help="replace an existing SQLite file")
    ap.add_argument("--dry-run", action="store_true", help="generate and print the summary only (street, district)")
    ap.add_argument("--stream", action="store_true",
                    help="write street by street in bounded memory, resumable (always for --scale city)")
    ap.add_argument("--streets", type=int, help="how many streets instead of the scale's 1, 20 or 265")
    ap.add_argument("--communities", type=int, default=8, help="communities per street (default 8)")
    ap.add_argument("--tickets-per-street", type=int,
                    help="tickets a street reports in a year (default 3,000; city 3,800: ~1 M a year)")
    args = ap.parse_args(argv)
    now = datetime.fromisoformat(args.now).replace(hour=9) if args.now else None
    streamed = args.stream or args.scale == "city"
    options = dict(seed=args.seed, scale=args.scale, streets=args.streets, communities=args.communities,
                   tickets_per_street=args.tickets_per_street)
    t0 = time.perf_counter()
    if args.dry_run:
        if streamed:
            print("--dry-run 只用于街道和区县规模：城市放不进内存，请用 --output 指向一个空的 PostGIS 库。/ "
                  "--dry-run is for a street or a district: a city does not fit in memory; give --output an "
                  "empty PostGIS database.", file=sys.stderr)
            return 2
        town = generate(now=now, **options)
    else:
        url = args.output or settings.database_url()
        if "://" not in url:
            url = f"sqlite:///{url}"
        held = migrate.kind(store.make_engine(url))
        if held == migrate.REAL:  # a street's own data: never replaced by the demo, --force or not
            print(f"{url} 存有街道自己的数据，演示数据从不写在它上面；请换一个空库。/ {url} holds a street's own data; "
                  f"the demo town is never written over it.", file=sys.stderr)
            return 1
        if url.startswith("sqlite:///") and args.force:
            from pathlib import Path
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            held = None
        engine = store.make_engine(url)
        if streamed:
            return _stream(engine, url, held, now, t0, **options)
        if held is not None or store.meta(engine):  # never write a second town over a first one
            print(f"{url} 已有一个小镇：演示 SQLite 文件可加 --force 重建，PostGIS 请给一个空库"
                  f"（未建完的流式城市加 --stream 继续）。/ {url} already holds a town. Use --force to rebuild a demo "
                  f"SQLite file, or give an empty PostGIS database (a half-built streamed town: --stream resumes it).",
                  file=sys.stderr)
            return 1

        def progress(frac: float, label: str) -> None:
            print(f"\r[{frac * 100:5.1f}%] {label:<24}", end="", file=sys.stderr, flush=True)

        town = generate(now=now, progress=progress, **options)
        store.load_town(engine, town, progress)
        print(file=sys.stderr)
    print(format_table(summary(town)))
    print()
    for feature, figures in people.summary(town, now or default_now()).items():
        print(f"{feature}：" + "，".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in figures.items()))
    print(f"\n{sum(len(v) for v in town.values()):,} rows in {time.perf_counter() - t0:.1f} s")
    return 0


def _stream(engine, url: str, held: str | None, now: datetime | None, t0: float, *, seed: int, scale: str,
            streets: int | None, communities: int, tickets_per_street: int | None) -> int:
    """``main`` for a streamed build (geo.demo.stream): a line per street, resuming a half-built one."""
    from geo.db import store

    saved = stream.saved_plan(engine)
    if held is not None or (saved is None and store.meta(engine)):
        print(f"{url} 已有一个小镇：演示 SQLite 文件可加 --force 重建，PostGIS 请给一个空库。/ {url} already holds a "
              f"town. Use --force to rebuild a demo SQLite file, or give an empty PostGIS database.", file=sys.stderr)
        return 1
    plan = stream.Plan(seed=seed, now=now or (saved.now if saved else default_now()),
                       streets=street_count(scale, streets), communities=communities,
                       tickets=TICKETS_PER_STREET[scale] if tickets_per_street is None else tickets_per_street)
    if saved:
        print(f"继续建未完成的演示小镇（{saved.streets} 个街道）/ resuming a half-built demo town", file=sys.stderr)
    started = time.perf_counter()
    done = 0

    def line(d: stream.StreetDone) -> None:
        nonlocal done
        done += d.written
        spent = time.perf_counter() - started
        left = spent / done * (d.streets - done) if done else 0.0
        what = "写入 written" if d.written else "已生成，最后写入 built, written last"
        print(f"街道 street {d.index + 1}/{d.streets} {what}：{d.rows:,} 行 rows，{d.rows_per_s:,.0f} 行/秒 rows/s"
              f"（生成 build {d.build_s:.1f} s，写入 write {d.write_s:.1f} s），峰值内存 peak RSS "
              f"{stream.peak_rss_mb():,.0f} MB，已用 elapsed {spent / 60:.1f} min，预计剩余 left ~{left / 60:.0f} min",
              file=sys.stderr, flush=True)

    try:
        rows = stream.build(engine, plan, report=line)
    except stream.PlanMismatch as exc:
        print(exc, file=sys.stderr)
        return 1
    counts = store.counts(engine)
    print("，".join(f"{name} {counts[name]:,}" for name in
                   ("street", "community", "grid", "building", "household", "resident", "person", "ticket",
                    "ticket_event")))
    print(f"\n{rows:,} rows in {time.perf_counter() - t0:.1f} s, peak RSS {stream.peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
