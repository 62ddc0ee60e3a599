"""Forty guesses at once against one name, on SQLite and PostGIS (issue 11, item 3).

The right password is sent last, once the budget's worth of checks has begun: a guesser who
sends it after the budget must not get in, however the guesses interleave. Before the fix
(failures read before and written after the check, a hard lock on the name) 39 parallel guesses
were all checked, the right one got in, the racing first failures raised IntegrityError out of
authenticate, and the owner was locked out from everywhere.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from geo.access import audit, auth, roles, throttle, users
from geo.demo import accounts
from geo.db.schema import User as UserRow

from login_attempts import CountingChecks, attempt, burst

NOW = datetime(2026, 11, 23, 9)
PW = accounts.DEMO_PASSWORD
BURST = 40
TARGET = "leader"  # a street leader: the name an attacker wants
ATTACKER = "203.0.113.66"
OWNER_DESK = "198.51.100.10"  # where the leader signed in before
OWNER_NEW = "198.51.100.99"  # a place the leader never signed in from


def budget(kind: str) -> int:
    return throttle.POLICIES[kind].free if hasattr(throttle, "POLICIES") else 5


@pytest.fixture
def checks(engine, monkeypatch):
    """Counts the checks of the target's own password hash (every other check is of dummies)."""
    with engine.connect() as conn:
        stored = conn.execute(select(UserRow.password_hash).where(UserRow.username == TARGET)).scalar_one()
    counting = CountingChecks(auth.verify_password, stored)
    monkeypatch.setattr(auth, "verify_password", counting)
    return counting


def guesses_with_the_right_one_last(engine, checks, addresses: list[str], limit: int) -> list:
    """BURST attempts at once, wrong ones first; the right one waits until ``limit`` checks have begun."""
    passwords = [f"guess-{i:02d}-wrong" for i in range(BURST - 1)] + [PW]
    calls = [lambda pw=pw, at=at: attempt(engine, TARGET, pw, at, now=NOW) for pw, at in zip(passwords, addresses)]
    return burst(calls, before=lambda i: checks.wait_for(limit) if i == BURST - 1 else None)


def test_forty_guesses_from_one_address_check_only_the_budget_and_leave_the_owner_alone(engine, checks):
    results = guesses_with_the_right_one_last(engine, checks, [ATTACKER] * BURST, budget("pair"))
    # every answer is a refusal people can read: nothing else (IntegrityError) escaped, nobody got in
    assert all(isinstance(r, users.LoginError) for r in results), [type(r).__name__ for r in results]
    assert len(checks.of_stored) <= budget("pair"), f"{len(checks.of_stored)} passwords checked"
    assert PW not in checks.of_stored and isinstance(results[-1], users.LockedOutError)
    checked = len(checks.of_stored)
    assert sum(isinstance(r, users.LockedOutError) for r in results) == BURST - checked
    # the owner elsewhere: at their usual desk, and even at an address never used before
    assert attempt(engine, TARGET, PW, OWNER_NEW, now=NOW).username == TARGET
    assert attempt(engine, TARGET, PW, OWNER_DESK, now=NOW).username == TARGET
    paused = audit.read(engine, scope=roles.WHOLE_STREET, username=TARGET, action_prefix="auth.locked")
    assert len(paused) == 1 and ATTACKER in paused["detail"].iloc[0] and "30 秒" in paused["detail"].iloc[0]
    failed = audit.read(engine, scope=roles.WHOLE_STREET, username=TARGET, action_prefix="auth.fail")
    assert len(failed) == checked  # every checked guess audited, with its address
    assert set(failed["detail"].str.contains(ATTACKER)) == {True}


def test_forty_guesses_from_forty_addresses_check_only_the_name_budget_and_the_owner_at_their_desk_gets_in(
        engine, checks):
    assert attempt(engine, TARGET, PW, OWNER_DESK, now=NOW).username == TARGET  # yesterday, say
    checks.of_stored.clear()
    spread = [f"203.0.113.{i}" for i in range(1, BURST + 1)]
    results = guesses_with_the_right_one_last(engine, checks, spread, budget("name"))
    assert all(isinstance(r, users.LoginError) for r in results), [type(r).__name__ for r in results]
    assert len(checks.of_stored) <= budget("name"), f"{len(checks.of_stored)} passwords checked"
    assert PW not in checks.of_stored and isinstance(results[-1], users.LockedOutError)
    # from a new address the owner waits too (at most the cap, or until a street leader lifts it) …
    waiting = attempt(engine, TARGET, PW, OWNER_NEW, now=NOW)
    assert isinstance(waiting, users.LockedOutError)
    assert waiting.until <= NOW + throttle.POLICIES["name"].cap
    # … but at the address they use they are not slowed by strangers elsewhere
    assert attempt(engine, TARGET, PW, OWNER_DESK, now=NOW).username == TARGET
