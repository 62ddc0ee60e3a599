"""The streamed demo town (geo.demo.stream): the same database as the in-memory one, resumable after a kill."""
from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import datetime

import pytest
import shapely
from sqlalchemy import select

from conftest import _fresh_postgis_schema
from geo.db import migrate, schema, store
from geo.demo import generator, stream

NOW = datetime(2026, 11, 23, 9)
PLAN = stream.Plan(seed=20260101, now=NOW, streets=3, communities=2, tickets=60)
#: Rows written without an id get theirs from the database's serial, in the order of writing.
SERIAL_ONLY = {"care_link", "visit", "volunteer_attendance", "time_account", "council_ticket"}


def fingerprint(engine) -> dict[str, tuple[int, str]]:
    """Per table: row count and a hash of every row (demo password hashes left out: random salts)."""
    models = {m.__tablename__: m for m in schema.Base.__subclasses__()}
    out = {}
    with engine.connect() as conn:
        for name in store.TOWN_ORDER:
            table = models[name].__table__
            skip = {"password_hash"} | ({"id"} if name in SERIAL_ONLY else set())
            cols = [c for c in table.c if c.name not in skip]
            rows = sorted(repr(tuple(shapely.to_wkb(v, hex=True) if isinstance(v, shapely.Geometry) else v
                                     for v in r)) for r in conn.execute(select(*cols)))
            out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
    return out


def ticket_codes(engine) -> str:
    with engine.connect() as conn:
        codes = conn.execute(select(schema.Ticket.code).order_by(schema.Ticket.id)).scalars().all()
    return hashlib.sha256(",".join(codes).encode()).hexdigest()


@contextlib.contextmanager
def second_database(database_url, tmp_path):
    """Another empty database of the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/other.db"
    else:
        with _fresh_postgis_schema() as url:
            yield url


@pytest.fixture(scope="module")
def generated():
    """The same town made whole in memory (the reference)."""
    return generator.generate(seed=PLAN.seed, now=NOW, streets=PLAN.streets, communities=PLAN.communities,
                              tickets_per_street=PLAN.tickets)


def test_the_streamed_town_is_the_generated_town(database_url, tmp_path, generated):
    engine = store.make_engine(database_url)
    seen = []
    written = stream.build(engine, PLAN, report=seen.append)
    assert [(d.index, d.written) for d in seen] == [(0, False), (1, True), (2, True), (0, True)]
    assert written == sum(len(rows) for rows in generated.values())
    assert migrate.state(engine) == "current" and migrate.kind(engine) == migrate.DEMO
    with engine.connect() as conn:
        assert store.meta_value(conn, stream.STATE_KEY) is None  # done: no progress record left
    with second_database(database_url, tmp_path) as other:
        ref = store.make_engine(other)
        store.load_town(ref, generated)
        assert fingerprint(engine) == fingerprint(ref)
        ref.dispose()
    assert store.counts(engine)["street"] == 3
    engine.dispose()


def kill_at_street(monkeypatch, engine, index: int):
    """Stream PLAN into ``engine`` and die while building street ``index`` (0-based); the real builder
    is put back afterwards."""
    real = stream.build_street

    def dies(s, *args, **kw):
        if s == index:
            raise Killed(f"killed while building street {index + 1}")
        return real(s, *args, **kw)

    monkeypatch.setattr(stream, "build_street", dies)
    with pytest.raises(Killed):
        stream.build(engine, PLAN)
    monkeypatch.setattr(stream, "build_street", real)


class Killed(RuntimeError):
    pass


def test_a_build_killed_after_a_street_resumes_to_the_same_database(database_url, tmp_path, monkeypatch):
    with second_database(database_url, tmp_path) as other:  # the run nobody stopped
        whole = store.make_engine(other)
        stream.build(whole, PLAN)
        expected, expected_codes = fingerprint(whole), ticket_codes(whole)
        whole.dispose()

    engine = store.make_engine(database_url)
    kill_at_street(monkeypatch, engine, 2)
    # street 2 of 3 is in, the first street (written last) is not, and the app sees no town yet
    assert migrate.state(engine) == "empty"
    assert store.counts(engine)["street"] == 1
    with engine.connect() as conn:
        assert json.loads(store.meta_value(conn, stream.STATE_KEY))["done"] == 2
    assert stream.saved_plan(engine) == PLAN

    seen = []
    stream.build(engine, PLAN, report=seen.append)
    assert [d.index for d in seen if d.written] == [2, 0]  # went on with street 3, then the first one
    assert ticket_codes(engine) == expected_codes
    assert fingerprint(engine) == expected
    engine.dispose()


def test_a_street_that_fails_half_written_leaves_nothing_of_it(database_url, monkeypatch):
    """A failure inside a street's transaction (its tickets refused) rolls the whole street back."""
    engine = store.make_engine(database_url)
    real_write = store.write_town
    calls = []

    def fails_on_second_street(conn, town):
        calls.append(1)
        if len(calls) == 2:  # street 3: its streets, grids, residents … go in, then its tickets fail
            real_write(conn, {k: v for k, v in town.items() if k not in ("ticket", "ticket_event")})
            raise Killed("the database refused the tickets")
        return real_write(conn, town)

    monkeypatch.setattr(store, "write_town", fails_on_second_street)
    with pytest.raises(Killed):
        stream.build(engine, PLAN)
    counts = store.counts(engine)
    assert counts["street"] == 1 and counts["resident"] > 0
    with engine.connect() as conn:
        assert json.loads(store.meta_value(conn, stream.STATE_KEY))["done"] == 2
    monkeypatch.setattr(store, "write_town", real_write)
    stream.build(engine, PLAN)
    assert store.counts(engine)["street"] == 3
    engine.dispose()


