"""No upload can make a reader open anything outside the upload's own private folder
(issue 11, item 2: GDAL opened the live SQLite file and removed its -wal/-shm).

Two proofs: every path the readers are handed (GDAL through pyogrio, SQLite, pyrosm) lies
in a 0700 folder of the upload that is gone afterwards; and, at the system-call level
(strace), a run of every hostile upload through the product's readers never touches the
secret file, the database or its -wal/-shm, and GDAL keeps only its four drivers.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

import hostile
from conftest import ROOT, unavailable
from geo import settings
from geo.io import osm


def corpus(tmp: Path, secrets: dict[str, Path], port: int) -> dict[str, bytes]:
    """Honest and hostile uploads of every format, by the name they are uploaded under."""
    grids = gpd.GeoDataFrame({"code": ["001", "002"]}, geometry=[shapely.box(103.9, 30.9, 103.91, 30.91),
                                                                 shapely.box(103.91, 30.9, 103.92, 30.91)],
                             crs=settings.STORAGE_CRS)
    files: dict[str, bytes] = {"ok.geojson": grids.to_json().encode()}
    for name, driver in (("ok.gpkg", "GPKG"), ("ok.kml", "KML")):
        grids.to_file(tmp / name, driver=driver)
        files[name] = (tmp / name).read_bytes()
    grids.to_file(tmp / "ok.shp")
    files["ok.zip"] = hostile.zip_of({f"ok{s}": (tmp / f"ok{s}").read_bytes() for s in (".shp", ".shx", ".dbf", ".prj")})
    files["ok.kmz"] = hostile.zip_of({"doc.kml": files["ok.kml"]})
    files["ok.csv"] = "姓名,身份证号\n张三,510182199001011234\n".encode("gbk")
    import pyrosm

    files["ok.osm.pbf"] = Path(pyrosm.get_data("test_pbf")).read_bytes()
    attacks = {"file": hostile.vrt_file(secrets["csv"]), "passwd": hostile.vrt_passwd(),
               "db": hostile.vrt_db(secrets["db"]), "url": hostile.vrt_url(port)}
    for attack, data in attacks.items():
        for ending in ("geojson", "json", "gpkg", "kml", "zip", "kmz", "osm.pbf", "csv", "xlsx"):
            files[f"{attack}.{ending}"] = data
        files[f"{attack}-in-zip.zip"] = hostile.zip_of({"roads.shp": data, "roads.shx": data, "roads.dbf": data})
        files[f"{attack}-in-kmz.kmz"] = hostile.zip_of({"doc.kml": data})
    files["escape.zip"] = hostile.zip_of({"../../../escape.shp": b"\x00\x00\x27\x0a"})
    files["link.zip"] = hostile.zip_of({}, links={"roads.shp": str(secrets["db"])})
    files["crs-link.geojson"] = json.dumps({"type": "FeatureCollection", "crs": {
        "type": "link", "properties": {"href": str(secrets["csv"])}}, "features": []}).encode()
    files["doctype.kml"] = (f'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file://{secrets["csv"]}">]>'
                            '<kml><Document><name>&x;</name></Document></kml>').encode()
    return files


def read_any(data: bytes, name: str) -> object:
    from geo.io import vector_files

    formats = vector_files.TABLE_FORMATS if name.endswith((".csv", ".xlsx")) else vector_files.VECTOR_FORMATS
    if formats == vector_files.TABLE_FORMATS:
        return vector_files.read_table(data, name)
    vector_files.list_layers(data, name, formats=formats)
    return vector_files.read_vector(data, name, formats=formats)


@pytest.fixture
def secrets(tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    db, con = hostile.secret_db(folder)
    yield {"csv": hostile.secret_csv(folder), "db": db}
    con.close()


def test_every_path_a_reader_is_given_is_inside_the_uploads_private_folder(secrets, tmp_path, monkeypatch):
    from geo.io import vector_files

    seen: list[tuple[str, int]] = []

    def spy(fn):
        def wrapped(path, *args, **kwargs):
            raw = str(path)
            local = raw.removeprefix("GeoJSON:").removeprefix("GPKG:").removeprefix("file://").split("?")[0]
            seen.append((raw, stat.S_IMODE(Path(local).parent.stat().st_mode)))
            return fn(path, *args, **kwargs)
        return wrapped

    for name in ("read_dataframe", "list_layers", "read_info"):
        monkeypatch.setattr(pyogrio, name, spy(getattr(pyogrio, name)))
    monkeypatch.setattr(sqlite3, "connect", spy(sqlite3.connect))
    monkeypatch.setattr(osm, "read_osm_pbf", spy(osm.read_osm_pbf))
    server = hostile.CountingServer()
    try:
        read, refused = set(), 0
        for name, data in corpus(tmp_path, secrets, server.port).items():
            try:
                got = read_any(data, name)
                read.add(name)
                assert hostile.FILE_MARKER not in got.to_string()
            except vector_files.FileRefused as exc:
                refused += 1
                assert hostile.FILE_MARKER not in exc.message("en") and str(secrets["db"]) not in exc.message("en")
    finally:
        server.close()
    # every honest file is read, every hostile one refused (a VRT uploaded as a CSV register is only text)
    assert read == {"ok.geojson", "ok.gpkg", "ok.kml", "ok.zip", "ok.kmz", "ok.csv", "ok.osm.pbf",
                    "file.csv", "passwd.csv", "db.csv", "url.csv"}
    assert refused > 40
    assert server.hits == []
    private = Path(tempfile.gettempdir()).resolve()
    assert len(seen) > 20
    for raw, mode in seen:
        assert "/vsi" not in raw and "://" not in raw.removeprefix("file://"), raw
        local = Path(raw.removeprefix("GeoJSON:").removeprefix("GPKG:").removeprefix("file://").split("?")[0])
        folder = local.resolve().parent
        assert folder.parent == private and folder.name.startswith("shequ-upload-"), raw
        assert mode == 0o700, (raw, oct(mode))
        assert not folder.exists(), f"{folder} was left behind"
    assert Path(f"{secrets['db']}-wal").exists() and Path(f"{secrets['db']}-shm").exists()


CHILD = """
import json, sys
from pathlib import Path
from geo.grids import boundaries
from geo.coverage import coverage_io, network
import pyogrio
folder = Path(sys.argv[1])
said = []
for path in sorted((folder / "corpus").iterdir()):
    data, name = path.read_bytes(), path.name
    for read in (lambda: boundaries.read_upload(data, name), lambda: coverage_io.read_roads_upload(name, data),
                 lambda: network.read_lines(path)):
        try:
            said.append(repr(read()))
        except Exception as exc:
            said.append(f"{type(exc).__name__}: {exc}")
            if hasattr(exc, "message"):
                said.extend(exc.message(lang) for lang in ("zh", "en"))
