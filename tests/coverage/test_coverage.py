"""Walking network and coverage on tiny hand-built networks whose answers are known.

Coordinates are metres in settings.METRIC_CRS around an origin near the demo
town; every expected distance below is worked out by hand in the comment.
"""
from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from geo import settings
from geo.place import catalogue, projection
from geo.coverage import coverage, network, siting
from geo.io import osm
from geo.errors import ValidationError

X0, Y0 = 405000.0, 3430000.0  # UTM 48N, near Pengzhou


def lines(*coords_lists, **cols) -> gpd.GeoDataFrame:
    geoms = [LineString([(X0 + x, Y0 + y) for x, y in c]) for c in coords_lists]
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=settings.METRIC_CRS)


def snap(g, *pts, **kw) -> network.Snapped:
    xy = np.array(pts, float) + [X0, Y0]
    return network.snap_points(g, xy[:, 0], xy[:, 1], **kw)


def dist(g, src, dst, limit=np.inf, **kw) -> np.ndarray:
    return network.distances_to_points(g, snap(g, *src), snap(g, *dst, **kw), limit=limit)


# --------------------------------------------------------------------------- catalogue

def test_required_set_follows_the_2020_complete_community_standard():
    assert catalogue.required_types() == ["service_station", "elderly_daycare", "clinic", "kindergarten",
                                          "nursery", "supermarket"]
    for key in catalogue.required_types():
        assert "完整居住社区建设标准" in catalogue.facility_type(key).source  # the source beside the value
    assert not catalogue.facility_type("market").required


def test_reach_file_is_read_at_start(tmp_path):
    import subprocess
    import sys

    toml = tmp_path / "reach.toml"
    toml.write_text('[clinic]\nreach_m = 800\nsource = "某市社区生活圈规划 2024"\n\n'
                    '[market]\nreach_m = 600\nrequired = true\n', encoding="utf-8")
    code = ("from geo.place import catalogue as c; f = c.facility_type('clinic'); "
            "print(f.reach_m, f.source, c.facility_type('market').reach_m, 'market' in c.required_types())")
    env = {**__import__("os").environ, "SHEQU_REACH_FILE": str(toml)}
    out = subprocess.run([sys.executable, "-c", code], cwd=settings.ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["800.0", "某市社区生活圈规划", "2024", "600.0", "True"]


def test_reach_file_json_and_its_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "FACILITY_TYPES", dict(catalogue.FACILITY_TYPES))  # restored after
    good = tmp_path / "reach.json"
    good.write_text('{"kindergarten": 250, "nursery": {"reach_m": 200, "source": "区托育规划"}}', encoding="utf-8")
    changed = catalogue.load_reach_file(good)
    assert sorted(changed) == ["kindergarten", "nursery"]
    assert catalogue.facility_type("kindergarten").reach_m == 250
    assert catalogue.facility_type("kindergarten").source == "reach.json"
    assert catalogue.facility_type("nursery").source == "区托育规划"
    bad = tmp_path / "bad.json"
    for text, message in [('{"spaceport": 100}', "'spaceport': unknown facility type"),
                          ('{"clinic": -5}', "'clinic': reach_m must be positive"),
                          ('{"clinic": {"reach": 5}}', "unknown field"),
                          ('{"clinic": 800, "market": "far"}', "'market': reach_m must be positive"),
                          ("{not json", "cannot read it")]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValidationError, match=re.escape(message)):
            catalogue.load_reach_file(bad)
    assert catalogue.facility_type("clinic").reach_m == 500  # a bad file changes nothing


# --------------------------------------------------------------------------- network

def test_door_exactly_at_the_limit_is_covered_and_just_past_it_is_not():
    g = network.graph_from_lines(lines([(0, 0), (300, 0)]))
    d = dist(g, [(0, 0)], [(300, 0), (300.5, 0)], limit=300)
    assert d[0] == pytest.approx(300.0, abs=1e-9) and d[0] <= 300  # along the road
    assert np.isinf(d[1])  # 300 along the road + 0.5 m off its end: beyond


def test_detour_is_walked_not_flown():
    # Two parallel streets 100 m apart, joined only at x = 1000: the door across
    # the street is 100 m away in a straight line but 1000 + 100 + 1000 on foot.
    g = network.graph_from_lines(lines([(0, 0), (1000, 0)], [(0, 100), (1000, 100)], [(1000, 0), (1000, 100)]))
    assert dist(g, [(0, 0)], [(0, 100)])[0] == pytest.approx(2100)
    assert np.isinf(dist(g, [(0, 0)], [(0, 100)], limit=300)[0])


def test_disconnected_piece_has_no_route():
    g = network.graph_from_lines(lines([(0, 0), (300, 0)], [(0, 500), (200, 500)]))
    assert g.n_pieces == 2
    s = snap(g, (100, 500))
    assert s.ok[0]  # it is on a road…
    assert np.isinf(dist(g, [(0, 0)], [(100, 500)])[0])  # …that does not reach the facility


def test_stray_fragment_does_not_capture_a_door():
    # A 20 m fragment 5 m from the door; the real road is 40 m away.
    g = network.graph_from_lines(lines([(0, 0), (300, 0)], [(90, 45), (110, 45)]))
    s = snap(g, (100, 40))
    assert s.access[0] == pytest.approx(40)  # snapped to the real road
    assert dist(g, [(0, 0)], [(100, 40)])[0] == pytest.approx(140)


def test_door_beyond_snap_limit_is_unreachable():
    g = network.graph_from_lines(lines([(0, 0), (300, 0)]))
    s = snap(g, (100, 149), (100, 151), snap_m=150)
    assert s.ok.tolist() == [True, False]
    assert s.access[0] == pytest.approx(149)
    d = dist(g, [(0, 0)], [(100, 149), (100, 151)])
    assert d[0] == pytest.approx(249) and np.isinf(d[1])


def test_bridge_over_a_road_is_not_a_junction():
    # Road A along y=0; a bridge crosses it at x=100 with no shared vertex; road C
    # links A's west end to the bridge's south end. Facility at the bridge's south
    # end, door at (150, 2) beside A: walk C (200) + A (150) + 2 = 352. Were the
    # crossing a junction it would be 100 + 50 + 2 = 152.
    roads = [[(0, 0), (200, 0)], [(100, -100), (100, 100)], [(0, 0), (0, -100), (100, -100)]]
    bridged = network.graph_from_lines(lines(*roads, bridge=["no", "yes", None]))
    assert dist(bridged, [(100, -100)], [(150, 2)])[0] == pytest.approx(352)
    flat = network.graph_from_lines(lines(*roads, bridge=["no", "no", None]))
    assert dist(flat, [(100, -100)], [(150, 2)])[0] == pytest.approx(152)
    layered = network.graph_from_lines(lines(*roads, layer=["0", "1", "0"]))
    assert dist(layered, [(100, -100)], [(150, 2)])[0] == pytest.approx(352)


def test_door_under_a_bridge_snaps_to_the_street_below():
    # Street along y = 0, facility at its west end. A bridge (layer 1) crosses above
    # at x = 150 with no junction. The door at (152, 10) is 2 m from the bridge in
    # plan but stands on the ground: it snaps to the street 10 m away, walk 152 + 10.
    roads = lines([(0, 0), (300, 0)], [(150, -200), (150, 200)], layer=["0", "1"])
    g = network.graph_from_lines(roads)
    s = snap(g, (152, 10))
    assert g.level[s.edge[0]] == 0 and s.access[0] == pytest.approx(10)
    assert dist(g, [(0, 0)], [(152, 10)])[0] == pytest.approx(162)
    # with no ground edge within reach of the snap, the bridge is still taken
    far = snap(g, (152, 180))
    assert g.level[far.edge[0]] == 1 and far.access[0] == pytest.approx(2)


