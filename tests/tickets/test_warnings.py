"""Early warning (智能预警) on the demo street's ticket stream, with injected events.

The demo's tickets are a quiet year (reports spread evenly over time, weighted by residents): a spike
and a space-time cluster injected into it must be found with their place and time, and the quiet weeks
must raise few alarms (the rate is printed: ``pytest -s`` shows it).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.place import projection
from geo.tickets import warnings as W

NOW = datetime(2026, 11, 23, 9)
_TIMES = ("created_at", "closed_at", "due_at", "resolved_at", "accepted_at", "first_response_at", "step_due_at",
          "first_resolved_at", "assigned_at", "arrive_by", "arrived_at")


@pytest.fixture(scope="module")
def street():
    """The demo street (8 communities, 70 grids, ~3,000 tickets over a year), as the detectors read it."""
    from geo.demo import generator

    town = generator.generate(now=NOW)
    df = pd.DataFrame(town["ticket"])
    df["lon"], df["lat"] = [g.x for g in df["geom"]], [g.y for g in df["geom"]]
    df = df.drop(columns="geom")
    for c in _TIMES:
        df[c] = pd.to_datetime(df[c])
    buildings = pd.DataFrame(town["building"])[["id", "name", "grid_id", "entrance_lon", "entrance_lat"]]
    grids = pd.DataFrame(town["grid"])[["id", "community_id", "geom"]]
    return df, buildings, grids


def _inject(df: pd.DataFrame, points: list[tuple[float, float]], times: list[datetime], category: str,
            grids: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """New tickets at ``points`` and ``times``, routed to the grid that contains each point."""
    start = int(df["id"].max()) + 1
    rows = []
    for i, ((lon, lat), at) in enumerate(zip(points, times)):
        inside = grids[[g.contains(shapely.Point(lon, lat)) for g in grids["geom"]]]
        grid = inside.iloc[0]
        rows.append(dict(id=start + i, category=category, state="reported", grid_id=int(grid["id"]),
                         community_id=int(grid["community_id"]), street_id=int(df["street_id"].iloc[0]),
                         created_at=pd.Timestamp(at), lon=lon, lat=lat, ratings_given=0, ratings_satisfied=0,
                         due_at=pd.Timestamp(at + timedelta(days=5)), step_due_at=pd.Timestamp(at + timedelta(days=1))))
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True), [r["id"] for r in rows]


def _metres(lon1, lat1, lon2, lat2) -> float:
    x, y = projection.lonlat_to_metric([lon1, lon2], [lat1, lat2])
    return float(np.hypot(x[1] - x[0], y[1] - y[0]))


def test_an_injected_spike_is_found_in_its_grid_with_its_start(street):
    df, buildings, grids = street
    grid = grids.iloc[10]
    rng = np.random.default_rng(1)
    box = grid["geom"].bounds
    pts = []
    while len(pts) < 5:  # spread over the grid: a spike is many reports in one grid, not one spot
        p = shapely.Point(rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3]))
        if grid["geom"].contains(p):
            pts.append((p.x, p.y))
    times = [NOW - timedelta(hours=h) for h in (50, 40, 30, 12, 3)]
    stream, ids = _inject(df, pts, times, "water", grids)
    found = [f for f in W.detect_frame(stream, buildings, NOW, W.Thresholds(), kinds=("spike",))
             if f.grid_id == int(grid["id"]) and f.category == "water"]
    assert len(found) == 1
    spike = found[0]
    assert set(ids) <= set(spike.ticket_ids)
    assert spike.since == times[0]
    assert spike.p_value < 1e-4 and "泊松" in spike.meaning
    # and without the injection that grid raises nothing
    assert not [f for f in W.detect_frame(df, buildings, NOW, W.Thresholds(), kinds=("spike",))
                if f.grid_id == int(grid["id"])]


def _shared_edge_point(grids: pd.DataFrame) -> tuple[float, float]:
    """A point on a long boundary two grids share (the cluster must cross grid lines)."""
    geoms = grids["geom"].tolist()
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            edge = geoms[i].boundary.intersection(geoms[j].boundary)
            if edge.length > 0.003:  # ~300 m
                p = edge.interpolate(0.5, normalized=True)
                return p.x, p.y
    raise AssertionError("no two grids share a long edge")


def test_an_injected_cluster_across_grid_lines_is_found_with_place_time_and_chance(street):
    df, buildings, grids = street
    lon0, lat0 = _shared_edge_point(grids)
    rng = np.random.default_rng(2)
    x0, y0 = projection.lonlat_to_metric([lon0], [lat0])
    ang, rad = rng.uniform(0, 2 * np.pi, 8), rng.uniform(10, 120, 8)  # 8 reports within 120 m of the edge
    tf_lon, tf_lat = projection.metric_to_lonlat(x0[0] + rad * np.cos(ang), y0[0] + rad * np.sin(ang))
    times = [NOW - timedelta(hours=h) for h in (80, 70, 55, 47, 30, 20, 9, 2)]  # over the last 4 days
    stream, ids = _inject(df, list(zip(tf_lon, tf_lat)), times, "sanitation", grids)
    assert len({g for g in stream.loc[stream["id"].isin(ids), "grid_id"]}) >= 2
    found = [f for f in W.detect_frame(stream, buildings, NOW, W.Thresholds(), kinds=("cluster",))
             if f.category == "sanitation"]
    assert len(found) == 1
    c = found[0]
    assert _metres(c.lon, c.lat, lon0, lat0) <= 250
    assert len(set(ids) & set(c.ticket_ids)) >= 6
    assert len(c.grids) >= 2
    assert times[0] - timedelta(days=1) <= c.since <= times[2]
    assert c.p_value < 0.05 and "偶然" in c.meaning


def test_quiet_weeks_raise_few_false_alarms(street):
    """Every third day over the last 180 days (60 runs of non-overlapping spike windows): the spike and
    the cluster detectors together stay under one alarm per ten runs on the demo's quiet stream."""
    df, buildings, _ = street
    th, alarms, runs = W.Thresholds(), [], 60
    for k in range(runs):
        at = NOW - timedelta(days=3 * k)
        alarms += [(at, f.kind, f.title) for f in
                   W.detect_frame(df[df["created_at"] <= pd.Timestamp(at)], buildings, at, th, kinds=("spike", "cluster"))]
    rate = len(alarms) / runs
    print(f"\nquiet weeks: {len(alarms)} alarms in {runs} runs (every 3 days, 180 days): {rate:.3f} per run, "
          f"{rate * 7 / 3:.2f} per week; {alarms}")
    assert rate < 0.1


