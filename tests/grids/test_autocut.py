"""Automatic cutting: every demo community cut into grids within the bounds, contiguous, tiling the
community with no overlap or gap, no building cut; a proposal applied as one audited plan (both backends)."""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import select

from geo.access import audit, auth, roles
from geo.db import store
from geo.db.schema import Building, Community, Grid
from geo.demo import accounts, generator
from geo.grids import autocut, boundaries, rules

NOW = datetime(2026, 11, 23, 9)
CRS = "EPSG:32648"


@pytest.fixture(scope="module")
def demo_street(tmp_path_factory):
    """The whole demo street (8 communities), few tickets, in SQLite."""
    path = tmp_path_factory.mktemp("street") / "street.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store.load_town(engine, generator.generate(tickets_per_street=20))
    yield engine
    engine.dispose()


def test_every_demo_community_is_cut_within_the_bounds_tiled_and_with_buildings_whole(demo_street):
    engine = demo_street
    lo, hi = rules.bounds_for("area").households
    comms = store.read_layer(engine, Community, columns=["id", "code", "geom"])
    assert len(comms) == 8
    for comm in comms.itertuples():
        cut = autocut.propose(engine, comm.id)
        grids = cut.grids.assign(code=[f"{comm.code}{i + 1:03d}" for i in range(len(cut.grids))],
                                 community_code=comm.code)
        b = rules.buildings_frame(engine, [comm.id])
        check = rules.check_grids(grids, b, communities=gpd.GeoDataFrame(
            {"code": [comm.code]}, geometry=[comm.geometry], crs=4326))
        assert check.grids["households"].between(lo, hi).all(), (comm.code, check.grids["households"].tolist())
        assert (check.grids["parts"] == 1).all()
        kinds = set(check.findings["kind"])
        assert not kinds & {"gap", "overlap", "outside", "cuts_building", "not_contiguous", "bounds_low",
                            "bounds_high"}, check.findings
        assert check.grids["households"].sum() == b["households"].sum()  # every household in one grid
        # tiling, measured apart from check_grids: the grids' areas add up to the community's
        m = grids.to_crs(CRS)
        whole = gpd.GeoSeries([comm.geometry], crs=4326).to_crs(CRS).iloc[0]
        assert m.area.sum() == pytest.approx(whole.area, rel=1e-6)
        assert shapely.union_all(m.geometry.values).symmetric_difference(whole).area < 1.0
        # each footprint lies in one grid (more than 99.9 % of it)
        fps = b.to_crs(CRS).geometry.values
        share = np.array([max(shapely.area(shapely.intersection(g, fp)) for g in m.geometry.values) for fp in fps])
        assert (share / shapely.area(fps) > 0.999).all()
        assert cut.within == 1.0 and cut.seconds < 60


def test_the_cut_follows_roads_more_than_straight_lines_would(demo_street):
    """Most of the proposed grids' inner edges run along streets and lanes (roads are block edges)."""
    from geo.db.schema import Road
    cut = autocut.propose(demo_street, 1)
    m = cut.grids.to_crs(CRS)
    edges = shapely.union_all([g.boundary for g in m.geometry.values])
    comm = store.read_layer(demo_street, Community, where=Community.id == 1).to_crs(CRS).geometry.iloc[0]
    inner = edges.difference(comm.boundary.buffer(1))
    roads = store.read_layer(demo_street, Road, where=Road.kind.in_(autocut.BLOCK_ROADS)).to_crs(CRS)
    on_road = inner.intersection(shapely.union_all(roads.geometry.values).buffer(1)).length / inner.length
    assert on_road > 0.5, on_road


def test_a_tight_band_is_met_where_the_counts_allow(demo_street):
    """With 380–450 households (a city's own rule), the ceiling binds: still every grid within."""
    units, _, _ = autocut.community_units(demo_street, 1)
    labels, notes = autocut.regionalise(units, 380, 450)
    grids = autocut.dissolve(units, labels)
    assert grids["households"].between(380, 450).all() and (grids["parts"] == 1).all() and not notes


def test_a_proposal_is_applied_as_one_audited_plan(engine):
    user = auth.authenticate(engine, "community1", accounts.DEMO_PASSWORD, now=NOW)
    cut = autocut.propose(engine, user.community_id)
    plan = autocut.plan_cut(engine, user, user.community_id, cut)
    assert plan.ok and plan.kind == "autocut", (plan.problems, plan.findings)
    assert plan.people_moving == int(plan.moves["residents"].sum()) > 0
    before = store.read_frame(engine, select(Building.id, Building.grid_id)).set_index("id")["grid_id"].sort_index()
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason="按自动划分方案调整（测试）")
    after = store.read_frame(engine, select(Building.id, Building.grid_id)).set_index("id")["grid_id"].sort_index()
    assert int((before != after).sum()) == len(plan.moves)
    report = rules.report(engine, roles.Scope("community", community_id=user.community_id))
    assert report.grids["within"].all()
    assert not set(report.findings["kind"]) & {"gap", "overlap", "outside", "cuts_building", "not_contiguous",
                                               "bad_code"}, report.findings
    live = store.read_frame(engine, select(Grid.code).where(Grid.community_id == user.community_id,
                                                            Grid.retired_at.is_(None)))["code"]
    assert len(live) == len(cut.grids)
    log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.")
    assert len(log) and all("[自动划分]" in d for d in log["detail"])


def test_a_chosen_set_of_grids_is_cut_within_its_own_land(demo_street):
    """Cutting two neighbouring grids only: the proposal tiles exactly their land, holds exactly their
    households, each grid within the bounds, and the plan touches no other grid or building."""
    lo, hi = rules.bounds_for("area").households
    grids = store.read_layer(demo_street, Grid, where=Grid.community_id == 1).to_crs(CRS)
    shared = [(grids.geometry.iloc[i].intersection(grids.geometry.iloc[j]).length, i, j)
              for i in range(len(grids)) for j in range(i + 1, len(grids))]
    _, i, j = max(shared)
    pair = grids.iloc[[i, j]]
    codes, ids = list(pair["code"]), {int(v) for v in pair["id"]}
    cut = autocut.propose(demo_street, 1, codes=codes)
    m = cut.grids.to_crs(CRS)
    land = shapely.union_all(pair.geometry.values)
    assert shapely.union_all(m.geometry.values).symmetric_difference(land).area < 1.0
    assert m.area.sum() == pytest.approx(land.area, abs=1.0)  # no overlap (the land is snapped to 1 mm)
    with demo_street.connect() as conn:
        held = conn.execute(select(Building.households).where(Building.grid_id.in_(sorted(ids)))).scalars().all()
    assert cut.grids["households"].sum() == sum(held)
    assert cut.grids["households"].between(lo, hi).all() and (cut.grids["parts"] == 1).all()
    user = auth.authenticate(demo_street, "community1", accounts.DEMO_PASSWORD, now=NOW)
    plan = autocut.plan_cut(demo_street, user, 1, cut, codes=codes, renumber=False)
    assert plan.ok, (plan.problems, plan.findings)
    assert set(plan.old["id"].astype(int)) <= ids and set(plan.new.loc[plan.new["id"] > 0, "id"].astype(int)) <= ids
    assert set(plan.moves["from_grid_id"].astype(int)) <= ids
