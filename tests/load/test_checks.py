"""Every finding of the validation report, each caught on a purpose-built broken street, with its place,
its area or count and a plain Chinese message; and the same report on demand for what is stored."""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import street_files
from geo.db import store
from geo.io import vector_files
from geo.load import apply as applying, bundle, checks, codes, plan, sources
from geo.load.__main__ import main

NOW = datetime(2026, 11, 23, 9)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from geo.demo import generator

    town = generator.generate(communities=1, tickets_per_street=0, now=NOW)
    return street_files.build(tmp_path_factory.mktemp("street"), town)


def metric(g):
    return gpd.GeoSeries([g], crs="EPSG:4326").to_crs("EPSG:32648").iloc[0]


def broken_street(files, folder):
    """The fixture street with one of every problem the report knows."""
    gpkg = folder / "坏数据.gpkg"
    street = gpd.read_file(files.files["gpkg"], layer="街道")
    comm = gpd.read_file(files.files["gpkg"], layer="社区")
    grid = gpd.read_file(files.files["gpkg"], layer="网格").to_crs(4326)
    g0, g1 = grid.geometry.iloc[0], grid.geometry.iloc[1]
    grid.loc[0, "geometry"] = g0.buffer(0.0003)  # ~30 m over its neighbours and out of the community
    grid = grid.drop(index=len(grid) - 1)  # a hole in the community (its buildings now in no grid)
    x0, y0 = shapely.get_coordinates(g1.exterior)[0]
    bow = shapely.Polygon([(x0, y0), (x0 + .002, y0 + .002), (x0 + .002, y0), (x0, y0 + .002), (x0, y0)])
    extra = gpd.GeoDataFrame({"网格编码": ["ABC", grid["网格编码"].iloc[2]], "网格名称": ["坏编码", "重复"],
                              "网格类型": ["片区型", "片区型"]},
                             geometry=[shapely.box(x0 + .01, y0 + .01, x0 + .0101, y0 + .0101), bow], crs=4326)
    grid = pd.concat([grid, extra], ignore_index=True)
    street.to_file(gpkg, layer="街道", driver="GPKG")
    comm.to_file(gpkg, layer="社区", driver="GPKG")
    gpd.GeoDataFrame(grid, crs=4326).to_file(gpkg, layer="网格", driver="GPKG")
    # a building straddling grids 1 and 2
    shared = next(line for i in range(1, len(grid) - 3) for j in range(i + 1, len(grid) - 2)
                  if (line := shapely.intersection(grid.geometry.iloc[i].boundary, grid.geometry.iloc[j].boundary)).length
                  > 0.0005)
    p = shapely.line_interpolate_point(shapely.line_merge(shared) if shared.geom_type == "MultiLineString" else shared,
                                       0.5, normalized=True) if shared.geom_type != "GeometryCollection" else \
        shapely.point_on_surface(shared)
    b = vector_files.read_path(files.files["shapefile"], formats=("shapefile",)).to_crs(4326)  # GBK decoded
    b.loc[len(b)] = {"楼栋编码": "跨界楼", "楼栋名称": "跨界楼", "地址": "", "层数": 6, "单元数": 2,
                     "geometry": shapely.box(p.x - .0002, p.y - .0002, p.x + .0002, p.y + .0002)}
    b.to_file(folder / "楼栋.geojson", driver="GeoJSON")
    fac = pd.read_excel(files.files["xlsx_points"], dtype=str, engine="calamine")
    fac.loc[0, "设施类型"] = "火星基地"
    fac.loc[1, ["经度", "纬度"]] = ["104.5", "31.5"]  # far outside the street
    fac.to_excel(folder / "服务设施.xlsx", index=False)
    reg = pd.read_excel(files.files["register"], dtype=str, engine="calamine")
    reg.loc[0, "楼栋编码"] = "不存在的楼"
    reg.loc[1, "联系电话"] = "12345"
    reg.loc[2, "公民身份号码"] = reg.loc[2, "公民身份号码"][:17] + ("0" if reg.loc[2, "公民身份号码"][17] != "0" else "1")
    reg.loc[4, "公民身份号码"] = reg.loc[3, "公民身份号码"]
    reg.to_excel(folder / "住户名册.xlsx", index=False)
    paths = [gpkg, folder / "楼栋.geojson", folder / "服务设施.xlsx", folder / "住户名册.xlsx", files.files["geojson"]]
    return bundle.guess_parts([sources.from_path(x) for x in paths])