def test_graph_measures_in_the_utm_zone_of_its_data():
    # A 1,000 m (geodesic) east-west street in Beijing (116.4°E, UTM 50N). Measured in
    # the demo's fixed 48N it would come out ~1.2 % long; in its own zone within 0.1 %.
    from pyproj import Geod

    lon1, lat1, _ = Geod(ellps="WGS84").fwd(116.40, 39.90, 90.0, 1000.0)
    road = gpd.GeoDataFrame(geometry=[LineString([(116.40, 39.90), (lon1, lat1)])], crs=settings.STORAGE_CRS)
    g = network.graph_from_lines(road)
    assert g.crs == "EPSG:32650"
    assert g.length.sum() == pytest.approx(1000.0, rel=1e-3)
    assert projection.metric_crs_for(lines([(0, 0), (10, 0)])) == settings.METRIC_CRS  # the demo's zone
    assert projection.utm_crs(-70.6, -33.4) == "EPSG:32719"  # south of the equator


def test_near_miss_dead_end_is_joined_within_join_m():
    roads = lines([(0, 0), (100, 0)], [(50, 0.8), (50, 200)])
    joined = network.graph_from_lines(roads)
    assert joined.n_pieces == 1
    assert dist(joined, [(0, 0)], [(50, 200)])[0] == pytest.approx(50 + 0.8 + 199.2)
    assert np.isinf(dist(network.graph_from_lines(roads, join_m=0), [(0, 0)], [(50, 200)])[0])


def test_one_way_tags_are_ignored_by_walkers():
    g = network.graph_from_lines(lines([(0, 0), (200, 0)], oneway=["yes"]))
    assert dist(g, [(0, 0)], [(200, 0)])[0] == pytest.approx(200)
    assert dist(g, [(200, 0)], [(0, 0)])[0] == pytest.approx(200)


def test_one_search_serves_many_sources_and_same_edge_walks():
    g = network.graph_from_lines(lines([(0, 0), (1000, 0)]))
    assert dist(g, [(0, 0), (1000, 0)], [(700, 0)])[0] == pytest.approx(300)
    # facility and door on the same edge: 50 m between them, not via an end
    assert dist(g, [(100, 0)], [(150, 0)])[0] == pytest.approx(50)


def test_isochrone_is_cut_at_the_limit_and_is_no_hull():
    g = network.graph_from_lines(lines([(0, 0), (1000, 0)], [(0, 0), (0, 1000)]))
    src = snap(g, (0, 0))
    nd = network.node_distances(g, src, limit=300)
    reached = network.reached_lines(g, nd, 300, src)
    assert shapely.length(shapely.union_all(reached)) == pytest.approx(600)
    iso = network.isochrone(g, src, 300, buffer_m=30)
    assert iso.contains(Point(X0 + 299, Y0)) and not iso.contains(Point(X0 + 340, Y0))
    assert not iso.contains(Point(X0 + 150, Y0 + 150))  # inside the hull of the L, off the network
    mid = network.reached_lines(g, network.node_distances(g, snap(g, (500, 0)), limit=100), 100, snap(g, (500, 0)))
    assert shapely.length(shapely.union_all(mid)) == pytest.approx(200)


def test_trails_regroup_segments_without_changing_the_network():
    # a 5 × 5 street grid of 100 m blocks with a footway stub off every crossing
    grid = [[(0, y), (400, y)] for y in range(0, 401, 100)] + [[(x, 0), (x, 400)] for x in range(0, 401, 100)]
    stubs = [[(x, y), (x + 10, y + 12)] for x in range(0, 401, 100) for y in range(0, 401, 100)]
    g = network.graph_from_lines(lines(*grid, *stubs))
    segs = g.segments
    tr = network.trails(segs)
    assert shapely.length(tr).sum() == pytest.approx(shapely.length(segs).sum())
    assert shapely.union_all(tr).equals(shapely.union_all(segs))
    odd = int((g.degree() % 2 == 1).sum())
    # Euler: a connected piece with 2k odd ends needs k walks; greedy walks come close
    assert odd // 2 <= len(tr) <= odd // 2 + 2 and len(tr) < len(segs) / 3
    band = network.band(segs, 30)
    ref = shapely.union_all(shapely.buffer(segs, 30, quad_segs=16))
    assert band.symmetric_difference(ref).area / ref.area < 0.01  # octagonal caps, under 1 % of area
    assert band.is_valid and network.band(np.empty(0, dtype=object)).is_empty


def test_reach_pairs_match_single_searches():
    grid = [[(0, y), (400, y)] for y in range(0, 401, 100)] + [[(x, 0), (x, 400)] for x in range(0, 401, 100)]
    g = network.graph_from_lines(lines(*grid))
    rng = np.random.default_rng(1)
    o = rng.uniform(0, 400, (7, 2))
    t = rng.uniform(0, 400, (30, 2))
    pairs = network.reach_pairs(g, snap(g, *o), snap(g, *t), limit=350, batch=3).toarray()
    for j in range(len(o)):
        d = dist(g, [o[j]], t)
        want = np.where(d <= 350, d, 0)
        np.testing.assert_allclose(pairs[:, j], want, atol=1e-6)


def test_walk_distance_default_is_1125_m():
    assert network.walk_distance_m() == pytest.approx(1125)
    with pytest.raises(ValidationError):
        network.walk_distance_m(speed_kmh=0)


def test_inputs_are_checked():
    with pytest.raises(ValidationError, match="no CRS"):
        network.graph_from_lines(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])]))
    with pytest.raises(ValidationError, match="LineString"):
        network.graph_from_lines(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=settings.METRIC_CRS))


def test_lines_round_trip_through_geojson(tmp_path):
    path = tmp_path / "roads.geojson"
    projection.to_storage(lines([(0, 0), (300, 0)], [(300, 0), (300, 300)], bridge=["no", "no"])).to_file(path)
    g = network.graph_from_lines(network.read_lines(path))
    assert dist(g, [(0, 0)], [(300, 300)])[0] == pytest.approx(600, abs=0.01)


def test_osm_pbf_reader_on_pyrosm_sample():
    import pyrosm  # a requirement (the page's road uploader reads .osm.pbf through it)

    roads = osm.read_osm_pbf(pyrosm.get_data("test_pbf"))
    g = network.graph_from_lines(roads)
    assert g.n_edges > 100 and np.isfinite(g.length).all()
    assert g.piece_length.max() > 1000


def _tiny_pbf(path) -> None:
    """A hand-made OpenStreetMap extract (metres around X0, Y0), written with osmium:

    way 10  (0,0)→(200,0)                 residential, oneway=yes
    way 11  (100,-100)→(100,100)          bridge=yes, layer=1: crosses way 10, no shared node
    way 12  (0,0)→(0,-100)→(100,-100)     footway joining way 10's start to the bridge's foot
    way 13  (0,500)→(300,500)             a separate piece, joined to nothing
    """
    import osmium

    def ll(x, y):
        lon, lat = projection.metric_to_lonlat(np.array([x + X0]), np.array([y + Y0]))
        return float(lon[0]), float(lat[0])

    nodes = {1: (0, 0), 2: (200, 0), 3: (100, -100), 4: (100, 100), 5: (0, -100), 6: (0, 500), 7: (300, 500)}
    ways = [(10, [1, 2], {"highway": "residential", "oneway": "yes"}),
            (11, [3, 4], {"highway": "residential", "bridge": "yes", "layer": "1"}),
            (12, [1, 5, 3], {"highway": "footway"}),
            (13, [6, 7], {"highway": "residential"})]
    stamp = dict(version=1, timestamp="2024-01-01T00:00:00Z")
    writer = osmium.SimpleWriter(str(path))
    try:
        for i, xy in nodes.items():
            writer.add_node(osmium.osm.mutable.Node(id=i, location=ll(*xy), tags={}, **stamp))
        for i, nds, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=i, nodes=nds, tags=tags, **stamp))
    finally:
        writer.close()


