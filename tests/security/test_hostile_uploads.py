"""Hostile uploads (issue 11, items 1, 2, 14): each is refused in words that say why, and
nothing of the server (a secret file, /etc/passwd, the live database, a web address)
reaches a message, a return value or the network.

The entry points are the product's own: the grid boundaries upload (boundaries.read_upload),
the planner's road upload (coverage_io.read_roads_upload) and read_lines (network).
Every test here failed on the code before geo/io/vector_files.py (see the commit message).
"""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

import hostile
from geo import settings
from geo.grids import boundaries
from geo.coverage import coverage_io, network
from geo.errors import ValidationError


@pytest.fixture
def server():
    srv = hostile.CountingServer()
    yield srv
    srv.close()


@pytest.fixture
def secrets(tmp_path):
    """The things an attacker aims at: a secret file and a live database (WAL, open)."""
    folder = tmp_path / "server"
    folder.mkdir()
    db, con = hostile.secret_db(folder)
    yield {"csv": hostile.secret_csv(folder), "db": db}
    con.close()


def upload_grids(data: bytes, name: str, _tmp: Path):
    return boundaries.read_upload(data, name)


def upload_roads(data: bytes, name: str, _tmp: Path):
    return coverage_io.read_roads_upload(name, data)


def read_lines_file(data: bytes, name: str, tmp: Path):
    path = tmp / "planner" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return network.read_lines(path)


TARGETS = {"grids.geojson": upload_grids, "grids.gpkg": upload_grids, "roads.gpkg": upload_roads,
           "roads.json": upload_roads, "roads.geojson": read_lines_file}


def messages(exc: BaseException) -> str:
    """Everything a person could be shown of a refusal, in both languages."""
    said = [str(exc)]
    for lang in ("zh", "en"):
        if hasattr(exc, "message"):
            said.append(exc.message(lang))
    return "\n".join(said)


def assert_nothing_leaked(text: str, secrets: dict | None = None) -> None:
    for marker in (hostile.FILE_MARKER, hostile.DB_MARKER, "root:x:0", "argon2", "nologin", "/etc/passwd",
                   "shequ.db", "127.0.0.1", "vsicurl", "shequ-upload", "/tmp"):
        assert marker not in text, f"{marker!r} reached the user: {text[:300]}"
    for path in (secrets or {}).values():
        assert str(path) not in text


def refused(read, data: bytes, name: str, tmp: Path) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        read(data, name, tmp)
    return err.value


# --------------------------------------------------------------------------- VRT in disguise

@pytest.mark.parametrize("name", list(TARGETS))
@pytest.mark.parametrize("attack", ["file", "passwd", "database", "url"])
def test_a_vrt_in_disguise_is_refused_and_reads_nothing(attack, name, secrets, server, tmp_path):
    data = {"file": lambda: hostile.vrt_file(secrets["csv"]), "passwd": hostile.vrt_passwd,
            "database": lambda: hostile.vrt_db(secrets["db"]), "url": lambda: hostile.vrt_url(server.port)}[attack]()
    exc = refused(TARGETS[name], data, name, tmp_path)
    said = messages(exc)
    assert "VRT" in exc.message("en") and "虚拟数据源" in exc.message("zh")
    assert_nothing_leaked(said, secrets)
    assert server.hits == []  # not one request left the reader
    # the live database keeps its write-ahead log and its last write (GDAL used to fold and delete them)
    assert Path(f"{secrets['db']}-wal").exists() and Path(f"{secrets['db']}-shm").exists()


def test_the_database_attack_used_to_leak_password_hashes_and_now_says_vrt(secrets, tmp_path):
    """The exact report: a VRT named grids.geojson over the database; the message carried the hash."""
    exc = refused(upload_grids, hostile.vrt_db(secrets["db"]), "grids.geojson", tmp_path)
    assert exc.key == "broken"
    assert "GDAL 虚拟数据源（VRT）" in exc.message("zh") and hostile.DB_MARKER not in messages(exc)


# --------------------------------------------------------------------------- GeoJSON that points elsewhere

def grid_geojson(**extra) -> dict:
    return {"type": "FeatureCollection", **extra, "features": [{
        "type": "Feature", "properties": {"code": "001", "$ref": "/vsicurl/http://127.0.0.1:1/x",
                                          "link": "http://127.0.0.1:1/y"},
        "geometry": {"type": "Polygon", "coordinates": [[[103.9, 30.9], [103.91, 30.9], [103.91, 30.91],
                                                         [103.9, 30.9]]]}}]}