def test_every_finding_is_caught_with_its_place_and_size(tmp_path, files):
    engine = store.make_engine(f"sqlite:///{tmp_path}/x.db")
    made = plan.make(engine, bundle.prepare(broken_street(files, tmp_path)))
    by_kind: dict[str, list] = {}
    for f in made.findings:
        by_kind.setdefault(f.kind, []).append(f)
    expected = {"overlap", "outside_parent", "gap", "invalid", "code_grid_form", "code_duplicate",
                "building_no_grid", "building_two_grids", "grid_size", "outside_street", "facility_type",
                "household_no_building", "id_check", "id_duplicate", "phone_form", "door_road"}
    assert expected <= set(by_kind), sorted(expected - set(by_kind))
    assert not made.ok
    overlap = by_kind["overlap"][0]
    assert overlap.area_m2 > 100 and overlap.point is not None and "相互重叠" in overlap.message()
    gap = next(f for f in by_kind["gap"] if f.layer == "community")
    assert gap.area_m2 > 10_000 and "缝隙" in gap.message()
    assert "ABC" in by_kind["code_grid_form"][0].message()
    lost = by_kind["building_no_grid"][0]
    assert lost.count >= 1 and lost.point is not None
    held = made.after["building"].set_index("key")["grids_held"]
    assert held["跨界楼"] == 2 and by_kind["building_two_grids"][0].count == int((held > 1).sum())
    assert "火星基地" in by_kind["facility_type"][0].message()
    assert by_kind["household_no_building"][0].count == 1 and by_kind["phone_form"][0].count == 1
    assert by_kind["id_duplicate"][0].count == 1 and by_kind["id_check"][0].count == 1
    assert "自相交" in by_kind["invalid"][0].message() or "Self-intersection" in by_kind["invalid"][0].message()
    assert all(f.message().strip() and "{" not in f.message() for f in made.findings)
    sheet = pd.read_excel(__import__("io").BytesIO(checks.excel(made.findings)))
    assert list(sheet.columns[:3]) == ["级别", "图层", "问题"] and len(sheet) == len(made.findings)
    with pytest.raises(applying.LoadRefused):
        applying.apply(engine, made, username="admin", now=NOW)
    assert not store.is_built(engine)  # nothing was written


def test_codes_follow_the_national_rules():
    assert codes.street_code("510182001") is None and codes.street_code("510182500") == "code_street_part"
    assert codes.community_code("510182001002", "510182001") is None
    assert codes.community_code("510182002002", "510182001") == "code_community_street"
    assert codes.grid_code("510182001002003") is None and codes.grid_code("51018200100203") is None
    assert codes.grid_code("5101820010020034") == "code_grid_form"
    good = "11010519491231002" + codes.id_check_char("11010519491231002")
    assert good == "11010519491231002X" and codes.id_number(good) is None  # GB 11643's own example
    assert codes.id_number("110105194912310021") == "id_check" and codes.id_number("110105491231002") == "id_old"
    assert codes.id_number("110105194902300021")[:2] == "id"  # 30 February
    assert codes.phone("13812345678") is None and codes.phone("028-87654321") is None and codes.phone("12345")
    assert codes.clean("５１０１８２００１") == "510182001" and codes.clean("13800000000.0") == "13800000000"


def test_the_report_on_demand_for_what_is_stored(tmp_path, files, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    engine = store.make_engine(url)
    parts = [bundle.Part(p.source, p.target, p.mapping, p.layer) for p in
             bundle.guess_parts([sources.from_path(x) for k, x in files.files.items() if k != "kml"])]
    applying.apply(engine, plan.make(engine, bundle.prepare(parts)), username="admin", now=NOW)
    assert main(["check-stored", "--url", url, "--report", str(tmp_path / "r.xlsx")]) == 0
    assert (tmp_path / "r.xlsx").exists()
    from sqlalchemy import update
    from geo.db.schema import Grid
    with engine.begin() as conn:  # someone draws a grid over its neighbour in the database itself
        first = conn.execute(Grid.__table__.select().order_by(Grid.id)).first()
        conn.execute(update(Grid).where(Grid.id == first.id).values(geom=shapely.buffer(first.geom, 0.0003)))
    assert main(["check-stored", "--url", url]) == 1
    assert "相互重叠" in capsys.readouterr().out
