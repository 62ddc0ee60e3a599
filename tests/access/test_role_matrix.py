"""Every role × every page, on SQLite and on PostGIS: allowed pages draw, the others are refused, also when
opened by address or run on their own, and nothing outside the user's area arrives through a parameter."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth, roles, users
from geo.demo import accounts
from geo.people import households
from geo.db import store
from geo.tickets import service as ts
from geo.errors import NotFoundError
from geo.db.schema import Grid, Household, Ticket

from conftest import open_address

APP = settings.ROOT / "app.py"
DENIED = "您的角色无权访问此页面"
OUTSIDE = "不在您的管辖范围内"

#: One demo user of each role (README: demo users).
ROLE_USERS = {"street_leader": "leader", "street_staff": "staff", "community_staff": "community1",
              "grid_head": "gridhead1", "grid_worker": "gridworker1", "party_member": "party1", "screen": "screen"}
#: Every page app.py registers (its PAGES), by key.
PAGES = ["my_area", "map", "tickets", "report", "indicators", "coverage", "screen", "audit", "boundaries",
         "gridplan", "load", "security", "doors", "party", "volunteers", "patrols", "contact_point", "estates",
         "councils"]


def user(url: str, username: str) -> users.User:
    return auth.authenticate(store.make_engine(url), username, accounts.DEMO_PASSWORD, now=settings.now())


@pytest.fixture
def app(any_town_url, monkeypatch, steady):
    monkeypatch.setenv("DATABASE_URL", any_town_url)
    monkeypatch.setenv("SHEQU_ADMIN_PASSWORD", "admin-for-tests")
    return AppTest.from_file(str(APP), default_timeout=180)


def signed_in(at: AppTest, url: str, username: str) -> AppTest:
    at.session_state["user"] = user(url, username)
    return at


def drawn(at: AppTest) -> bool:
    """Something of the page itself: a title, or the wall's own HTML (the big screen draws no st.title)."""
    return bool(at.title) or any("scr-" in str(h.proto) for h in at.get("html"))


def test_the_matrix_covers_every_role_and_every_page():
    assert set(ROLE_USERS) == set(roles.ROLES)
    assert set(PAGES) == set(roles.PAGE_ACCESS)


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_opens_its_pages_and_is_refused_the_others_by_address(app, any_town_url, role):
    at = signed_in(app, any_town_url, ROLE_USERS[role])
    for page in PAGES:
        at = open_address(at, page)
        assert not at.exception, (role, page, at.exception)
        refused = [e.value for e in at.error if e.value == DENIED]
        if roles.may_see(role, page):
            assert not refused and drawn(at), (role, page)
        else:
            assert refused == [DENIED], (role, page)
            assert not at.dataframe and not at.metric and not at.title, (role, page)


#: Pages that call common.require themselves: all of them.
SELF_CHECKING = PAGES


@pytest.mark.parametrize("page", SELF_CHECKING)
def test_a_page_run_on_its_own_refuses_every_role_it_is_not_for(any_town_url, monkeypatch, page):
    """A stale link or a guessed path that reaches the file itself still meets the role check."""
    monkeypatch.setenv("DATABASE_URL", any_town_url)
    for role, username in ROLE_USERS.items():
        if roles.may_see(role, page):
            continue
        at = AppTest.from_file(str(settings.ROOT / "pages" / f"{page}.py"), default_timeout=120)
        at = signed_in(at, any_town_url, username).run()
        assert not at.exception, (role, page, at.exception)
        assert [e.value for e in at.error] == [DENIED], (role, page)
        assert not at.dataframe and not at.metric, (role, page)


def _requiring(page: str) -> None:
    """A page that does nothing but ask common.require, as map.py and coverage.py will."""
    import streamlit as st

    from pages import common

    common.require(page)
    st.title("inside")


@pytest.mark.parametrize("page", PAGES)
def test_common_require_keeps_every_page_key_to_its_roles(any_town_url, monkeypatch, page):
    monkeypatch.setenv("DATABASE_URL", any_town_url)
    for role, username in ROLE_USERS.items():
        at = signed_in(AppTest.from_function(_requiring, args=(page,), default_timeout=60), any_town_url,
                       username).run()
        assert not at.exception, (role, page, at.exception)
        if roles.may_see(role, page):
            assert [x.value for x in at.title] == ["inside"] and not at.error, (role, page)
        else:
            assert [e.value for e in at.error] == [DENIED] and not at.title, (role, page)
    nobody = AppTest.from_function(_requiring, args=(page,), default_timeout=60).run()
    assert [e.value for e in nobody.error] == [DENIED] and not nobody.title