print(json.dumps({"said": said, "drivers": sorted(pyogrio.list_drivers())}))
"""


def test_no_hostile_upload_makes_the_process_touch_a_file_outside_it(secrets, tmp_path):
    """strace records every file system call of a run through the product's three readers."""
    strace = shutil.which("strace")
    if strace is None:
        unavailable("strace is not installed (apt-get install strace; .ci/run installs it)")
    server = hostile.CountingServer()
    try:
        (tmp_path / "corpus").mkdir()
        for name, data in corpus(tmp_path, secrets, server.port).items():
            (tmp_path / "corpus" / name).write_bytes(data)
        log = tmp_path / "strace.log"
        run = subprocess.run([strace, "-f", "-qq", "-e", "trace=%file", "-o", str(log), sys.executable, "-c", CHILD,
                              str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        server.close()
    if run.returncode != 0 and "ptrace" in run.stderr:
        unavailable(f"strace cannot trace here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    said = "\n".join(out["said"])
    assert hostile.FILE_MARKER not in said and hostile.DB_MARKER not in said and "root:x:0" not in said
    assert out["drivers"] == ["ESRI Shapefile", "GPKG", "GeoJSON", "KML"]
    calls = log.read_text(errors="replace")
    assert str(tmp_path / "corpus") in calls  # the trace did see the run's own files
    for target in (secrets["csv"], secrets["db"], Path("/etc/passwd")):
        touched = [line for line in calls.splitlines() if str(target) in line]
        assert not touched, f"{target} was touched: {touched[:3]}"
    assert server.hits == []
    assert Path(f"{secrets['db']}-wal").exists() and Path(f"{secrets['db']}-shm").exists()


def test_gdal_is_locked_down_as_soon_as_a_reader_is_imported():
    """The process-wide lock-down holds whichever module is imported first (fresh interpreter)."""
    from geo.io import vector_files

    for module in ("geo.grids.boundaries", "geo.coverage.coverage_io", "geo.coverage.network", "geo.io.vector_files"):
        code = (f"import pyogrio, {module}; print(sorted(pyogrio.list_drivers())); "
                "print(pyogrio.get_gdal_config_option('CPL_VSIL_CURL_ALLOWED_FILENAME'))")
        run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-1000:]
        drivers, allowed = run.stdout.strip().splitlines()[-2:]
        assert drivers == "['ESRI Shapefile', 'GPKG', 'GeoJSON', 'KML']", (module, drivers)
        assert allowed == vector_files.GDAL_CONFIG["CPL_VSIL_CURL_ALLOWED_FILENAME"]