def test_osm_pbf_one_way_bridge_piece_and_far_building(tmp_path):
    path = tmp_path / "tiny.osm.pbf"
    _tiny_pbf(path)
    roads = osm.read_osm_pbf(path)
    assert sorted(roads["id"].astype(int)) == [10, 11, 12, 13]
    g = network.graph_from_lines(roads)
    assert g.n_pieces == 2
    # one-way tags mean nothing on foot: 200 m along way 10 either way
    assert dist(g, [(0, 0)], [(200, 0)])[0] == pytest.approx(200, abs=0.05)
    assert dist(g, [(200, 0)], [(0, 0)])[0] == pytest.approx(200, abs=0.05)
    # the bridge is no junction: from its foot to (150, 2) beside way 10 is footway 200 +
    # way 10 150 + 2 = 352, not 100 + 50 + 2 = 152 across the crossing
    assert dist(g, [(100, -100)], [(150, 2)])[0] == pytest.approx(352, abs=0.1)
    # the separate piece has no route; a building 1 km from any road is unreachable
    d = dist(g, [(0, 0)], [(100, 505), (1000, 1000)])
    assert np.isinf(d).all()
    assert snap(g, (100, 505)).ok[0] and not snap(g, (1000, 1000)).ok[0]
    # the page's uploader takes the same file
    from geo.coverage import coverage_io

    up = coverage_io.read_roads_upload("tiny.osm.pbf", path.read_bytes())
    assert len(up) == 4 and up.crs.to_epsg() == 4326


def _roads_file(tmp_path, name, gdf, **kw) -> bytes:
    path = tmp_path / name
    gdf.to_file(path, **kw)
    return path.read_bytes()


def test_road_uploads_are_checked_with_clear_messages(tmp_path):
    from geo.coverage import coverage_io

    town = _tiny_frames()["buildings"]
    street = lines([(0, 0), (1000, 0)], [(500, -300), (500, 300)], kind=["street", "street"])
    # GeoJSON in lon-lat and a GeoPackage in metres (UTM 48N) both come back in lon-lat
    got = coverage_io.read_roads_upload("roads.geojson", _roads_file(tmp_path, "a.geojson", projection.to_storage(street)),
                                        town=town)
    assert len(got) == 2 and got.crs.to_epsg() == 4326
    got = coverage_io.read_roads_upload("roads.gpkg", _roads_file(tmp_path, "a.gpkg", street), town=town)
    assert got.to_crs(settings.METRIC_CRS).length.sum() == pytest.approx(1600, abs=0.5)

    def refused(name, data, key, lang="zh"):
        with pytest.raises(coverage_io.RoadFileError) as err:
            coverage_io.read_roads_upload(name, data, town=town)
        assert err.value.key == key
        return err.value.message(lang)

    assert "不支持的文件类型" in refused("roads.shp", b"x", "format")
    assert "无法读取" in refused("roads.gpkg", b"this is not a GeoPackage", "broken")
    with pytest.warns(UserWarning, match="crs"):  # GDAL warns when writing a file with no CRS: that is the point
        no_crs = _roads_file(tmp_path, "b.gpkg", street.set_crs(None, allow_override=True))
    assert "没有坐标系" in refused("roads.gpkg", no_crs, "no_crs")
    points = gpd.GeoDataFrame(geometry=[Point(104.0, 31.0)], crs=settings.STORAGE_CRS)
    assert "没有道路线" in refused("points.geojson", _roads_file(tmp_path, "c.geojson", points), "no_lines")
    # metres written as if they were degrees: 405,000° is no longitude
    wrong = street.set_crs(settings.STORAGE_CRS, allow_override=True)
    msg = refused("wrong.gpkg", _roads_file(tmp_path, "d.gpkg", wrong), "crs", lang="en")
    assert "not longitude/latitude" in msg and "EPSG:4326" in msg
    # a real network of another city (Beijing) is ~1,500 km away
    beijing = gpd.GeoDataFrame(geometry=[LineString([(116.40, 39.90), (116.41, 39.90)])], crs=settings.STORAGE_CRS)
    assert "公里" in refused("beijing.geojson", _roads_file(tmp_path, "e.geojson", beijing), "far")


# --------------------------------------------------------------------------- coverage

def _ll(x, y):
    lon, lat = projection.metric_to_lonlat(np.asarray(x) + X0, np.asarray(y) + Y0)
    return lon, lat


def _gdf(rows, geoms):
    m = gpd.GeoDataFrame(rows, geometry=[shapely.affinity.translate(g, X0, Y0) for g in geoms],
                         crs=settings.METRIC_CRS)
    return projection.to_storage(m)


def _tiny_frames() -> dict[str, gpd.GeoDataFrame]:
    """A 1 km street; doors at x = 100, 250, 400, 900 on it; one door far off any road.

    Residents 100/200/300/400/50, elderly alone 2/1/0/5/1. Grid 1 holds x ≤ 500.
    Every required type stands at x = 0; a second market at x = 1000.
    """
    doors = [(100, 0), (250, 0), (400, 0), (900, 0), (500, 400)]
    lon, lat = _ll(*np.array(doors).T)
    b = _gdf({"id": [1, 2, 3, 4, 5], "name": list("ABCDE"), "grid_id": [1, 1, 2, 2, 2],
              "residents": [100, 200, 300, 400, 50], "households": 1, "elderly_alone": [2, 1, 0, 5, 1],
              "entrance_lon": lon, "entrance_lat": lat},
             [box(x - 5, y, x + 5, y + 10) for x, y in doors])
    here = [*catalogue.required_types(), "market"]  # ids 1… in this order: the station is 1
    fac = _gdf({"id": range(1, len(here) + 2), "type": [*here, "market"], "name": [*here, "market2"]},
               [Point(0, 0)] * len(here) + [Point(1000, 0)])
    grids = _gdf({"id": [1, 2], "community_id": [1, 1], "name": ["一网格", "二网格"], "code": ["001", "002"]},
                 [box(-10, -50, 500, 500), box(500, -50, 1010, 500)])
    comm = _gdf({"id": [1], "street_id": [1], "name": ["测试社区"]}, [box(-10, -50, 1010, 500)])
    street = _gdf({"id": [1], "name": ["测试街道"]}, [box(-10, -50, 1010, 500)])
    roads = projection.to_storage(lines([(0, 0), (1000, 0)], kind=["street"]))
    return {"buildings": b, "facilities": fac, "grid": grids, "community": comm, "street": street,
            "roads": roads}


@pytest.fixture(scope="module")
def tiny_plan():
    return coverage.build_plan(_tiny_frames())


def test_a_missing_entrance_is_filled_from_the_footprint_and_spoils_nothing():
    frames = _tiny_frames()
    frames["buildings"].loc[frames["buildings"]["id"] == 2, ["entrance_lon", "entrance_lat"]] = np.nan
    plan = coverage.build_plan(frames)
    for method in coverage.METHODS:
        assert covered(plan, "service_station", method) == 100 + 200  # 300 m reach, as before
    # the door comes from inside the footprint (x 245–255, y 0–10), and the plan says so
    x, y = plan.door_xy[1] - [X0, Y0]
    assert 245 <= x <= 255 and 0 <= y <= 10
    assert plan.filled_doors.tolist() == [2]
    # and a door with neither entrance nor footprint is left out alone, not everyone with it
    frames["buildings"].loc[frames["buildings"]["id"] == 2, "geometry"] = None
    plan = coverage.build_plan(frames)
    assert plan.filled_doors.tolist() == []
    assert covered(plan, "service_station", "straight") == 100
    assert covered(plan, "service_station", "walking") == 100


def test_plan_measures_in_its_own_utm_zone(tiny_plan):
    assert tiny_plan.crs == settings.METRIC_CRS  # Pengzhou: UTM 48N, the demo's zone
    # The same street moved 12.5° east (Beijing's longitude, UTM 50N): a shift in longitude
    # keeps every distance on the ellipsoid. Door B is 250 m from the station; in 48N it
    # would measure ~253 m and fall outside a 252 m reach.
    frames = _tiny_frames()
    for k, g in frames.items():
        frames[k] = g.set_geometry(g.translate(xoff=12.5))
    frames["buildings"]["entrance_lon"] += 12.5
    plan = coverage.build_plan(frames)
    assert plan.crs == "EPSG:32650" and plan.graph.crs == "EPSG:32650"
    assert covered(plan, "service_station", "walking", reach=(("service_station", 252.0),)) == 300
    assert covered(plan, "service_station", "straight", reach=(("service_station", 252.0),)) == 300


