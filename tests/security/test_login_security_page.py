"""The 账号安全 page through app.py (AppTest): lift a wait, make a new wall token (shown once), end walls.

Who may open it at all is in tests/access/test_role_matrix.py (street leaders only).
"""
from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth, kiosk, roles, sessions
from geo.demo import accounts
from geo.db import store
from geo.db.schema import KioskToken

from conftest import open_address
from login_attempts import attempt

APP = settings.ROOT / "app.py"
PW = accounts.DEMO_PASSWORD


@pytest.fixture
def page(town_url, monkeypatch, steady):
    """The leader on the security page of a fresh copy of the small town."""
    monkeypatch.setenv("DATABASE_URL", town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.authenticate(store.make_engine(town_url), "leader", PW, now=settings.now())
    return at


def test_the_leader_sees_who_waits_and_lifts_it(page, town_url):
    engine = store.make_engine(town_url)
    for _ in range(5):
        attempt(engine, "gridworker2", "wrong-guess", "203.0.113.66", now=settings.now())
    at = open_address(page, "security")
    assert not at.exception, at.exception
    assert at.title[0].value == "账号安全"
    waits = at.dataframe[0].value
    row = waits[waits["用户名"] == "gridworker2"].iloc[0]
    assert row["地址"] == "203.0.113.66" and row["连续失败"] == 5 and row["暂停至"]
    chosen = at.multiselect(key="security_pick")
    assert [chosen.format_func(v) for v in chosen.value] == ["gridworker2 @ 203.0.113.66"]  # waiting: ticked
    at = at.button(key="security_unlock").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success][:1] == ["已解除 1 项登录限制"]
    assert attempt(engine, "gridworker2", PW, "203.0.113.66", now=settings.now()).username == "gridworker2"
    assert audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="auth.unlock")["username"].tolist() == ["leader"]


def test_a_new_wall_token_is_shown_once_with_the_walls_address_and_only_its_hash_is_kept(page, town_url):
    engine = store.make_engine(town_url)
    at = open_address(page, "security")
    assert at.button(key="security_rotate").proto.disabled  # needs the confirmation first
    at = at.checkbox(key="security_confirm_0").check().run()
    at = at.button(key="security_rotate").click().run()
    assert not at.exception, at.exception
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and "/screen?kiosk=1&token=" in shown[0]
    token = parse_qs(urlsplit(shown[0]).query)["token"][0]
    assert kiosk.token_problem(token) is None
    with engine.connect() as conn:
        stored = conn.execute(select(KioskToken.token_hash).where(KioskToken.retired_at.is_(None))).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert any(re.search(r"口令 #\d+，.* 由 leader 设置", t.value) for t in at.text)
    assert not at.checkbox(key="security_confirm_1").value  # the next token needs its own confirmation
    again = at.run()
    assert not again.code  # shown once: gone at the next run, and nowhere to read it back
    assert kiosk.login(engine, token, now=settings.now(), address="198.51.100.20") is not None


def test_the_leader_ends_the_walls_sessions(page, town_url):
    engine = store.make_engine(town_url)
    token = kiosk.rotate(engine, by=page.session_state["user"], now=settings.now())
    wall = kiosk.login(engine, token, now=settings.now(), address="198.51.100.20")
    session = sessions.start(engine, wall.user, now=settings.now(), address="198.51.100.20",
                             kiosk_token_id=wall.token_id)
    at = open_address(page, "security")
    walls = at.dataframe[-1].value
    assert walls["地址"].tolist() == ["198.51.100.20"] and walls["登录方式"].tolist()[0].startswith("大屏口令 #")
    at = at.button(key="security_end_all").click().run()
    assert not at.exception, at.exception
    assert "已结束 1 个大屏会话" in [s.value for s in at.success]
    assert sessions.resume(engine, session, now=settings.now()) is None
    assert any(i.value == "目前没有已登录的大屏" for i in at.info)
