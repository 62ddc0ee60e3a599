"""The wall displays' token (issue 11, item 10), on SQLite and PostGIS.

Before the fix SHEQU_SCREEN_TOKEN=1 was accepted, wrong tokens were compared without being
counted, slowed or audited, the token lived only in the environment, and changing it left every
wall signed in with the old one for up to a week.
"""
from __future__ import annotations

import hashlib
import io
import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from geo.access import audit, auth, kiosk, roles, sessions, throttle, users
from geo.demo import accounts
from geo.db import schema
from geo.db.schema import KioskToken, LoginSession

NOW = datetime(2026, 11, 23, 9)
ALL = roles.WHOLE_STREET
WALL = "198.51.100.20"
PROBER = "203.0.113.9"


def leader(engine):
    return auth.authenticate(engine, "leader", accounts.DEMO_PASSWORD, now=NOW)


def seeded(engine, monkeypatch, token: str) -> str:
    monkeypatch.setenv(kiosk.FROM_ENV, token)
    log = io.StringIO()
    kiosk.seed_from_env(engine, now=NOW, log=log)
    return log.getvalue()


@pytest.mark.parametrize("weak", ["1", "wall", "wall-token-0123", "a" * 30, "abcdefghijklmnopqrstuvwxyz",
                                  "1234567890123456789012345678", "aaaaabbbbbcccccdddddeeeee"])
def test_a_weak_token_is_refused_at_start_with_a_warning_and_the_kiosk_stays_off(engine, monkeypatch, weak):
    said = seeded(engine, monkeypatch, weak)
    assert kiosk.token_problem(weak) is not None
    assert "太弱" in said and "大屏免密登录已关闭" in said and (len(weak) < 4 or weak not in said)
    assert kiosk.current(engine) is None
    assert kiosk.login(engine, weak, now=NOW, address=WALL) is None


def test_tokens_made_by_the_page_and_long_random_ones_pass():
    assert kiosk.token_problem(kiosk.new_token()) is None
    assert kiosk.token_problem(secrets.token_hex(16)) is None  # `openssl rand -hex 16`
    assert kiosk.token_problem(secrets.token_urlsafe(18)) is None


def test_the_token_is_stored_hashed_and_nowhere_in_clear(engine, monkeypatch):
    token = kiosk.new_token()
    seeded(engine, monkeypatch, token)
    wall = kiosk.login(engine, token, now=NOW, address=WALL)
    sessions.start(engine, wall.user, now=NOW, address=WALL, kiosk_token_id=wall.token_id)
    rotated = kiosk.rotate(engine, by=leader(engine), now=NOW)
    dump = []
    with engine.connect() as conn:  # every value of every table: the plain tokens are in none
        for table in _tables(engine):
            dump += [str(v) for row in conn.execute(select(table)).fetchall() for v in row]
        stored = set(conn.execute(select(KioskToken.token_hash)).scalars())
    text = "\n".join(dump)
    assert token not in text and rotated not in text
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (token, rotated)}


def _tables(engine):
    return schema.Base.metadata.sorted_tables  # every table the app has


def test_wrong_tokens_are_counted_slowed_and_audited_per_address(engine, monkeypatch):
    token = kiosk.new_token()
    seeded(engine, monkeypatch, token)
    budget = throttle.POLICIES["kiosk"].free
    for i in range(budget):
        assert kiosk.login(engine, f"guess-{i}-{token[:-8]}", now=NOW, address=PROBER) is None
    with pytest.raises(users.LockedOutError):  # now even the right token waits at that address …
        kiosk.login(engine, token, now=NOW, address=PROBER)
    assert kiosk.login(engine, token, now=NOW, address=WALL).user.role == "screen"  # … not at the wall's
    fails = audit.read(engine, scope=ALL, action_prefix="auth.kiosk_fail")
    assert len(fails) == budget and set(fails["username"]) == {"screen"}
    assert fails["detail"].str.contains(PROBER).all() and not fails["detail"].str.contains(token[:12]).any()
    paused = audit.read(engine, scope=ALL, action_prefix="auth.locked")
    assert len(paused) == 1 and "大屏口令" in paused["detail"].iloc[0]
    later = NOW + throttle.POLICIES["kiosk"].first + timedelta(seconds=1)
    assert kiosk.login(engine, token, now=later, address=PROBER).user.role == "screen"  # the wait ends


def test_a_new_token_signs_out_every_wall_of_the_old_one_and_the_old_one_no_longer_works(engine, monkeypatch):
    old = kiosk.new_token()
    seeded(engine, monkeypatch, old)
    walls = []
    for at in (WALL, "198.51.100.21"):
        wall = kiosk.login(engine, old, now=NOW, address=at)
        walls.append(sessions.start(engine, wall.user, now=NOW, address=at, kiosk_token_id=wall.token_id))
    by_password = sessions.start(engine, auth.authenticate(engine, "screen", accounts.DEMO_PASSWORD, now=NOW), now=NOW)
    assert all(sessions.resume(engine, w, now=NOW) for w in walls)
    assert set(kiosk.walls(engine, now=NOW)["address"].fillna("")) == {WALL, "198.51.100.21", ""}
    new = kiosk.rotate(engine, by=leader(engine), now=NOW)
    assert new != old and kiosk.token_problem(new) is None
    assert [sessions.resume(engine, w, now=NOW) for w in walls] == [None, None]
    assert sessions.resume(engine, by_password, now=NOW) is not None  # signed in otherwise: not a token's wall
    assert kiosk.login(engine, old, now=NOW, address=WALL) is None
    assert kiosk.login(engine, new, now=NOW, address=WALL).user.username == "screen"
    rotated = audit.read(engine, scope=ALL, action_prefix="auth.kiosk_rotate")
    assert rotated["username"].tolist()[0] == "leader" and "结束旧口令的 2 个大屏会话" in rotated["detail"].iloc[0]
    # a restart with the old value still in the environment does not bring it back
    said = seeded(engine, monkeypatch, old)
    assert "已忽略" in said and kiosk.login(engine, old, now=NOW, address=WALL) is None


