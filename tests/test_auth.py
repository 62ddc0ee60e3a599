"""Logins on both backends: hashed passwords, one message for every failure, lockout, first start, kiosk."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import pandas as pd
import pytest
from argon2 import extract_parameters
from sqlalchemy import select, update

from geo import audit, auth, demo, roles, store
from geo.schema import User as UserRow

NOW = datetime(2026, 11, 23, 9)
PW = demo.DEMO_PASSWORD
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
    with pytest.raises(auth.LoginError) as wrong:
        auth.authenticate(engine, "gridhead1", "not-the-password", now=NOW)
    with pytest.raises(auth.LoginError) as unknown:
        auth.authenticate(engine, "nobody-here", "whatever1", now=NOW)
    assert str(wrong.value) == str(unknown.value) == auth.BAD_LOGIN
    assert type(wrong.value) is type(unknown.value) is auth.LoginError


def test_an_unknown_name_is_checked_at_the_cost_of_a_known_one_on_this_database(engine, monkeypatch):
    """Not a timing test: the same check runs on a hash with the same parameters as the stored ones."""
    checked: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda stored, pw: checked.append(stored) or real(stored, pw))
    for name in ("gridhead1", "nobody-here"):
        with pytest.raises(auth.LoginError):
            auth.authenticate(engine, name, "bad-guess-1", now=NOW)
    known, unknown = checked
    assert extract_parameters(unknown) == extract_parameters(known)
    assert "m=8192,t=1,p=1" in unknown  # the demo's cheap hashes, not the 64 MiB default
    # a database of real logins: the dummy costs what they cost
    with engine.begin() as conn:
        conn.execute(update(UserRow).values(password_hash=auth.hash_password("a-long-password")))
    checked.clear()
    with pytest.raises(auth.LoginError):
        auth.authenticate(engine, "nobody-either", "bad-guess-1", now=NOW)
    assert "m=65536,t=3,p=4" in checked[0]


def test_five_failures_lock_the_name_even_for_the_right_password_and_it_survives_restarts(engine, database_url):
    for _ in range(auth.MAX_FAILURES - 1):
        with pytest.raises(auth.LoginError):
            auth.authenticate(engine, "gridhead2", "bad-guess", now=NOW)
    with pytest.raises(auth.LockedOutError):
        auth.authenticate(engine, "gridhead2", "bad-guess", now=NOW)
    restarted = store.make_engine(database_url)  # a new server process sees the same lock
    with pytest.raises(auth.LockedOutError) as locked:
        auth.authenticate(restarted, "gridhead2", PW, now=NOW + timedelta(minutes=1))
    assert "分钟后再试" in str(locked.value)
    later = NOW + timedelta(minutes=auth.LOCK_MINUTES, seconds=1)
    assert auth.authenticate(restarted, "gridhead2", PW, now=later).username == "gridhead2"
    # unknown names lock the same way: no hint which names exist
    for _ in range(auth.MAX_FAILURES - 1):
        with pytest.raises(auth.LoginError):
            auth.authenticate(engine, "ghost", "bad-guess", now=NOW)
    with pytest.raises(auth.LockedOutError):
        auth.authenticate(engine, "ghost", "bad-guess", now=NOW)
    assert audit.read(engine, scope=ALL, action_prefix="auth.locked").shape[0] == 2
    restarted.dispose()


def test_every_failed_login_is_audited_not_only_the_lock(engine):
    with pytest.raises(auth.LoginError):
        auth.authenticate(engine, "gridhead1", "bad-guess", now=NOW)
    with pytest.raises(auth.LoginError):
        auth.authenticate(engine, "ghost", "bad-guess", now=NOW + timedelta(seconds=1))
    log = audit.read(engine, scope=ALL, action_prefix="auth.fail")
    assert log["username"].tolist() == ["ghost", "gridhead1"]
    assert (log["at"] == pd.Timestamp(NOW + timedelta(seconds=1))).tolist() == [True, False]
    assert "bad-guess" not in " ".join(log["detail"])  # the password tried is never written


def test_a_success_resets_the_failure_count(engine):
    for _ in range(auth.MAX_FAILURES - 1):
        with pytest.raises(auth.LoginError):
            auth.authenticate(engine, "community1", "bad-guess", now=NOW)
    auth.authenticate(engine, "community1", PW, now=NOW)
    with pytest.raises(auth.LoginError) as again:
        auth.authenticate(engine, "community1", "bad-guess", now=NOW)
    assert not isinstance(again.value, auth.LockedOutError)


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


def test_kiosk_token_signs_in_only_the_screen_account(engine, monkeypatch):
    monkeypatch.delenv("SHEQU_SCREEN_TOKEN", raising=False)
    assert auth.kiosk_login(engine, "anything", now=NOW) is None  # no token configured: no kiosk login
    monkeypatch.setenv("SHEQU_SCREEN_TOKEN", "wall-display-token-123")
    assert auth.kiosk_login(engine, "wrong-token", now=NOW) is None
    user = auth.kiosk_login(engine, "wall-display-token-123", now=NOW)
    assert user.role == "screen" and user.scope.level == "street"


def test_created_users_get_full_cost_hashes_and_are_audited(engine):
    user = auth.create_user(engine, "newhead", "a-long-password", "grid_head", now=NOW, by="leader", grid_id=2)
    assert user.community_id is not None and user.scope.grid_id == 2
    with engine.connect() as conn:
        h = conn.execute(select(UserRow.password_hash).where(UserRow.username == "newhead")).scalar_one()
    assert "m=65536,t=3" in h
    assert audit.read(engine, scope=ALL, action_prefix="user.create")["username"].tolist() == ["leader"]
    with pytest.raises(ValueError):
        auth.create_user(engine, "nogrid", "a-long-password", "grid_head", now=NOW)
    with pytest.raises(ValueError):
        auth.create_user(engine, "short", "short", "street_staff", now=NOW)
