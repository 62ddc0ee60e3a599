"""Grid boundary adjustment (网格调整), on both backends: what moves, what is refused, what is audited.

The known case: two adjacent grids of one community, their shared edge moved
by 40 m into the second one. Exactly the buildings whose door lies in that
strip change grid (with their households, residents and open tickets), and
so do the facilities and cameras standing there; a closed ticket in the strip
keeps its grid.
"""
from __future__ import annotations

import json
from datetime import datetime

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import func, select, update

from geo.access import audit, auth, roles, users
from geo.grids import boundaries
from geo.demo import accounts
from geo.place import projection
from geo.db import store
from geo.errors import ConcurrentEditError
from geo.db.schema import Building, Camera, Facility, Grid, Household, Resident, Ticket

NOW = datetime(2026, 11, 23, 9)
SHIFT_M = 40.0
CRS = "EPSG:32648"  # the demo's UTM zone: where the test builds its strip, in metres


def login(engine, name: str) -> users.User:
    return auth.authenticate(engine, name, accounts.DEMO_PASSWORD, now=NOW)


def neighbours(engine, community_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two grids of the community sharing the longest edge (a, b), in metres."""
    grids = store.read_layer(engine, Grid, where=Grid.community_id == community_id).to_crs(CRS)
    best, pair = 0.0, None
    for i in range(len(grids)):
        for j in range(i + 1, len(grids)):
            shared = grids.geometry.iloc[i].intersection(grids.geometry.iloc[j]).length
            if shared > best:
                best, pair = shared, (i, j)
    assert best > 200, "the demo's grids share edges"
    return grids.iloc[[pair[0]]], grids.iloc[[pair[1]]]


def strip_of(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, d: float = SHIFT_M, engine=None):
    """The part of b within ``d`` metres of its edge with a (metres).

    With ``engine``, the strip keeps buildings whole, as the grid rule asks (a boundary through a
    building is refused): a building it crosses is taken whole if its door is in the strip, left
    whole otherwise.
    """
    edge = a.geometry.iloc[0].intersection(b.geometry.iloc[0])
    strip = edge.buffer(d).intersection(b.geometry.iloc[0])
    if engine is None:
        return strip
    with engine.connect() as conn:
        rows = conn.execute(select(Building.entrance_lon, Building.entrance_lat, Building.geom)
                            .where(Building.grid_id == int(b["id"].iloc[0]))).fetchall()
    fps = gpd.GeoSeries([r[2] for r in rows], crs=4326).to_crs(CRS).values
    x, y = projection.lonlat_to_metric([r[0] for r in rows], [r[1] for r in rows], crs=CRS)
    door_in = shapely.covers(strip, shapely.points(x, y))
    crossed = shapely.intersects(fps, strip.boundary)
    taken = shapely.union_all(fps[crossed & door_in])
    left = shapely.union_all(fps[crossed & ~door_in])
    return strip.union(taken.intersection(b.geometry.iloc[0])).difference(left)


def upload(*rows: tuple[str, object]) -> gpd.GeoDataFrame:
    """Metric outlines as an uploaded file would give them: code + lon-lat geometry.

    Reprojecting the strip's round ends can fold two nearly equal vertices over each
    other; a GIS would not save that, and the module refuses it, so it is cleaned here.
    """
    out = gpd.GeoDataFrame({"code": [c for c, _ in rows]}, geometry=[g for _, g in rows], crs=CRS).to_crs(4326)
    return out.set_geometry(shapely.buffer(out.geometry.values, 0))


def shifted(engine, user):
    a, b = neighbours(engine, user.community_id)
    strip = strip_of(a, b, engine=engine)
    new = upload((a["code"].iloc[0], a.geometry.iloc[0].union(strip)),
                 (b["code"].iloc[0], b.geometry.iloc[0].difference(strip)))
    return a, b, strip, new


def doors_in(engine, grid_id: int, area) -> set[int]:
    """Buildings of ``grid_id`` whose door lies in ``area`` (metres): worked out apart from the module."""
    with engine.connect() as conn:
        rows = conn.execute(select(Building.id, Building.entrance_lon, Building.entrance_lat)
                            .where(Building.grid_id == grid_id)).fetchall()
    x, y = projection.lonlat_to_metric([r[1] for r in rows], [r[2] for r in rows], crs=CRS)
    inside = shapely.covers(area, shapely.points(x, y))
    return {r[0] for r, hit in zip(rows, inside) if hit}


def grid_of(engine, table, ids) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.grid_id).where(table.c.id.in_(list(ids)))).scalars())


def snapshot(engine) -> dict:
    """Everything an adjustment may write: row counts, grid outlines, who is in which grid."""
    with engine.connect() as conn:
        return {"counts": store.counts(engine),
                "grids": {i: shapely.to_wkb(g) for i, g in conn.execute(select(Grid.id, Grid.geom))},
                "buildings": dict(conn.execute(select(Building.id, Building.grid_id)).fetchall()),
                "households": conn.execute(select(func.sum(Household.grid_id * Household.id))).scalar_one(),
                "residents": conn.execute(select(func.sum(Resident.grid_id * Resident.id))).scalar_one(),
                "tickets": dict(conn.execute(select(Ticket.id, Ticket.grid_id)).fetchall())}


# --------------------------------------------------------------------------- the known case

def test_moving_a_shared_edge_moves_exactly_the_buildings_in_the_strip(engine):
    user = login(engine, "community1")
    a, b, strip, new = shifted(engine, user)
    a_id, b_id = int(a["id"].iloc[0]), int(b["id"].iloc[0])
    want = doors_in(engine, b_id, strip)
    assert len(want) >= 3, "the 40 m strip holds buildings"
    assert not doors_in(engine, a_id, strip)
    # an open and a closed ticket of b placed in the strip, one open ticket of b outside it
    inside_pt = projection.to_storage(gpd.GeoDataFrame(geometry=[strip.representative_point()], crs=CRS)).geometry[0]
    with engine.begin() as conn:
        t_open, t_closed, t_far = conn.execute(select(Ticket.id).where(Ticket.grid_id == b_id).order_by(Ticket.id)
                                               .limit(3)).scalars().all()
        for tid, state in ((t_open, "grid_accepted"), (t_closed, "closed")):
            conn.execute(update(Ticket.__table__).where(Ticket.id == tid).values(
                state=state, geom=inside_pt, community_id=user.community_id))
        far = b.geometry.iloc[0].difference(strip.buffer(5)).representative_point()
        conn.execute(update(Ticket.__table__).where(Ticket.id == t_far).values(
            state="reported", geom=projection.to_storage(gpd.GeoDataFrame(geometry=[far], crs=CRS)).geometry[0]))
        # a facility and a camera of b in the strip follow their point; another camera of b outside stays
        fac = conn.execute(select(Facility.id).where(Facility.grid_id == b_id).limit(1)).scalar()
        if fac is None:
            fac = conn.execute(select(Facility.id).limit(1)).scalar_one()
        cams = conn.execute(select(Camera.id).order_by(Camera.id).limit(2)).scalars().all()
        conn.execute(update(Facility.__table__).where(Facility.id == fac).values(grid_id=b_id, geom=inside_pt))
        conn.execute(update(Camera.__table__).where(Camera.id == cams[0]).values(grid_id=b_id, geom=inside_pt))
        conn.execute(update(Camera.__table__).where(Camera.id == cams[1]).values(
            grid_id=b_id, geom=projection.to_storage(gpd.GeoDataFrame(geometry=[far], crs=CRS)).geometry[0]))
    version = ts_version(engine, t_open)

    plan = boundaries.plan_adjustment(engine, user, new)
    assert plan.ok, [p.message("en") for p in plan.problems]
    assert set(plan.moves["id"]) == want
    assert set(plan.moves["to_grid_id"]) == {a_id}
    rows = plan.changes.set_index("id")
    assert rows.loc[a_id, "area_after_m2"] - rows.loc[a_id, "area_before_m2"] == pytest.approx(strip.area, rel=1e-3)
    assert rows.loc[b_id, "area_before_m2"] - rows.loc[b_id, "area_after_m2"] == pytest.approx(strip.area, rel=1e-3)
    assert rows.loc[a_id, "buildings_in"] == rows.loc[b_id, "buildings_out"] == len(want)
    with engine.connect() as conn:
        hh = set(conn.execute(select(Household.id).where(Household.building_id.in_(want))).scalars())
        res = set(conn.execute(select(Resident.id).where(Resident.household_id.in_(hh))).scalars())
        b_buildings_before = set(conn.execute(select(Building.id).where(Building.grid_id == b_id)).scalars())
    assert rows.loc[a_id, "households_in"] == len(hh) and rows.loc[b_id, "residents_out"] == len(res)

    boundaries.apply_adjustment(engine, user, plan, now=NOW)
    assert grid_of(engine, Building.__table__, want) == {a_id}
    assert grid_of(engine, Building.__table__, b_buildings_before - want) == {b_id}
    assert grid_of(engine, Household.__table__, hh) == {a_id}
    assert grid_of(engine, Resident.__table__, res) == {a_id}
    assert grid_of(engine, Ticket.__table__, [t_open]) == {a_id}
    assert ts_version(engine, t_open) == version + 1  # a page holding the old version must re-read it
    assert grid_of(engine, Ticket.__table__, [t_closed]) == {b_id}  # history keeps its grid
    assert grid_of(engine, Ticket.__table__, [t_far]) == {b_id}
    assert grid_of(engine, Facility.__table__, [fac]) == grid_of(engine, Camera.__table__, cams[:1]) == {a_id}
    assert grid_of(engine, Camera.__table__, cams[1:]) == {b_id}
    stored = store.read_layer(engine, Grid, where=Grid.id.in_([a_id, b_id])).to_crs(CRS).set_index("id")
    assert stored.geometry[a_id].area - a.geometry.iloc[0].area == pytest.approx(strip.area, rel=1e-3)
    # every building's grid now covers its door (the rule routing and coverage use)
    with engine.connect() as conn:
        doors = conn.execute(select(Building.entrance_lon, Building.entrance_lat, Building.grid_id)
                             .where(Building.grid_id.in_([a_id, b_id]))).fetchall()
    polys = store.read_layer(engine, Grid, where=Grid.id.in_([a_id, b_id])).set_index("id").geometry
    assert all(polys[g].covers(shapely.Point(x, y)) for x, y, g in doors)

    log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.boundary")
    assert sorted(log["object_id"]) == sorted([a_id, b_id])
    assert set(log["username"]) == {"community1"} and set(log["role"]) == {"community_staff"}
    assert set(log["at"]) == {NOW}
    assert log.set_index("object_id").loc[a_id, "detail"].count(f"+{len(want)}") >= 1


def ts_version(engine, ticket_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Ticket.version).where(Ticket.id == ticket_id)).scalar_one()


# --------------------------------------------------------------------------- refusals

def test_an_overlap_is_refused_with_its_area(engine):
    user = login(engine, "community1")
    a, b = neighbours(engine, user.community_id)
    strip = strip_of(a, b)
    plan = boundaries.plan_adjustment(engine, user, upload((a["code"].iloc[0], a.geometry.iloc[0].union(strip))))
    assert [p.kind for p in plan.problems] == ["overlap"]
    assert plan.problems[0].area_m2 == pytest.approx(strip.area, rel=1e-3)
    assert set(plan.problems[0].codes) == {a["code"].iloc[0], b["code"].iloc[0]}
    assert f"重叠 {plan.problems[0].area_m2:,.1f} m²" in plan.problems[0].message("zh")
    before = snapshot(engine)
    with pytest.raises(boundaries.BoundaryError):
        boundaries.apply_adjustment(engine, user, plan, now=NOW)
    assert snapshot(engine) == before


def test_a_gap_is_refused_with_its_area(engine):
    user = login(engine, "community1")
    a, b = neighbours(engine, user.community_id)
    strip = strip_of(a, b)
    plan = boundaries.plan_adjustment(engine, user, upload((b["code"].iloc[0], b.geometry.iloc[0].difference(strip))))
    assert [p.kind for p in plan.problems] == ["gap"]
    assert plan.problems[0].area_m2 == pytest.approx(strip.area, rel=1e-3)
    assert plan.problems[0].codes == (b["code"].iloc[0],)
    before = snapshot(engine)
    with pytest.raises(boundaries.BoundaryError):
        boundaries.apply_adjustment(engine, user, plan, now=NOW)
    assert snapshot(engine) == before


def test_a_sliver_below_the_tolerance_is_not_a_gap(engine):
    """A GIS round trip that leaves a 0.2 m wide sliver along the edge is noise, not a change of territory."""
    user = login(engine, "community1")
    a, b = neighbours(engine, user.community_id)
    strip = strip_of(a, b, engine=engine)
    ring = strip.buffer(0.2).difference(strip).intersection(b.geometry.iloc[0])  # 0.2 m along the new edge
    plan = boundaries.plan_adjustment(engine, user, upload(
        (a["code"].iloc[0], a.geometry.iloc[0].union(strip)),
        (b["code"].iloc[0], b.geometry.iloc[0].difference(strip).difference(ring))))
    assert plan.ok, [p.message("en") for p in plan.problems]


def test_a_bow_tie_is_refused_with_the_reason(engine):
    user = login(engine, "community1")
    code = store.read_layer(engine, Grid, where=Grid.community_id == user.community_id)["code"].iloc[0]
    bow = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": code},
           "geometry": {"type": "Polygon", "coordinates": [[[103.9, 30.9], [103.91, 30.91], [103.91, 30.9],
                                                            [103.9, 30.91], [103.9, 30.9]]]}}]}
    with pytest.raises(boundaries.BoundaryError) as err:
        boundaries.read_upload(json.dumps(bow).encode(), "grids.geojson")
    assert err.value.key == "invalid"
    assert code in err.value.message("zh") and "Self-intersection[103.905 30.905]" in err.value.message("en")


def test_metre_coordinates_without_a_crs_are_refused_and_with_one_reprojected(engine):
    user = login(engine, "community1")
    a, b, strip, new = shifted(engine, user)
    metric = new.to_crs(CRS)
    bare = json.loads(metric.to_json())
    bare.pop("crs", None)
    with pytest.raises(boundaries.BoundaryError) as err:
        boundaries.read_upload(json.dumps(bare).encode(), "edited.geojson")
    assert err.value.key == "metres" and "未声明坐标系" in err.value.message("zh")
    declared = boundaries.read_upload(metric.to_json().encode(), "edited.geojson")  # names EPSG:32648
    assert declared.crs.to_epsg() == 4326
    plan = boundaries.plan_adjustment(engine, user, declared)
    assert plan.ok and set(plan.moves["id"]) == doors_in(engine, int(b["id"].iloc[0]), strip)


@pytest.mark.parametrize("body,key", [
    (b"{not json", "broken"),
    (json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"},
     "geometry": {"type": "Polygon", "coordinates": [[[103.9, 30.9], [103.91, 30.9], [103.91, 30.91],
                                                      [103.9, 30.9]]]}}]}).encode(), "no_code"),
    (json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "1"},
     "geometry": {"type": "Point", "coordinates": [103.9, 30.9]}}]}).encode(), "not_polygon"),
])
def test_broken_files_are_refused_in_words(body, key):
    with pytest.raises(boundaries.BoundaryError) as err:
        boundaries.read_upload(body, "grids.geojson")
    assert err.value.key == key
    assert " / " in str(err.value)  # Chinese / English


def test_another_communitys_staff_and_a_grid_head_are_refused(engine):
    owner = login(engine, "community1")
    _, _, _, new = shifted(engine, owner)
    stranger = login(engine, "community2")
    with pytest.raises(boundaries.BoundaryError) as err:
        boundaries.plan_adjustment(engine, stranger, new)
    assert err.value.key == "unknown"  # the same words as a code that does not exist
    assert "不存在或不在您的管辖范围内" in err.value.message("zh")
    with pytest.raises(PermissionError):
        boundaries.plan_adjustment(engine, login(engine, "gridhead1"), new)
    plan = boundaries.plan_adjustment(engine, owner, new)
    with pytest.raises(PermissionError):
        boundaries.apply_adjustment(engine, login(engine, "gridhead1"), plan, now=NOW)
    assert boundaries.plan_adjustment(engine, login(engine, "staff"), new).ok  # street staff: any community


def test_grids_of_two_communities_are_refused_in_one_go(engine):
    staff = login(engine, "staff")
    grids = store.read_layer(engine, Grid).to_crs(CRS)
    one_each = grids.groupby("community_id").head(1)
    nudged = upload(*[(c, g.buffer(-5)) for c, g in zip(one_each["code"], one_each.geometry)])
    with pytest.raises(boundaries.BoundaryError) as err:
        boundaries.plan_adjustment(engine, staff, nudged)
    assert err.value.key == "communities"


def test_a_change_between_plan_and_apply_is_refused_and_nothing_is_written(engine):
    user = login(engine, "community1")
    a, b, strip, new = shifted(engine, user)
    plan = boundaries.plan_adjustment(engine, user, new)
    assert plan.ok and len(plan.moves)
    with engine.begin() as conn:  # someone else moves a vertex of b meanwhile
        b_geom = conn.execute(select(Grid.geom).where(Grid.id == int(b["id"].iloc[0]))).scalar_one()
        conn.execute(update(Grid.__table__).where(Grid.id == int(b["id"].iloc[0])).values(
            geom=shapely.set_precision(b_geom, 1e-6)))
    before = snapshot(engine)
    with pytest.raises(ConcurrentEditError):
        boundaries.apply_adjustment(engine, user, plan, now=NOW)
    assert snapshot(engine) == before
    assert audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.").empty


def test_the_download_holds_the_users_grids_only(engine):
    user = login(engine, "community1")
    data = json.loads(boundaries.grids_geojson(engine, user.scope))
    with engine.connect() as conn:
        mine = set(conn.execute(select(Grid.code).where(Grid.community_id == user.community_id)).scalars())
    assert {f["properties"]["code"] for f in data["features"]} == mine
    assert set(data["features"][0]["properties"]) == {"id", "code", "name", "community"}
    back = boundaries.read_upload(json.dumps(data).encode(), "grids.geojson")
    with pytest.raises(boundaries.BoundaryError) as err:  # downloaded and uploaded untouched
        boundaries.plan_adjustment(engine, user, back)
    assert err.value.key == "unchanged"


# --------------------------------------------------------------------------- the page

def test_the_page_previews_an_upload_and_applies_it(town_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from geo import settings

    engine = store.make_engine(town_url)
    user = auth.authenticate(engine, "community1", accounts.DEMO_PASSWORD, now=settings.now())
    a, b, strip, new = shifted(engine, user)
    want = doors_in(engine, int(b["id"].iloc[0]), strip)
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=180)
    at.session_state["user"] = user
    at.run()
    at.switch_page("pages/boundaries.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "网格调整"
    # first an overlap: refused in words, no button
    overlap = upload((a["code"].iloc[0], a.geometry.iloc[0].union(strip)))
    at.file_uploader[0].set_value(("bad.geojson", overlap.to_json().encode(), "application/geo+json")).run()
    assert not at.exception, at.exception
    assert any("重叠" in e.value and "m²" in e.value for e in at.error)
    assert not [btn for btn in at.button if btn.key == "boundaries_apply"]
    # then the good file: the changes, the moving buildings, and the button
    at.file_uploader[0].set_value(("edited.geojson", new.to_json().encode(), "application/geo+json")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    changes, moves = at.dataframe[0].value, at.dataframe[1].value
    assert set(changes["编码"]) == {a["code"].iloc[0], b["code"].iloc[0]}
    assert len(moves) == len(want) and set(moves["新网格"]) == {a["code"].iloc[0]}
    at.button(key="boundaries_apply").click().run()
    assert not at.exception, at.exception
    assert any(f"{len(want)} 栋楼变更所属网格" in s.value for s in at.success)
    assert grid_of(engine, Building.__table__, want) == {int(a["id"].iloc[0])}
    log = audit.read(engine, scope=roles.WHOLE_STREET, action_prefix="grid.boundary")
    assert len(log) == 2 and set(log["username"]) == {"community1"}
    engine.dispose()


def test_the_preview_map_lists_its_layers_after_drawing_them(engine):
    """Leaflet's layer control fails ("reading 'setZIndex'") and the map stays blank when its script
    comes before a layer it lists: the preview's own layers are added after geo.maps.leaflet draws the base."""
    from geo.grids import boundaries_map

    user = login(engine, "community1")
    plan = boundaries.plan_adjustment(engine, user, shifted(engine, user)[3])
    html = boundaries_map.preview_map(boundaries_map.preview_layers(engine, plan), plan).get_root().render()
    control = html.index("var layer_control_")
    assert html.rindex("L.geoJson(") < control < html.index("L.control.layers(")
    for name in ("原边界", "新边界", "变更网格的楼栋"):
        assert json.dumps(name) in html[control:]  # folium writes the names \u-escaped
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()  # offline: local assets only