# --------------------------------------------------------------------------- outside the area, by parameter

def _grid_outside(url: str, who: users.User) -> int:
    """A grid the user does not answer for: the nearest one (same community) for grid roles."""
    with store.make_engine(url).connect() as conn:
        stmt = select(Grid.id).order_by(Grid.id)
        if who.scope.level == "grid":
            stmt = stmt.where(Grid.community_id == who.community_id, Grid.id != who.grid_id)
        else:
            stmt = stmt.where(Grid.community_id != who.community_id)
        return conn.execute(stmt.limit(1)).scalar_one()


@pytest.mark.parametrize("username", ["gridhead1", "gridworker1", "party1", "community1"])
def test_another_grid_by_address_is_refused(app, any_town_url, username):
    who = user(any_town_url, username)
    other = _grid_outside(any_town_url, who)
    at = signed_in(app, any_town_url, username)
    at.query_params["grid"] = str(other)
    at = open_address(at, "my_area")
    assert not at.exception, at.exception
    assert any(OUTSIDE in e.value for e in at.error)
    assert not at.dataframe and not at.metric and not at.title  # nothing of that grid, nor of the user's own


def test_the_street_reaches_any_grid_by_address(app, any_town_url):
    other = _grid_outside(any_town_url, user(any_town_url, "community1"))
    at = signed_in(app, any_town_url, "leader")
    at.query_params["grid"] = str(other)
    at = open_address(at, "my_area")
    with store.make_engine(any_town_url).connect() as conn:
        assert at.title[0].value == conn.execute(select(Grid.name).where(Grid.id == other)).scalar_one()


@pytest.mark.parametrize("username", ["gridhead1", "gridworker1", "community1"])
def test_the_reveal_offers_only_households_of_the_users_own_grid(app, any_town_url, username):
    """The page offers no other household; any other id reaching the core is refused there and leaves no trace."""
    engine, who = store.make_engine(any_town_url), user(any_town_url, username)
    at = open_address(signed_in(app, any_town_url, username), "my_area")
    offered = set(at.selectbox(key="my_area_reveal_hh").options)  # what the picker shows: masked labels
    shown_grid = households.grids(engine, who.scope)["id"].iloc[0] if who.scope.level != "grid" else who.grid_id
    own = households.households(engine, scope=who.scope, now=settings.now(), grid_id=int(shown_grid))
    assert offered == set(own["address"] + " " + own["head"])  # masked labels of this grid's households only
    with engine.connect() as conn:
        foreign = conn.execute(select(Household.id).where(Household.grid_id == _grid_outside(any_town_url, who))
                               .limit(1)).scalar_one()
    with pytest.raises(NotFoundError, match=OUTSIDE):
        households.reveal(engine, who, foreign, now=settings.now())
    assert foreign not in set(audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="household.reveal")
                              ["object_id"])


@pytest.mark.parametrize("username", ["gridhead1", "gridworker1", "party1", "community1"])
def test_another_grids_ticket_id_is_refused_on_the_desk(any_town_url, monkeypatch, username):
    monkeypatch.setenv("DATABASE_URL", any_town_url)
    who = user(any_town_url, username)
    with store.make_engine(any_town_url).connect() as conn:
        foreign = conn.execute(select(Ticket.id, Ticket.code).where(~who.scope.clause(Ticket.__table__))
                               .limit(1)).one()
    at = AppTest.from_file(str(settings.ROOT / "pages" / "tickets.py"), default_timeout=120)
    at.session_state["user"] = who
    at.session_state["tickets_open_id"] = foreign.id  # as a link or a stale id would ask for it
    at = at.run()
    assert not at.exception, at.exception
    assert any(OUTSIDE in e.value for e in at.error)
    assert not any(foreign.code in s.value for s in at.subheader)
    assert foreign.code not in set(at.dataframe[0].value["工单号"])
    with pytest.raises(NotFoundError, match=OUTSIDE):
        ts.get(store.make_engine(any_town_url), foreign.id, scope=who.scope)
