"""Lifting a sign-in wait (issue 11, item 3): street leaders only, audited, on SQLite and PostGIS.

Before the fix nobody could lift a lock: a leader kept out by guesses elsewhere waited it out
(and the guesser could renew it every five minutes).
"""
from __future__ import annotations

from datetime import datetime

import pytest

from geo.access import audit, auth, roles, throttle, users
from geo.demo import accounts

from login_attempts import attempt

NOW = datetime(2026, 11, 23, 9)
PW = accounts.DEMO_PASSWORD
ATTACKER = "203.0.113.66"


def wait_on(engine, name: str, *, addresses: list[str]) -> None:
    """Wrong guesses for ``name`` from ``addresses`` until the name itself waits."""
    for at in addresses:
        attempt(engine, name, "wrong-guess", at, now=NOW)
    assert isinstance(attempt(engine, name, PW, "198.51.100.99", now=NOW), users.LockedOutError)


def spread(n: int) -> list[str]:
    return [f"203.0.113.{i}" for i in range(1, n + 1)]


def test_a_street_leader_lifts_a_wait_and_it_is_audited(engine):
    wait_on(engine, "gridhead1", addresses=spread(throttle.POLICIES["name"].free))
    leader = auth.authenticate(engine, "leader", PW, now=NOW)
    waiting = throttle.listing(engine, scope=leader.scope, now=NOW)
    named = waiting[(waiting["kind"] == "name") & (waiting["username"] == "gridhead1")]
    assert len(named) == 1 and bool(named["waiting"].iloc[0]) and named["failures"].iloc[0] == 10
    assert waiting["waiting"].iloc[0]  # those waiting now come first
    assert throttle.unlock(engine, [("name", "gridhead1", "")], by=leader, now=NOW) == 1
    assert attempt(engine, "gridhead1", PW, "198.51.100.99", now=NOW).username == "gridhead1"
    lifted = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="auth.unlock")
    assert lifted["username"].tolist() == ["leader"]
    assert "gridhead1 @ *" in lifted["detail"].iloc[0] and "连续 10 次失败" in lifted["detail"].iloc[0]


def test_lifting_a_pair_keeps_the_owners_known_address(engine):
    desk = "198.51.100.10"
    assert attempt(engine, "community1", PW, desk, now=NOW).username == "community1"
    for _ in range(throttle.POLICIES["pair"].free):
        attempt(engine, "community1", "wrong-guess", desk, now=NOW)  # the owner, mistyping at their desk
    assert isinstance(attempt(engine, "community1", PW, desk, now=NOW), users.LockedOutError)
    leader = auth.authenticate(engine, "leader", PW, now=NOW)
    throttle.unlock(engine, [("pair", "community1", desk)], by=leader, now=NOW)
    for at in spread(throttle.POLICIES["name"].free):  # then strangers make the name wait …
        attempt(engine, "community1", "wrong-guess", at, now=NOW)
    assert attempt(engine, "community1", PW, desk, now=NOW).username == "community1"  # … not at the desk


@pytest.mark.parametrize("username", ["staff", "community1", "gridhead1", "screen"])
def test_other_roles_may_not_lift_a_wait(engine, username):
    for _ in range(throttle.POLICIES["pair"].free):
        attempt(engine, "party1", "wrong-guess", ATTACKER, now=NOW)
    who = auth.authenticate(engine, username, PW, now=NOW)
    with pytest.raises(PermissionError):
        throttle.unlock(engine, [("pair", "party1", ATTACKER)], by=who, now=NOW)
    assert isinstance(attempt(engine, "party1", PW, ATTACKER, now=NOW), users.LockedOutError)  # still waiting
    assert audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="auth.unlock").empty


def test_lifting_a_bucket_that_does_not_exist_says_so(engine):
    leader = auth.authenticate(engine, "leader", PW, now=NOW)
    with pytest.raises(ValueError, match="已解除"):
        throttle.unlock(engine, [("pair", "nobody", ATTACKER)], by=leader, now=NOW)


def test_buckets_that_remember_nothing_are_dropped_and_a_recent_success_is_kept(engine):
    from datetime import timedelta

    desk = "198.51.100.10"
    assert attempt(engine, "gridhead1", PW, desk, now=NOW).username == "gridhead1"
    for i in range(30):  # a spray: a new name each time
        attempt(engine, f"name-{i}", "wrong-guess", f"203.0.113.{i + 1}", now=NOW)
    later = NOW + throttle.FORGET_AFTER + timedelta(minutes=1)
    # pair, name and address of each guess, and the owner's name and address buckets (all at 0);
    # the owner's pair stays: it holds their last success at the desk
    assert throttle.prune(engine, now=later) == 30 * 3 + 2
    assert throttle.prune(engine, now=later) == 0
    # the owner's known address survives the pruning: strangers still do not slow them there
    for at in [f"203.0.113.{i}" for i in range(100, 111)]:
        attempt(engine, "gridhead1", "wrong-guess", at, now=later)
    assert attempt(engine, "gridhead1", PW, desk, now=later).username == "gridhead1"
