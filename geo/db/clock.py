"""Housekeeping that runs once per period for the whole deployment, however many app servers share the database.

Each Streamlit session used to run the minute's work (escalations, warnings, due reports) itself, and
each server kept its own "last run" in memory: with N sessions on M servers the work was done up to N
times a minute. ``claim`` decides who does it, in the database every server shares: a row of the
``meta`` key/value table (no schema change), key ``clock:<name>``, holds the start of the last period
claimed; a compare-and-set moves it to the current period, and the one caller whose UPDATE changed
the row does the work. On PostgreSQL a second UPDATE waits for the first's row lock and then finds
the condition false (READ COMMITTED re-reads the row); SQLite has one writer at a time. The first
claim ever inserts the row; a second insert of the same key fails and loses.

Periods are counted from a fixed start (2000-01-01 00:00) in the street's local time (geo.settings.now,
naive), so every server agrees which minute it is (up to their clocks' drift: a server a second behind loses to one a second
ahead, which is what we want). A stored period far in the future (a clock that was set back, a
database copied from a test) is taken over rather than waited for.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from geo.db.schema import Meta

PREFIX = "clock:"
MINUTE = timedelta(minutes=1)
#: A stored period further ahead than this is a clock set back, not another server's claim.
FAR_AHEAD = timedelta(hours=1)
_FMT = "%Y-%m-%dT%H:%M:%S"  # fixed width: the strings compare in time order
_EPOCH = datetime(2000, 1, 1)


def period(now: datetime, every: timedelta = MINUTE) -> datetime:
    """The start of the period of length ``every`` that holds ``now`` (whole minutes from a fixed start)."""
    if every < MINUTE or every % MINUTE:
        raise ValueError("a clock's period is a whole number of minutes")
    return _EPOCH + (now.replace(tzinfo=None) - _EPOCH) // every * every


def claim(engine: Engine, name: str, now: datetime, *, every: timedelta = MINUTE) -> bool:
    """True for exactly one caller per period of ``every`` across every process on this database.

    A cheap read first (most callers find the period taken and write nothing), then the
    compare-and-set. The winner should do the work; a failure in it is simply tried again
    next period (the claim is not given back: the work is idempotent and runs again soon).
    """
    key, slot = PREFIX + name, period(now, every)
    value, far = slot.strftime(_FMT), (slot + FAR_AHEAD).strftime(_FMT)
    if len(key) > Meta.key.type.length:
        raise ValueError(f"clock name too long: {name!r}")
    taken = or_(Meta.value < value, Meta.value > far)
    with engine.connect() as conn:
        stored = conn.execute(select(Meta.value).where(Meta.key == key)).scalar()
    if stored is not None and value <= stored <= far:
        return False  # the common case: another session or server has this period already
    try:
        with engine.begin() as conn:
            if stored is None:
                conn.execute(insert(Meta), [{"key": key, "value": value}])
                return True
            return conn.execute(update(Meta).where(Meta.key == key, taken).values(value=value)).rowcount == 1
    except IntegrityError:  # another server inserted the row first: its claim
        return False


def last(engine: Engine, name: str) -> datetime | None:
    """The start of the last period claimed under ``name`` (None: never)."""
    with engine.connect() as conn:
        stored = conn.execute(select(Meta.value).where(Meta.key == PREFIX + name)).scalar()
    return datetime.strptime(stored, _FMT) if stored else None
