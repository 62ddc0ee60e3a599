"""The deployment's clock (geo.db.clock) and the database's change marks (geo.access.audit.data_version),
on both backends: what lets several app servers on one database behave as one (issue 15, item 5).

Two "servers" are two engines (two connection pools) on the same database, as two processes would be.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from geo.access import audit
from geo.db import clock, store
from geo.db.schema import Meta, TicketEvent
from geo.tickets import service as ts, warnings
from geo.web import housekeeping

NINE = datetime(2026, 11, 23, 9, 0, 10)


@pytest.fixture
def servers(database_url):
    """Two engines on one empty database with the tables made."""
    a, b = store.make_engine(database_url), store.make_engine(database_url)
    store.create_schema(a)
    yield a, b
    a.dispose()
    b.dispose()


def test_one_server_wins_each_minute(servers):
    a, b = servers
    assert clock.claim(a, "minute", NINE)  # the first claim ever inserts the row
    assert not clock.claim(b, "minute", NINE + timedelta(seconds=30))  # same minute, other server
    assert not clock.claim(a, "minute", NINE + timedelta(seconds=49))  # same minute, same server
    assert clock.claim(b, "minute", NINE + timedelta(seconds=55))  # 09:01:05: the next minute, whoever asks first
    assert not clock.claim(a, "minute", NINE + timedelta(seconds=56))
    assert clock.last(a, "minute") == datetime(2026, 11, 23, 9, 1)
    assert not clock.claim(a, "minute", NINE - timedelta(minutes=1))  # a server whose clock is behind: not again
    assert clock.claim(a, "warnings", NINE, every=timedelta(minutes=10))  # another clock, its own row
    assert not clock.claim(b, "warnings", NINE + timedelta(minutes=9), every=timedelta(minutes=10))
    assert clock.claim(b, "warnings", NINE + timedelta(minutes=10), every=timedelta(minutes=10))


def test_a_clock_set_back_takes_the_row_over(servers):
    a, b = servers
    assert clock.claim(a, "minute", datetime(2031, 1, 1, 8))  # a test date, or a server clock years ahead
    assert clock.claim(b, "minute", NINE)  # not waited for until 2031
    assert not clock.claim(a, "minute", NINE)


def test_many_sessions_at_once_one_wins(servers, database_url):
    """Eight sessions on their own connections ask in the same instant, for two minutes running."""
    engines = [store.make_engine(database_url) for _ in range(8)]
    try:
        for minute in range(2):
            start, won, errors = threading.Barrier(len(engines)), [], []

            def ask(eng):
                start.wait()
                try:
                    won.append(clock.claim(eng, "minute", NINE + timedelta(minutes=minute)))
                except Exception as exc:  # noqa: BLE001 - collected and shown below
                    errors.append(exc)

            threads = [threading.Thread(target=ask, args=(eng,)) for eng in engines]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            assert not errors, errors
            assert sorted(won) == [False] * 7 + [True], f"minute {minute}"
    finally:
        for eng in engines:
            eng.dispose()


def test_period_counts_whole_minutes():
    assert clock.period(datetime(2026, 11, 23, 9, 17, 59, 999)) == datetime(2026, 11, 23, 9, 17)
    assert clock.period(datetime(2026, 11, 23, 9, 17), timedelta(minutes=10)) == datetime(2026, 11, 23, 9, 10)
    with pytest.raises(ValueError):
        clock.period(NINE, timedelta(seconds=30))


def _overdue_ticket(engine, small_town, now):
    p = small_town["grid"][3]["geom"].representative_point()
    return ts.report(engine, category="sanitation", description="污水外溢", lon=p.x, lat=p.y, now=now)


def test_the_minute_runs_once_for_two_servers_and_escalates_once(engine, small_town, database_url):
    monday = datetime(2026, 11, 23, 9)
    t = _overdue_ticket(engine, small_town, monday)
    other = store.make_engine(database_url)
    try:
        due = t["step_due_at"] + timedelta(seconds=20)
        moved = housekeeping.run_minute(engine, due)
        assert moved is not None and t["id"] in moved
        assert housekeeping.run_minute(other, due + timedelta(seconds=10)) is None  # the other server: nothing
        assert housekeeping.run_minute(other, due + timedelta(minutes=1)) == []  # its minute: nothing more due
        with engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(TicketEvent).where(
                TicketEvent.ticket_id == t["id"], TicketEvent.action == "escalate")).scalar()
        assert n == 1
    finally:
        other.dispose()


def test_warnings_are_detected_once_per_ten_minutes_whichever_server_asks(engine, database_url):
    other = store.make_engine(database_url)
    try:
        assert warnings.refresh_if_due(engine, NINE) is not None
        assert warnings.refresh_if_due(other, NINE + timedelta(minutes=3)) is None
        assert warnings.refresh_if_due(other, NINE + timedelta(minutes=10)) is not None
    finally:
        other.dispose()


def test_the_data_version_moves_with_changes_only(engine, small_town):
    before = audit.data_version(engine)
    assert audit.data_version(engine) == before  # nothing happened: the same marks, the caches hold
    audit.record(engine, at=NINE, username="gridhead1", action="auth.login")
    audit.record(engine, at=NINE, username="gridhead1", action="household.reveal", object_id=1)
    assert audit.data_version(engine) == before  # signing in and reading change nothing a page draws
    _overdue_ticket(engine, small_town, NINE)  # a report: audited as ticket.report
    after = audit.data_version(engine)
    assert after.data != before.data and after.layout == before.layout
    audit.record(engine, at=NINE, username="leader", action="grid.boundary", object_id=1)
    cut = audit.data_version(engine)
    assert cut.data != after.data and cut.layout != after.layout


def test_a_change_that_commits_late_still_moves_the_version(postgis_url):
    """PostgreSQL hands out ids at insert: a change may commit after a newer one. The count catches it.
    (SQLite has one writer at a time: its commits come in id order.)"""
    a, b = store.make_engine(postgis_url), store.make_engine(postgis_url)
    store.create_schema(a)
    audit.record(a, at=NINE, username="x", action="ticket.report")
    with a.connect() as slow:
        tx = slow.begin()
        audit.record(slow, at=NINE, username="x", action="visit.create")  # written, not yet committed
        audit.record(b, at=NINE, username="y", action="ticket.accept")  # newer id, committed first
        seen = audit.data_version(b)
        tx.commit()
    assert audit.data_version(b) != seen
    with a.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Meta)).scalar() == 0  # no writes of its own
    a.dispose()
    b.dispose()
