"""The demo town streamed into a database street by street: a city in the memory of a street or two, resumable.

``generator.generate`` holds the whole town in memory (about 110 MB a street: a
district 2.2 GB, a city of 265 streets ~27 GB) and ``store.load_town`` writes it
in one transaction. Here each street is built alone (``build_street``:
its own random stream), written in its own transaction (COPY on PostGIS,
executemany on SQLite) and dropped. What ``generate`` makes after all streets
comes out the same:

- the visits of every street are drawn street by street from one random stream
  carried across the streets (``accounts.visits``);
- the demo logins and the people around the grid (``accounts.logins``,
  ``people.fill``) are the first street's: that street is built first (its ids
  come first) but kept in memory and written last, with them, because they
  change some of its rows and number theirs after every street's tickets.

So the database holds what ``store.load_town(engine, generate(...))`` writes, row
for row, except the serial ids of rows that come without one (care links,
attendance, visits), which follow the order of writing.

Resumable: each street's transaction also records in ``meta`` (``demo.stream``)
the town's parameters, how many streets are written, the id counters and the
visits' random state. A run after a kill (or a failure) rebuilds the first street
in memory, takes those back and goes on with the next street: the same database
as a run that was never stopped. Until the last transaction writes ``built`` the
database counts as empty to the app (geo.db.migrate.state).
"""
from __future__ import annotations

import functools
import json
import math
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
from pyproj import Transformer
from sqlalchemy import Engine

from geo import settings
from geo.db import store
from geo.demo import accounts, people, simulate, street

#: The ``meta`` key holding a streamed build's progress (removed when the town is complete).
STATE_KEY = store.HALF_BUILT


@dataclass(frozen=True)
class Plan:
    """What town is being built: a resumed run must build the same one."""

    seed: int
    now: datetime
    streets: int
    communities: int = 8
    tickets: int = 3000

    def as_json(self) -> dict:
        return {**asdict(self), "now": self.now.isoformat()}

    @classmethod
    def from_json(cls, d: dict) -> Plan:
        return cls(**{**d, "now": datetime.fromisoformat(d["now"])})


@dataclass(frozen=True)
class StreetDone:
    """One street's figures, for the progress line."""

    index: int  # 0-based; the first street is built first and written last
    streets: int
    rows: int
    build_s: float
    write_s: float
    written: bool  # False for the first street until the end (kept in memory)

    @property
    def rows_per_s(self) -> float:
        return self.rows / max(self.build_s + self.write_s, 1e-9)


class PlanMismatch(RuntimeError):
    """The database holds part of a different town (other seed, size or day)."""

    def __init__(self, saved: Plan, wanted: Plan) -> None:
        self.saved, self.wanted = saved, wanted
        super().__init__(
            f"数据库里有一个未建完的演示城市（{saved.streets} 个街道，种子 {saved.seed}，日期 {saved.now:%Y-%m-%d}），"
            f"与本次参数不同；请用相同参数继续建完，或换一个空库。/ The database holds part of another demo town "
            f"({saved.streets} streets, seed {saved.seed}, {saved.now:%Y-%m-%d}); resume it with the same options "
            f"or use an empty database.")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def saved_plan(engine: Engine) -> Plan | None:
    """The plan of a streamed build left unfinished in ``engine``'s database, if any."""
    with engine.connect() as conn:
        raw = store.meta_value(conn, STATE_KEY)
    return Plan.from_json(json.loads(raw)["plan"]) if raw else None