def test_another_town_is_not_streamed_into_a_half_built_one(tmp_path, monkeypatch):
    engine = store.make_engine(f"sqlite:///{tmp_path}/half.db")
    kill_at_street(monkeypatch, engine, 1)
    with pytest.raises(stream.PlanMismatch, match="未建完"):
        stream.build(engine, stream.Plan(seed=7, now=NOW, streets=3, communities=2, tickets=60))
    assert stream.saved_plan(engine) == PLAN  # the half-built town is left as it was, to be resumed
    engine.dispose()


def test_the_command_streams_a_city_with_a_line_per_street(tmp_path, capsys):
    path = tmp_path / "city.db"
    argv = ["--scale", "city", "--streets", "3", "--communities", "1", "--tickets-per-street", "20",
            "--now", "2026-11-23", "--output", str(path)]
    assert generator.main(argv) == 0
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.startswith("街道 street")]
    assert [ln.split()[2] for ln in lines] == ["1/3", "2/3", "3/3", "1/3"]
    assert all("行/秒 rows/s" in ln and "峰值内存 peak RSS" in ln for ln in lines)
    assert "street 3" in out
    engine = store.make_engine(f"sqlite:///{path}")
    assert migrate.kind(engine) == migrate.DEMO and store.counts(engine)["street"] == 3
    engine.dispose()
    assert generator.main(argv) == 1  # a town is there: never a second one over it
    assert "已有一个小镇" in capsys.readouterr().err
    assert generator.main(["--scale", "city", "--dry-run"]) == 2  # a city never in memory


def test_the_command_never_streams_over_a_streets_own_data(tmp_path, capsys):
    path = tmp_path / "real.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store.load_town(engine, generator.generate(now=NOW, communities=1, tickets_per_street=0), kind=migrate.REAL)
    before = store.counts(engine)
    engine.dispose()
    argv = ["--scale", "city", "--streets", "2", "--communities", "1", "--output", str(path), "--force"]
    assert generator.main(argv) == 1
    assert "街道自己的数据" in capsys.readouterr().err
    engine = store.make_engine(f"sqlite:///{path}")
    assert store.counts(engine) == before
    engine.dispose()


def test_the_app_does_not_build_over_a_half_streamed_town(tmp_path, monkeypatch):
    """A first start on a database whose streamed build stopped says how to finish it; nothing is touched."""
    url = f"sqlite:///{tmp_path}/half.db"
    engine = store.make_engine(url)
    kill_at_street(monkeypatch, engine, 2)
    before = store.counts(engine)
    engine.dispose()
    with pytest.raises(store.StorageError) as err:
        store.ensure_database(url, build=lambda progress: pytest.fail("built over a half-built town"))
    assert err.value.key == "half_built"
    assert "未建完" in err.value.message("zh") and "--stream" in err.value.message("zh")
    engine = store.make_engine(url)
    assert store.counts(engine) == before and store.counts(engine)["street"] == 1
    engine.dispose()
