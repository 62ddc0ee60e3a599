"""Split, merge, new and retire, on both backends: exactly what stands in the land that changes moves.

Every expected set is worked out here from the test's own geometry (doors, points,
the grids a row belonged to), never from the module's plan; then the database is
compared row by row before and after: the buildings, households, residents, open
tickets, facilities and cameras that changed grid are exactly those, closed tickets
keep their grid, nothing else moved.
"""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.ops import split as split_polygon
from sqlalchemy import select, update

from geo.access import audit, auth, roles, sessions
from geo.db import store
from geo.db.schema import (
    Building, Camera, Facility, Grid, Household, LoginSession, Person, Resident, Ticket, User)
from geo.demo import accounts
from geo.errors import ConcurrentEditError
from geo.grids import boundaries, edits, rules
from geo.place import projection
from geo.tickets import workflow

NOW = datetime(2026, 11, 23, 9)
CRS = "EPSG:32648"
REASON = "新楼盘入住，先拆后补（测试）"


def login(engine, name: str):
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def grids_m(engine, community_id: int) -> gpd.GeoDataFrame:
    return store.read_layer(engine, Grid, where=(Grid.community_id == community_id) & Grid.retired_at.is_(None)
                            ).to_crs(CRS).reset_index(drop=True)


def to_ll(geom):
    return gpd.GeoSeries([geom], crs=CRS).to_crs(4326).iloc[0]


def to_m(geom):
    return gpd.GeoSeries([geom], crs=4326).to_crs(CRS).iloc[0]


def where_is(engine) -> dict:
    """Every row that can follow its place, by table: id → grid id (tickets: id → (grid id, open?))."""
    with engine.connect() as conn:
        out = {t.__tablename__: dict(conn.execute(select(t.id, t.grid_id)).fetchall())
               for t in (Building, Household, Resident, Facility, Camera)}
        out["ticket"] = {i: (g, s in workflow.OPEN_STATES)
                         for i, g, s in conn.execute(select(Ticket.id, Ticket.grid_id, Ticket.state))}
    return out


def moved(before: dict, after: dict, table: str) -> dict[int, tuple]:
    return {i: (before[table][i], after[table][i]) for i in before[table] if before[table][i] != after[table][i]}


def doors_m(engine, grid_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids, door points (metres) and households of a grid's buildings, read apart from the module."""
    with engine.connect() as conn:
        rows = conn.execute(select(Building.id, Building.entrance_lon, Building.entrance_lat, Building.households)
                            .where(Building.grid_id == grid_id)).fetchall()
    x, y = projection.lonlat_to_metric([r[1] for r in rows], [r[2] for r in rows], crs=CRS)
    return np.array([r[0] for r in rows]), shapely.points(x, y), np.array([r[3] for r in rows])


def households_of(engine, building_ids) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(Household.id).where(Household.building_id.in_(sorted(building_ids)))).scalars())


def residents_of(engine, household_ids) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(Resident.id).where(Resident.household_id.in_(sorted(household_ids)))).scalars())


def place(engine, grid_id: int, spot_m, community_id: int) -> dict:
    """An open and a closed ticket, a facility and a camera of ``grid_id`` put at ``spot_m`` (metres)."""
    pt = to_ll(spot_m)
    with engine.begin() as conn:
        t_open, t_closed = conn.execute(select(Ticket.id).where(Ticket.grid_id == grid_id).order_by(Ticket.id)
                                        .limit(2)).scalars().all()
        conn.execute(update(Ticket.__table__).where(Ticket.id == t_open).values(
            state="grid_accepted", geom=pt, community_id=community_id))
        conn.execute(update(Ticket.__table__).where(Ticket.id == t_closed).values(
            state="closed", geom=pt, community_id=community_id))
        fac = conn.execute(select(Facility.id).order_by(Facility.id).limit(1)).scalar_one()
        cam = conn.execute(select(Camera.id).order_by(Camera.id).limit(1)).scalar_one()
        conn.execute(update(Facility.__table__).where(Facility.id == fac).values(grid_id=grid_id, geom=pt))
        conn.execute(update(Camera.__table__).where(Camera.id == cam).values(grid_id=grid_id, geom=pt))
    return {"open": t_open, "closed": t_closed, "facility": fac, "camera": cam}


