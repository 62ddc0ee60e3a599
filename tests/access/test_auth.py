"""Logins on both backends: hashed passwords, one message for every failure, waits, first start, sessions.

The hostile cases (bursts, busy, timing, kiosk) are in tests/security/."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select, update

from geo.access import audit, auth, roles, sessions, throttle, users
from geo.demo import accounts
from geo.db import store
from geo.db.schema import Grid, LoginSession
from geo.db.schema import User as UserRow

NOW = datetime(2026, 11, 23, 9)
PW = accounts.DEMO_PASSWORD
ALL = roles.WHOLE_STREET  # audit reads for the whole street (the tests' town has one)


def test_demo_users_of_every_role_are_stored_hashed(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(UserRow.username, UserRow.role, UserRow.password_hash)).fetchall()
    assert {r.role for r in rows} == {"street_leader", "street_staff", "community_staff", "grid_head",
                                      "grid_worker", "party_member", "screen"}
    for r in rows:
        assert r.password_hash.startswith("$argon2id$") and PW not in r.password_hash
    assert len({r.password_hash for r in rows}) == len(rows)  # salted: no two alike


@pytest.mark.parametrize("username", ["leader", "staff", "community1", "gridhead1", "gridworker1", "party1",
                                      "screen"])
def test_each_demo_user_signs_in_with_the_documented_password(engine, username):
    user = auth.authenticate(engine, username, PW, now=NOW)
    assert user.username == username
    assert not hasattr(user, "password_hash")
    assert audit.read(engine, scope=ALL, username=username, action_prefix="auth.login").shape[0] == 1


def test_wrong_password_and_unknown_user_get_the_same_message(engine):
    with pytest.raises(users.LoginError) as wrong:
        auth.authenticate(engine, "gridhead1", "not-the-password", now=NOW)
    with pytest.raises(users.LoginError) as unknown:
        auth.authenticate(engine, "nobody-here", "whatever1", now=NOW)
    assert str(wrong.value) == str(unknown.value) == users.BAD_LOGIN
    assert type(wrong.value) is type(unknown.value) is users.LoginError


def test_every_attempt_checks_one_hash_of_every_parameter_set_in_use(engine, monkeypatch):
    """Not a timing test (tests/security/test_login_timing.py is): the same checks run for every name."""
    checked: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda stored, pw: checked.append(stored) or real(stored, pw))

    def checks(name: str) -> list[str]:
        checked.clear()
        with pytest.raises(users.LoginError):
            auth.authenticate(engine, name, "bad-guess-1", now=NOW)
        return ["$".join(h.split("$")[:4]) for h in checked]

    demo_only = checks("gridhead1")
    assert demo_only == checks("nobody-here") == ["$argon2id$v=19$m=8192,t=1,p=1"]  # the demo's cheap hashes
    auth.ensure_admin(engine, now=NOW, password="admin-password-1")  # a full-cost hash joins them
    both = ["$argon2id$v=19$m=65536,t=3,p=4", "$argon2id$v=19$m=8192,t=1,p=1"]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(UserRow.username, UserRow.password_hash)).fetchall())
    for name in ("admin", "gridhead1", "nobody-either"):
        assert checks(name) == both, name
        own = [h for h in checked if h in stored.values()]
        assert own == ([stored[name]] if name in stored else [])  # the user's own hash, dummies for the rest


def test_five_failures_start_a_growing_wait_even_for_the_right_password_and_it_survives_restarts(
        engine, database_url):
    at = "198.51.100.7"
    budget = throttle.POLICIES["pair"].free
    for _ in range(budget):  # checked, each one: the budget is five passwords
        with pytest.raises(users.LoginError) as wrong:
            auth.authenticate(engine, "gridhead2", "bad-guess", now=NOW, address=at)
        assert not isinstance(wrong.value, users.LockedOutError)
    restarted = store.make_engine(database_url)  # a new server process sees the same wait
    with pytest.raises(users.LockedOutError) as locked:
        auth.authenticate(restarted, "gridhead2", PW, now=NOW + timedelta(seconds=10), address=at)
    assert "20 秒后再试" in str(locked.value)
    later = NOW + timedelta(seconds=31)
    with pytest.raises(users.LoginError):  # after the wait one more guess is checked …
        auth.authenticate(restarted, "gridhead2", "bad-guess", now=later, address=at)
    with pytest.raises(users.LockedOutError) as doubled:  # … and, wrong, starts a wait twice as long
        auth.authenticate(restarted, "gridhead2", PW, now=later, address=at)
    assert doubled.value.until == later + timedelta(seconds=60)
    assert auth.authenticate(restarted, "gridhead2", PW, now=later + timedelta(seconds=61),
                             address=at).username == "gridhead2"
    # unknown names wait the same way: no hint which names exist
    for _ in range(budget):
        with pytest.raises(users.LoginError):
            auth.authenticate(engine, "ghost", "bad-guess", now=NOW, address=at)
    with pytest.raises(users.LockedOutError):
        auth.authenticate(engine, "ghost", "bad-guess", now=NOW, address=at)
    paused = audit.read(engine, scope=ALL, action_prefix="auth.locked")
    assert sorted(paused["username"]) == ["ghost", "gridhead2", "gridhead2"]
    restarted.dispose()


def test_every_failed_login_is_audited_not_only_the_lock(engine):
    with pytest.raises(users.LoginError):
        auth.authenticate(engine, "gridhead1", "bad-guess", now=NOW)
    with pytest.raises(users.LoginError):
        auth.authenticate(engine, "ghost", "bad-guess", now=NOW + timedelta(seconds=1))
    log = audit.read(engine, scope=ALL, action_prefix="auth.fail")
    assert log["username"].tolist() == ["ghost", "gridhead1"]
    assert (log["at"] == pd.Timestamp(NOW + timedelta(seconds=1))).tolist() == [True, False]
    assert "bad-guess" not in " ".join(log["detail"])  # the password tried is never written


def test_a_success_resets_the_failure_count(engine):
    for _ in range(throttle.POLICIES["pair"].free - 1):
        with pytest.raises(users.LoginError):
            auth.authenticate(engine, "community1", "bad-guess", now=NOW)
    auth.authenticate(engine, "community1", PW, now=NOW)
    with pytest.raises(users.LoginError) as again:
        auth.authenticate(engine, "community1", "bad-guess", now=NOW)
    assert not isinstance(again.value, users.LockedOutError)


def test_first_start_admin_from_the_environment_or_printed_once(engine, monkeypatch):
    monkeypatch.delenv("SHEQU_ADMIN_PASSWORD", raising=False)
    log = io.StringIO()
    made = auth.ensure_admin(engine, now=NOW, log=log)
    assert made and made in log.getvalue()
    assert auth.authenticate(engine, "admin", made, now=NOW).role == "street_leader"
    assert auth.ensure_admin(engine, now=NOW, log=log) is None  # never again, never changed
    assert log.getvalue().count("\n") == 1  # one line, once


def test_admin_password_from_the_environment(engine, monkeypatch):
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "configured-secret")
    log = io.StringIO()
    assert auth.ensure_admin(engine, now=NOW, log=log) is None
    assert log.getvalue() == ""
    assert auth.authenticate(engine, "admin", "configured-secret", now=NOW).username == "admin"


def test_created_users_get_full_cost_hashes_and_are_audited(engine):
    user = users.create_user(engine, "newhead", "a-long-password", "grid_head", now=NOW, by="leader", grid_id=2)
    assert user.community_id is not None and user.scope.grid_id == 2
    with engine.connect() as conn:
        h = conn.execute(select(UserRow.password_hash).where(UserRow.username == "newhead")).scalar_one()
    assert "m=65536,t=3" in h
    assert audit.read(engine, scope=ALL, action_prefix="user.create")["username"].tolist() == ["leader"]
    with pytest.raises(ValueError):
        users.create_user(engine, "nogrid", "a-long-password", "grid_head", now=NOW)
    with pytest.raises(ValueError):
        users.create_user(engine, "short", "short", "street_staff", now=NOW)


# --------------------------------------------------------------------------- sessions (a reload keeps the sign-in)

def test_a_session_resumes_its_user_and_only_the_tokens_hash_is_stored(engine):
    user = auth.authenticate(engine, "gridhead1", PW, now=NOW)
    token = sessions.start(engine, user, now=NOW)
    assert len(token) >= 40  # 32 random bytes
    assert sessions.resume(engine, token, now=NOW + timedelta(minutes=5)) == user
    with engine.connect() as conn:
        stored = [str(v) for row in conn.execute(select(LoginSession)).fetchall() for v in row]
    assert token not in " ".join(stored) and hashlib.sha256(token.encode()).hexdigest() in stored
    assert sessions.resume(engine, token + "x", now=NOW) is None
    assert sessions.resume(engine, "", now=NOW) is None


def test_a_session_ends_when_idle_too_long_or_too_old_or_on_logout(engine):
    user = auth.authenticate(engine, "gridhead1", PW, now=NOW)
    idle = sessions.start(engine, user, now=NOW)
    assert sessions.resume(engine, idle, now=NOW + timedelta(hours=sessions.IDLE_HOURS, minutes=1)) is None
    assert sessions.resume(engine, idle, now=NOW + timedelta(minutes=1)) is None  # ended for good
    busy = sessions.start(engine, user, now=NOW)
    clock = NOW
    while clock < NOW + timedelta(hours=sessions.MAX_HOURS - 1):  # in use every few hours: never idle
        clock += timedelta(hours=sessions.IDLE_HOURS / 2)
        assert sessions.resume(engine, busy, now=clock) == user, clock
    assert sessions.resume(engine, busy, now=NOW + timedelta(hours=sessions.MAX_HOURS, minutes=1)) is None
    out = sessions.start(engine, user, now=NOW)
    sessions.end(engine, out, now=NOW)
    assert sessions.resume(engine, out, now=NOW) is None


def test_last_seen_is_written_at_most_once_a_minute(engine):
    token = sessions.start(engine, auth.authenticate(engine, "leader", PW, now=NOW), now=NOW)

    def seen():
        with engine.connect() as conn:
            return conn.execute(select(LoginSession.last_seen_at)).scalar_one()
    sessions.resume(engine, token, now=NOW + timedelta(seconds=30))
    assert seen() == NOW
    sessions.resume(engine, token, now=NOW + timedelta(seconds=90))
    assert seen() == NOW + timedelta(seconds=90)


def test_deactivating_a_user_or_changing_their_role_or_area_ends_their_sessions(engine):
    head = auth.authenticate(engine, "gridhead1", PW, now=NOW)
    token = sessions.start(engine, head, now=NOW)
    auth.update_user(engine, "gridhead1", now=NOW, by="leader", active=False)
    assert sessions.resume(engine, token, now=NOW) is None and users.recheck(engine, head) is None
    auth.update_user(engine, "gridhead1", now=NOW, by="leader", active=True)
    assert sessions.resume(engine, token, now=NOW) is None  # reactivating does not bring old sessions back
    head = auth.authenticate(engine, "gridhead1", PW, now=NOW)
    assert users.recheck(engine, head) == head
    token = sessions.start(engine, head, now=NOW)
    with engine.connect() as conn:
        other = conn.execute(select(Grid.id).where(Grid.community_id == head.community_id, Grid.id != head.grid_id)
                             .limit(1)).scalar_one()
    auth.update_user(engine, "gridhead1", now=NOW, by="leader", grid_id=other)
    assert sessions.resume(engine, token, now=NOW) is None and users.recheck(engine, head) is None
    moved = auth.authenticate(engine, "gridhead1", PW, now=NOW)
    assert moved.grid_id == other and moved.community_id == head.community_id
    log = audit.read(engine, scope=ALL, action_prefix="user.update")
    assert log["username"].tolist() == ["leader"] * 3 and "结束 1 个会话" in log["detail"].iloc[0]
    # naming the grid they already have changes nothing: no audit row, and their session lives on
    token = sessions.start(engine, moved, now=NOW)
    auth.update_user(engine, "gridhead1", now=NOW, by="leader", grid_id=other, role="grid_head")
    assert sessions.resume(engine, token, now=NOW) is not None
    assert len(audit.read(engine, scope=ALL, action_prefix="user.update")) == 3


def test_a_change_made_straight_in_the_database_still_ends_the_session(engine):
    staff = auth.authenticate(engine, "community1", PW, now=NOW)
    token = sessions.start(engine, staff, now=NOW)
    with engine.begin() as conn:
        conn.execute(update(UserRow).where(UserRow.username == "community1").values(role="street_staff"))
    assert sessions.resume(engine, token, now=NOW) is None
    assert users.recheck(engine, staff) is None


def test_an_older_database_gets_the_session_table_on_first_start(engine):
    LoginSession.__table__.drop(engine)
    auth.ensure_admin(engine, now=NOW, password="admin-password-1")
    token = sessions.start(engine, auth.authenticate(engine, "leader", PW, now=NOW), now=NOW)
    assert sessions.resume(engine, token, now=NOW).username == "leader"
