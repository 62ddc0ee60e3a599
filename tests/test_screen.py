"""The big screen: figures against hand counts on a tiny town, the map payload, the page."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box
from streamlit.testing.v1 import AppTest

from geo import auth, coverage, demo, screen, screen_map, settings, store
from geo.roles import Scope

NOW = datetime(2026, 11, 23, 10, 0)  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)
PAGE = settings.ROOT / "pages" / "screen.py"

# One street, one community of two grids (west / east), three buildings.
B1, B2, B3 = (103.9520, 30.9920), (103.9530, 30.9950), (103.9590, 30.9970)


def _ticket(tid, grid, category, state, created, due, *, urgent=False, accepted=None, resolved=None,
            closed=None, rating=None, where=None):
    lon, lat = where or (B1 if grid == 1 else B3)
    return dict(id=tid, code=f"T{tid}", category=category, description="x", state=state, urgent=urgent,
                street_id=1, community_id=1, grid_id=grid, created_at=created, updated_at=created,
                accepted_at=accepted, resolved_at=resolved, closed_at=closed, due_at=due, rating=rating,
                geom=Point(lon, lat))


def tiny_town() -> dict[str, list[dict]]:
    west, east = box(103.950, 30.990, 103.955, 30.998), box(103.955, 30.990, 103.960, 30.998)
    town = {
        "street": [dict(id=1, code="510182001", name="测试街道", geom=box(103.950, 30.990, 103.960, 30.998))],
        "community": [dict(id=1, street_id=1, code="510182001001", name="测试社区",
                           geom=box(103.950, 30.990, 103.960, 30.998))],
        "grid": [dict(id=1, community_id=1, code="510182001001001", name="西网格", grid_type="area", geom=west),
                 dict(id=2, community_id=1, code="510182001001002", name="东网格", grid_type="area", geom=east)],
        "building": [
            dict(id=i, grid_id=g, name=f"{i}栋", floors=6, units=2, households=hh, residents=r,
                 entrance_lon=lon, entrance_lat=lat, geom=Point(lon, lat).buffer(0.0001))
            for i, g, hh, r, (lon, lat) in [(1, 1, 40, 100, B1), (2, 1, 20, 50, B2), (3, 2, 10, 30, B3)]],
        "household": [dict(id=i, building_id=b, grid_id=g, unit_no=1, room=f"{i}01", size=2)
                      for i, b, g in [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 2, 1), (5, 2, 1), (6, 3, 2)]],
        "person": [dict(id=i, role=role, name=f"p{i}", street_id=1, community_id=1, grid_id=g)
                   for i, role, g in [(1, "party_member", 1), (2, "party_member", 1), (3, "party_member", 2),
                                      (4, "volunteer", 2), (5, "volunteer", 2), (6, "grid_head", 1),
                                      (7, "grid_head", 2)]],
        # the required types (geo.catalogue) beside building 1 (300 m reaches), the market (500 m)
        # beside building 2
        "facility": [dict(id=i, type=t, name=t, community_id=1, grid_id=1, geom=Point(lon, lat))
                     for i, (t, (lon, lat)) in enumerate(
                         [("service_station", (103.9521, 30.9921)), ("elderly_daycare", (103.9521, 30.9919)),
                          ("clinic", (103.9519, 30.9921)), ("kindergarten", (103.9519, 30.9919)),
                          ("market", (103.9530, 30.9951)), ("nursery", (103.9520, 30.9921)),
                          ("supermarket", (103.9520, 30.9919))], start=1)],
        "camera": [dict(id=i, code=f"C{i}", name=f"c{i}", grid_id=g, heading=0.0, fov=90.0, range_m=50.0,
                        status=s, kind="雪亮", geom=Point(103.9525 if g == 1 else 103.9575, 30.994))
                   for i, g, s in [(1, 1, "online"), (2, 1, "offline"), (3, 2, "online")]],
        "ticket": [
            _ticket(1, 1, "sanitation", "reported", NOW - 2 * H, NOW + D),
            _ticket(2, 1, "water", "in_progress", NOW - 3 * D, NOW - D, accepted=NOW - 3 * D + H),
            _ticket(3, 2, "dispute", "closed", NOW - 5 * D, NOW - D, accepted=NOW - 5 * D + H,
                    resolved=NOW - 2 * D, closed=NOW - H, rating=5),
            _ticket(4, 2, "sanitation", "closed", NOW - 10 * D, NOW - 8 * D, accepted=NOW - 10 * D + H,
                    resolved=NOW - 7 * D, closed=NOW - 6 * D, rating=2),
            _ticket(5, 1, "water", "community_dispatched", NOW - 30 * timedelta(minutes=1), NOW + 3 * H,
                    urgent=True, accepted=NOW - 29 * timedelta(minutes=1), where=B2),
            _ticket(6, 2, "dispute", "closed", NOW - 40 * D, NOW - 38 * D, accepted=NOW - 40 * D + H,
                    resolved=NOW - 36 * D, closed=NOW - 35 * D, rating=4),
        ],
    }
    ev = [(1, NOW - 2 * H, "report", "reported"), (2, NOW - 3 * D, "report", "reported"),
          (2, NOW - 3 * D + H, "accept", "grid_accepted"), (3, NOW - 5 * D, "report", "reported"),
          (4, NOW - 10 * D, "report", "reported"), (5, NOW - 30 * timedelta(minutes=1), "report", "reported"),
          (5, NOW - 29 * timedelta(minutes=1), "escalate", "community_dispatched"),
          (6, NOW - 40 * D, "report", "reported"), (1, NOW + H, "report", "reported")]  # the last: future
    town["ticket_event"] = [dict(id=i, ticket_id=t, at=at, actor="a", actor_role="grid", action=a,
                                 from_state=None, to_state=s) for i, (t, at, a, s) in enumerate(ev, start=1)]
    return town


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = store.make_engine(f"sqlite:///{tmp_path_factory.mktemp('screen')}/tiny.db")
    store.load_town(eng, tiny_town())
    yield eng
    eng.dispose()


WHOLE = Scope("street")


# --------------------------------------------------------------------------- figures, hand-counted

def test_population_figures(engine):
    assert screen.population(engine, WHOLE) == dict(residents=180, households=6, communities=1, grids=2,
                                                    party_members=3, volunteers=2)
    assert screen.population(engine, Scope("grid", grid_id=2)) == dict(
        residents=30, households=1, communities=1, grids=1, party_members=1, volunteers=2)
    assert screen.population(engine, Scope("street", street_id=1))["residents"] == 180
    assert screen.population(engine, Scope("street", street_id=99))["residents"] == 0


def test_ticket_figures(engine):
    frame = screen.load_tickets(engine, NOW, WHOLE)
    assert sorted(frame["id"]) == [1, 2, 3, 4, 5]  # ticket 6 closed 35 days ago is not needed
    f = screen.ticket_figures(frame, NOW)
    assert (f["open"], f["new_today"], f["closed_today"], f["overdue"], f["urgent_open"]) == (3, 2, 1, 1, 1)
    assert f["reported_period"] == 5
    # cases due: 2 (past its limit), 3 and 4 (closed); on time: 3 only
    assert f["on_time_rate"] == pytest.approx(1 / 3)
    # rated: 3 (5 stars) and 4 (2 stars)
    assert f["satisfaction_rate"] == pytest.approx(1 / 2)


def test_cameras(engine):
    assert screen.cameras(engine, WHOLE) == dict(cameras=3, cameras_online=2, cameras_offline=1, cameras_fault=0)
    assert screen.cameras(engine, Scope("grid", grid_id=1))["cameras_offline"] == 1


def test_service_circle_straight_line(engine):
    c = screen.service_circle(engine, WHOLE)
    # building 1 (100) beside the station, building 2 (50) beside the market, building 3 (30) far from all
    assert c["circle_residents"] == 150
    assert c["circle_share"] == pytest.approx(150 / 180)
    # every required type: only building 1 (building 2 is ~330 m from the 300 m station)
    assert c["complete_residents"] == 100
    assert screen.service_circle(engine, Scope("grid", grid_id=2))["circle_share"] == 0


def test_headline_gathers_everything(engine):
    h = screen.headline(engine, NOW, WHOLE)
    assert h["residents"] == 180 and h["open"] == 3 and h["cameras_online"] == 2 and h["circle_residents"] == 150


def test_feed_is_newest_reports_and_escalations(engine):
    feed = screen.feed(engine, NOW, WHOLE, limit=3)
    assert list(zip(feed["code"], feed["action"])) == [("T5", "escalate"), ("T5", "report"), ("T1", "report")]
    assert feed["urgent"].tolist() == [True, True, False]
    assert feed["category"].iloc[0] == "供水" and feed["grid"].iloc[0] == "西网格"
    assert "accept" not in set(screen.feed(engine, NOW, WHOLE, limit=50)["action"])


def test_trend_and_categories(engine):
    frame = screen.load_tickets(engine, NOW, WHOLE)
    tr = screen.trend(frame, NOW).set_index("day")
    assert len(tr) == 30 and tr.index[-1] == pd.Timestamp("2026-11-23")
    assert tr.loc["2026-11-23"].tolist() == [2, 1]
    assert tr.loc["2026-11-17", "closed"] == 1  # ticket 4
    assert tr["reported"].sum() == 5 and tr["closed"].sum() == 2
    cats = screen.by_category(frame, NOW)
    assert cats[["category", "reported", "open"]].values.tolist() == [
        ["water", 2, 2], ["sanitation", 2, 1], ["dispute", 1, 0]]


def test_rankings(engine):
    frame = screen.load_tickets(engine, NOW, WHOLE)
    names = screen.area_names(engine, WHOLE)
    grids = screen.ranking(frame, NOW, names["grid"], key="grid_id")
    assert grids[["name", "open", "overdue"]].values.tolist() == [["西网格", 3, 1], ["东网格", 0, 0]]
    assert grids["on_time_rate"].tolist() == pytest.approx([0.0, 0.5])
    comms = screen.ranking(frame, NOW, names["community"], key="community_id")
    assert comms[["name", "open", "overdue"]].values.tolist() == [["测试社区", 3, 1]]


def test_map_aggregates(engine):
    frame = screen.load_tickets(engine, NOW, WHOLE)
    load = screen.grid_load(frame, NOW).set_index("grid_id")
    assert load.loc[1].tolist() == [3, 1] and 2 not in load.index
    cells = screen.ticket_cells(frame, NOW)
    assert cells["count"].sum() == 5 and len(cells) == 3  # three places: B1, B2, B3
    al = screen.alerts(frame, NOW)
    assert al["code"].tolist() == ["T2", "T5"] and al["overdue"].tolist() == [True, False]
    assert al["hours_over"].tolist() == [24.0, 0.0]


def test_community_scope_equals_the_whole_here(engine):
    s_all = screen.build(engine, NOW, WHOLE)
    s_comm = screen.build(engine, NOW, Scope("community", community_id=1))
    assert s_all.figures == s_comm.figures
    east = screen.build(engine, NOW, Scope("grid", grid_id=2))
    assert east.figures["open"] == 0 and east.figures["closed_today"] == 1 and east.alerts.empty


# --------------------------------------------------------------------------- the map JSON

def test_deck_is_offline_and_small(engine):
    base, s = screen.basemap(engine, WHOLE), screen.build(engine, NOW, WHOLE)
    spec = json.loads(screen_map.deck(base, s).to_json())
    # no basemap at all: pydeck's sentinel, which Streamlit reads as "none" (None would mean Carto)
    assert spec["mapStyle"] == "__MAP_STYLE__" and "mapProvider" not in spec
    ids = [layer["id"] for layer in spec["layers"]]
    assert {"street", "grids", "communities", "community_names", "ticket_cells", "facilities", "cameras",
            "alert_halo", "alerts"} <= set(ids)
    cells = next(layer for layer in spec["layers"] if layer["id"] == "ticket_cells")
    assert sum(c["n"] for c in cells["data"]) == 5
    text = next(layer for layer in spec["layers"] if layer["id"] == "community_names")
    assert text["fontFamily"].startswith("Noto Sans CJK SC") and "测" in text["characterSet"]
    assert not any(str(v).startswith("@@=pixels") for layer in spec["layers"] for v in layer.values())
    online = json.loads(screen_map.deck(base, s, basemap="carto").to_json())
    assert online["mapProvider"] == "carto" and "cartocdn" in online["mapStyle"]
    with pytest.raises(ValueError):
        screen_map.deck(base, s, basemap="google")


def test_overdue_ring_pulses_without_moving_the_view(engine):
    base, s = screen.basemap(engine, WHOLE), screen.build(engine, NOW, WHOLE)
    specs = [json.loads(screen_map.deck(base, s, pulse=k).to_json()) for k in (0, 1)]
    rings = [next(layer for layer in spec["layers"] if layer["id"] == "overdue_ring") for spec in specs]
    ids = [layer["id"] for layer in specs[0]["layers"]]
    assert ids.index("overdue_ring") > ids.index("ticket_cells")  # drawn after the columns...
    assert rings[0]["parameters"]["depthTest"] is False  # ...and never hidden by them
    assert len(rings[0]["data"]) == 1  # T2 only: the urgent T5 is not overdue
    assert rings[0]["radiusMinPixels"] < rings[1]["radiusMinPixels"]
    assert specs[0]["initialViewState"] == specs[1]["initialViewState"]  # Streamlit keeps the view


def test_view_fits_the_bounds():
    v = screen_map.view_state((103.95, 30.99, 103.96, 30.998), width_px=1000, height_px=720, pitch=0)
    assert v.longitude == pytest.approx(103.955) and 15 < v.zoom < 17


def test_straight_line_matches_coverage_module():
    """Same rule as geo.coverage's straight-line REQUIRED target, on a generated town."""
    town = demo.generate(now=NOW, communities=2, tickets_per_street=10)
    frames = coverage.frames_from_town(town)
    plan = coverage.build_plan(frames)
    expected = np.asarray(coverage.analyse(plan, coverage.REQUIRED, method="straight").covered)
    b, f = plan.buildings, frames["facilities"]
    fac = pd.DataFrame({"type": f["type"], "lon": f.geometry.x, "lat": f.geometry.y})
    got = screen.straight_line_covered(b["entrance_lon"], b["entrance_lat"], fac, every=True)
    assert (got == expected).mean() > 0.999  # equal but for doors exactly on a reach boundary