def covered(plan, target, method="walking", **sc):
    s = coverage.analyse(plan, target, method=method, scenario=coverage.Scenario(**sc)).summary()
    return int(s.loc[target, "covered"])


def test_coverage_counts_people_per_type_and_required_set(tiny_plan):
    assert covered(tiny_plan, "service_station") == 100 + 200  # 300 m reach
    assert covered(tiny_plan, "clinic") == 100 + 200 + 300  # 500 m reach
    assert covered(tiny_plan, "market") == 100 + 200 + 300 + 400  # second market at x = 1000
    assert covered(tiny_plan, coverage.REQUIRED) == 300  # every required type within reach
    s = coverage.analyse(tiny_plan, coverage.REQUIRED).summary()
    assert s.loc["required", "residents"] == 1050
    assert s.loc["required", "elderly_covered"] == 3 and s.loc["required", "elderly_alone"] == 9
    assert tiny_plan.unreachable_doors.tolist() == [5]


def test_coverage_by_grid(tiny_plan):
    t = coverage.analyse(tiny_plan, coverage.REQUIRED).by_area("grid").set_index("id")
    assert t.loc[1, ["residents", "covered"]].tolist() == [300, 300]
    assert t.loc[2, ["residents", "covered"]].tolist() == [750, 0]
    assert t.loc[1, "name"] == "一网格" and t.loc[1, "share"] == 1.0
    c = coverage.analyse(tiny_plan, "clinic").by_area("community")
    assert c["covered"].tolist() == [600]


def test_what_if_close_and_add(tiny_plan):
    assert covered(tiny_plan, "service_station", closed=frozenset({1})) == 0
    lon, lat = _ll(400, 0)
    added = ((float(lon), float(lat), "service_station"),)
    # station 1 (x = 0) closed; a new one at x = 400 reaches 100 (exactly 300 m), 250 and 400
    assert covered(tiny_plan, "service_station", closed=frozenset({1}), added=added) == 600
    assert covered(tiny_plan, "service_station", reach=(("service_station", 299.0),), added=added,
                   closed=frozenset({1})) == 500


def test_blind_spots_and_service_areas(tiny_plan):
    r = coverage.analyse(tiny_plan, "service_station")
    blind = r.blind_buildings()
    assert blind["id"].tolist() == [4, 3, 5]  # most people first
    assert blind.set_index("id").loc[5, "reachable"] == False  # noqa: E712 (numpy bool)
    areas = r.blind_areas().set_index("id")
    assert areas.loc[2, "uncovered"] == 750
    sa = r.service_areas()
    assert sa.crs.to_epsg() == 4326 and len(sa) == 1
    straight = coverage.analyse(tiny_plan, "service_station", method="straight").service_areas()
    assert straight.to_crs(settings.METRIC_CRS).area.iloc[0] == pytest.approx(np.pi * 300 ** 2, rel=0.01)


def test_straight_line_overstates_a_detour():
    # door across a river-like gap: 100 m straight, 2,100 m walked
    lon, lat = _ll([0], [100])
    b = _gdf({"id": [1], "name": ["A"], "grid_id": [1], "residents": [10], "households": 1, "elderly_alone": [0],
              "entrance_lon": lon, "entrance_lat": lat}, [box(-5, 100, 5, 110)])
    fac = _gdf({"id": [1], "type": ["clinic"], "name": ["c"]}, [Point(0, 0)])
    grids = _gdf({"id": [1], "community_id": [1], "name": ["g"], "code": ["1"]}, [box(-10, -10, 1010, 200)])
    comm = _gdf({"id": [1], "street_id": [1], "name": ["c"]}, [box(-10, -10, 1010, 200)])
    roads = projection.to_storage(lines([(0, 0), (1000, 0)], [(0, 100), (1000, 100)], [(1000, 0), (1000, 100)]))
    plan = coverage.build_plan({"buildings": b, "facilities": fac, "grid": grids, "community": comm,
                                "roads": roads})
    assert covered(plan, "clinic", method="straight") == 10
    assert covered(plan, "clinic", method="walking") == 0
    t = coverage.coverage_table(plan, ["clinic"])
    assert t.loc["clinic", "straight_share"] == 1.0 and t.loc["clinic", "walking_share"] == 0.0


def test_unknown_type_and_method_are_refused(tiny_plan):
    with pytest.raises(KeyError):
        coverage.analyse(tiny_plan, "spaceport")
    with pytest.raises(ValidationError):
        coverage.analyse(tiny_plan, "clinic", method="flying")


def test_new_site_planning_on_the_tiny_street(tiny_plan):
    pts = [tuple(map(float, _ll(x, 0))) for x in (400, 650, 900)]
    cands = siting.candidates(tiny_plan, "points", points=pts)
    sp = siting.plan_sites(tiny_plan, "service_station", 1, cands=cands)
    exact = sp.sites[sp.sites["method"] == "exact"]
    assert exact["candidate"].tolist() == [1]  # x = 650 reaches 400 and 900: 700 people
    assert exact["gain"].tolist() == [700]
    assert sp.lscp.n_sites == 1 and sp.uncovered_residents == 750  # door 5 has no road


def test_intersection_candidates_are_street_corners_not_footway_ends():
    # A street along y = 0 crossed by another at x = 500; a footway from a door meets the
    # street at x = 200 (a T in the graph, but no corner anyone would build on).
    roads = projection.to_storage(lines([(0, 0), (1000, 0)], [(500, -300), (500, 300)], [(200, 0), (200, 30)],
                                        kind=["street", "street", "footway"]))
    frames = _tiny_frames() | {"roads": roads}
    plan = coverage.build_plan(frames)
    assert len(plan.graph.intersections()) == 2
    cands = siting.candidates(plan, "intersections").to_crs(settings.METRIC_CRS)
    assert len(cands) == 1
    assert (cands.geometry.x.iloc[0] - X0, cands.geometry.y.iloc[0] - Y0) == (pytest.approx(500, abs=0.01),
                                                                              pytest.approx(0, abs=0.01))


def test_vacant_lots_are_candidate_sites(tiny_plan):
    # a vacant lot beside the street at x 640–660 (its inner point ~15 m off the road) and a
    # park (not a site); the lot reaches doors at 400 and 900: 250 + 15 m each, 700 people
    spaces = _gdf({"id": [1, 2], "kind": ["vacant", "park"], "name": ["空地1", "公园"]},
                  [box(640, 5, 660, 25), box(100, 50, 300, 150)])
    plan = coverage.build_plan(_tiny_frames() | {"open_spaces": spaces})
    cands = siting.candidates(plan, "vacant_lots")
    assert cands["label"].tolist() == ["空地1"]
    sp = siting.plan_sites(plan, "service_station", 1, cands=cands)
    assert sp.sites.loc[sp.sites["method"] == "exact", "gain"].tolist() == [700]
    with pytest.raises(ValidationError, match="vacant"):
        siting.candidates(tiny_plan, "vacant_lots")  # a town with none says so


def test_new_sites_are_named_by_what_a_person_can_find():
    """Issue 13, item 14: a suggested site was "路口 389". Now: the named roads it stands on and the
    nearest building (estate, else grid), the way and the distance to it."""
    roads = projection.to_storage(lines([(0, 0), (1000, 0)], [(500, -300), (500, 300)],
                                        kind=["street", "street"], name=["建设路", "东三环路"]))
    plan = coverage.build_plan(_tiny_frames() | {"roads": roads})
    at = [(500, 0), (100, 5), (420, 40), (3000, 3000)]
    lon, lat = _ll(*np.array(at, float).T)
    assert siting.place_names(plan, lon, lat) == [
        "东三环路与建设路交叉口，二网格 C 东约100米",  # door C (x 400) of grid 2, 100 m west of the corner
        "建设路，一网格 A门口",  # 5 m from door A, on the street
        "二网格 C 东北约40米",  # 20 m east and 40 m north of C: no road within 20 m
        f"{lon[3]:.5f}, {lat[3]:.5f}"]  # nothing near: the coordinates, as a last resort
    cands = siting.candidates(plan, "intersections")
    sp = siting.plan_sites(plan, "service_station", 1, cands=cands)
    assert sp.sites["label"].tolist()[0] == "东三环路与建设路交叉口，二网格 C 东约100米"


