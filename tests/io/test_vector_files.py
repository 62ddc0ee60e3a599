"""geo.io.vector_files on honest files of every format it takes (the hostile ones are in
tests/security): what comes back, the layers it lists, and the words of its refusals."""
from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo import settings
from geo.io import vector_files
from geo.io.vector_files import FileRefused, Limits, read_table, read_vector


def grids(n: int = 3) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [f"{i:03d}" for i in range(n)], "name": [f"第{i}网格" for i in range(n)]},
                            geometry=[shapely.box(103.9 + i / 100, 30.9, 103.91 + i / 100, 30.91) for i in range(n)],
                            crs=settings.STORAGE_CRS)


def file_bytes(tmp_path, gdf: gpd.GeoDataFrame, name: str, **kw) -> bytes:
    gdf.to_file(tmp_path / name, **kw)
    return (tmp_path / name).read_bytes()


def refused(key: str, *args, **kwargs) -> FileRefused:
    reader = kwargs.pop("reader", read_vector)
    with pytest.raises(FileRefused) as err:
        reader(*args, **kwargs)
    assert err.value.key == key, err.value.message("en")
    assert err.value.message("zh") != err.value.message("en")  # both languages have words
    return err.value


def test_every_vector_format_reads_the_same_features(tmp_path):
    want = grids()
    kml = file_bytes(tmp_path, want, "g.kml", driver="KML")
    got = {
        "geojson": read_vector(want.to_json().encode(), "g.geojson"),
        "json": read_vector(want.to_json().encode(), "g.JSON"),
        "gpkg": read_vector(file_bytes(tmp_path, want, "g.gpkg"), "g.gpkg"),
        "kml": read_vector(kml, "g.kml"),
        "kmz": read_vector(zip_of({"doc.kml": kml, "files/icon.png": b"\x89PNG"}), "g.kmz"),
    }
    want.to_file(tmp_path / "g.shp")
    got["zip"] = read_vector(zip_of({f"folder/g{s}": (tmp_path / f"g{s}").read_bytes()
                                     for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")}), "g.zip")
    for fmt, gdf in got.items():
        assert len(gdf) == 3, fmt
        same = shapely.equals_exact(shapely.normalize(shapely.force_2d(gdf.geometry.values)),
                                    shapely.normalize(want.geometry.values), 1e-9)
        assert same.all(), fmt  # (a shapefile turns its rings clockwise)
        assert gdf.crs.to_epsg() == 4326, fmt
    assert list(got["zip"]["name"]) == list(want["name"]) == list(got["gpkg"]["name"])
    assert not got["geojson"].attrs["crs_declared"] and got["gpkg"].attrs["crs_declared"]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_geopackage_with_several_layers_lists_them_and_asks_for_one(tmp_path):
    path = tmp_path / "street.gpkg"
    grids().to_file(path, layer="grids")
    grids(1).to_file(path, layer="communities")
    pyogrio.write_dataframe(pd.DataFrame({"name": ["张三"]}), path, layer="register")
    data = path.read_bytes()
    layers = vector_files.list_layers(data, "street.gpkg")
    assert [(lyr.name, lyr.geometry_type, lyr.features) for lyr in layers] == [
        ("grids", "Polygon", 3), ("communities", "Polygon", 1), ("register", None, 1)]
    exc = refused("layers", data, "street.gpkg")
    assert "grids、communities" in exc.message("zh")
    assert len(read_vector(data, "street.gpkg", layer="communities")) == 1
    assert "没有几何" in refused("no_geometry", data, "street.gpkg", layer="register").message("zh")
    assert "可选：grids、communities、register" in refused("no_layer", data, "street.gpkg", layer="x").message("zh")


def test_a_zip_with_two_shapefiles_gives_two_layers_and_a_missing_part_is_named(tmp_path):
    grids().to_file(tmp_path / "a.shp")
    grids(2).to_file(tmp_path / "b.shp")
    parts = {f"{stem}{s}": (tmp_path / f"{stem}{s}").read_bytes() for stem in "ab" for s in (".shp", ".shx", ".dbf")}
    same_name = {f"{folder}/a{s}": (tmp_path / f"{stem}{s}").read_bytes()
                 for folder, stem in (("x", "a"), ("y", "b")) for s in (".shp", ".shx", ".dbf")}
    assert [lyr.features for lyr in vector_files.list_layers(zip_of(same_name), "same.zip")] == [3, 2]
    layers = vector_files.list_layers(zip_of(parts), "two.zip")
    assert [(lyr.name, lyr.features) for lyr in layers] == [("a", 3), ("b", 2)]
    assert len(read_vector(zip_of(parts), "two.zip", layer="b")) == 2
    del parts["b.dbf"]
    assert "缺少 .dbf" in refused("shp_parts", zip_of(parts), "two.zip").message("zh")
    assert refused("shp_none", zip_of({"readme.txt": b"hi"}), "none.zip").key == "shp_none"


def test_format_and_content_must_agree(tmp_path):
    exc = refused("format", b"x", "roads.shp", formats=("geojson", "gpkg"))
    assert "请上传 .geojson, .json, .gpkg" in exc.message("zh")
    assert refused("empty", b"", "a.geojson").key == "empty"
    assert "内容是 JSON" in refused("mismatch", b'{"type": "FeatureCollection"}', "a.gpkg").message("zh")
    assert "内容是 ZIP" in refused("mismatch", zip_of({"a": b"b"}), "a.kml").message("zh")
    assert refused("mismatch", b"\x00\x00\x27\x0a" + bytes(96), "a.osm.pbf").key == "mismatch"
    assert refused("json", b'{"type": "FeatureCollection", ', "a.geojson").params["line"] == 1
    assert refused("geojson_type", b'{"type": "Topology"}', "a.geojson").key == "geojson_type"
    assert refused("json_nested", b'{"type": "Feature", "x": NaN}', "a.geojson").key == "json_nested"
    assert refused("json_nested", b'{"type": "Feature", "x": 1e999}', "a.geojson").key == "json_nested"
    assert refused("json_nested", b'{"type": "Feature", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                   "a.geojson").key == "json_nested"
    assert refused("not_utf8", '{"type": "Feature", "名": 1}'.encode("gbk"), "a.geojson").key == "not_utf8"


def test_limits_are_checked_before_reading(tmp_path):
    data = grids(5).to_json().encode()
    assert refused("too_many_features", data, "a.geojson", limits=Limits(max_features=4)).params["n"] == 5
    assert refused("too_big", data, "a.geojson", limits=Limits(max_bytes=100)).params["mb"] > 0
    gpkg = file_bytes(tmp_path, grids(5), "a.gpkg")
    assert refused("too_many_features", gpkg, "a.gpkg", limits=Limits(max_features=4)).params["n"] == 5
    assert refused("too_many_vertices", gpkg, "a.gpkg", limits=Limits(max_vertices=24)).params["n"] == 25


def test_an_osm_pbf_is_checked_blob_by_blob():
    import pyrosm

    data = open(pyrosm.get_data("test_pbf"), "rb").read()
    assert vector_files._pbf_unpacked_size(data) > len(data)  # its blobs are packed
    exc = refused("zip_bomb", data, "a.osm.pbf", limits=Limits(zip_bytes=len(data)))
    assert "压缩炸弹" in exc.message("zh")
    assert refused("unreadable", data[:-10], "a.osm.pbf").key == "unreadable"  # a truncated last blob


def test_registers_read_as_text_in_utf8_gbk_and_xlsx(tmp_path):
    csv_gbk = "姓名,身份证号,电话\n张三,510182199001011234,13800001234\n李四,51018219900101567X,\n".encode("gbk")
    got = read_table(csv_gbk, "花名册.csv")
    assert list(got.columns) == ["姓名", "身份证号", "电话"]
    assert got.loc[0, "身份证号"] == "510182199001011234" and got.loc[1, "电话"] == ""
    assert read_table("\ufeff姓名\n王五\n".encode("utf-8"), "b.csv").loc[0, "姓名"] == "王五"
    path = tmp_path / "r.xlsx"
    pd.DataFrame({"姓名": ["张三"], "身份证号": ["510182199001011234"], "公式": ["=1+1"]}).to_excel(path, index=False)
    got = read_table(path.read_bytes(), "r.xlsx")
    # a formula is read as the value Excel saved with it; this one was never calculated: blank, not "=1+1"
    assert got.to_dict("records") == [{"姓名": "张三", "身份证号": "510182199001011234", "公式": ""}]
    assert refused("mismatch", path.read_bytes(), "r.csv", reader=read_table).key == "mismatch"


def test_an_xlsx_with_a_doctype_is_refused(tmp_path):
    path = tmp_path / "r.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(path, index=False)
    with zipfile.ZipFile(path) as src:
        entries = {i.filename: src.read(i) for i in src.infolist()}
    entries["xl/sharedStrings.xml"] = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                                       b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><sst>&b;</sst>')
    assert refused("xml_doctype", zip_of(entries), "r.xlsx", reader=read_table).key == "xml_doctype"


def test_refusals_quote_names_short_and_plain():
    long = "grids-" + "很长的名字" * 30 + "\n\x1b[31m.geojson"
    exc = refused("geojson_type", b'{"type": "Topology"}', "C:\\Users\\me\\" + long)
    assert exc.name.startswith("grids-") and len(exc.name) == vector_files.QUOTE_CHARS
    assert "\n" not in exc.message("zh") and "\x1b" not in exc.message("zh") and "Users" not in exc.message("zh")
    assert vector_files.quote_list([f"code{i}" for i in range(9)]) == "code0、code1、code2、code3、code4…"


def test_gdal_keeps_only_the_drivers_the_product_reads():
    assert set(pyogrio.list_drivers()) == {"GeoJSON", "GPKG", "ESRI Shapefile", "KML"}
    assert vector_files.gdal_is_locked_down()
    assert json.loads(json.dumps(vector_files.GDAL_CONFIG))["OGR_SQLITE_ALLOW_EXTERNAL_ACCESS"] == "NO"
