"""Sign-in and navigation by role through AppTest: what each role can and cannot open."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import audit, auth, demo, roles, settings, store
from geo.schema import Grid

APP = settings.ROOT / "app.py"
PW = demo.DEMO_PASSWORD
ALL = roles.WHOLE_STREET  # audit reads for the whole street (the tests' town has one)


@pytest.fixture
def app(town_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    return AppTest.from_file(str(APP), default_timeout=120)


def as_user(at: AppTest, url: str, username: str, query: dict | None = None) -> AppTest:
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, PW, now=datetime.now())
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def sign_in_form(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()  # the form's submit button
    return at.run()


def test_the_app_opens_on_the_sign_in_page_and_wrong_or_unknown_get_one_message(app):
    at = app.run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_password").proto.type == at.text_input(key="login_password").proto.PASSWORD
    assert not at.metric  # nothing of the street before signing in
    wrong = [e.value for e in sign_in_form(at, "gridhead1", "wrong-password").error]
    unknown = [e.value for e in sign_in_form(at, "no-such-user", "wrong-password").error]
    assert wrong == unknown == [auth.BAD_LOGIN]
    assert "user" not in at.session_state


def test_the_form_signs_in_with_the_right_password(app):
    at = sign_in_form(app.run(), "gridhead1", PW)
    assert not at.exception, at.exception
    assert at.session_state["user"].username == "gridhead1"


def test_repeated_failures_lock_the_form(app):
    at = app.run()
    for _ in range(auth.MAX_FAILURES):
        sign_in_form(at, "gridhead2", "wrong-password")
    at = sign_in_form(at, "gridhead2", PW)
    assert "分钟后再试" in at.error[0].value and "user" not in at.session_state


def test_grid_head_lands_on_their_own_grid(app, town_url):
    at = as_user(app, town_url, "gridhead1")
    assert not at.exception, at.exception
    user = at.session_state["user"]
    with store.make_engine(town_url).connect() as conn:
        name = conn.execute(select(Grid.name).where(Grid.id == user.grid_id)).scalar_one()
    assert at.title[0].value == name
    assert [tab.label for tab in at.tabs][:3] == ["地图", "走访", "工单"]
    assert {"户数", "待走访", "在办工单"} <= {m.label for m in at.metric}
    shown = at.dataframe[0].value  # the to-visit list, masked
    assert shown["户主"].str.contains(r"\*").all()


def test_grid_head_asking_for_another_grid_by_url_is_refused(app, town_url):
    with store.make_engine(town_url).connect() as conn:
        other = conn.execute(select(Grid.id).where(Grid.id != 1).order_by(Grid.id.desc())).scalars().first()
    at = as_user(app, town_url, "gridhead1", {"grid": str(other)})
    assert not at.exception, at.exception
    assert any("不在您的管辖范围内" in e.value for e in at.error)
    assert not at.dataframe  # no household of that grid was drawn


def test_grid_head_cannot_open_the_audit_or_coverage_pages(app, town_url):
    at = as_user(app, town_url, "gridhead1")
    for page in ("pages/audit.py", "pages/coverage.py"):
        with pytest.raises(ValueError):  # not in their navigation at all
            at.switch_page(page)


def test_pages_check_the_role_themselves(town_url, monkeypatch):
    """Even run directly (a stale link, a guessed path), the audit page refuses a grid head."""
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "pages" / "audit.py"), default_timeout=60)
    at = as_user(at, town_url, "gridhead1")
    assert [e.value for e in at.error] == ["您的角色无权访问此页面"]
    assert not at.dataframe


def test_street_leader_reads_the_audit_log(app, town_url):
    at = as_user(app, town_url, "leader")
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    log = at.dataframe[0].value
    assert "auth.login" in set(log["action"])


def test_screen_account_sees_no_desk(app, town_url):
    at = as_user(app, town_url, "screen")
    assert not at.exception, at.exception
    for page in ("pages/tickets.py", "pages/report.py", "pages/my_area.py", "pages/audit.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)


def test_kiosk_url_signs_in_the_screen_account(app, monkeypatch, town_url):
    monkeypatch.setenv("SHEQU_SCREEN_TOKEN", "wall-token-0123")
    app.query_params["kiosk"] = "1"
    app.query_params["token"] = "wall-token-0123"
    at = app.run()
    assert not at.exception, at.exception
    assert at.session_state["user"].role == "screen"
    assert "token" not in at.query_params
    assert audit.read(store.make_engine(town_url), scope=ALL, action_prefix="auth.kiosk").shape[0] >= 1