def test_the_run_button_says_why_it_is_off():
    assert siting.cannot_run(coverage.REQUIRED, "intersections") == "coverage.run_needs_type"
    assert siting.cannot_run("clinic", "points", []) == "coverage.run_needs_points"
    assert siting.cannot_run("clinic", "points", [(103.9, 30.9)]) is None
    assert siting.cannot_run("clinic", "intersections") is None


def test_a_what_if_that_adds_nobody_says_why(tiny_plan):
    """The station at x 0 reaches doors A (100) and B (250). Added at x 420 it brings C (300 people); at
    x 50 nobody (A and B are covered already); 2 km off the street nobody can walk to it; in a straight
    line, there it has no home within reach."""
    def site(x, y):
        lon, lat = _ll(x, y)
        return (float(lon), float(lat), "service_station")

    added = (site(420, 0), site(50, 0), site(500, 2000))
    sc = coverage.Scenario(added=added)
    walk = coverage.added_effects(tiny_plan, "service_station", scenario=sc)
    assert walk["gain"].tolist() == [300, 0, 0]
    assert walk["reason"].tolist()[1:] == ["covered", "off_network"]
    straight = coverage.added_effects(tiny_plan, "service_station", method="straight", scenario=sc)
    assert straight["reason"].tolist()[2] == "nobody"
    assert coverage.added_effects(tiny_plan, "clinic", scenario=sc).empty  # only the target's own types


# --------------------------------------------------------------------------- cameras

def test_camera_view_is_shadowed_by_a_building():
    cams = _gdf({"id": [1], "heading": [90.0], "fov": [90.0], "range_m": [50.0], "status": ["online"]},
                [Point(0, 0)])
    house = _gdf({"id": [1]}, [box(20, -5, 30, 5)])
    view = coverage.camera_sectors(cams, house).to_crs(settings.METRIC_CRS).geometry.iloc[0]
    at = lambda x, y: view.contains(Point(X0 + x, Y0 + y))  # noqa: E731
    assert at(10, 0) and at(30, 25)  # in front of the house; beside its shadow
    assert not at(40, 0) and not at(25, 0)  # behind it; inside it
    assert not at(-10, 0) and not at(0, 49)  # behind the camera; outside the field of view
    roads = projection.to_storage(lines([(-100, 40), (100, 40)], kind=["street"]))
    table, blind = coverage.camera_road_coverage(coverage.camera_sectors(cams, None), roads)
    # y = 40 crosses the 50 m sector where x ≥ 40 (fov edge, 45°) and x ≤ 30 (range): only 40 ≤ x ≤ 30? none
    assert table.loc["all", "length_m"] == pytest.approx(200)
    assert table.loc["all", "seen_m"] == pytest.approx(0, abs=1e-6)
    roads = projection.to_storage(lines([(-100, 20), (100, 20)], kind=["street"]))
    table, blind = coverage.camera_road_coverage(coverage.camera_sectors(cams, None), roads)
    # y = 20: from x = 20 (45° edge) to x = sqrt(50² − 20²) ≈ 45.83 (the arc, drawn with 24 chords)
    assert table.loc["all", "seen_m"] == pytest.approx(25.83, abs=0.3)
    assert blind["length_m"].sum() == pytest.approx(200 - table.loc["all", "seen_m"], abs=0.5)


def test_offline_cameras_see_nothing():
    cams = _gdf({"id": [1], "heading": [0.0], "fov": [60.0], "range_m": [30.0], "status": ["fault"]}, [Point(0, 0)])
    assert len(coverage.camera_sectors(cams)) == 0
    assert len(coverage.camera_sectors(cams, online_only=False)) == 1


def test_camera_coverage_of_a_straight_road_seen_from_the_south():
    # Camera at the origin facing north, 90° field of view, 50 m range. The street
    # y = 20 (x from -100 to 100, 200 m) is inside the view where |x| ≤ 20 (the 45°
    # edges; the arc is at x = ±45.8 there): 40 m seen. The lane y = -30 is behind it.
    # A second camera facing the lane is offline: it sees nothing.
    cams = _gdf({"id": [1, 2], "heading": [0.0, 180.0], "fov": [90.0, 90.0], "range_m": [50.0, 50.0],
                 "status": ["online", "offline"]}, [Point(0, 0), Point(0, 0)])
    roads = projection.to_storage(lines([(-100, 20), (100, 20)], [(-100, -30), (100, -30)],
                                        kind=["street", "lane"], name=["北街", "南巷"]))
    cc = coverage.camera_coverage(cams, roads)
    assert cc.status() == {"total": 2, "online": 1, "offline": 1}
    assert len(cc.sectors) == 1
    assert cc.roads.loc["street", "length_m"] == pytest.approx(200)
    assert cc.roads.loc["street", "seen_m"] == pytest.approx(40, abs=0.01)
    assert cc.roads.loc["street", "share"] == pytest.approx(0.2, abs=1e-4)
    assert cc.roads.loc["lane", "seen_m"] == pytest.approx(0, abs=1e-6)
    assert cc.roads.loc["all", "share"] == pytest.approx(40 / 400, abs=1e-4)
    # blind: 80 m either side of the view on the street, the whole lane
    got = sorted(zip(cc.blind["name"], cc.blind["length_m"]))
    assert got == [("北街", pytest.approx(80, abs=0.01)), ("北街", pytest.approx(80, abs=0.01)),
                   ("南巷", pytest.approx(200, abs=0.01))]
    # a 10 × 5 m kiosk at 10 ≤ y ≤ 15 in front of the camera: its corners (±5, 10)
    # throw the shadow onto y = 20 over |x| ≤ 10, so 20 m of the 40 stay seen
    kiosk = _gdf({"id": [1]}, [box(-5, 10, 5, 15)])
    cc = coverage.camera_coverage(cams, roads, kiosk)
    assert cc.roads.loc["street", "seen_m"] == pytest.approx(20, abs=0.01)
    # with both cameras offline nothing is seen and every road is blind
    cc = coverage.camera_coverage(cams.assign(status="offline"), roads)
    assert cc.status()["online"] == 0 and len(cc.sectors) == 0
    assert cc.roads.loc["all", "seen_m"] == 0 and cc.blind["length_m"].sum() == pytest.approx(400, abs=0.01)


def test_camera_coverage_of_squares_and_parks():
    # Camera at the origin facing north, 90° field of view, 50 m range. The square
    # (x ±5, y 10–20) lies wholly in view; the park (y 60–100) beyond the range; half of
    # the second square (x 0–40, y 5–15) is in view only where x ≤ y (the 45° edge);
    # the vacant lot is not a public space and is not listed.
    cams = _gdf({"id": [1], "heading": [0.0], "fov": [90.0], "range_m": [50.0], "status": ["online"]},
                [Point(0, 0)])
    spaces = _gdf({"id": [1, 2, 3, 4], "kind": ["square", "park", "square", "vacant"],
                   "name": ["小广场", "公园", "半广场", "空地"]},
                  [box(-5, 10, 5, 20), box(-40, 60, 40, 100), box(0, 5, 40, 15), box(-5, -20, 5, -10)])
    roads = projection.to_storage(lines([(-100, 20), (100, 20)], kind=["street"]))
    cc = coverage.camera_coverage(cams, roads, spaces=spaces)
    got = cc.spaces.set_index("name")
    assert sorted(got.index) == ["公园", "半广场", "小广场"]
    assert got.loc["小广场", "share"] == pytest.approx(1.0, abs=1e-3)
    assert got.loc["公园", "share"] == pytest.approx(0.0, abs=1e-9)
    # in view: the part of 0 ≤ x ≤ 40, 5 ≤ y ≤ 15 with x ≤ y: ∫ y dy from 5 to 15 = 100 m² of 400
    assert got.loc["半广场", "seen_m2"] == pytest.approx(100, abs=0.5)
    assert cc.space_share() == pytest.approx((100 + 100) / (100 + 3200 + 400), abs=1e-3)


