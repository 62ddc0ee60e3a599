"""Load on the Open311 door: N concurrent clients posting tickets to a running api.py for S seconds.

Everything stays on this machine: the demo street in a temporary database (SQLite, or a
PostGIS URL with ``--url``), ``uvicorn api:app`` on a free loopback port, N client threads
(one HTTP session each) posting form-encoded requests at points inside random grids until
the time is up (bounded: the run stops itself). Then it proves, from the database, that
every accepted request was stored exactly once (each returned service_request_id is one
ticket with one intake row, and the key's intake rows are exactly the accepted posts), and
measures how long one more ticket takes to appear in the big screen's figures (the wall's
own ``geo.screen.wall.build``, and the page's refresh on top of it: pages/screen.py caches a
refresh per tick of SHEQU_SCREEN_REFRESH_S, so a wall shows it at its next tick at the latest).

    python -m bench.intake_bench                          # 50 clients, 30 s, SQLite
    python -m bench.intake_bench --clients 50 --seconds 30 --url postgresql+psycopg://…

Prints accepted per second, latency percentiles (P50, P95, P99) and refusals by status.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

from geo import settings
from geo.access.roles import WHOLE_STREET
from geo.db import store
from geo.db.schema import ApiKey, Grid, Ticket, TicketIntake
from geo.demo import generator
from geo.intake import keys
from geo.screen import figures, wall

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # of accepted posts
    statuses: dict[int, int] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    stored: int = 0  # the key's intake rows after the run
    distinct_stored: int = 0  # of the returned codes, how many are exactly one ticket with one intake row
    wall_build_s: float = 0.0  # post → seen by geo.screen.wall.build
    refresh_s: int = 0
    watch_s: int = 0

    @property
    def accepted(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def exactly_once(self) -> bool:
        return self.stored == self.accepted == len(self.codes) == self.distinct_stored == len(set(self.codes))

    def report(self) -> str:
        others = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()) if k != 200) or "none"
        return (f"{self.clients} clients × {self.seconds:.0f} s on loopback: {self.accepted} accepted "
                f"({self.accepted_per_s:.1f}/s), refused/failed: {others}\n"
                f"latency of accepted posts: P50 {self.percentile(50):.0f} ms, P95 {self.percentile(95):.0f} ms, "
                f"P99 {self.percentile(99):.0f} ms\n"
                f"stored exactly once: {self.exactly_once} ({self.stored} intake rows for {self.accepted} accepted, "
                f"{self.distinct_stored} codes found once)\n"
                f"a new ticket in the wall's figures: {self.wall_build_s:.2f} s after its post (wall.build); "
                f"on the page within about {self.watch_s} s (the wall's change watch; the full refresh every "
                f"{self.refresh_s} s)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def api_server(url: str, log_dir: Path):
    """uvicorn api:app on a free loopback port over ``url``; stopped (its process group) afterwards."""
    port = _free_port()
    with open(log_dir / "api.log", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port",
                                 str(port), "--log-level", "warning"], cwd=ROOT, stdout=out, stderr=out,
                                env=dict(os.environ, DATABASE_URL=url), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/openapi.json", timeout=2):
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"api.py exited: {(log_dir / 'api.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def bench_key(engine) -> tuple[int, str]:
    """A key whose own limit is far above the load, so the run measures the door, not the limiter."""
    key = keys.new_key()
    with engine.begin() as conn:
        kid = conn.execute(insert(ApiKey).returning(ApiKey.id), [dict(
            name="load test", key_hash=keys.digest(key), prefix=key[:8], per_minute=keys.MAX_PER_MINUTE * 100,
            created_at=settings.now(), created_by="bench")]).scalar_one()
    return kid, key


def points(engine, n: int = 200, seed: int = 7) -> list[tuple[float, float]]:
    grids = store.read_layer(engine, Grid)
    rng = random.Random(seed)
    return [(p.x, p.y) for p in (grids.geometry.iloc[rng.randrange(len(grids))].representative_point()
                                 for _ in range(n))]


def load(base: str, key: str, spots: list[tuple[float, float]], *, clients: int, seconds: float) -> Result:
    """``clients`` threads posting until ``seconds`` are up; every answer counted."""
    import requests

    result, lock = Result(clients, seconds), threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                lon, lat = spots[rng.randrange(len(spots))]
                began = time.perf_counter()
                try:
                    r = http.post(f"{base}/requests.json", timeout=60, data=dict(
                        api_key=key, service_code="sanitation", lat=f"{lat:.7f}", long=f"{lon:.7f}",
                        description=f"压测 {n}：垃圾桶满了"))
                    status, body = r.status_code, r.json() if r.status_code == 200 else None
                except requests.RequestException:
                    status, body = 0, None
                ms = (time.perf_counter() - began) * 1000
                with lock:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status == 200:
                        result.latencies_ms.append(ms)
                        result.codes.append(body[0]["service_request_id"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return result


def check_stored(engine, result: Result, key_id: int) -> None:
    """Every accepted post is one ticket with one intake row of the key, and nothing else is."""
    with engine.connect() as conn:
        result.stored = conn.execute(select(func.count()).select_from(TicketIntake)
                                     .where(TicketIntake.api_key_id == key_id)).scalar_one()
        found = dict(conn.execute(select(Ticket.code, func.count()).join(TicketIntake, TicketIntake.ticket_id ==
                                                                         Ticket.id)
                                  .where(TicketIntake.api_key_id == key_id).group_by(Ticket.code)).all())
    result.distinct_stored = sum(found.get(c) == 1 for c in set(result.codes))


def time_to_wall(base: str, key: str, engine, spot: tuple[float, float], *, timeout_s: float = 30) -> float:
    """Seconds from posting one ticket until the wall's refresh (wall.build) counts it and lists it in the feed."""
    import requests

    circle = figures.service_circle(engine, WHOLE_STREET)  # the page caches it for 10 min: not part of the wait
    began = time.perf_counter()
    code = requests.post(f"{base}/requests.json", timeout=30, data=dict(
        api_key=key, service_code="water", lat=str(spot[1]), long=str(spot[0]), description="大屏可见性测试：停水")
    ).json()[0]["service_request_id"]
    with engine.connect() as conn:
        tid = conn.execute(select(Ticket.id).where(Ticket.code == code)).scalar_one()
    while time.perf_counter() - began < timeout_s:
        screen = wall.build(engine, settings.now(), WHOLE_STREET, circle=circle)
        if tid in set(screen.frame["id"]) and code in set(screen.feed["code"]):
            return time.perf_counter() - began
        time.sleep(0.05)
    raise TimeoutError(f"{code} did not reach the wall's figures within {timeout_s} s")


def run(url: str, *, clients: int = 50, seconds: float = 30, log_dir: Path | None = None) -> Result:
    """The whole benchmark over an existing database at ``url`` (with a street loaded)."""
    engine = store.make_engine(url)
    key_id, key = bench_key(engine)
    spots = points(engine)
    with tempfile.TemporaryDirectory() as tmp, api_server(url, log_dir or Path(tmp)) as base:
        result = load(base, key, spots, clients=clients, seconds=seconds)
        check_stored(engine, result, key_id)
        result.wall_build_s = time_to_wall(base, key, engine, spots[0])
    result.refresh_s, result.watch_s = figures.REFRESH_S, figures.WATCH_S
    engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--url", help="an empty PostGIS database (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 200 and 1 <= args.seconds <= 120):
        parser.error("at most 200 clients and 120 s: this is a bounded test on loopback")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        store.load_town(store.make_engine(url), generator.generate(tickets_per_street=3000))
        print(run(url, clients=args.clients, seconds=args.seconds, log_dir=Path(tmp)).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