# --------------------------------------------------------------------------- the page

@pytest.fixture
def page(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", str(engine.url))
    monkeypatch.setattr("geo.screen.BASEMAP", "offline")
    return _as_wall(AppTest.from_file(str(PAGE), default_timeout=60))


def _as_wall(at: AppTest, role: str = "screen") -> AppTest:
    """Signed in as the wall's read-only account (street scope), as the kiosk token does."""
    at.session_state["user"] = auth.User(id=1, username=role, role=role, display_name="大屏", street_id=1)
    return at


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def test_page_normal_view(page):
    at = page.run()
    assert not at.exception, at.exception
    text = _html(at)
    assert "测试街道 · 社区治理指挥中心" in text
    assert "超期工单" in text and "scr-red" in text  # an overdue ticket: the tile turns red
    assert "stSidebar" not in text  # chrome stays in the normal view
    assert at.selectbox(key="screen_community").options[0].startswith("全部")
    at.selectbox(key="screen_community").set_value(1).run()
    assert not at.exception, at.exception
    assert at.query_params["community"] == ["1"] or at.query_params["community"] == "1"
    assert "测试社区 · 社区治理指挥中心" in _html(at)


def test_page_kiosk_hides_chrome(page):
    page.query_params["kiosk"] = "1"
    at = page.run()
    assert not at.exception, at.exception
    text = _html(at)
    assert '[data-testid="stSidebar"]' in text and "display: none" in text
    assert len(at.selectbox) == 0  # nothing to click on the wall
    page2 = _as_wall(AppTest.from_file(str(PAGE), default_timeout=60))
    page2.query_params.update(kiosk="1", community="1")
    at2 = page2.run()
    assert "测试社区 · 社区治理指挥中心" in _html(at2)


def test_page_refuses_a_grid_worker(page):
    page.session_state["user"] = auth.User(id=2, username="gw", role="grid_worker", display_name="网格员",
                                           street_id=1, community_id=1, grid_id=1)
    at = page.run()
    assert at.error and "scr-kpis" not in _html(at)