def test_camera_map_layers_keep_their_own_styles():
    """folium calls style functions when it renders: a shared variable gave every layer the last style."""
    from geo.coverage import coverage_map

    cams = _gdf({"id": [1], "name": ["c"], "code": ["C1"], "heading": [0.0], "fov": [90.0], "range_m": [50.0],
                 "status": ["online"]}, [Point(0, 0)])
    roads = projection.to_storage(lines([(-100, 20), (100, 20)], kind=["street"], name=["北街"]))
    spaces = _gdf({"id": [1], "kind": ["square"], "name": ["广场"]}, [box(-5, 10, 5, 20)])
    m = coverage_map.camera_map({"roads": roads}, coverage.camera_coverage(cams, roads, spaces=spaces))
    html = m.get_root().render()
    for colour in (coverage_map.VIEW_COLOR, coverage_map.CAM_BLIND_COLOR, coverage_map.SPACE_COLOR):
        assert f'"color": "{colour}"' in html, colour


def test_coverage_maps_define_their_overlays_before_the_layer_control(tiny_plan):
    from geo.coverage import coverage_map

    cams = _gdf({"id": [1], "name": ["c"], "code": ["C1"], "heading": [0.0], "fov": [90.0], "range_m": [50.0],
                 "status": ["online"]}, [Point(0, 0)])
    roads = projection.to_storage(lines([(-100, 20), (100, 20)], kind=["street"], name=["北街"]))
    maps_ = [coverage_map.coverage_map({"roads": roads}, coverage.analyse(tiny_plan, "service_station")),
             coverage_map.camera_map({"roads": roads}, coverage.camera_coverage(cams, roads))]
    for m in maps_:
        html = m.get_root().render()
        control = html.index("L.control.layers(")
        for name in re.findall(r"var (\w+) = L\.(?:featureGroup|geoJson)\(", html):
            assert html.index(f"var {name} = ") < control, name


def test_the_required_set_map_draws_one_outline_not_six_smears(tiny_plan):
    """Issue 13, item 14: the default map (every required type, walking) laid six service areas over each
    other. It now draws where every type is in reach, and the per-type areas start switched off."""
    from geo.coverage import coverage_map

    def overlays(result) -> dict[str, bool]:
        """Layer-list name → drawn at first (added to the map), from the rendered page."""
        html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)),
                      coverage_map.coverage_map({}, result).get_root().render())
        named = dict(re.findall(r'"([^"]+)" : ((?:feature_group|geo_json)_\w+),', html))
        return {k: f"{v}.addTo(" in html for k, v in named.items() if k in ("全部必配设施均可达范围", "服务范围")}

    assert overlays(coverage.analyse(tiny_plan, coverage.REQUIRED)) == {"全部必配设施均可达范围": True, "服务范围": False}
    assert overlays(coverage.analyse(tiny_plan, "service_station")) == {"服务范围": True}


# --------------------------------------------------------------------------- the demo street

@pytest.fixture(scope="module")
def demo_plan():
    from geo.demo import generator

    return coverage.build_plan(coverage.frames_from_town(generator.generate(tickets_per_street=0)))


def test_demo_street_places_required_services_together_as_real_streets_do(demo_plan):
    f = demo_plan.facilities
    assert len(f) >= 40
    # every community has every required type, and its community service complexes put a
    # service station, a day-care and a health station under one roof
    per = f.groupby("community_id")["type"].agg(set)
    assert all(set(catalogue.required_types()) <= types for types in per)
    xy = {k: demo_plan.fac_xy[(f["type"] == k).to_numpy()] for k in ("service_station", "elderly_daycare")}
    gap = np.min(np.hypot(*(xy["elderly_daycare"][:, None] - xy["service_station"][None]).transpose(2, 0, 1)), 1)
    assert np.median(gap) < 10  # metres: the same building
    # so the required set reads like a real street: a fifth to a half of residents walk to
    # all of it, far more look covered in a straight line, and blind spots remain
    s = coverage.analyse(demo_plan, coverage.REQUIRED).summary().loc[coverage.REQUIRED]
    straight = coverage.analyse(demo_plan, coverage.REQUIRED, method="straight").summary().loc[coverage.REQUIRED]
    assert 0.20 <= s["share"] <= 0.50 and 0.15 <= s["elderly_share"] <= 0.55
    assert straight["share"] > s["share"] + 0.2
    # parks, squares and vacant lots in every community
    kinds = demo_plan.open_spaces.groupby("community_id")["kind"].agg(set)
    assert len(kinds) == 8 and all({"park", "square", "vacant"} <= k for k in kinds)


# --------------------------------------------------------------------------- the page

def _page(town_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from geo.access import auth
    from geo.demo import accounts
    from geo.db import store

    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=180)
    # the app opens on the sign-in page: start as a street leader (coverage is theirs)
    at.session_state["user"] = auth.authenticate(store.make_engine(town_url), "leader", accounts.DEMO_PASSWORD,
                                                 now=settings.now())
    at.run()
    at.switch_page("pages/coverage.py").run()
    assert not at.exception, at.exception
    return at


def test_coverage_page_shows_the_figures_geo_computes(town_url, monkeypatch):
    from geo.db import store

    at = _page(town_url, monkeypatch)
    assert at.title[0].value == "服务圈规划"
    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url)))
    want = coverage.analyse(plan, coverage.REQUIRED).summary().loc[coverage.REQUIRED]
    shown = {m.label: m.value for m in at.metric}
    assert shown["覆盖人口"] == f"{int(want['covered']):,}"
    assert shown["覆盖率"] == f"{want['share']:.1%}"
    # the 15-minute circle: the wall's figure, by the same function (issue 13: the wall said 100 %)
    from geo.access.roles import WHOLE_STREET
    from geo.screen import figures

    wall = figures.service_circle(store.make_engine(town_url), WHOLE_STREET, plan=plan)
    assert wall["circle_share"] == pytest.approx(want["share"])
    line = next(i.value for i in at.info if i.value.startswith("15分钟服务圈覆盖"))
    assert f"{wall['circle_share']:.1%}" in line and f"宽口径（各类必需设施均在步行15分钟、1,125 米内）：" \
        f"{wall['circle_loose_share']:.1%}" in line
    # a single type, straight line: the figure follows
    at.selectbox(key="coverage_target").set_value("clinic").run()
    at.radio(key="coverage_method").set_value("straight").run()
    assert not at.exception, at.exception
    want = coverage.analyse(plan, "clinic", method="straight").summary().loc["clinic"]
    assert {m.label: m.value for m in at.metric}["覆盖人口"] == f"{int(want['covered']):,}"
    # what if the first clinic closes: the delta is shown
    first = int(plan.facilities.loc[plan.facilities["type"] == "clinic", "id"].iloc[0])
    at.multiselect(key="coverage_closed_clinic").set_value([first]).run()
    closed = coverage.analyse(plan, "clinic", method="straight",
                              scenario=coverage.Scenario(closed=frozenset({first}))).summary().loc["clinic"]
    metric = next(m for m in at.metric if m.label == "覆盖人口")
    assert metric.value == f"{int(closed['covered']):,}"
    assert metric.delta == f"{int(closed['covered'] - want['covered']):+,}"


def _rank_table(at):
    return next(d.value for d in at.dataframe if "序号" in d.value.columns)


def test_coverage_page_plans_new_sites(town_url, monkeypatch):
    at = _page(town_url, monkeypatch)
    assert at.button(key="coverage_run").disabled  # the required set: one type is needed, and it says so
    assert any("选址针对一种设施" in c.value for c in at.caption)
    at.selectbox(key="coverage_target").set_value("service_station").run()
    assert not at.button(key="coverage_run").disabled
    at.number_input(key="coverage_k").set_value(2).run()
    at.button(key="coverage_run").click().run()
    assert not at.exception, at.exception
    table = _rank_table(at)
    got = table.groupby("方案").size().to_dict()
    assert not table["位置"].str.match(r"路口 \d+").any() and table["位置"].str.contains("栋").all()  # findable
    assert got["精确最优（HiGHS）"] == 2 and got["贪心法"] == 2  # the k best, both ways
    # and the fewest sites covering everyone, listed beside them (and drawn on the map)
    cover = at.session_state["coverage_sites"].lscp
    assert got["集合覆盖（最少站点）"] == cover.n_sites > 0
    assert any(f"最少需要 {cover.n_sites} 个站点" in str(md.value) for md in at.markdown)