def test_geojson_with_refs_and_urls_is_read_as_text_and_a_crs_link_is_refused(server, tmp_path):
    url = f"http://127.0.0.1:{server.port}/crs.prj"
    ok = json.loads(json.dumps(grid_geojson(**{"$ref": url, "$schema": url})).replace("127.0.0.1:1",
                                                                                         f"127.0.0.1:{server.port}"))
    grids = boundaries.read_upload(json.dumps(ok).encode(), "grids.geojson")
    assert list(grids["code"]) == ["001"]  # a URL in a property is only text
    for crs in ({"type": "link", "properties": {"href": url, "type": "proj4"}},
                {"type": "name", "properties": {"name": f"/vsicurl/{url}"}},
                {"type": "name", "properties": {"name": "/etc/passwd"}}):
        exc = refused(upload_grids, json.dumps(grid_geojson(crs=crs)).encode(), "grids.geojson", tmp_path)
        assert "坐标系（crs）只能写名称" in exc.message("zh")
        assert_nothing_leaked(messages(exc))
    assert server.hits == []


# --------------------------------------------------------------------------- files that are not what they say

def polygons(n: int = 2) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [f"{i:03d}" for i in range(n)]},
                            geometry=[shapely.box(103.9 + i / 100, 30.9, 103.91 + i / 100, 30.91) for i in range(n)],
                            crs=settings.STORAGE_CRS)


def test_a_geopackage_named_geojson_and_an_image_named_geojson_are_refused(tmp_path):
    gpkg = tmp_path / "g.gpkg"
    polygons().to_file(gpkg)
    exc = refused(upload_grids, gpkg.read_bytes(), "grids.geojson", tmp_path)
    assert "扩展名表明是 GeoJSON，但内容是 GeoPackage" in exc.message("zh")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    exc = refused(upload_roads, png, "roads.gpkg", tmp_path)
    assert "内容是 二进制数据" in exc.message("zh") and "binary data" in exc.message("en")
    assert_nothing_leaked(messages(exc))  # GDAL's "'/tmp/…' not recognized" named the server's folder


def test_a_geopackage_with_a_virtual_table_is_refused(tmp_path):
    """A GeoPackage may carry a virtual table whose module opens any OGR source (VirtualOGR)."""
    import sqlite3

    path = tmp_path / "evil.gpkg"
    polygons().to_file(path, layer="grids")
    con = sqlite3.connect(path)
    con.execute("PRAGMA writable_schema=ON")
    con.execute("INSERT INTO sqlite_master(type, name, tbl_name, rootpage, sql) VALUES ('table', 'leak', 'leak', 0, "
                "'CREATE VIRTUAL TABLE leak USING VirtualOGR(''/etc/passwd'')')")
    con.commit()
    con.close()
    exc = refused(upload_grids, path.read_bytes(), "grids.gpkg", tmp_path)
    assert "虚拟表" in exc.message("zh")
    assert_nothing_leaked(messages(exc))


# --------------------------------------------------------------------------- zips

def shapefile_zip(tmp_path: Path, gdf: gpd.GeoDataFrame, *, prefix: str = "") -> dict[str, bytes]:
    gdf.to_file(tmp_path / "part.shp")
    return {f"{prefix}roads{s}": (tmp_path / f"part{s}").read_bytes() for s in (".shp", ".shx", ".dbf", ".prj")}


def road_lines() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["主街", "小巷"]}, geometry=[
        shapely.LineString([(103.9, 30.9), (103.91, 30.9)]), shapely.LineString([(103.905, 30.89), (103.905, 30.91)])],
        crs=settings.STORAGE_CRS)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    bomb = hostile.zip_bomb(400)
    assert len(bomb) < 2 * 2**20  # 400 MB packed into well under 2 MB
    exc = refused(read_lines_file, bomb, "roads.zip", tmp_path)
    assert exc.key == "zip_bomb" and "压缩炸弹" in exc.message("zh")


def test_a_zip_with_escaping_or_linked_entries_is_refused_and_writes_nothing_outside(tmp_path):
    good = shapefile_zip(tmp_path, road_lines())
    assert len(read_lines_file(hostile.zip_of(good), "roads.zip", tmp_path)) == 2  # the honest zip reads
    escape = {f"../../escaped{s}" if s == ".shp" else f"roads{s}": v
              for s, v in ((Path(k).suffix, v) for k, v in good.items())}
    exc = refused(read_lines_file, hostile.zip_of(escape), "roads.zip", tmp_path)
    assert exc.key == "zip_path" and "不安全的路径" in exc.message("zh")
    exc = refused(read_lines_file, hostile.zip_of({"/abs/roads.shp": good["roads.shp"]}), "roads.zip", tmp_path)
    assert exc.key == "zip_path"
    exc = refused(read_lines_file, hostile.zip_of(good, links={"roads.dbf.link": "/etc/passwd"}), "roads.zip",
                  tmp_path)
    assert exc.key == "zip_link"
    assert not list(tmp_path.parent.glob("escaped*")) and not list(Path("/tmp").glob("escaped.shp"))


