"""Pages through Streamlit's AppTest: what a user is shown, without a browser."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth, users
from geo.demo import accounts, generator
from geo.maps import layers
from geo.db import store
from geo.access.roles import WHOLE_STREET

APP = settings.ROOT / "app.py"


def signed_in(at: AppTest, url: str, username: str = "staff", password: str = accounts.DEMO_PASSWORD) -> AppTest:
    """Sign ``username`` in (checked by geo.access.auth, as the form does) and run the app as them.

    Street staff land on the map (the street leader lands on their contact point, 领导联系点).

    The form itself is tested in test_access_pages.py; AppTest re-runs only the
    page script after its first run, so tests start from a signed-in session.
    """
    at.session_state["user"] = auth.authenticate(store.make_engine(url), username, password, now=settings.now())
    return at.run()


@pytest.fixture
def app(town_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", town_url)
    return AppTest.from_file(str(APP), default_timeout=120)


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_map_page_shows_the_street_and_its_figures(app, town_url):
    at = signed_in(app, town_url)
    assert not at.exception, at.exception
    assert "天彭街道 · 社区治理一张图" in at.title[0].value
    figures = layers.headline(store.make_engine(town_url), settings.now(), scope=WHOLE_STREET)  # the page's clock (SHEQU_TZ)
    shown = metric_values(at)
    assert shown["网格"] == str(figures["grids"])
    assert shown["常住人口"] == f"{figures['residents']:,}"
    assert shown["在办工单"] == str(figures["open_tickets"])
    assert shown["超期工单"] == str(figures["overdue"])
    assert shown["监控在线"] == f"{figures['cameras_online']}/{figures['cameras']}"
    assert at.radio(key="map_basemap").value == "offline"


def test_a_grid_head_and_community_staff_see_their_own_areas_figures(app, town_url):
    """Issue 13, item 11: the street's size was shown beside their own tickets, and read as theirs."""
    from sqlalchemy import func, select

    from geo.db.schema import Building, Grid

    engine = store.make_engine(town_url)
    at = signed_in(app, town_url, "gridhead1")
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    user = at.session_state["user"]
    mine = layers.headline(engine, settings.now(), scope=user.scope, street_id=user.scope.street_id)
    whole = layers.headline(engine, settings.now(), scope=WHOLE_STREET)
    with engine.connect() as conn:  # the grid's own people, counted from the rows
        people = conn.execute(select(func.sum(Building.residents)).where(Building.grid_id == user.grid_id)).scalar()
    shown = {m.label: m for m in at.metric}
    assert shown["常住人口"].value == f"{people:,}" and people < whole["residents"]
    assert shown["在办工单"].value == str(mine["open_tickets"]) and mine["open_tickets"] < whole["open_tickets"]
    assert shown["超期工单"].value == str(mine["overdue"])
    assert "网格" not in shown and "社区" not in shown  # one grid: no "1 grid" card
    assert any("您管辖的" in c.value and user.scope.grid_id and "网格" in c.value for c in at.caption)
    staff = signed_in(AppTest.from_file(str(APP), default_timeout=120), town_url, "community1")
    staff.switch_page("pages/map.py").run()
    community = staff.session_state["user"].scope.community_id
    with engine.connect() as conn:
        grids = conn.execute(select(func.count()).select_from(Grid).where(Grid.community_id == community)).scalar()
    shown = metric_values(staff)
    assert shown["网格"] == str(grids) and int(shown["网格"]) < whole["grids"] and "社区" not in shown


def test_a_district_wide_account_picks_the_street_it_looks_at(tmp_path_factory, monkeypatch):
    from conftest import _sqlite_town

    town = generator.generate(now=settings.now(), streets=2, communities=1, tickets_per_street=40)
    url = _sqlite_town(tmp_path_factory, town)
    engine = store.make_engine(url)
    users.create_user(engine, "district", "a-long-password", "street_staff", now=settings.now())
    monkeypatch.setenv("DATABASE_URL", url)
    at = signed_in(AppTest.from_file(str(APP), default_timeout=120), url, "district", "a-long-password")
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    first, second = (s["id"] for s in town["street"])
    picker = at.selectbox(key="map_street")
    assert picker.options == [s["name"] for s in town["street"]] and picker.value == first
    picker.set_value(second).run()
    assert not at.exception, at.exception
    there = layers.headline(engine, settings.now(), scope=WHOLE_STREET, street_id=second)
    assert metric_values(at)["常住人口"] == f"{there['residents']:,}"
    assert metric_values(at)["在办工单"] == str(there["open_tickets"])
    assert town["street"][1]["name"] in at.title[0].value


def test_english_is_one_click_away(app, town_url):
    at = signed_in(app, town_url)
    at.selectbox(key="lang").set_value("en").run()
    assert not at.exception, at.exception
    assert "Community Governance Map" in at.title[0].value
    assert "Open tickets" in metric_values(at)
    assert at.radio(key="map_basemap").options[0].startswith("Offline")


def test_first_start_builds_the_town(tmp_path, monkeypatch):
    """With no database yet, the first visit builds the demo street, then draws."""
    url = f"sqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=300).run()
    assert not at.exception, at.exception
    assert store.is_built(store.make_engine(url))
    assert at.text_input(key="login_username")  # the sign-in page comes first
    at = signed_in(AppTest.from_file(str(APP), default_timeout=300), url)
    assert int(metric_values(at)["网格"]) >= 60
