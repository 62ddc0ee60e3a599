"""The big screen: figures against hand counts on a tiny town, the map payload, the page."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from urllib.parse import unquote

import h3

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from geo import i18n, settings
from geo.coverage import coverage
from geo.demo import generator
from geo.tickets import indicators
from geo.screen import figures, map_data, panels, screen_map, wall
from geo.db import store
from geo.access import users
from geo.access.roles import Scope

NOW = datetime(2026, 11, 23, 10, 0)  # a Monday
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
PAGE = settings.ROOT / "pages" / "screen.py"

# One street of two communities: 测试社区 (grids 西 and 东, three buildings, every facility) and
# 北湖社区 to its east (one grid, one building, no facility). Roads: one east-west street along
# lat 30.9920 (an arterial) and three north-south lanes at lon 103.9520, 103.9590 and 103.9650.
B1, B2, B3, B4 = (103.9520, 30.9920), (103.9530, 30.9950), (103.9590, 30.9970), (103.9650, 30.9940)
WHERE = {1: B1, 2: B3, 3: B4}


def _ticket(tid, grid, category, state, created, due, *, urgent=False, accepted=None, resolved=None,
            closed=None, rating=None, where=None):
    lon, lat = where or WHERE[grid]
    return dict(id=tid, code=f"T{tid}", category=category, description="x", state=state, urgent=urgent,
                street_id=1, community_id=2 if grid == 3 else 1, grid_id=grid, created_at=created,
                updated_at=created, accepted_at=accepted, resolved_at=resolved, closed_at=closed, due_at=due,
                rating=rating, geom=Point(lon, lat))


def tiny_town() -> dict[str, list[dict]]:
    west, east = box(103.950, 30.990, 103.955, 30.998), box(103.955, 30.990, 103.960, 30.998)
    lake = box(103.960, 30.990, 103.970, 30.998)
    town = {
        "street": [dict(id=1, code="510182001", name="测试街道", geom=box(103.950, 30.990, 103.970, 30.998))],
        "community": [dict(id=1, street_id=1, code="510182001001", name="测试社区",
                           geom=box(103.950, 30.990, 103.960, 30.998)),
                      dict(id=2, street_id=1, code="510182001002", name="北湖社区", geom=lake)],
        "grid": [dict(id=1, community_id=1, code="510182001001001", name="西网格", grid_type="area", geom=west),
                 dict(id=2, community_id=1, code="510182001001002", name="东网格", grid_type="area", geom=east),
                 dict(id=3, community_id=2, code="510182001002001", name="湖网格", grid_type="area", geom=lake)],
        "building": [
            dict(id=i, grid_id=g, name=f"{i}栋", floors=6, units=2, households=hh, residents=r,
                 entrance_lon=lon, entrance_lat=lat, geom=Point(lon, lat).buffer(0.0001))
            for i, g, hh, r, (lon, lat) in [(1, 1, 40, 100, B1), (2, 1, 20, 50, B2), (3, 2, 10, 30, B3),
                                            (4, 3, 15, 60, B4)]],
        "household": [dict(id=i, building_id=b, grid_id=g, unit_no=1, room=f"{i}01", size=2)
                      for i, b, g in [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 2, 1), (5, 2, 1), (6, 3, 2),
                                      (7, 4, 3), (8, 4, 3)]],
        "person": [dict(id=i, role=role, name=f"p{i}", street_id=1, community_id=2 if g == 3 else 1, grid_id=g)
                   for i, role, g in [(1, "party_member", 1), (2, "party_member", 1), (3, "party_member", 2),
                                      (4, "volunteer", 2), (5, "volunteer", 2), (6, "grid_head", 1),
                                      (7, "grid_head", 2), (8, "party_member", 3), (9, "volunteer", 3)]],
        # the required types (geo.place.catalogue) beside building 1 (300 m reaches), the market (500 m)
        # beside building 2
        "facility": [dict(id=i, type=t, name=t, community_id=1, grid_id=1, geom=Point(lon, lat))
                     for i, (t, (lon, lat)) in enumerate(
                         [("service_station", (103.9521, 30.9921)), ("elderly_daycare", (103.9521, 30.9919)),
                          ("clinic", (103.9519, 30.9921)), ("kindergarten", (103.9519, 30.9919)),
                          ("market", (103.9530, 30.9951)), ("nursery", (103.9520, 30.9921)),
                          ("supermarket", (103.9520, 30.9919))], start=1)],
        "camera": [dict(id=i, code=f"C{i}", name=f"c{i}", grid_id=g, heading=0.0, fov=90.0, range_m=50.0,
                        status=s, kind="雪亮", geom=Point({1: 103.9525, 2: 103.9575, 3: 103.9650}[g], 30.994))
                   for i, g, s in [(1, 1, "online"), (2, 1, "offline"), (3, 2, "online"), (4, 3, "fault")]],
        "road": [dict(id=i, kind=k, name=f"r{i}", geom=LineString(c)) for i, k, c in [
            (1, "arterial", [(103.950, 30.992), (103.970, 30.992)]),
            (2, "lane", [(103.952, 30.990), (103.952, 30.998)]),
            (3, "lane", [(103.959, 30.990), (103.959, 30.998)]),
            (4, "lane", [(103.965, 30.990), (103.965, 30.998)])]],
        "ticket": [
            _ticket(1, 1, "sanitation", "reported", NOW - 2 * H, NOW + D),
            _ticket(2, 1, "water", "in_progress", NOW - 3 * D, NOW - D, accepted=NOW - 3 * D + H),
            _ticket(3, 2, "dispute", "closed", NOW - 5 * D, NOW - D, accepted=NOW - 5 * D + H,
                    resolved=NOW - 2 * D, closed=NOW - H, rating=5),
            _ticket(4, 2, "sanitation", "closed", NOW - 10 * D, NOW - 8 * D, accepted=NOW - 10 * D + H,
                    resolved=NOW - 7 * D, closed=NOW - 6 * D, rating=2),
            _ticket(5, 1, "water", "community_dispatched", NOW - 30 * M, NOW + 3 * H,
                    urgent=True, accepted=NOW - 29 * M, where=B2),
            _ticket(6, 2, "dispute", "closed", NOW - 40 * D, NOW - 38 * D, accepted=NOW - 40 * D + H,
                    resolved=NOW - 36 * D, closed=NOW - 35 * D, rating=4),
            # 北湖社区: one that ran out of time 30 minutes ago, one from the previous window (on time),
            # one reported yesterday morning, one closed 70 days ago (the screen never needs it)
            _ticket(7, 3, "sanitation", "in_progress", NOW - 4 * D, NOW - 30 * M, accepted=NOW - 4 * D + H),
            _ticket(8, 3, "water", "closed", NOW - 45 * D, NOW - 43 * D, accepted=NOW - 45 * D + H,
                    resolved=NOW - 44 * D, closed=NOW - 44 * D, rating=5),
            _ticket(9, 3, "dispute", "reported", NOW - D - 3 * H, NOW + 2 * D),
            _ticket(10, 3, "water", "closed", NOW - 75 * D, NOW - 73 * D, accepted=NOW - 75 * D + H,
                    resolved=NOW - 71 * D, closed=NOW - 70 * D, rating=5),
        ],
    }
    ev = [(1, NOW - 2 * H, "report", "reported"), (2, NOW - 3 * D, "report", "reported"),
          (2, NOW - 3 * D + H, "accept", "grid_accepted"), (3, NOW - 5 * D, "report", "reported"),
          (4, NOW - 10 * D, "report", "reported"), (5, NOW - 30 * M, "report", "reported"),
          (5, NOW - 29 * M, "escalate", "community_dispatched"),
          (6, NOW - 40 * D, "report", "reported"), (1, NOW + H, "report", "reported"),  # the last: future
          (7, NOW - 4 * D, "report", "reported"), (8, NOW - 45 * D, "report", "reported"),
          (9, NOW - D - 3 * H, "report", "reported")]
    town["ticket_event"] = [dict(id=i, ticket_id=t, at=at, actor="a", actor_role="grid", action=a,
                                 from_state=None, to_state=s) for i, (t, at, a, s) in enumerate(ev, start=1)]
    # the users the page tests sign in as: the app re-reads the signed-in user's row on every run
    town["app_user"] = [dict(id=1, username="screen", password_hash="-", role="screen", display_name="大屏",
                             street_id=1, active=True),
                        dict(id=2, username="gw", password_hash="-", role="grid_worker", display_name="网格员",
                             street_id=1, community_id=1, grid_id=1, active=True)]
    return town


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = store.make_engine(f"sqlite:///{tmp_path_factory.mktemp('screen')}/tiny.db")
    store.load_town(eng, tiny_town())
    yield eng
    eng.dispose()


WHOLE = Scope("street")
NORTH_LAKE = Scope("community", community_id=2)


# --------------------------------------------------------------------------- figures, hand-counted

def test_population_figures(engine):
    assert figures.population(engine, WHOLE) == dict(residents=240, households=8, communities=2, grids=3,
                                                    party_members=4, volunteers=3)
    assert figures.population(engine, Scope("grid", grid_id=2)) == dict(
        residents=30, households=1, communities=1, grids=1, party_members=1, volunteers=2)
    assert figures.population(engine, NORTH_LAKE) == dict(
        residents=60, households=2, communities=1, grids=1, party_members=1, volunteers=1)
    assert figures.population(engine, Scope("street", street_id=1))["residents"] == 240
    assert figures.population(engine, Scope("street", street_id=99))["residents"] == 0


def test_ticket_figures(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    # two 30-day windows: ticket 6 (closed 35 days ago) and 8 (45) are the previous window; 10 (70) is out
    assert sorted(frame["id"]) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    f = figures.ticket_figures(frame, NOW)
    assert (f["open"], f["new_today"], f["closed_today"], f["overdue"], f["urgent_open"]) == (5, 2, 1, 2, 1)
    assert f["reported_period"] == 7  # 1, 2, 3, 4, 5, 7, 9
    # cases due: 2 and 7 (past their limit), 3 and 4 (closed); on time: 3 only
    assert f["on_time_rate"] == pytest.approx(1 / 4)
    # rated: 3 (5 stars) and 4 (2 stars)
    assert f["satisfaction_rate"] == pytest.approx(1 / 2)


def test_compare_with_yesterday_and_the_previous_window(engine):
    c = figures.compare(figures.load_tickets(engine, NOW, WHOLE), NOW)
    # 24 hours ago (Sunday 10:00) tickets 2, 3, 7 and 9 were open; 9 had come in that morning
    assert (c["open"].current, c["open"].previous, c["open"].tone) == (5, 4, "bad")
    assert (c["new_today"].previous, c["new_today"].delta, c["new_today"].tone) == (1, 1, "neutral")
    assert (c["closed_today"].previous, c["closed_today"].tone) == (0, "good")
    # tickets 2 and 3 fell due exactly at that moment: not yet overdue then (a limit is kept until it passes)
    assert (c["overdue"].current, c["overdue"].previous, c["overdue"].tone) == (2, 0, "bad")
    # previous window: 6 (late) and 8 (on time), both rated well
    assert (c["reported_period"].current, c["reported_period"].previous) == (7, 2)
    assert (c["on_time_rate"].previous, c["on_time_rate"].delta) == (pytest.approx(0.5), pytest.approx(-0.25))
    assert c["on_time_rate"].tone == "bad"
    assert (c["satisfaction_rate"].previous, c["satisfaction_rate"].tone) == (1.0, "bad")
    assert figures.Change(3, 3, False).tone == "flat" and figures.Change(2, 3, False).tone == "good"
    frame = figures.load_tickets(engine, NOW, WHOLE)
    assert figures.compare(frame, NOW, figures=figures.ticket_figures(frame, NOW)) == c  # figures passed in
    assert figures.Change(0.5, float("nan"), True).tone == "neutral"


def test_yesterdays_overdue_leaves_out_tickets_already_waiting_for_their_rating(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE).copy()
    row = frame.index[frame["id"] == 3][0]  # open 24 hours ago; now its limit ran out two days ago
    frame.loc[row, ["state", "due_at", "resolved_at"]] = ["resolved", NOW - 2 * D, NOW - D - H]
    resolved_by_then = figures.compare(frame, NOW)["overdue"].previous  # fixed an hour before that moment
    frame.loc[row, "resolved_at"] = NOW - H
    still_owing_then = figures.compare(frame, NOW)["overdue"].previous  # fixed only this morning
    assert still_owing_then == resolved_by_then + 1  # the headline's rule (workflow.overdue), a day earlier


def test_open_at_a_past_moment(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    def was_open(at):
        return sorted(frame.loc[figures.open_at(frame, at), "id"])

    assert was_open(NOW - 6 * D - M) == [4]  # a minute before it was closed
    assert was_open(NOW - 6 * D) == []  # closed that very minute; 3 and 7 not reported yet
    assert was_open(NOW - 3 * D) == [2, 3, 7]  # 2 reported that very minute; 1, 5, 9 not yet


def test_newly_overdue_is_only_what_ran_out_since_the_last_refresh(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    # ticket 7 ran out at 09:30; ticket 2 a day ago (overdue, but not new)
    assert figures.newly_overdue(frame, NOW - H, NOW)["code"].tolist() == ["T7"]
    assert figures.newly_overdue(frame, NOW - 30 * M, NOW)["code"].tolist() == ["T7"]  # (since, now]
    assert figures.newly_overdue(frame, NOW - 29 * M, NOW).empty  # already overdue at the last refresh
    assert figures.newly_overdue(frame, NOW - H, NOW - 30 * M).empty  # at 09:30 itself the limit still holds
    new = figures.newly_overdue(frame, NOW - 2 * D, NOW)
    assert new["code"].tolist() == ["T7", "T2"] and new["category"].tolist() == ["环境卫生", "供水"]
    assert figures.newly_overdue(frame.iloc[:0], NOW - H, NOW).empty


def test_cameras_count_fault_apart(engine):
    assert figures.cameras(engine, WHOLE) == dict(cameras=4, cameras_online=2, cameras_offline=1, cameras_fault=1)
    assert figures.cameras(engine, Scope("grid", grid_id=1))["cameras_offline"] == 1
    assert figures.cameras(engine, NORTH_LAKE) == dict(cameras=1, cameras_online=0, cameras_offline=0,
                                                      cameras_fault=1)


def test_camera_counts_from_the_map_points_match_cameras(engine):
    # build() counts the cameras from the map's rows (one read): the same figures, per camera or per cell
    for scope in (WHOLE, Scope("grid", grid_id=1), NORTH_LAKE):
        for wide in (False, True):
            points = map_data.camera_points(engine, scope, wide=wide)
            assert figures.camera_counts(points) == figures.cameras(engine, scope), (scope, wide)


@pytest.fixture(scope="module")
def plan(engine):
    return figures.walking_plan(engine)


def test_walking_circle_hand_counted(engine, plan):
    """The headline: every required type within its own standard reach, walking (the planning page's
    figure, issue 13): only building 1 (100 people), beside the four 300-m types; building 2 walks ~430 m
    to them. Beneath it, named 宽口径: every required type within a 15-minute walk (1,125 m) along the roads.

    Building 1 stands at the street/lane corner beside the four 300-m types (~15 m) and walks
    ~345 m up the lane and ~95 m across to the market: covered. Building 2 is ~95 m off the lane,
    ~430 m from the corner and ~200 m from the market: covered. Building 3 is 868 m from the
    corner in a straight line but walks 554 m down its lane and 668 m along the street = 1,222 m:
    not covered. Building 4 walks 222 + 1,241 m: not covered.
    """
    assert plan is not None
    c = figures.service_circle(engine, WHOLE, plan=plan)
    assert c["circle_method"] == "walking" and c["circle_reach_m"] == pytest.approx(1125)
    assert (c["circle_residents"], c["circle_share"]) == (100, pytest.approx(100 / 240))
    assert (c["circle_loose_residents"], c["circle_loose_share"]) == (150, pytest.approx(150 / 240))
    one = figures.walking_circle(plan, Scope("community", community_id=1))
    assert (one["circle_share"], one["circle_loose_share"]) == (pytest.approx(100 / 180), pytest.approx(150 / 180))
    assert figures.walking_circle(plan, NORTH_LAKE)["circle_residents"] == 0
    assert figures.walking_circle(plan, Scope("grid", grid_id=2))["circle_share"] == 0
    # one figure, one definition: what the planning page opens on (全部必需设施, walking, standard reach)
    planner = coverage.analyse(plan, coverage.REQUIRED, method="walking").summary().loc[coverage.REQUIRED]
    assert c["circle_share"] == pytest.approx(planner["share"]) and c["circle_residents"] == planner["covered"]


def test_an_areas_wall_walks_on_its_own_plan_with_the_same_circle(engine, plan):
    """Issue 15: the wall and the monthly report built the walking plan of the whole database for any area
    (a street's wall on a city database: every street). An area's plan holds its own buildings only (the
    roads and facilities within a walk around it) and gives the area the same circle as the whole plan."""
    one = Scope("community", community_id=1)
    own = figures.walking_plan(engine, one)
    assert own is not None and len(own.buildings) < len(plan.buildings)
    assert set(own.buildings["id"]) == set(plan.buildings.loc[figures.scope_mask(plan.buildings, one), "id"])
    assert figures.walking_circle(own, one) == figures.walking_circle(plan, one)


def test_a_wall_across_more_streets_than_a_plan_holds_measures_in_a_straight_line(engine, monkeypatch):
    monkeypatch.setattr(figures, "WALK_PLAN_MAX_STREETS", 0)  # the test town has one street
    assert figures.walking_plan(engine, WHOLE) is None
    assert figures.service_circle(engine, WHOLE, plan=None)["circle_method"] == "straight"


def test_straight_line_fallback(engine, monkeypatch, caplog):
    # the same rules in a straight line: by standard reach building 2 is still out (346 m from the 300-m
    # types at the corner); within 1,125 m building 3 (868 m) now counts, building 4 (1,261 m) still not
    c = figures.service_circle(engine, WHOLE)
    assert c["circle_method"] == "straight" and (c["circle_residents"], c["circle_types"]) == (100, 6)
    assert c["circle_loose_residents"] == 180
    assert figures.service_circle(engine, NORTH_LAKE)["circle_share"] == 0
    monkeypatch.setattr(coverage, "load_frames", lambda e, **k: {"buildings": None})  # a plan that cannot be built
    with caplog.at_level("WARNING"):
        assert figures.walking_plan(engine) is None
    assert "straight lines" in caplog.text


def test_straight_line_by_catalogue_reach(engine):
    b = store.read_frame(engine, text("SELECT residents, entrance_lon, entrance_lat FROM building ORDER BY id"))
    f = pd.DataFrame({"type": ["service_station", "market"], "lon": [103.9521, 103.9530], "lat": [30.9921, 30.9951]})
    # any type within its own reach: 1 (station), 2 (market); every required type: nobody (three missing)
    assert figures.straight_line_covered(b["entrance_lon"], b["entrance_lat"], f).tolist() == [True, True, False, False]
    assert not figures.straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True).any()


def test_headline_gathers_everything(engine, plan):
    h = figures.headline(engine, NOW, WHOLE, plan=plan)
    assert h["residents"] == 240 and h["open"] == 5 and h["cameras_online"] == 2 and h["circle_residents"] == 100
    shown = wall.build(engine, NOW, WHOLE, plan=plan).figures  # the screen shows these very figures
    assert shown.keys() == h.keys() and all(v == h[k] or (v != v and h[k] != h[k]) for k, v in shown.items())  # NaN: "—"


def test_feed_is_newest_reports_and_escalations(engine):
    feed = panels.feed(engine, NOW, WHOLE, limit=4)
    assert list(zip(feed["code"], feed["action"])) == [("T5", "escalate"), ("T5", "report"), ("T1", "report"),
                                                       ("T9", "report")]
    assert feed["urgent"].tolist() == [True, True, False, False]
    assert feed["category"].iloc[0] == "供水" and feed["grid"].iloc[0] == "西网格"
    # today's events by the clock alone, yesterday's with their date
    assert feed["when"].tolist() == ["09:31", "09:30", "08:00", "11-22 07:00"]
    assert "accept" not in set(panels.feed(engine, NOW, WHOLE, limit=50)["action"])


def test_data_as_of_is_the_newest_event(engine):
    assert figures.data_as_of(engine, NOW, WHOLE) == NOW - 29 * M  # the future event is not counted
    assert figures.data_as_of(engine, NOW, NORTH_LAKE) == NOW - D - 3 * H
    assert figures.data_as_of(engine, NOW, Scope("street", street_id=99)) is None


def test_trend_with_the_previous_window(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    tr = panels.trend(frame, NOW).set_index("day")
    assert len(tr) == 30 and tr.index[-1] == pd.Timestamp("2026-11-23")
    assert tr.loc["2026-11-23"].tolist() == [2, 1, 0]
    assert tr.loc["2026-11-17", "closed"] == 1  # ticket 4
    assert tr["reported"].sum() == 7 and tr["closed"].sum() == 2
    # previous window drawn on the same days 30 days on: 6 (10-14 → 11-13) and 8 (10-09 → 11-08)
    assert tr["reported_prev"].sum() == 2
    assert tr.loc["2026-11-13", "reported_prev"] == 1 and tr.loc["2026-11-08", "reported_prev"] == 1


def test_categories(engine):
    cats = panels.by_category(figures.load_tickets(engine, NOW, WHOLE), NOW)
    assert cats[["category", "reported", "open"]].values.tolist() == [
        ["sanitation", 3, 2], ["water", 2, 2], ["dispute", 2, 1]]


def test_rankings_by_load_and_by_on_time(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    names = panels.area_names(engine, WHOLE)
    grids = panels.ranking(frame, NOW, names["grid"], key="grid_id")
    assert grids[["name", "open", "overdue", "due"]].values.tolist() == [
        ["西网格", 3, 1, 1], ["湖网格", 2, 1, 1], ["东网格", 0, 0, 2]]
    assert grids["on_time_rate"].tolist() == pytest.approx([0.0, 0.0, 0.5])
    comms = panels.ranking(frame, NOW, names["community"], key="community_id")
    assert comms[["name", "open", "overdue"]].values.tolist() == [["测试社区", 3, 1], ["北湖社区", 2, 1]]
    # worst on-time first, among areas with enough cases due
    assert panels.ranking(frame, NOW, names["grid"], key="grid_id", by="on_time").empty  # none has 3 due
    worst = panels.ranking(frame, NOW, names["grid"], key="grid_id", by="on_time", min_due=2)
    assert worst[["name", "due", "on_time_rate"]].values.tolist() == [["东网格", 2, 0.5]]
    worst = panels.ranking(frame, NOW, names["community"], key="community_id", by="on_time", min_due=1)
    assert worst["name"].tolist() == ["北湖社区", "测试社区"]
    assert worst["on_time_rate"].tolist() == pytest.approx([0.0, 1 / 3])
    with pytest.raises(ValueError):
        panels.ranking(frame, NOW, names["grid"], key="grid_id", by="speed")


def test_on_time_by_agrees_with_indicators():
    """The vectorised per-area rate is geo.tickets.indicators' 按期结案率, area by area, on a generated town."""
    town = generator.generate(now=NOW, communities=2, tickets_per_street=300)
    frame = pd.DataFrame(town["ticket"])
    for col in ("created_at", "closed_at", "due_at", "resolved_at", "accepted_at", "first_response_at"):
        frame[col] = pd.to_datetime(frame[col])
    got = panels.on_time_by(frame, "grid_id", NOW)
    start = NOW - timedelta(days=figures.PERIOD_DAYS)
    want = indicators.by(frame, "grid_id", NOW, start=start, end=NOW).set_index("grid_id")
    assert got["due"].sum() > 10 and got["on_time"].sum() < got["due"].sum()  # enough, and not all on time
    for gid, row in got.iterrows():
        assert (row["due"], row["on_time"]) == (want.loc[gid, "due"], want.loc[gid, "closed_on_time"])


def test_open_tickets_by_stage_and_age(engine):
    st = panels.open_by_stage_age(figures.load_tickets(engine, NOW, WHOLE), NOW)
    assert list(st.index) == ["grid", "community", "street", "handler", "resident"]
    # 1 (2 h) and 9 (27 h) wait in the grid; 5 (30 min) with the community;
    # 2 (exactly 3 days: the 3–7 bucket) and 7 (4 days) with the handler
    assert st.loc["grid"].tolist() == [1, 1, 0, 0, 2]
    assert st.loc["community"].tolist() == [1, 0, 0, 0, 1]
    assert st.loc["handler"].tolist() == [0, 0, 2, 0, 2]
    assert st["total"].sum() == 5 and st.loc["street"].sum() == 0


def test_map_aggregates(engine):
    frame = figures.load_tickets(engine, NOW, WHOLE)
    load = map_data.grid_load(frame, NOW).set_index("grid_id")
    assert load.loc[1].tolist() == [3, 1] and load.loc[3].tolist() == [2, 1] and 2 not in load.index
    cells = map_data.ticket_cells(frame, NOW)
    assert cells["count"].sum() == 7 and len(cells) == 4  # four places: B1, B2, B3, B4
    al = map_data.alerts(frame, NOW)
    assert al["code"].tolist() == ["T2", "T7", "T5"] and al["overdue"].tolist() == [True, True, False]
    assert al["hours_over"].tolist() == [24.0, 0.5, 0.0]


def test_cell_counts_and_camera_points(engine):
    pts = pd.DataFrame({"lon": [103.9520, 103.9521, 103.9650], "lat": [30.9920, 30.9921, 30.9940],
                        "status": ["online", "fault", "online"]})
    cells = map_data.cell_counts(pts, "status").sort_values("n", ignore_index=True)
    assert cells[["n", "online", "fault"]].values.tolist() == [[1, 1, 0], [2, 1, 1]]
    assert abs(cells["lon"].iloc[1] - 103.952) < 0.005  # the centre of the cell that holds both
    one = map_data.camera_points(engine, WHOLE, wide=False)
    assert len(one) == 4 and one["n"].tolist() == [1, 1, 1, 1]
    assert one[["online", "offline", "fault"]].sum().tolist() == [2, 1, 1]
    wide = map_data.camera_points(engine, WHOLE, wide=True)
    assert wide["n"].sum() == 4 and len(wide) < 4


def test_drilling_down_filters_every_figure(engine):
    """北湖社区 alone: every panel of the screen holds only what lies in it."""
    s = wall.build(engine, NOW, NORTH_LAKE)
    f = s.figures
    assert (f["residents"], f["households"], f["grids"], f["party_members"], f["volunteers"]) == (60, 2, 1, 1, 1)
    assert (f["open"], f["new_today"], f["closed_today"], f["overdue"], f["urgent_open"]) == (2, 0, 0, 1, 0)
    assert f["reported_period"] == 2 and f["on_time_rate"] == 0.0 and math.isnan(f["satisfaction_rate"])
    assert (f["cameras"], f["cameras_fault"], f["circle_residents"]) == (1, 1, 0)
    assert (s.changes["open"].previous, s.changes["on_time_rate"].previous) == (2, 1.0)
    assert set(s.feed["code"]) == {"T7", "T8", "T9"}
    assert s.as_of == NOW - D - 3 * H
    assert s.trend["reported"].sum() == 2 and s.trend["reported_prev"].sum() == 1
    assert s.categories["category"].tolist() == ["dispute", "sanitation"]
    assert s.communities["name"].tolist() == ["北湖社区"] and s.grids["name"].tolist() == ["湖网格"]
    assert s.alerts["code"].tolist() == ["T7"] and s.grid_load["grid_id"].tolist() == [3]
    assert s.cells["count"].tolist() == [2] and len(s.cameras) == 1
    assert s.stages["total"].tolist() == [1, 0, 0, 1, 0]
    assert set(s.frame["id"]) == {7, 8, 9}
    base = map_data.basemap(engine, NORTH_LAKE)
    assert base.grids["name"].tolist() == ["湖网格"] and base.facilities.empty
    assert base.communities["name"].tolist() == ["北湖社区"]
    # and the two communities add up to the street
    west = wall.build(engine, NOW, Scope("community", community_id=1))
    whole = wall.build(engine, NOW, WHOLE)
    for k in ("residents", "households", "open", "new_today", "closed_today", "overdue", "cameras"):
        assert west.figures[k] + f[k] == whole.figures[k], k
    east = wall.build(engine, NOW, Scope("grid", grid_id=2))
    assert east.figures["open"] == 0 and east.figures["closed_today"] == 1 and east.alerts.empty


# --------------------------------------------------------------------------- configuration

def test_refresh_interval_from_the_environment(caplog):
    assert figures.refresh_seconds(None) == 30 and figures.refresh_seconds(" 45 ") == 45
    with caplog.at_level("WARNING"):
        assert figures.refresh_seconds("30s") == 30
        assert figures.refresh_seconds("2") == 5
    assert "30s" in caplog.text and "below 5" in caplog.text


def test_basemap_choice(caplog):
    tiles = "http://intranet.local/tiles/{z}/{x}/{y}.png"
    assert figures.basemap_choice(None, None) == ("offline", None)
    assert figures.basemap_choice(" Carto ", None) == ("carto", None)
    assert figures.basemap_choice(None, tiles) == ("tiles", tiles)
    assert figures.basemap_choice("tiles", "/tiles/{z}/{x}/{y}.png") == ("tiles", "/tiles/{z}/{x}/{y}.png")
    assert figures.basemap_choice("offline", tiles) == ("offline", None)
    with caplog.at_level("WARNING"):
        assert figures.basemap_choice("google", None) == ("offline", None)
        assert figures.basemap_choice("tiles", None) == ("offline", None)
        assert figures.basemap_choice(None, "ftp://x/{z}/{x}/{y}") == ("offline", None)
        assert figures.basemap_choice(None, "http://x/tiles.png") == ("offline", None)
    assert "google" in caplog.text and "SHEQU_SCREEN_TILES" in caplog.text


def test_bad_configuration_does_not_stop_the_import():
    env = dict(os.environ, SHEQU_SCREEN_REFRESH_S="half a minute", SHEQU_SCREEN_BASEMAP="google")
    out = subprocess.run([sys.executable, "-c", "from geo.screen import figures; print(figures.REFRESH_S, figures.BASEMAP)"],
                         cwd=settings.ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["30", "offline"]
    assert "half a minute" in out.stderr and "google" in out.stderr


# --------------------------------------------------------------------------- the map JSON

def _layer(spec, layer_id):
    return next(layer for layer in spec["layers"] if layer["id"] == layer_id)


def test_deck_is_offline_and_small(engine):
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    spec = json.loads(screen_map.deck(base, s).to_json())
    # no basemap at all: pydeck's sentinel, which Streamlit reads as "none" (None would mean Carto)
    assert spec["mapStyle"] == "__MAP_STYLE__" and "mapProvider" not in spec
    ids = [layer["id"] for layer in spec["layers"]]
    assert {"street", "roads", "grids", "communities", "community_names", "ticket_cells", "facilities", "cameras",
            "overdue_ring", "alerts"} <= set(ids)
    assert "alert_halo" not in ids  # the alert points travel once (and once more in the overdue ring)
    assert sum(c["k"] for c in _layer(spec, "ticket_cells")["data"]) == 7
    text = _layer(spec, "community_names")
    assert text["fontFamily"].startswith("Noto Sans CJK SC") and "测" in text["characterSet"]
    assert not any(str(v).startswith("@@=pixels") for layer in spec["layers"] for v in layer.values())
    # every coordinate rounded to 5 decimals (about 1 m)
    coords = re.findall(r"\d+\.\d+", json.dumps([_layer(spec, k)["data"] for k in ("grids", "roads", "cameras")]))
    assert coords and max(len(c.split(".")[1]) for c in coords) <= 5
    cams = _layer(spec, "cameras")["data"]
    assert sorted(tuple(c["c"][:3]) for c in cams) == sorted(
        tuple(screen_map.CAMERA_COLORS[k][:3]) for k in ("online", "offline", "online", "fault"))
    online = json.loads(screen_map.deck(base, s, basemap="carto").to_json())
    assert online["mapProvider"] == "carto" and "cartocdn" in online["mapStyle"]
    assert "roads" not in [layer["id"] for layer in online["layers"]]  # the tiles have roads
    with pytest.raises(ValueError):
        screen_map.deck(base, s, basemap="google")
    with pytest.raises(ValueError):
        screen_map.deck(base, s, basemap="tiles")


def test_self_hosted_tiles_as_a_raster_style(engine):
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    url = "http://intranet.local/tiles/{z}/{x}/{y}.png"
    spec = json.loads(screen_map.deck(base, s, basemap="tiles", tiles_url=url).to_json())
    assert spec["mapStyle"].startswith("data:application/json,") and "mapProvider" not in spec
    style = json.loads(unquote(spec["mapStyle"].split(",", 1)[1]))
    assert style["sources"]["tiles"] == {"type": "raster", "tiles": [url], "tileSize": 256}
    assert style["layers"] == [{"id": "tiles", "type": "raster", "source": "tiles"}]


def test_every_pickable_layer_says_something(engine):
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    d = screen_map.deck(base, s)
    spec = json.loads(d.to_json())
    assert d._tooltip == {"text": "{n}"}  # what st.pydeck_chart sends beside the spec
    for layer in spec["layers"]:
        if layer.get("pickable"):
            assert all(str(row.get("n", "")).strip() for row in layer["data"]), layer["id"]
    alerts = _layer(spec, "alerts")["data"]
    assert alerts[0]["n"] == "T2 供水 超期24小时" and alerts[2]["n"] == "T5 供水 紧急"
    assert _layer(spec, "grids")["data"][0]["n"] == "西网格 在办3"


def test_only_newly_overdue_tickets_get_the_wide_ring(engine):
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    steady = json.loads(screen_map.deck(base, s).to_json())
    ids = [layer["id"] for layer in steady["layers"]]
    assert "fresh_overdue" not in ids
    ring = _layer(steady, "overdue_ring")
    assert ids.index("overdue_ring") > ids.index("ticket_cells")  # drawn after the columns...
    assert ring["parameters"]["depthTest"] is False  # ...and never hidden by them
    assert len(ring["data"]) == 2  # T2 and T7: the urgent T5 is not overdue
    fresh = figures.newly_overdue(s.frame, NOW - H, NOW)
    flashing = json.loads(screen_map.deck(base, s, fresh=fresh).to_json())
    wide = _layer(flashing, "fresh_overdue")
    assert [row["x"] for row in wide["data"]] == [[103.965, 30.994]]  # T7, at building 4
    assert wide["getRadius"] > ring["getRadius"] and wide["getLineWidth"] > ring["getLineWidth"]
    assert steady["initialViewState"] == flashing["initialViewState"]  # Streamlit keeps the view


def test_wide_scope_aggregates_points_and_drops_lanes(engine, monkeypatch):
    monkeypatch.setattr(figures, "streets_in", lambda engine, scope: 20)  # as if the district's 20 streets
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    assert base.wide and s.wide
    # lanes are thinner than a pixel at district scale, and streets run along the grid outlines
    assert set(base.roads["kind"]) == {"arterial"}
    assert base.facilities["n"].sum() == 7 and len(base.facilities) < 7
    spec = json.loads(screen_map.deck(base, s).to_json())
    fac, cams = _layer(spec, "facilities"), _layer(spec, "cameras")
    assert sum(int(re.search(r"\d+", row["n"])[0]) for row in fac["data"]) == 7
    assert cams["data"][0]["n"].startswith("监控") and len(cams["data"]) < 4
    # hundreds of overdue tickets in a district: red dots without the ring; street names, not communities'
    ids = [layer["id"] for layer in spec["layers"]]
    assert "overdue_ring" not in ids and len(_layer(spec, "alerts")["data"]) == 3
    assert [row["t"] for row in _layer(spec, "community_names")["data"]] == ["测试街道"]
    assert all(h3.get_resolution(c["h"]) == figures.WIDE_H3_RESOLUTION for c in _layer(spec, "ticket_cells")["data"])
    assert map_data.tolerance_m((103.0, 30.0, 103.2, 30.1), wide=True) == pytest.approx(9.6, abs=0.2)
    assert map_data.tolerance_m((103.0, 30.0, 103.2, 30.1), wide=False) == figures.SIMPLIFY_M


def test_legend_matches_the_map(engine):
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    items = {i["key"]: i for i in screen_map.legend(base, s)}
    assert (items["screen.lg_load"]["lo"], items["screen.lg_load"]["hi"]) == (0, 3)  # 西网格's 3 open
    assert items["screen.lg_load"]["hi"] == screen_map.grid_layer(base, s)[1]  # the layer's own top
    assert items["screen.lg_camera_fault"]["color"] == "rgb(255,176,0)"
    assert items["screen.lg_overdue"]["kind"] == "ring"
    assert all(i18n.t(k) != k for k in items)  # every label has its words


def test_hex_columns_say_what_they_count_in_colours_of_their_own(engine):
    """Issue 13, item 8: a column's tooltip was a bare number, and its colours were the grids' load ramp."""
    base, s = map_data.basemap(engine, WHOLE), wall.build(engine, NOW, WHOLE)
    spec = json.loads(screen_map.deck(base, s).to_json())
    cells, grids = _layer(spec, "ticket_cells"), _layer(spec, "grids")
    assert cells["getElevation"] == "@@=k" and cells["pickable"]  # the Deck's one tooltip is "{n}"
    top = max(cells["data"], key=lambda c: c["k"])
    assert top["n"] == f"此六边形内近{figures.PERIOD_DAYS}天上报工单 {top['k']} 件"
    # every column colour is far from every grid colour (RGB distance), the hottest included
    hexes = np.array([c["c"][:3] for c in cells["data"]], dtype=float)
    loads = np.array([g["c"][:3] for g in grids["data"]] + screen_map.RAMP.tolist(), dtype=float)
    assert np.linalg.norm(hexes[:, None, :] - loads[None, :, :], axis=2).min() > 60
    items = {i["key"]: i for i in screen_map.legend(base, s)}
    assert items["screen.lg_cells"]["kind"] == "ramp" and items["screen.lg_cells"]["hi"] == top["k"]


def test_view_fits_the_bounds():
    v = screen_map.view_state((103.95, 30.99, 103.96, 30.998), width_px=1000, height_px=720, pitch=0)
    assert v.longitude == pytest.approx(103.955) and 15 < v.zoom < 17


@pytest.mark.parametrize("bounds", [(103.95, 30.99, 103.96, 30.998), (104.0, 30.6, 104.03, 30.62),
                                    (104.0, 30.6, 104.01, 30.63)], ids=["street", "wide", "tall"])
def test_a_tilted_view_shows_the_whole_area_below_the_legend(bounds):
    """Issue 13, item 8: fitted as if upright (and zoomed in a little for the tilt), the wall's 40° view cut
    off the street's south. Each edge of the box lands on a screen row inside the map, under the legend."""
    w, h = 1000, 600
    v = screen_map.view_state(bounds, width_px=w, height_px=h, pitch=40)
    x0, y0, x1, y1 = bounds
    px_per_deg = 512 * 2 ** v.zoom / 360 / math.cos(math.radians(v.latitude))  # ground px per degree of lat
    south, north = (y0 - v.latitude) * px_per_deg, (y1 - v.latitude) * px_per_deg
    assert south >= screen_map.ground_offset(h / 2, h, 40)  # above the bottom row
    assert north <= screen_map.ground_offset(-h / 2 + screen_map.LEGEND_PX, h, 40)  # below the legend
    # the bottom row (nearest the camera) shows the least ground across: the box fits there too
    assert (x1 - x0) * 512 * 2 ** v.zoom / 360 <= w * 0.79
    # and it is not drawn small: within 0.4 zoom levels of the tightest fit
    upright = screen_map.view_state(bounds, width_px=w, height_px=h, pitch=0, top_px=0)
    assert abs(v.zoom - upright.zoom) < 0.4
    # upright, a row meets the ground where it is drawn
    assert screen_map.ground_offset(120, h, 0) == pytest.approx(-120)


def test_straight_line_matches_coverage_module():
    """Same rule as geo.coverage.coverage's straight-line REQUIRED target, on a generated town."""
    town = generator.generate(now=NOW, communities=2, tickets_per_street=10)
    frames = coverage.frames_from_town(town)
    plan = coverage.build_plan(frames)
    expected = np.asarray(coverage.analyse(plan, coverage.REQUIRED, method="straight").covered)
    b, f = plan.buildings, frames["facilities"]
    fac = pd.DataFrame({"type": f["type"], "lon": f.geometry.x, "lat": f.geometry.y})
    got = figures.straight_line_covered(b["entrance_lon"], b["entrance_lat"], fac, every=True)
    assert (got == expected).mean() > 0.999  # equal but for doors exactly on a reach boundary


# --------------------------------------------------------------------------- the page

@pytest.fixture
def page(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", str(engine.url))
    monkeypatch.setattr("geo.screen.figures.BASEMAP", "offline")
    return _as_wall(AppTest.from_file(str(PAGE), default_timeout=60))


def _as_wall(at: AppTest, role: str = "screen") -> AppTest:
    """Signed in as the wall's read-only account (street scope), as the kiosk token does."""
    at.session_state["user"] = users.User(id=1, username=role, role=role, display_name="大屏", street_id=1)
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


def test_a_drilled_wall_has_a_way_back_and_the_map_drills_by_its_grids(page, engine):
    """Issue 13, item 8: the kiosk has no sidebar, so the map drills down (a click on a grid opens its
    community) and a drilled wall shows a button back to the whole street."""
    base = map_data.basemap(engine, WHOLE)
    rows = _layer(json.loads(screen_map.deck(base, wall.build(engine, NOW, WHOLE)).to_json()), "grids")["data"]
    assert {r["cm"] for r in rows} == set(base.grids["community_id"]) and len(rows) == len(base.grids)
    assert screen_map.picked_community({"objects": {"grids": [rows[0]]}, "indices": {"grids": [0]}}) == 1
    assert screen_map.picked_community({"objects": {"alerts": [{"n": "T1"}]}}) is None
    # a density column drills down to the community its centre lies in
    cells = _layer(json.loads(screen_map.deck(base, wall.build(engine, NOW, WHOLE)).to_json()), "ticket_cells")["data"]
    comm = base.communities.set_index("id").geometry
    for c in cells:
        lat, lon = h3.cell_to_latlng(c["h"])
        assert c["cm"] is None or comm[c["cm"]].contains(Point(lon, lat))
    assert any(c["cm"] is not None for c in cells)
    assert screen_map.picked_community({"objects": {"ticket_cells": [cells[0]]}}) == cells[0]["cm"]
    page.query_params.update(kiosk="1", community="1")
    at = page.run()
    assert not at.exception, at.exception
    assert "测试社区 · 社区治理指挥中心" in _html(at)
    at.button(key="screen_back").click().run()
    assert not at.exception, at.exception
    assert "community" not in at.query_params and "测试街道 · 社区治理指挥中心" in _html(at)
    assert not [b for b in at.button if b.key == "screen_back"]


def test_page_refuses_a_grid_worker(page):
    page.session_state["user"] = users.User(id=2, username="gw", role="grid_worker", display_name="网格员",
                                           street_id=1, community_id=1, grid_id=1)
    at = page.run()
    assert at.error and "scr-kpis" not in _html(at)


@pytest.fixture
def clock(monkeypatch):
    """The page's clock, pinned and moved by hand (the tiny town lives on 2026-11-23)."""
    now = {"t": NOW}
    monkeypatch.setattr("pages.common.now", lambda: now["t"])
    monkeypatch.setattr("geo.screen.figures.REFRESH_S", 30)
    return now


def test_page_flashes_only_what_became_overdue_since_the_last_refresh(page, clock):
    clock["t"] = NOW - 30 * M + timedelta(seconds=40)  # 09:30:40: this refresh is 09:30:30, the last 09:30:00
    at = page.run()
    assert not at.exception, at.exception
    text = _html(at)
    assert "class='scr-alarm'" in text and "本轮新增超期1件" in text and "T7 环境卫生·湖网格" in text
    assert "class='scr-tile scr-red scr-flash'" in text and "class='fresh'" in text  # the tile and the feed too
    assert "2026-11-23 星期一 09:30:40" in text and "数据截至 11-23 09:30" in text
    clock["t"] += timedelta(seconds=30)  # the next refresh: T7 is old news
    text2 = _html(at.run())
    assert "class='scr-alarm'" not in text2 and "scr-flash'" not in text2 and "class='fresh'" not in text2
    assert "class='scr-tile scr-red'" in text2  # two overdue tickets: the tile stays red, and still
    # the rankings alternate between load and on-time on each refresh
    assert {"社区在办排行" in x for x in (text, text2)} == {True, False}
    assert {"社区按期率排行（低→高）" in x for x in (text, text2)} == {True, False}


def test_page_figures_and_changes(page, clock):
    at = page.run()
    assert not at.exception, at.exception
    text = _html(at)
    # the planning page's figure and, beneath it and named so, the looser reading (hand-counted above)
    assert ">41.7%<" in text and "宽口径 62.5%" in text and "与服务圈规划页同一口径" in text
    assert "较昨日同时 <span class='bad'>▲1</span>" in text  # open: 5 against 4
    assert "较上期 <span class='bad'>▼25.0个百分点</span>" in text  # on time: 25 % against 50 %
    assert "离线 1 · 故障 1" in text
    assert "scr-legend" in text and "linear-gradient" in text and "网格在办 0–3" in text
    assert "办理中" in text and "≥7天" in text  # open tickets by stage and age
    assert "11-22 07:00" in text  # yesterday's report carries its date


def test_page_drills_down_to_the_second_community(page, clock):
    page.query_params.update(kiosk="1", community="2")
    at = page.run()
    assert not at.exception, at.exception
    text = _html(at)
    assert "北湖社区 · 社区治理指挥中心" in text
    assert "湖网格" in text and "西网格" not in text and "东网格" not in text
    assert "T7 " not in text  # nothing newly overdue at 10:00 (T7 ran out at 09:30)
    assert "离线 0 · 故障 1" in text and "0.0%" in text
    # one community: its grids by load and by on-time side by side, no one-row community ranking
    assert "网格在办排行" in text and "网格按期率排行（低→高）" in text and "社区在办排行" not in text
    assert "应结工单均不足3件" in text  # 湖网格 has one case due


def test_on_time_rates_are_coloured_by_band_not_by_being_ranked(page, clock, monkeypatch):
    """Issue 13, item 13: the on-time ranking coloured every rate red, 100 % included."""
    real = panels.on_time_by

    def one_perfect_area(frame, key, now, **kw):  # the tiny town's rates are all low: make one area 100 %
        out = real(frame, key, now, **kw)
        first = out.index[0]
        out.loc[first, "on_time"] = out.loc[first, "due"]
        out["on_time_rate"] = out["on_time"] / out["due"].where(out["due"] > 0)
        return out

    monkeypatch.setattr(panels, "on_time_by", one_perfect_area)
    assert [figures.on_time_tone(r) for r in (0.5, 0.799, 0.8, 0.949, 0.95, 1.0, float("nan"), None)] == \
        ["bad", "bad", "warn", "warn", "good", "good", "", ""]
    cells = []
    for t in (NOW, NOW + timedelta(seconds=30)):  # both rankings: by load and by the worst on-time rate
        clock["t"] = t
        cells += re.findall(r"<td class='n ?(\w*)'>(\d+\.\d)%</td>", _html(page.run()))
    assert cells and {c for c, _ in cells} >= {"red", "green"}, cells  # both ends drawn: the test can fail
    tone = {"bad": "red", "warn": "amber", "good": "green"}
    assert all(cls == tone[figures.on_time_tone(float(v) / 100)] for cls, v in cells), cells


def test_the_wall_shows_open_warnings_in_a_panel_and_as_rings_of_their_radius(tmp_path):
    """A stored warning (geo.tickets.warnings) reaches the wall: the panel lists it (text escaped), the map
    rings its place at its radius in metres; a closed one and another community's are not drawn."""
    from sqlalchemy import insert

    from geo.db.schema import EarlyWarning

    eng = store.make_engine(f"sqlite:///{tmp_path}/w.db")
    store.load_town(eng, tiny_town())
    row = dict(key="spike:1:water", episode=1, kind="spike", state="open", title="<b>一网格</b> · 供水 近3天突增",
               meaning="近3天5件，按本网格此前90天应约0.1件；若无异常，出现这么多的概率不到万分之一", value=5.0,
               p_value=1e-6, since=NOW - timedelta(hours=50), detected_at=NOW, last_seen_at=NOW, lon=104.0,
               lat=30.0, radius_m=180.0, category="water", street_id=1, community_id=1, grid_id=1,
               ticket_ids="[1, 2]", grids="[1]")
    with eng.begin() as conn:
        conn.execute(insert(EarlyWarning), [row, {**row, "key": "spike:1:power", "state": "closed", "radius_m": 99.0}])
    base, s = map_data.basemap(eng, WHOLE), wall.build(eng, NOW, WHOLE)
    assert s.warnings["key"].tolist() == ["spike:1:water"]
    rings = _layer(json.loads(screen_map.deck(base, s).to_json()), "warnings")["data"]
    assert [r["r"] for r in rings] == [180.0] and "不到万分之一" in rings[0]["n"]
    html = panels.warnings_html(s.warnings, NOW, heading="智能预警 · {n} 条待处理", none="暂无预警")
    assert "1 条待处理" in html and "&lt;b&gt;" in html and "<b>" not in html and "应约0.1件" in html
    assert "<div class='why'>近3天5件，按本网格此前90天应约0.1件</div>" in html  # the figure; the rest on hover
    assert wall.build(eng, NOW, NORTH_LAKE).warnings.empty
    eng.dispose()
