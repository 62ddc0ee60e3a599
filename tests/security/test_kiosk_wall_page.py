"""A wall through app.py (AppTest): a wrong token is said so and tried once per tab; a new token signs the
wall out at its next run and the old address no longer signs it in (issue 11, item 10)."""
from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth, kiosk, roles
from geo.demo import accounts
from geo.db import store
from geo.db.schema import LoginSession

APP = settings.ROOT / "app.py"


def wall(town_url: str, monkeypatch, token: str) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(kiosk="1", token=token)
    return at


def fails(engine) -> int:
    return len(audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="auth.kiosk_fail"))


def test_a_wrong_token_shows_why_and_is_not_tried_again_in_that_tab(town_url, monkeypatch, steady):
    engine = store.make_engine(town_url)
    before = fails(engine)
    at = wall(town_url, monkeypatch, "not-the-wall-token-at-all-x9").run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state
    assert any("口令无效或已更换" in w.value for w in at.warning)
    at.run()  # the wall refreshes: the same wrong token is not sent again from this tab
    assert fails(engine) == before + 1


def test_a_new_token_signs_the_wall_out_at_its_next_run(town_url, monkeypatch, steady):
    engine = store.make_engine(town_url)
    leader = auth.authenticate(engine, "leader", accounts.DEMO_PASSWORD, now=settings.now())
    old = kiosk.rotate(engine, by=leader, now=settings.now())
    at = wall(town_url, monkeypatch, old).run()
    assert not at.exception, at.exception
    assert at.session_state["user"].role == "screen"
    with engine.connect() as conn:  # the wall's session carries the token it signed in with
        assert conn.execute(select(LoginSession.kiosk_token_id).where(LoginSession.revoked_at.is_(None))
                            .order_by(LoginSession.id.desc()).limit(1)).scalar_one() == kiosk.current(engine)["id"]
    kiosk.rotate(engine, by=leader, now=settings.now())
    at.run()  # the wall's next refresh, on a server past its first visitor (the steady fixture)
    assert "user" not in at.session_state and at.text_input(key="login_password")  # signed out, not back in
    assert any("口令无效或已更换" in w.value for w in at.warning)