def points_of(engine, table, grid_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids, points (metres) and grids of the rows of ``table`` in ``grid_ids`` (open tickets only)."""
    extra = [Ticket.state.in_(workflow.OPEN_STATES)] if table is Ticket else []
    with engine.connect() as conn:
        rows = conn.execute(select(table.id, table.geom, table.grid_id).where(
            table.grid_id.in_(sorted(grid_ids)), *extra)).fetchall()
    pts = gpd.GeoSeries([r[1] for r in rows], crs=4326).to_crs(CRS).values
    return np.array([r[0] for r in rows]), np.asarray(pts, dtype=object), np.array([r[2] for r in rows])


def assert_exact(engine, before: dict, buildings: dict[int, int], points: dict[str, dict[int, int]],
                 edge: dict[str, set[int]] | None = None) -> None:
    """After an edit: exactly ``buildings`` (id → new grid) moved, with their households and residents,
    and exactly ``points`` (table → id → new grid) of open tickets, facilities and cameras; rows in
    ``edge`` (a camera on the road between the land and an unchanged grid) may go either way."""
    edge = edge or {}
    after = where_is(engine)
    got = moved(before, after, "building")
    assert {i: to for i, (_, to) in got.items()} == buildings
    hh = households_of(engine, buildings)
    assert set(moved(before, after, "household")) == hh
    assert {after["household"][h] for h in hh} <= set(buildings.values())
    res = residents_of(engine, hh)
    assert set(moved(before, after, "resident")) == res
    tickets = {i: to[0] for i, (fr, to) in moved(before, after, "ticket").items()}
    assert tickets == points["ticket"]
    assert all(before["ticket"][i][1] for i in tickets)  # only open tickets follow their place
    for table in ("facility", "camera"):
        got = {i: to for i, (_, to) in moved(before, after, table).items() if i not in edge.get(table, ())}
        assert got == {i: to for i, to in points[table].items() if i not in edge.get(table, ())}


# --------------------------------------------------------------------------- split

def a_cut(grid_m) -> shapely.LineString:
    """A line across the grid, slightly slanted, from outside to outside."""
    x0, y0, x1, y1 = grid_m.bounds
    c = grid_m.centroid
    return shapely.LineString([(x0 - 30, c.y - 25), (x1 + 30, c.y + 25)])


def whole(engine, grid_id: int, land, within):
    """``land`` (metres, part of ``within``, the grid's outline) with the buildings of ``grid_id`` its
    edge crosses taken whole when their door is in it and left out whole otherwise: the rule the
    module follows (a building goes whole to the side of its door), worked out here on its own."""
    b = store.read_layer(engine, Building, where=Building.grid_id == grid_id).to_crs(CRS)
    _, doors, _ = doors_m(engine, grid_id)
    fps = np.asarray(b.geometry.values, dtype=object)
    crossed = shapely.intersects(fps, land.boundary) & shapely.intersects(fps, within.difference(land))
    door_in = shapely.covers(land, doors)
    taken = shapely.union_all(fps[crossed & door_in]).intersection(within)
    return land.union(taken).difference(shapely.union_all(fps[crossed & ~door_in]))


def rows_in(engine, grid_id: int, land, others=None) -> dict[str, set[int]]:
    """Open tickets, facilities and cameras of ``grid_id`` whose point lies in ``land`` (metres); a camera
    on the road along the grid's edge stands on it (within 2 cm: stored lon-lat is rounded). With
    ``others`` (outlines), only the points on the edge with one of them."""
    out = {}
    for name, table in (("ticket", Ticket), ("facility", Facility), ("camera", Camera)):
        ids, pts, _ = points_of(engine, table, [grid_id])
        out[name] = {int(i) for i, p in zip(ids, pts) if land.distance(p) <= 0.02
                     and (others is None or min(o.distance(p) for o in others) <= 0.02)}
    return out


def rows_in_table(engine, table, land) -> list[int]:
    """Ids of rows of ``table`` (any grid) whose point lies in ``land`` (metres, within 2 cm)."""
    with engine.connect() as conn:
        rows = conn.execute(select(table.id, table.geom)).fetchall()
    pts = gpd.GeoSeries([r[1] for r in rows], crs=4326).to_crs(CRS).values
    return [r[0] for r, p in zip(rows, pts) if land.distance(p) <= 0.02]


def test_split_moves_exactly_what_stands_in_the_new_part(engine):
    user = login(engine, "community1")
    grids = grids_m(engine, user.community_id)
    g = grids.iloc[int(np.argmax(grids.area))]
    gid, poly = int(g["id"]), g.geometry
    cut = a_cut(poly)
    halves = list(split_polygon(poly, cut).geoms)
    assert len(halves) == 2
    ids, doors, hh = doors_m(engine, gid)
    side = np.array([0 if halves[0].covers(d) else 1 for d in doors])
    keep = int(np.argmax([hh[side == k].sum() for k in (0, 1)]))
    away = whole(engine, gid, halves[1 - keep], poly)
    placed = place(engine, gid, halves[1 - keep].buffer(-25).representative_point(), user.community_id)
    expect_b = {int(i) for i, s in zip(ids, side) if s != keep}
    expect_pts = rows_in(engine, gid, away)
    assert len(expect_b) >= 3 and placed["open"] in expect_pts["ticket"] and placed["camera"] in expect_pts["camera"]

    plan = edits.split(engine, user, g["code"], to_ll(cut))
    assert plan.ok, (plan.problems, plan.findings)
    assert plan.kind == "split" and len(plan.new) == 2
    new_code = plan.new.loc[plan.new["id"] < 0, "code"].iloc[0]
    taken = store.read_frame(engine, select(Grid.code))["code"]
    assert new_code == rules.next_codes(g["code"][:12], taken, 1)[0]  # community code + next free number
    assert plan.new.loc[plan.new["id"] < 0].to_crs(CRS).area.iloc[0] == pytest.approx(away.area, rel=1e-3)
    before = where_is(engine)
    with pytest.raises(boundaries.BoundaryError) as err:  # each part is under 300 households: a reason is needed
        boundaries.apply_adjustment(engine, user, plan, now=NOW)
    assert err.value.key == "reason" and where_is(engine) == before
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)

    new_id = int(store.read_frame(engine, select(Grid.id).where(Grid.code == new_code))["id"].iloc[0])
    assert_exact(engine, before, {b: new_id for b in expect_b},
                 {name: {i: new_id for i in rows} for name, rows in expect_pts.items()})
    assert where_is(engine)["ticket"][placed["closed"]][0] == gid  # history keeps its grid
    log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.")
    assert sorted(log["action"]) == ["grid.boundary", "grid.create"]
    assert all(REASON in d and "[拆分网格]" in d for d in log["detail"])


def test_a_bound_broken_without_a_reason_is_refused_and_nothing_is_written(engine):
    user = login(engine, "community1")
    g = grids_m(engine, user.community_id).iloc[0]
    plan = edits.split(engine, user, g["code"], to_ll(a_cut(g.geometry)))
    assert set(plan.needs_reason["kind"]) >= {"bounds_low"}
    assert "少于标准（300–500 户或 1000–1500 人）" in plan.needs_reason["message"].iloc[0]
    before = where_is(engine), store.counts(engine)
    for reason in (None, "", "   "):
        with pytest.raises(boundaries.BoundaryError) as err:
            boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=reason)
        assert err.value.key == "reason" and "理由" in err.value.message("zh")
    assert (where_is(engine), store.counts(engine)) == before
    assert audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.").empty


# --------------------------------------------------------------------------- merge and retire into one

@pytest.mark.parametrize("how", ["merge", "retire_into"])
def test_merge_or_retire_into_a_neighbour_moves_everything_of_the_grid_that_goes(engine, how):
    user = login(engine, "community1")
    grids = grids_m(engine, user.community_id)
    a, b = _neighbours(grids)
    a_id, b_id = int(a["id"]), int(b["id"])
    placed = place(engine, b_id, b.geometry.buffer(-25).representative_point(), user.community_id)
    before = where_is(engine)
    expect_b = {i for i, gr in before["building"].items() if gr == b_id}
    expect_pts = {name: {i: a_id for i, gr in before[name].items()
                         if (gr[0] == b_id and gr[1] if name == "ticket" else gr == b_id)}
                  for name in ("ticket", "facility", "camera")}
    assert expect_b and expect_pts["ticket"]
    with engine.connect() as conn:
        team = set(conn.execute(select(Person.id).where(Person.grid_id == b_id, Person.role.in_(
            ("grid_head", "grid_worker", "grid_assistant", "grid_supervisor")))).scalars())
    if how == "merge":
        plan = edits.merge(engine, user, [a["code"], b["code"]], keep=a["code"])
    else:
        plan = edits.retire(engine, user, b["code"], into=a["code"])
    assert plan.ok, (plan.problems, plan.findings)
    assert list(plan.retired["code"]) == [b["code"]]
    listed = plan.bindings[plan.bindings["kind"] == "person"]
    assert team <= set(listed["id"]) and set(listed.loc[listed["id"].isin(team), "to_grid_id"]) == {a_id}
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON if len(plan.needs_reason) else None)

    assert_exact(engine, before, {i: a_id for i in expect_b}, expect_pts)
    assert where_is(engine)["ticket"][placed["closed"]][0] == b_id  # closed history keeps the retired grid
    with engine.connect() as conn:
        row = conn.execute(select(Grid.code, Grid.geom, Grid.retired_at, Grid.retired_by).where(Grid.id == b_id)).one()
        assert row.code == b["code"] and row.geom is None and row.retired_at == NOW and row.retired_by == "community1"
        assert set(conn.execute(select(Person.grid_id).where(Person.id.in_(team))).scalars()) == {a_id}
    stored = store.read_layer(engine, Grid, where=Grid.id == a_id).to_crs(CRS).geometry.iloc[0]
    assert stored.area == pytest.approx(a.geometry.area + b.geometry.area, rel=1e-4)
    assert b["code"] not in set(rules.report(engine, user.scope).grids["code"])  # gone from every list


def _neighbours(grids):
    best, pair = 0.0, None
    for i in range(len(grids)):
        for j in range(i + 1, len(grids)):
            shared = grids.geometry.iloc[i].intersection(grids.geometry.iloc[j]).length
            if shared > best:
                best, pair = shared, (i, j)
    return grids.iloc[pair[0]], grids.iloc[pair[1]]


def test_retiring_shares_the_land_among_neighbours_and_hands_on_the_team_and_logins(engine):
    user = login(engine, "community1")
    with engine.connect() as conn:
        head = conn.execute(select(User.id, User.grid_id).where(User.username == "gridhead1")).one()
    gid = int(head.grid_id)
    grids = grids_m(engine, user.community_id)
    code = grids.loc[grids["id"] == gid, "code"].iloc[0]
    sessions.start(engine, login(engine, "gridhead1"), now=NOW)
    before = where_is(engine)
    plan = edits.retire(engine, user, code)
    assert plan.ok, (plan.problems, plan.findings)
    takers = set(plan.new["id"])
    assert len(takers) >= 2  # shared, not given to one
    login_row = plan.bindings[(plan.bindings["kind"] == "user") & (plan.bindings["id"] == head.id)]
    target = int(login_row["to_grid_id"].iloc[0])
    assert target in takers
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON if len(plan.needs_reason) else None)
    after = where_is(engine)
    polys = store.read_layer(engine, Grid, where=Grid.id.in_(sorted(takers))).to_crs(CRS).set_index("id").geometry
    land = grids.loc[grids["id"] == gid].geometry.iloc[0]
    for table, model in (("building", Building), ("facility", Facility), ("camera", Camera)):
        in_land = set(rows_in_table(engine, model, land)) if table != "building" else set()
        for i, gr in before[table].items():
            if gr == gid:
                assert after[table][i] in takers  # everything of the retired grid went to a neighbour…
            elif i not in in_land:
                assert after[table][i] == gr  # …and nothing else moved, but for what stands in its land
            else:  # (a camera on its edge, filed under the grid across the road)
                assert after[table][i] in takers | {gr}
    with engine.connect() as conn:
        rows = conn.execute(select(Building.entrance_lon, Building.entrance_lat, Building.grid_id).where(
            Building.id.in_([i for i, gr in before["building"].items() if gr == gid]))).fetchall()
    x, y = projection.lonlat_to_metric([r[0] for r in rows], [r[1] for r in rows], crs=CRS)
    assert all(polys[g].covers(shapely.Point(px, py)) for px, py, (_, _, g) in zip(x, y, rows))
    with engine.connect() as conn:
        assert conn.execute(select(User.grid_id).where(User.id == head.id)).scalar_one() == target
        alive = conn.execute(select(LoginSession.id).where(LoginSession.user_id == head.id,
                                                           LoginSession.revoked_at.is_(None))).fetchall()
        assert not alive  # a login moved to another grid signs in again
    # the retired grid's number is never given again
    g2 = grids_m(engine, user.community_id).iloc[0]
    split = edits.split(engine, user, g2["code"], to_ll(a_cut(g2.geometry)))
    assert split.new.loc[split.new["id"] < 0, "code"].iloc[0] > max(grids["code"])


# --------------------------------------------------------------------------- new

def test_a_new_grid_takes_the_unheld_land_and_what_stands_in_it(engine):
    user = login(engine, "community1")
    grids = grids_m(engine, user.community_id)
    g = grids.iloc[0]
    gid = int(g["id"])
    x0, y0, x1, y1 = g.geometry.bounds
    land = g.geometry.intersection(shapely.box(x0, y0, x1, (y0 + y1) / 2))  # the southern half becomes unheld
    land = whole(engine, gid, land, g.geometry)
    ids, doors, _ = doors_m(engine, gid)
    inside = shapely.covers(land, doors)
    with engine.begin() as conn:  # someone took the land out of the grid (a re-survey): it is now unheld
        rest = shapely.set_precision(to_ll(g.geometry.difference(land)), 1e-7)
        conn.execute(update(Grid.__table__).where(Grid.id == gid).values(**store.with_bbox([{"geom": rest}])[0]))
    placed = place(engine, gid, land.buffer(-20).representative_point(), user.community_id)
    expect_pts = rows_in(engine, gid, land)
    on_edge = rows_in(engine, gid, land, others=list(grids.geometry.values[1:]))
    before = where_is(engine)
    report = rules.report(engine, user.scope)
    assert "gap" in set(report.findings["kind"])  # the standing report sees the unheld land

    drawn = land.buffer(60)  # drawn roughly, over the neighbours' edges: cut to the unheld land
    plan = edits.create(engine, user, to_ll(drawn), grid_type="estate", name="新建网格")
    assert not plan.problems, plan.problems
    assert plan.new["grid_type"].iloc[0] == "estate" and plan.new["name"].iloc[0] == "新建网格"
    assert plan.new.to_crs(CRS).area.iloc[0] == pytest.approx(land.area, rel=1e-3)
    assert plan.ok, plan.findings
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)
    new_id = int(store.read_frame(engine, select(Grid.id).where(Grid.code == plan.new["code"].iloc[0]))["id"].iloc[0])
    want_b = {int(i): new_id for i, hit in zip(ids, inside) if hit}
    assert want_b and placed["open"] in expect_pts["ticket"]
    assert_exact(engine, before, want_b, {name: {i: new_id for i in rows} for name, rows in expect_pts.items()},
                 edge=on_edge)
    assert set(audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.")["action"]) == {"grid.create"}


def test_a_new_grid_on_held_land_or_outside_the_area_is_refused(engine):
    user = login(engine, "community1")
    g = grids_m(engine, user.community_id).iloc[0]
    with pytest.raises(boundaries.BoundaryError) as err:
        edits.create(engine, user, to_ll(g.geometry.buffer(-10)))
    assert err.value.key == "no_land" and "拆分" in err.value.message("zh")
    other = grids_m(engine, login(engine, "community2").community_id).iloc[0]
    with pytest.raises(boundaries.BoundaryError) as err:
        edits.create(engine, user, to_ll(other.geometry.buffer(-10)))
    assert err.value.key == "outside"


# --------------------------------------------------------------------------- refusals

def test_edits_outside_the_users_area_are_refused(engine):
    owner = login(engine, "community1")
    a, b = _neighbours(grids_m(engine, owner.community_id))
    stranger, head = login(engine, "community2"), login(engine, "gridhead1")
    before = where_is(engine)
    for user, error in ((stranger, boundaries.BoundaryError), (head, PermissionError)):
        with pytest.raises(error):
            edits.split(engine, user, a["code"], to_ll(a_cut(a.geometry)))
        with pytest.raises(error):
            edits.merge(engine, user, [a["code"], b["code"]])
        with pytest.raises(error):
            edits.retire(engine, user, b["code"])
    with pytest.raises(boundaries.BoundaryError) as err:
        edits.merge(engine, stranger, [a["code"], b["code"]])
    assert err.value.key == "unknown"  # worded as a code that does not exist
    plan = edits.merge(engine, owner, [a["code"], b["code"]])
    with pytest.raises(PermissionError):
        boundaries.apply_adjustment(engine, head, plan, now=NOW, reason=REASON)
    assert where_is(engine) == before


def test_two_changed_grids_overlapping_each_other_are_caught(engine):
    """Both grids change and overlap each other (not an unchanged neighbour): refused, with the area."""
    user = login(engine, "community1")
    a, b = _neighbours(grids_m(engine, user.community_id))
    edge = a.geometry.intersection(b.geometry)
    into_b = edge.buffer(40).intersection(b.geometry)
    new = gpd.GeoDataFrame({"code": [a["code"], b["code"]]},
                           geometry=[a.geometry.union(into_b), b.geometry.difference(edge.buffer(10))],
                           crs=CRS).to_crs(4326)
    plan = boundaries.plan_adjustment(engine, user, new.set_geometry(shapely.buffer(new.geometry.values, 0)))
    overlaps = [p for p in plan.problems if p.kind == "overlap"]
    assert len(overlaps) == 1 and set(overlaps[0].codes) == {a["code"], b["code"]}
    want = into_b.difference(edge.buffer(10)).area
    assert overlaps[0].area_m2 == pytest.approx(want, rel=1e-2)
    before = where_is(engine)
    with pytest.raises(boundaries.BoundaryError):
        boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)
    assert where_is(engine) == before
    # a split whose new part overlaps the grid it came from: two new outlines overlapping
    half = a.geometry.intersection(shapely.box(*a.geometry.bounds).buffer(0).envelope)
    both = gpd.GeoDataFrame({"code": [a["code"], ""]}, geometry=[a.geometry, half.buffer(-5)], crs=CRS).to_crs(4326)
    plan = boundaries.plan_adjustment(engine, user, both)
    assert any(p.kind == "overlap" and a["code"] in p.codes for p in plan.problems)


def test_an_edit_raced_by_another_is_refused_whole(engine):
    user = login(engine, "community1")
    a, b = _neighbours(grids_m(engine, user.community_id))
    plan = edits.merge(engine, user, [a["code"], b["code"]])
    with engine.begin() as conn:  # someone adjusts b meanwhile
        geom = conn.execute(select(Grid.geom).where(Grid.id == int(b["id"]))).scalar_one()
        conn.execute(update(Grid.__table__).where(Grid.id == int(b["id"])).values(geom=shapely.set_precision(geom, 1e-6)))
    before = where_is(engine), store.counts(engine)
    with pytest.raises(ConcurrentEditError):
        boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)
    assert (where_is(engine), store.counts(engine)) == before


def test_renumbering_reads_west_to_east_then_north_to_south(engine):
    user = login(engine, "community1")
    g = grids_m(engine, user.community_id).iloc[0]
    plan = edits.split(engine, user, g["code"], to_ll(a_cut(g.geometry)), renumber=True)
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)
    after = grids_m(engine, user.community_id)
    order = rules.reading_order(after.geometry.values)
    numbers = [int(c[-3:]) for c in after["code"].to_numpy()[order]]
    assert numbers == list(range(1, len(after) + 1))


# --------------------------------------------------------------------------- the same in a file

def as_file(frame: gpd.GeoDataFrame) -> bytes:
    """Outlines with ``code`` (and ``retire``) as 网格调整's GeoJSON upload holds them, in lon-lat."""
    return frame.to_crs(4326).to_json().encode()


def test_a_file_splits_with_an_empty_code_and_merges_with_retire(engine):
    """The boundary upload makes the same edits: an empty code is a new grid, ``retire`` = 是 retires one;
    the buildings that change grid are exactly those the map's edit moves, and those are written."""
    user = login(engine, "community1")
    grids = grids_m(engine, user.community_id)
    g = grids.iloc[int(np.argmax(grids.area))]
    drawn = edits.split(engine, user, g["code"], to_ll(a_cut(g.geometry)))
    rows = drawn.new.assign(code=np.where(drawn.new["id"] < 0, "", drawn.new["code"]))[["code", "geometry"]]
    plan = boundaries.plan_adjustment(engine, user, boundaries.read_upload(as_file(rows), "grids.geojson"))
    assert plan.ok, (plan.problems, plan.findings)
    new_code = drawn.new.loc[drawn.new["id"] < 0, "code"].iloc[0]
    assert list(plan.new.loc[plan.new["id"] < 0, "code"]) == [new_code]
    moving = set(drawn.moves["id"])
    assert moving and set(plan.moves["id"]) == moving
    before = where_is(engine)
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON)
    new_id = int(store.read_frame(engine, select(Grid.id).where(Grid.code == new_code))["id"].iloc[0])
    assert {i: to for i, (_, to) in moved(before, where_is(engine), "building").items()} == dict.fromkeys(moving, new_id)

    a, b = _neighbours(grids_m(engine, user.community_id))
    union = edits.merge(engine, user, [a["code"], b["code"]], keep=a["code"]).new.geometry.iloc[0]
    rows = gpd.GeoDataFrame({"code": [a["code"], b["code"]], "retire": ["", "是"]},
                            geometry=[union, to_ll(b.geometry)], crs=4326)
    plan = boundaries.plan_adjustment(engine, user, boundaries.read_upload(as_file(rows), "grids.geojson"))
    assert plan.ok, (plan.problems, plan.findings)
    assert list(plan.retired["code"]) == [b["code"]]
    before = where_is(engine)
    of_b = {i for i, gr in before["building"].items() if gr == int(b["id"])}
    assert of_b and set(plan.moves["id"]) == of_b
    boundaries.apply_adjustment(engine, user, plan, now=NOW, reason=REASON if len(plan.needs_reason) else None)
    assert {i: to for i, (_, to) in moved(before, where_is(engine), "building").items()} == dict.fromkeys(of_b, int(a["id"]))
    with engine.connect() as conn:
        assert conn.execute(select(Grid.retired_at).where(Grid.id == int(b["id"]))).scalar_one() == NOW
