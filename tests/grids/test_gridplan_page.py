"""网格规划 through app.py (AppTest): the rule check, a split drawn as points and applied with a reason,
an automatic cut proposed beside the current grids and applied; nothing reaches the user as a traceback."""
from __future__ import annotations

import geopandas as gpd
import shapely
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import audit, auth, roles
from geo.db import store
from geo.db.schema import Grid
from geo.demo import accounts

CRS = "EPSG:32648"


def page(town_url, monkeypatch, name="community1") -> tuple[AppTest, object]:
    engine = store.make_engine(town_url)
    user = auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=settings.now())
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=240)
    at.session_state["user"] = user
    at.run()
    at.switch_page("pages/gridplan.py").run()
    assert not at.exception, at.exception
    return at, engine


def test_the_rule_check_lists_every_grid_and_says_all_is_well(town_url, monkeypatch):
    at, engine = page(town_url, monkeypatch)
    assert at.title[0].value == "网格规划"
    table = at.dataframe[0].value
    with engine.connect() as conn:
        mine = set(conn.execute(select(Grid.code).where(Grid.community_id == 1)).scalars())
    assert set(table["编码"]) == mine and table["符合标准"].all()
    assert any("均符合划分标准" in s.value for s in at.success)
    engine.dispose()


def test_a_split_drawn_on_the_map_is_previewed_and_needs_a_reason(town_url, monkeypatch):
    at, engine = page(town_url, monkeypatch)
    at.segmented_control(key="gridplan_mode").set_value("edit").run()
    assert not at.exception, at.exception
    code = at.selectbox(key="gridplan_split_code").value
    g = store.read_layer(engine, Grid, where=Grid.code == code).to_crs(CRS).geometry.iloc[0]
    x0, y0, x1, y1 = g.bounds
    c = g.centroid
    line = gpd.GeoSeries([shapely.LineString([(x0 - 30, c.y - 20), (x1 + 30, c.y + 20)])], crs=CRS).to_crs(4326)
    at.session_state["gridplan_points"] = [tuple(p) for p in line.iloc[0].coords]  # two clicks on the map
    at.button(key="gridplan_preview").click().run()
    assert not at.exception, at.exception
    assert any("少于标准" in w.value for w in at.warning)  # both halves under 300 households
    assert not at.text_area(key="gridplan_plan_reason").value
    at.button(key="gridplan_plan_apply").click().run()
    assert any("理由" in e.value for e in at.error)  # refused without a reason, in words
    assert audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.").empty
    at.text_area(key="gridplan_plan_reason").set_value("新建小区入住，户数将增加").run()
    at.button(key="gridplan_plan_apply").click().run()
    assert not at.exception, at.exception
    assert any("已完成拆分网格" in s.value for s in at.success)
    log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.")
    assert sorted(log["action"]) == ["grid.boundary", "grid.create"]
    assert all("新建小区入住" in d for d in log["detail"])
    engine.dispose()


def test_an_automatic_cut_is_shown_beside_the_current_grids_and_applied(town_url, monkeypatch):
    at, engine = page(town_url, monkeypatch, "community2")
    at.segmented_control(key="gridplan_mode").set_value("autocut").run()
    at.button(key="gridplan_cut_run").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["符合户数标准"] == "100%" and int(metrics["网格数"]) >= 6
    assert int(metrics["变更网格的居民"].replace(",", "")) >= 0
    if at.text_area:  # an estate split by the proposal needs a reason
        at.text_area(key="gridplan_cut_reason").set_value("按自动划分方案").run()
    at.button(key="gridplan_cut_apply").click().run()
    assert not at.exception, at.exception
    assert any("已完成自动划分" in s.value for s in at.success)
    engine.dispose()