def test_a_zipped_shapefile_in_gbk_without_cpg_reads_its_chinese_names(tmp_path):
    parts = shapefile_zip(tmp_path, road_lines().assign(name=["人民路", "文化巷"]).set_crs(settings.STORAGE_CRS))
    gdf = road_lines().assign(name=["人民路", "文化巷"])
    gdf.to_file(tmp_path / "gbk.shp", encoding="GBK")
    parts["roads.dbf"] = (tmp_path / "gbk.dbf").read_bytes()
    got = read_lines_file(hostile.zip_of(parts), "roads.zip", tmp_path)
    assert list(got["name"]) == ["人民路", "文化巷"]


# --------------------------------------------------------------------------- size, geometry, values

def test_too_many_vertices_or_bytes_are_refused_with_the_figures(tmp_path, monkeypatch):
    ring = shapely.Point(103.9, 30.9).buffer(0.01, quad_segs=5000)  # 20,001 vertices
    data = gpd.GeoDataFrame({"code": ["001"]}, geometry=[ring], crs=settings.STORAGE_CRS).to_json().encode()
    monkeypatch.setattr(settings, "UPLOAD_MAX_VERTICES", 10_000)
    exc = refused(upload_grids, data, "grids.geojson", tmp_path)
    assert "20,001 个坐标点，超过上限 10,000" in exc.message("zh")
    monkeypatch.setattr(settings, "UPLOAD_MAX_BYTES", 100_000)
    exc = refused(upload_roads, data, "roads.geojson", tmp_path)
    assert "文件大小 0.8 MB，超过上限 0.0954 MB" in exc.message("zh") and "可能已损坏" not in exc.message("zh")


def test_uploads_without_geometry_are_refused_in_words(tmp_path):
    import pandas as pd
    import pyogrio

    table = tmp_path / "table.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"code": ["001", "002"]}), table, layer="register")
    exc = refused(upload_grids, table.read_bytes(), "grids.gpkg", tmp_path)
    assert "没有几何" in exc.message("zh") and "no geometry" in exc.message("en")
    exc = refused(upload_roads, table.read_bytes(), "roads.gpkg", tmp_path)
    assert exc.key == "no_lines"
    nulls = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "001"}, "geometry": None}]}
    exc = refused(upload_grids, json.dumps(nulls).encode(), "grids.geojson", tmp_path)
    assert "没有几何" in exc.message("zh")


def test_a_non_polygon_file_is_refused_quoting_only_a_few_short_codes(tmp_path):
    long = [f"{i}-" + "x" * 500 for i in range(8)]
    lines_ = gpd.GeoDataFrame({"code": long}, geometry=[shapely.LineString([(103.9, 30.9 + i / 1000), (103.91, 30.9)])
                                                        for i in range(8)], crs=settings.STORAGE_CRS)
    exc = refused(upload_grids, lines_.to_json().encode(), "grids.geojson", tmp_path)
    said = exc.message("zh")
    assert exc.key == "not_polygon" and "Polygon" in said
    assert len(said) < 400 and "x" * 60 not in said and "7-" not in said  # five codes, each cut


# --------------------------------------------------------------------------- the page

def test_the_boundaries_page_refuses_the_vrt_in_chinese_and_shows_no_file_content(town_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from geo.access import auth
    from geo.demo import accounts
    from geo.db import store

    engine = store.make_engine(town_url)
    live = Path(str(engine.url.database))
    user = auth.authenticate(engine, "community1", accounts.DEMO_PASSWORD, now=settings.now())
    monkeypatch.setenv("DATABASE_URL", town_url)
    at = AppTest.from_file(str(settings.ROOT / "app.py"), default_timeout=180)
    at.session_state["user"] = user
    at.run()
    at.switch_page("pages/boundaries.py").run()
    attack = hostile.vrt(str(live), sql="SELECT username || ':' || password_hash AS code, 103.9 AS x, "
                                        "30.9 AS y FROM app_user")
    at.file_uploader[0].set_value(("grids.geojson", attack, "application/geo+json")).run()
    assert not at.exception, at.exception
    shown = "\n".join(e.value for e in at.error)
    assert "虚拟数据源（VRT）" in shown and "出于安全原因不予读取" in shown
    page = "\n".join(str(el.value) for el in at.main if hasattr(el, "value") and isinstance(el.value, str))
    for leaked in ("argon2", "leader:", "admin:", str(live)):
        assert leaked not in shown and leaked not in page
    assert not [btn for btn in at.button if btn.key == "boundaries_apply"]
    engine.dispose()