def test_a_wall_signing_in_with_the_old_token_at_the_moment_of_the_change_is_signed_out_too(engine, monkeypatch):
    old = kiosk.new_token()
    seeded(engine, monkeypatch, old)
    wall = kiosk.login(engine, old, now=NOW, address=WALL)  # checked just before the change …
    kiosk.rotate(engine, by=leader(engine), now=NOW)
    late = sessions.start(engine, wall.user, now=NOW, address=WALL, kiosk_token_id=wall.token_id)  # … saved after
    assert sessions.resume(engine, late, now=NOW) is None


def test_switching_the_kiosk_off_and_ending_walls_by_hand(engine, monkeypatch):
    token = kiosk.new_token()
    seeded(engine, monkeypatch, token)
    wall = kiosk.login(engine, token, now=NOW, address=WALL)
    first = sessions.start(engine, wall.user, now=NOW, address=WALL, kiosk_token_id=wall.token_id)
    second = sessions.start(engine, wall.user, now=NOW, address=WALL, kiosk_token_id=wall.token_id)
    head = auth.authenticate(engine, "gridhead1", accounts.DEMO_PASSWORD, now=NOW)
    desk = sessions.start(engine, head, now=NOW)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(LoginSession.token_hash, LoginSession.id)).fetchall())
    ended = kiosk.end_walls(engine, [ids[hashlib.sha256(first.encode()).hexdigest()],
                                     ids[hashlib.sha256(desk.encode()).hexdigest()]], by=leader(engine), now=NOW)
    assert ended == 1  # the wall's; a desk session is not a wall's to end here
    assert sessions.resume(engine, first, now=NOW) is None and sessions.resume(engine, desk, now=NOW) is not None
    assert kiosk.disable(engine, by=leader(engine), now=NOW) == 1
    assert sessions.resume(engine, second, now=NOW) is None and kiosk.current(engine) is None
    assert kiosk.login(engine, token, now=NOW, address=WALL) is None
    assert {"auth.kiosk_end", "auth.kiosk_off"} <= set(audit.read(engine, scope=ALL, action_prefix="auth.kiosk")["action"])
    said = seeded(engine, monkeypatch, token)  # switched off on the page: a restart does not switch it on
    assert "已忽略" in said and kiosk.current(engine) is None


@pytest.mark.parametrize("username", ["staff", "community1", "gridhead1", "screen"])
def test_only_street_leaders_manage_the_wall_token(engine, monkeypatch, username):
    token = kiosk.new_token()
    seeded(engine, monkeypatch, token)
    who = auth.authenticate(engine, username, accounts.DEMO_PASSWORD, now=NOW)
    for act in (lambda: kiosk.rotate(engine, by=who, now=NOW), lambda: kiosk.disable(engine, by=who, now=NOW),
                lambda: kiosk.end_walls(engine, [1], by=who, now=NOW)):
        with pytest.raises(PermissionError):
            act()
    assert kiosk.login(engine, token, now=NOW, address=WALL) is not None  # nothing changed


def test_an_environment_change_rotates_a_token_that_came_from_the_environment(engine, monkeypatch):
    first, second = kiosk.new_token(), kiosk.new_token()
    assert "" == seeded(engine, monkeypatch, first)
    wall = kiosk.login(engine, first, now=NOW, address=WALL)
    session = sessions.start(engine, wall.user, now=NOW, address=WALL, kiosk_token_id=wall.token_id)
    seeded(engine, monkeypatch, first)  # a restart with the same value changes nothing
    assert sessions.resume(engine, session, now=NOW) is not None
    seeded(engine, monkeypatch, second)  # the operator changed the variable: the old walls are out
    assert sessions.resume(engine, session, now=NOW) is None
    assert kiosk.login(engine, first, now=NOW, address=WALL) is None
    assert kiosk.login(engine, second, now=NOW, address=WALL) is not None
    with engine.begin() as conn:  # a weak value later: kiosk off, with the warning
        conn.execute(update(KioskToken).values(created_by=kiosk.FROM_ENV))
    assert "太弱" in seeded(engine, monkeypatch, "1") and kiosk.current(engine) is None


@pytest.mark.parametrize("page_url,expected", [
    ("http://10.0.0.5:8501/security", "http://10.0.0.5:8501/screen?kiosk=1&token=T0k-en"),
    ("https://shequ.example.gov.cn/app/security/", "https://shequ.example.gov.cn/app/screen?kiosk=1&token=T0k-en"),
    ("http://10.0.0.5:8501/", "http://10.0.0.5:8501/screen?kiosk=1&token=T0k-en"),
])
def test_the_walls_address_is_built_from_the_pages_own(page_url, expected):
    assert kiosk.wall_url(page_url, "T0k-en") == expected