def build(engine: Engine, plan: Plan, *, report: Callable[[StreetDone], None] | None = None) -> int:
    """Build the town of ``plan`` into ``engine``'s database street by street, going on from where an
    earlier run stopped; returns the rows written by this run. Raises PlanMismatch when the database
    holds part of another town."""
    store.create_schema(engine)
    with engine.connect() as conn:
        raw = store.meta_value(conn, STATE_KEY)
    saved = json.loads(raw) if raw else None
    if saved and Plan.from_json(saved["plan"]) != plan:
        raise PlanMismatch(Plan.from_json(saved["plan"]), plan)
    ids = street.Ids()
    visit_rng = np.random.default_rng([plan.seed, 5])
    t0 = time.perf_counter()
    first = _street(0, plan, ids)
    accounts.visits(first, visit_rng, plan.now)
    first_s = time.perf_counter() - t0
    if report:
        report(StreetDone(0, plan.streets, _rows(first), first_s, 0.0, written=False))
    if saved:
        ids.next = dict(saved["ids"])
        visit_rng.bit_generator.state = saved["visit_rng"]
        start = saved["done"]
    else:
        start = 1
        with engine.begin() as conn:
            _record(conn, plan, start, ids, visit_rng)
    written = 0
    for s in range(start, plan.streets):
        t0 = time.perf_counter()
        town = _street(s, plan, ids)
        accounts.visits(town, visit_rng, plan.now)
        plain(town)
        t1 = time.perf_counter()
        with engine.begin() as conn:  # the street and the record that it is done: together or not at all
            n = store.write_town(conn, town)
            _record(conn, plan, s + 1, ids, visit_rng)
        del town
        written += n
        if report:
            report(StreetDone(s, plan.streets, n, t1 - t0, time.perf_counter() - t1, written=True))
    t0 = time.perf_counter()
    accounts.logins(first, plan.now)
    people.fill(first, ids, plan.seed, plan.now)
    plain(first)
    t1 = time.perf_counter()
    with engine.begin() as conn:
        n = store.write_town(conn, first)
        store.set_meta(conn, STATE_KEY, None)
        store.finish_town(conn)
    written += n
    if report:
        report(StreetDone(0, plan.streets, n, first_s + t1 - t0, time.perf_counter() - t1, written=True))
    return written


def build_street(s: int, n_streets: int, ids: street.Ids, *, seed: int, now: datetime, communities: int,
                 tickets: int) -> street.Town:
    """Street ``s`` of ``n_streets`` with its year of tickets: its rows per table, numbered by ``ids``.

    A street needs nothing of the others (its own random stream ``[seed, s]``), so
    it can be built alone: the streamed city builds one at a time, and any street
    comes out the same as in the whole town as long as ``ids`` has counted the
    streets before it.
    """
    rng = np.random.default_rng([seed, s])
    town: street.Town = {}
    sb = street.StreetBuilder(rng, ids, town, index=s, offset=street_offset(s, n_streets), now=now,
                              to_lonlat=_to_lonlat())
    sb.mark_start()
    sb.build(communities)
    simulate.TicketSimulator(rng, ids, town, sb, now).run(tickets)
    return town


def street_offset(s: int, n_streets: int) -> tuple[float, float]:
    """Where street ``s`` lies (metric CRS): streets side by side in rows, 3.6 km apart east–west and
    3.2 km north–south; five to a row up to 25 streets (a district), a square-ish block beyond."""
    x0, y0 = _metric_origin()
    cols = max(5, math.ceil(math.sqrt(n_streets)))
    return x0 + (s % cols) * 3600.0, y0 - (s // cols) * 3200.0


@functools.cache
def _metric_origin() -> tuple[float, float]:
    return Transformer.from_crs(settings.STORAGE_CRS, settings.METRIC_CRS, always_xy=True
                                ).transform(*street.ORIGIN_LONLAT)


@functools.cache
def _to_lonlat() -> Transformer:
    return Transformer.from_crs(settings.METRIC_CRS, settings.STORAGE_CRS, always_xy=True)


def plain(town: street.Town) -> street.Town:
    """numpy scalars → Python values, so every database driver takes the rows."""
    for rows in town.values():
        for row in rows:
            for k, v in row.items():
                if isinstance(v, np.generic):
                    row[k] = v.item()
    return town


def _street(s: int, plan: Plan, ids: street.Ids) -> street.Town:
    return build_street(s, plan.streets, ids, seed=plan.seed, now=plan.now,
                                  communities=plan.communities, tickets=plan.tickets)


def _rows(town: street.Town) -> int:
    return sum(len(rows) for rows in town.values())


def _record(conn, plan: Plan, done: int, ids: street.Ids, rng: np.random.Generator) -> None:
    """How far the build got: the next street to write, the id counters after the last one written and
    the visits' random state (in the transaction of the street it follows)."""
    store.set_meta(conn, STATE_KEY, json.dumps(dict(plan=plan.as_json(), done=done, ids=ids.next,
                                                    visit_rng=rng.bit_generator.state)))