def test_clicked_candidates_are_not_what_if_facilities(town_url, monkeypatch):
    """A point clicked as a candidate must not already count as a station: it would gain 0."""
    from geo.db import store

    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url)))
    blind = coverage.analyse(plan, "service_station").blind_buildings()
    doors = plan.buildings.set_index("id").loc[blind["id"], ["entrance_lon", "entrance_lat"]].to_numpy()
    b, far = doors[0], doors[np.argmax(np.hypot(*(doors - doors[0]).T))]  # two blind spots far apart
    at = _page(town_url, monkeypatch)
    at.selectbox(key="coverage_target").set_value("service_station").run()
    at.session_state["coverage_added"] = [(float(far[0]), float(far[1]), "service_station")]  # what-if
    at.session_state["coverage_cands"] = [(float(b[0]), float(b[1]))]  # candidate
    at.radio(key="coverage_cand").set_value("points").run()
    at.number_input(key="coverage_k").set_value(1).run()
    at.button(key="coverage_run").click().run()
    assert not at.exception, at.exception
    exact = _rank_table(at).query("方案 == '精确最优（HiGHS）'")
    assert len(exact) == 1 and exact["新增覆盖人口"].iloc[0] > 0
    assert at.session_state["coverage_added"] == [(float(far[0]), float(far[1]), "service_station")]


def test_walking_minutes_and_speed_set_the_reach(town_url, monkeypatch):
    from geo.db import store

    at = _page(town_url, monkeypatch)
    at.radio(key="coverage_reach_mode").set_value("time").run()
    at.number_input(key="coverage_minutes").set_value(10.0).run()
    at.number_input(key="coverage_speed").set_value(3.6).run()
    assert not at.exception, at.exception
    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url)))
    reach = tuple((k, 600.0) for k in catalogue.FACILITY_TYPES)  # 10 min at 3.6 km/h = 600 m
    want = coverage.analyse(plan, coverage.REQUIRED, scenario=coverage.Scenario(reach=reach)).summary()
    assert {m.label: m.value for m in at.metric}["覆盖人口"] == f"{int(want.loc['required', 'covered']):,}"
    assert any("600 米" in str(c.value) for c in at.caption)


def test_page_opens_on_the_per_type_table_weakest_first(town_url, monkeypatch):
    from geo.db import store

    at = _page(town_url, monkeypatch)
    table = at.dataframe[0].value  # the first table on the page
    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url)))
    want = coverage.coverage_table(plan)
    assert table["设施类型"].iloc[0] == "完整社区必配设施（全部）"
    assert table["步行覆盖率"].iloc[0] == pytest.approx(want.loc[coverage.REQUIRED, "walking_share"])
    assert table["直线覆盖率"].iloc[0] == pytest.approx(want.loc[coverage.REQUIRED, "straight_share"])
    rest = table["步行覆盖率"].iloc[1:].to_numpy()
    assert (np.diff(rest) >= 0).all() and len(rest) == len(catalogue.FACILITY_TYPES)
    gap = (want["straight_share"] - want["walking_share"]) * 100  # what a buffer overstates, in points
    assert table["直线高估（百分点）"].iloc[0] == pytest.approx(gap[coverage.REQUIRED], abs=0.051)
    shown_gap = dict(zip(table["设施类型"], table["直线高估（百分点）"]))
    assert shown_gap["幼儿园"] == pytest.approx(gap["kindergarten"], abs=0.051)
    assert table.loc[table["设施类型"] == "幼儿园", "独居老人步行覆盖率"].iloc[0] == pytest.approx(
        want.loc["kindergarten", "walking_elderly_share"])


def test_page_uses_an_uploaded_network_or_says_what_is_wrong(town_url, monkeypatch, tmp_path):
    from geo.io import plain
    from geo.db import store

    at = _page(town_url, monkeypatch)
    at.file_uploader(key="coverage_roads_file").set_value(("roads.gpkg", b"not a geopackage", "application/geopackage")).run()
    assert not at.exception, at.exception
    assert any(plain.markdown("roads.gpkg：文件无法读取") in e.value for e in at.error)  # the file name shown as typed
    # the street's arterial roads and streets only (no lanes, no footways): fewer doors reach
    frames = coverage.load_frames(store.make_engine(town_url))
    main = frames["roads"][frames["roads"]["kind"].isin(["arterial", "street"])]
    path = tmp_path / "main.geojson"
    main.to_file(path)
    at.file_uploader(key="coverage_roads_file").set_value(("main.geojson", path.read_bytes(), "application/geo+json")).run()
    assert not at.exception, at.exception
    assert any(f"正在使用导入路网：{plain.markdown('main.geojson')}（{len(main):,} 条线）" in i.value for i in at.info)
    want = coverage.analyse(coverage.build_plan(frames, roads=main), coverage.REQUIRED).summary()
    assert {m.label: m.value for m in at.metric}["覆盖人口"] == f"{int(want.loc['required', 'covered']):,}"


def test_coverage_page_shows_the_camera_figures_geo_computes(town_url, monkeypatch):
    from geo.db import store

    at = _page(town_url, monkeypatch)
    at.session_state["coverage_mode"] = "camera"
    at.run()
    assert not at.exception, at.exception
    # the street's own cameras, roads and squares (issue 15: the area's, not the database's)
    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url),
                                                    scope=at.session_state["user"].scope))
    want = coverage.camera_coverage(plan.in_area(plan.cameras), plan.in_area(plan.roads), plan.buildings,
                                    spaces=plan.in_area(plan.open_spaces))
    shown = {m.label: m.value for m in at.metric}
    assert shown["道路可视率"] == f"{want.roads.loc['all', 'share']:.1%}"
    assert shown["在线监控"] == f"{want.status()['online']:,}"
    assert shown["离线/故障（无可视范围）"] == f"{want.status()['offline']:,}"
    assert want.spaces is not None and len(want.spaces) > 0  # the demo's squares and parks
    assert shown["广场公园可视面积占比"] == f"{want.space_share():.1%}"
    assert shown["可视道路（公里）"] == f"{want.roads.loc['all', 'seen_m'] / 1000:,.1f}"
    spaces = next(d.value for d in at.dataframe if "可视面积（平方米）" in d.value.columns)
    assert spaces["名称"].tolist() == want.spaces["name"].tolist()  # least seen first, as geo sorts them
    assert spaces["类型"].isin(["广场", "公园"]).all()
    assert spaces["面积（平方米）"].to_numpy() == pytest.approx(want.spaces["area_m2"].to_numpy())
    assert spaces["广场公园可视面积占比"].to_numpy() == pytest.approx(want.spaces["share"].to_numpy())
    assert want.status()["offline"] > 0 and 0 < want.roads.loc["all", "share"] < 1


def test_frames_read_from_either_store_match_the_town(database_url):
    """People per building (and elderly living alone) come out of SQLite and PostGIS alike."""
    from geo.demo import generator
    from geo.db import store

    town = generator.generate(communities=1, tickets_per_street=0)
    engine = store.make_engine(database_url)
    store.load_town(engine, town)
    got = coverage.load_frames(engine)["buildings"].set_index("id").sort_index()
    want = coverage.frames_from_town(town)["buildings"].set_index("id").sort_index()
    assert got["residents"].tolist() == want["residents"].tolist()
    assert got["elderly_alone"].tolist() == want["elderly_alone"].tolist()
    assert want["elderly_alone"].sum() > 0
    # one grid plus its border reads the same rows from either store (the box through GiST or the box columns)
    from geo.access.roles import Scope

    gid = int(got["grid_id"].iloc[0])
    part = coverage.load_frames(engine, scope=Scope("grid", grid_id=gid))
    assert sorted(part["buildings"]["id"]) == sorted(got.index[got["grid_id"] == gid])
    assert part["buildings"].set_index("id")["elderly_alone"].to_dict() == \
        got.loc[got["grid_id"] == gid, "elderly_alone"].to_dict()
    assert 0 < len(part["facilities"]) and len(part["grid"]) == 1
    engine.dispose()


