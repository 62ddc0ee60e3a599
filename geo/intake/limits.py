"""Rate limits for the residents' doors: posts counted per API key, per address and per phone.

Fixed windows in the database (``intake_counter``), so every API process and every
dashboard server counts the same posts and a restart forgets nothing. ``hit`` adds one
post and returns the new count in one statement (an upsert: ``INSERT … ON CONFLICT DO
UPDATE … RETURNING``, atomic on SQLite and PostgreSQL), so however many posts arrive at
once, no more than the limit are let through. A post is counted before it is checked
further: a refused or failed post still counts (a guesser cannot go round the limit by
sending bad posts).

Limits (``POLICIES``; a city may change them):

- an API key: its own ``per_minute`` (geo.intake.keys), one-minute windows;
- the phone page, per address: a simple challenge from the ``CHALLENGE_AFTER``-th post
  in an hour, refused past ``ADDRESS_PER_HOUR``;
- the phone page, per phone number: refused past ``PHONE_PER_HOUR`` (only the number's
  SHA-256 is stored);
- reading the API, per address: ``READS_PER_MINUTE``.

An address that is not known (a local connection, or a proxy not in
SHEQU_TRUSTED_PROXIES; geo.access.throttle.client_address) has no address bucket:
every visitor would share it, and one could shut the door for all.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete

from geo.db.schema import IntakeCounter


@dataclass(frozen=True)
class Policy:
    limit: int
    window: timedelta


POLICIES: dict[str, Policy] = {
    "phone_addr": Policy(10, timedelta(hours=1)),  # the phone page, per address
    "phone_tel": Policy(5, timedelta(hours=1)),  # the phone page, per phone number
    "read_addr": Policy(600, timedelta(minutes=1)),  # GET requests of the API, per address
}
#: The phone page asks a simple question from this post on, per address (or per browser) and hour.
CHALLENGE_AFTER = 3
KEY_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after_s: int  # seconds until the window ends (0 when allowed)


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = datetime(2000, 1, 1)
    return epoch + timedelta(seconds=int((now - epoch).total_seconds()) // seconds * seconds)


def phone_subject(phone: str) -> str:
    """A phone number as a bucket's subject: its SHA-256 over its digits, never the number."""
    digits = "".join(c for c in phone if c.isdigit())
    return hashlib.sha256(f"phone:{digits}".encode()).hexdigest()


def hit(engine: Engine, kind: str, subject: str, *, now: datetime, limit: int | None = None,
        window: timedelta | None = None) -> Verdict:
    """Count one post of ``subject`` in its current window; allowed while the count is within the limit."""
    policy = POLICIES.get(kind)
    limit = limit if limit is not None else policy.limit
    window = window or (policy.window if policy else KEY_WINDOW)
    start = window_start(now, window)
    with engine.begin() as conn:
        stmt = _insert(conn).values(kind=kind, subject=subject[:64], window_start=start, count=1)
        stmt = stmt.on_conflict_do_update(index_elements=["kind", "subject", "window_start"],
                                          set_={"count": IntakeCounter.count + 1}).returning(IntakeCounter.count)
        count = conn.execute(stmt).scalar_one()
    allowed = count <= limit
    retry = 0 if allowed else max(1, math.ceil((start + window - now).total_seconds()))
    return Verdict(allowed, count, limit, retry)


def count(engine: Engine, kind: str, subject: str, *, now: datetime) -> int:
    """Posts of ``subject`` in the current window, without adding one."""
    from sqlalchemy import select

    policy = POLICIES[kind]
    with engine.connect() as conn:
        return conn.execute(select(IntakeCounter.count).where(
            IntakeCounter.kind == kind, IntakeCounter.subject == subject[:64],
            IntakeCounter.window_start == window_start(now, policy.window))).scalar() or 0


def prune(engine: Engine, *, now: datetime, keep: timedelta = timedelta(days=1)) -> int:
    """Forget windows older than ``keep``; returns how many rows went."""
    with engine.begin() as conn:
        return conn.execute(delete(IntakeCounter).where(IntakeCounter.window_start < now - keep)).rowcount or 0


def _insert(conn):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(IntakeCounter)


# --------------------------------------------------------------------------- the phone page's challenge

@dataclass(frozen=True)
class Challenge:
    """A sum a person answers in a second: 「3 + 4 = ?」."""

    a: int
    b: int

    @property
    def question(self) -> str:
        return f"{self.a} + {self.b} = ?"

    def passed(self, answer) -> bool:
        try:
            return int(str(answer).strip()) == self.a + self.b
        except ValueError:
            return False


def new_challenge() -> Challenge:
    return Challenge(secrets.randbelow(9) + 1, secrets.randbelow(9) + 1)


def needs_challenge(engine: Engine, address: str, *, now: datetime, posts_in_session: int = 0) -> bool:
    """True from the CHALLENGE_AFTER-th post of this address in the hour (or of this browser when the
    address is not known)."""
    seen = count(engine, "phone_addr", address, now=now) if address else 0
    return max(seen, posts_in_session) >= CHALLENGE_AFTER - 1