def test_overdue_tickets_piling_at_one_step_and_repeat_reports_from_one_building(street):
    df, buildings, grids = street
    community = int(grids["community_id"].iloc[0])
    pick = df[(df["community_id"] == community)].index[:6]
    stream = df.copy()
    stream.loc[pick, "state"] = "community_dispatched"
    stream.loc[pick, "step_due_at"] = pd.Timestamp(NOW - timedelta(days=2))
    found = W.piles(stream, NOW, W.Thresholds(), {})
    mine = [f for f in found if f.key == f"pile:{community}:community_dispatched"]
    assert len(mine) == 1 and set(stream.loc[pick, "id"]) <= set(mine[0].ticket_ids)
    assert "社区分单" in mine[0].title or "超期" in mine[0].title

    b = buildings.iloc[5]
    times = [NOW - timedelta(days=d) for d in (20, 9, 1)]
    pts = [(b["entrance_lon"] + 0.00005, b["entrance_lat"])] * 3
    stream, ids = _inject(df, pts, times, "property", grids)
    rep = [f for f in W.repeats(stream, buildings, NOW, W.Thresholds()) if f.building_id == int(b["id"])]
    assert len(rep) == 1 and set(ids) <= set(rep[0].ticket_ids) and rep[0].since == times[0]


def _closed(id_, created, *, late: bool, grid: int = 7, stars: int = 5) -> dict:
    due = created + timedelta(days=3)
    done = due + timedelta(days=2) if late else created + timedelta(days=1)
    return dict(id=id_, category="water", state="closed", grid_id=grid, community_id=1, street_id=1,
                created_at=created, accepted_at=created + timedelta(hours=1), first_response_at=created + timedelta(hours=1),
                resolved_at=done, first_resolved_at=done, closed_at=done + timedelta(hours=2), due_at=due, rating=stars,
                ratings_given=1, ratings_satisfied=int(stars >= 3), reopen_count=0, step_due_at=None, lon=104.0, lat=31.0)


def test_a_grid_whose_on_time_rate_falls_is_named():
    """Hand-built grid 7: 30 cases in the 90 days before, 28 on time (93%); 12 in the last 30 days, 4 on
    time (33%): a fall of 60 points whose binomial chance under 93% is far below 1%. Grid 8 keeps its rate."""
    th = W.Thresholds()
    old = [_closed(i, NOW - timedelta(days=35 + 2 * i), late=i < 2) for i in range(30)]
    new = [_closed(100 + i, NOW - timedelta(days=5 + 2 * i), late=i >= 4) for i in range(12)]
    steady = [_closed(200 + i, NOW - timedelta(days=5 + 3 * i), late=False, grid=8) for i in range(40)]
    frame = pd.DataFrame(old + new + steady)
    for c in _TIMES:
        frame[c] = pd.to_datetime(frame.get(c))
    found = W.falls(frame, NOW, th, {7: "七网格"})
    assert [f.key for f in found] == ["fall:7:on_time"]
    f = found[0]
    assert "33%" in f.meaning and "93%" in f.meaning and f.p_value < 1e-3
    assert f.ticket_ids == list(range(104, 112))  # the 8 cases that missed their limit
    assert f.title.startswith("七网格")


def test_thresholds_come_from_the_environment_and_bad_ones_are_refused():
    th = W.Thresholds.from_env({"SHEQU_WARN_SPIKE_P": "0.0005", "SHEQU_WARN_SCAN_RADII_M": "100,200"})
    assert th.spike_p == 0.0005 and th.scan_radii_m == (100.0, 200.0) and th.spike_min == 3
    with pytest.raises(ValueError, match="预警阈值"):
        W.Thresholds.from_env({"SHEQU_WARN_SPIKE_MIN": "three"})


def test_the_scans_cylinders_are_the_full_distance_test_without_the_full_matrix():
    """The scan looks only at pairs within the largest radius (a k-d tree, issue 15), and still says
    exactly what a full N×N distance matrix says, a case exactly 300 m away included."""
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 2500, size=(600, 2))
    pts[1] = pts[0] + [300.0, 0.0]  # on the 300 m circle around case 0
    radii = np.array([150.0, 300.0, 500.0])
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    dense = (d2[None, :, :] <= radii[:, None, None] ** 2).reshape(-1, len(pts))
    got = W._cylinders(pts, radii)
    assert got.shape == dense.shape and (got.toarray() > 0).tolist() == dense.tolist()
    assert got[len(pts) + 0, 1] == 1 and got[0, 1] == 0  # in the 300 m cylinder of case 0, not the 150 m one
    assert got.nnz < dense.size / 5  # neighbours only