def test_the_coverage_exports_hold_what_the_page_shows(town_url, monkeypatch, downloads):
    """Issue 13, item 15: the GeoJSON (service areas, blind buildings, grids, proposed sites) and the
    workbook (per type, per grid / community / street) of the question on screen, checked against geo."""
    import io
    import json

    import pandas as pd

    from geo.db import store

    at = _page(town_url, monkeypatch)
    at.selectbox(key="coverage_target").set_value("service_station").run()
    assert not at.exception, at.exception
    plan = coverage.build_plan(coverage.load_frames(store.make_engine(town_url)))
    result = coverage.analyse(plan, "service_station", method="walking")
    blind = result.blind_buildings()
    geo = json.loads(downloads["coverage_service_station_walking.geojson"]())
    layers = pd.Series([f["properties"]["layer"] for f in geo["features"]]).value_counts().to_dict()
    assert layers == {"service_area": 1, "blind_building": len(blind), "grid": len(plan.areas["grid"])}
    area = next(f for f in geo["features"] if f["properties"]["layer"] == "service_area")
    assert area["properties"]["type"] == "service_station" and area["properties"]["reach_m"] == 300
    assert area["geometry"]["type"] in ("Polygon", "MultiPolygon")
    lon, lat = area["geometry"]["coordinates"][0][0][0] if area["geometry"]["type"] == "MultiPolygon" \
        else area["geometry"]["coordinates"][0][0]
    assert 100 < lon < 110 and 25 < lat < 35  # lon-lat, where the town is (not metres)
    people = sum(f["properties"]["residents"] for f in geo["features"] if f["properties"]["layer"] == "blind_building")
    assert people == int(blind["residents"].sum())
    grids = {f["properties"]["id"]: f["properties"] for f in geo["features"] if f["properties"]["layer"] == "grid"}
    by_grid = result.by_area("grid").set_index("id")
    assert all(grids[i]["covered"] == by_grid.loc[i, "covered"] for i in by_grid.index)

    book = pd.read_excel(io.BytesIO(downloads["coverage_service_station_walking.xlsx"]()), sheet_name=None,
                         engine="openpyxl")
    assert list(book) == ["汇总", "按网格", "按社区", "按街道"]
    assert [c for sheet in book.values() for c in sheet.columns if str(c).isascii()] == []  # headings in Chinese
    summary = book["汇总"].set_index("类型")
    assert summary.loc["社区服务站", "覆盖人口"] == result.summary().loc["service_station", "covered"]
    assert book["按网格"]["覆盖人口"].sum() == book["按街道"]["覆盖人口"].sum() == summary.loc["社区服务站", "覆盖人口"]
    assert len(book["按网格"]) == len(plan.areas["grid"])


# --------------------------------------------------------------------------- one area plus its border (issue 15)

@pytest.fixture(scope="module")
def demo_street_url(tmp_path_factory):
    """The whole demo street (8 communities, no tickets) in its own SQLite file."""
    from geo.demo import generator
    from geo.db import store

    path = tmp_path_factory.mktemp("street") / "street.db"
    eng = store.make_engine(f"sqlite:///{path}")
    store.load_town(eng, generator.generate(tickets_per_street=0))
    eng.dispose()
    return f"sqlite:///{path}"


def test_an_area_plus_its_border_counts_as_the_whole_street_does(demo_street_url):
    """A community's (and a grid's) coverage computed on its own buildings and what lies within the
    border is the whole street's computation restricted to its buildings: every door's distance to
    every type, walking and straight, and the covered share. Fails when facilities just over the
    line, or the roads a walk takes out of the area and back, are not read."""
    from geo.access.roles import Scope
    from geo.db import store

    eng = store.make_engine(demo_street_url)
    whole = coverage.build_plan(coverage.load_frames(eng))
    grid_id = int(whole.buildings.groupby("grid_id")["residents"].sum().idxmax())
    for scope, key in ((Scope("community", street_id=1, community_id=3), "community_id"),
                       (Scope("grid", street_id=1, community_id=1, grid_id=grid_id), "grid_id")):
        area = coverage.build_plan(coverage.load_frames(eng, scope=scope))
        value = scope.community_id if key == "community_id" else scope.grid_id
        mine = whole.buildings[key].to_numpy() == value
        assert sorted(area.buildings["id"]) == sorted(whole.buildings.loc[mine, "id"]) and mine.sum() > 0
        assert len(area.roads) < len(whole.roads) and len(area.facilities) < len(whole.facilities)  # not everything
        order = whole.buildings.reset_index().set_index("id").loc[area.buildings["id"], "index"].to_numpy()
        for ftype in catalogue.FACILITY_TYPES:
            for method in coverage.METHODS:
                got = coverage.door_distances(area, ftype, method)
                want = coverage.door_distances(whole, ftype, method)[order]
                assert np.array_equal(got, want), (scope.level, ftype, method)
        got = coverage.analyse(area, coverage.REQUIRED).summary().loc[coverage.REQUIRED]
        people = whole.buildings["residents"].to_numpy()
        covered = np.asarray(coverage.analyse(whole, coverage.REQUIRED).covered)
        assert got["residents"] == people[mine].sum()
        assert got["covered"] == people[mine & covered].sum()
        assert got["share"] == pytest.approx(people[mine & covered].sum() / people[mine].sum())
        assert 0 < got["covered"] < got["residents"] or scope.level == "grid"
        assert coverage.circle(area).covered == coverage.circle(whole, mask=mine).covered
    # the figures a border of 0 would give are wrong: the border is what makes them exact
    community = Scope("community", street_id=1, community_id=3)
    bare = coverage.build_plan(coverage.load_frames(eng, scope=community, border=0.0))
    full = coverage.build_plan(coverage.load_frames(eng, scope=community))
    wrong = [t for t in catalogue.FACILITY_TYPES if not np.array_equal(
        coverage.door_distances(bare, t, "walking"), coverage.door_distances(full, t, "walking"))]
    assert wrong and len(bare.facilities) < len(full.facilities)
    eng.dispose()


def _map_bytes(at) -> int:
    """Bytes of the map element(s) an AppTest run sends to the browser (streamlit-folium's component)."""
    def walk(node):
        own = node.proto.ByteSize() if node.type == "component_instance" else 0
        return own + sum(walk(c) for c in getattr(node, "children", {}).values())
    return walk(at._tree)


def test_a_communitys_coverage_page_sends_its_area_not_the_street(demo_street_url, monkeypatch):
    """Community staff see their community's figures and a map of it: under 0.8 MB at the demo street
    (the page sent the whole street's map, 2.5 MB, with the street's figures, before issue 15)."""
    from geo.access import auth
    from geo.access.roles import Scope
    from geo.demo import accounts
    from geo.db import store
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DATABASE_URL", demo_street_url)
    eng = store.make_engine(demo_street_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=300)
    user = auth.authenticate(eng, "community1", accounts.DEMO_PASSWORD, now=settings.now())
    assert user.scope.level == "community"
    at.session_state["user"] = user
    at.run()
    at.switch_page("pages/coverage.py").run()
    assert not at.exception, at.exception
    whole = coverage.build_plan(coverage.load_frames(eng))
    mine = whole.buildings["community_id"].to_numpy() == user.scope.community_id
    covered = np.asarray(coverage.analyse(whole, coverage.REQUIRED).covered)
    people = whole.buildings["residents"].to_numpy()
    shown = {m.label: m.value for m in at.metric}
    assert shown["覆盖人口"] == f"{int(people[mine & covered].sum()):,}"
    assert shown["覆盖率"] == f"{people[mine & covered].sum() / people[mine].sum():.1%}"
    assert _map_bytes(at) < 800_000
    assert isinstance(user.scope, Scope)
    eng.dispose()
