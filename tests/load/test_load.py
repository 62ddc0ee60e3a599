"""A whole street from the files offices hold, into an empty database of each backend, then the
figures the dashboard shows checked against the files; re-imports, updates, failures, exports."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest
import shapely
from sqlalchemy import select, text

import street_files
from geo.access import roles
from geo.coverage import coverage
from geo.db import migrate, store
from geo.db.schema import AuditLog, Base, Building, Camera, Facility, Grid
from geo.load import apply as applying, bundle, checks, export, plan, sources
from geo.maps import layers
from geo.place import projection
from geo.screen import figures

NOW = datetime(2026, 11, 23, 9)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from geo.demo import generator

    town = generator.generate(communities=1, tickets_per_street=0, now=NOW)
    return street_files.build(tmp_path_factory.mktemp("street"), town)


def parts_of(files, **overrides) -> list[bundle.Part]:
    """Every file's layers as guessed; the cameras' KML says code/name in Name/Description."""
    parts = bundle.guess_parts([sources.from_path(p) for p in files.files.values()])
    out = []
    for p in parts:
        columns = {"code": "Name", "name": "Description"} if p.target == "camera" else p.mapping
        out.append(bundle.Part(p.source, p.target, overrides.get(p.target, columns), p.layer, p.choice))
    return out


def load(url: str, parts, **kw) -> plan.Plan:
    engine = store.make_engine(url)
    made = plan.make(engine, bundle.prepare(parts), **kw)
    assert made.ok, [f.message() for f in checks.errors(made.findings)]
    applying.apply(engine, made, username="admin", role="street_leader", now=NOW)
    return made


def checksum(engine) -> dict[str, str]:
    """Row count and a hash of every row of every table, ordered by its key columns."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).fetchall()
            out[table.name] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()}"
    return out


def test_a_whole_street_loads_from_every_format_and_the_dashboard_shows_the_files_figures(database_url, files):
    made = load(database_url, parts_of(files))
    engine = store.make_engine(database_url)
    exp = files.expected
    assert migrate.kind(engine) == "real" and store.is_built(engine)
    placed = {layer: p[0] for layer, p in made.bundle.placements.items()}
    assert placed["building"].crs == street_files.GK  # the Shapefile's .prj: CGCS2000 3° zone CM 105°E
    assert (placed["facility"].datum, placed["facility"].detected) == ("gcj02", True)  # the Gaode Excel list
    assert (placed["camera"].datum, placed["camera"].detected) == ("bd09", True)  # the Baidu KML
    assert 250 < placed["facility"].offset_m < 500 and 700 < placed["camera"].offset_m < 1100
    whole = roles.WHOLE_STREET
    pop = figures.population(engine, whole)  # the big screen's base figures
    assert (pop["communities"], pop["grids"], pop["households"], pop["residents"]) == (
        exp["communities"], exp["grids"], exp["households"], exp["residents"])
    assert figures.cameras(engine, whole)["cameras"] == exp["cameras"]
    assert len(layers.grids(engine)) == exp["grids"]  # the map
    counts = store.counts(engine)
    assert (counts["building"], counts["facility"], counts["road"], counts["resident"]) == (
        exp["buildings"], exp["facilities"], exp["roads"], exp["residents"])
    g = store.read_layer(engine, Grid)
    crs = projection.metric_crs_for(g)
    assert projection.to_metric(g, crs=crs).area.sum() == pytest.approx(exp["grid_area_m2"], rel=1e-6)
    b = store.read_layer(engine, Building)
    assert projection.to_metric(b, crs=crs).area.sum() == pytest.approx(exp["building_area_m2"], rel=1e-6)
    # the Gaode and Baidu points are back where the street has them (< 5 cm)
    truth = files.frames["facility"].set_index(files.frames["facility"]["id"].map(lambda i: f"F{i:04d}"))
    fac = store.read_layer(engine, Facility).set_index("code")
    assert max(shapely.distance(fac.geometry[c], truth.geometry[c]) for c in truth.index) < 5e-7
    cam = store.read_layer(engine, Camera).set_index("code")
    truth = files.frames["camera"].set_index("code")
    assert max(shapely.distance(cam.geometry[c], truth.geometry[c]) for c in truth.index) < 5e-7
    # coverage counts the same people, every door on the walking network (doors made from the roads)
    cov = coverage.build_plan(coverage.load_frames(engine))
    assert int(cov.buildings["residents"].sum()) == exp["residents"] and not len(cov.unreachable_doors)
    circle = figures.service_circle(engine, whole, plan=figures.walking_plan(engine))  # the screen's 15-minute figure
    assert circle["circle_method"] == "walking" and 0 < circle["circle_residents"] <= exp["residents"]
    with engine.connect() as conn:
        detail = conn.execute(select(AuditLog.detail).where(AuditLog.action == "load.street")).scalar_one()
    for path in files.files.values():
        assert hashlib.sha256(path.read_bytes()).hexdigest() in detail


def test_the_same_files_again_change_nothing_and_an_update_only_what_differs(tmp_path, files):
    url = f"sqlite:///{tmp_path}/s.db"
    load(url, parts_of(files))
    engine = store.make_engine(url)
    before = checksum(engine)
    again = plan.make(engine, bundle.prepare(parts_of(files)))
    assert all(d.counts()["added"] == d.counts()["changed"] == d.counts()["removed"] == 0 for d in again.diffs.values())
    # one grid renamed and one facility moved in an edited copy of the files
    gpkg = tmp_path / "街道数据.gpkg"
    import geopandas as gpd
    for layer in ("街道", "社区", "网格"):
        frame = gpd.read_file(files.files["gpkg"], layer=layer)
        if layer == "网格":
            frame.loc[0, "网格名称"] = "新名字网格"
        frame.to_file(gpkg, layer=layer, driver="GPKG")
    edited = dict(files.files, gpkg=gpkg)
    upd = plan.make(engine, bundle.prepare(parts_of(street_files.StreetFiles(tmp_path, edited))))
    assert upd.diffs["grid"].counts() == {"added": 0, "changed": 1, "removed": 0, "same": files.expected["grids"] - 1}
    assert sum(d.counts()["changed"] for d in upd.diffs.values()) == 1
    applying.apply(engine, upd, username="admin", now=NOW)
    after = checksum(engine)
    changed = {k for k in before if before[k] != after[k]}
    assert changed - {"load_mapping"} == {"grid", "audit_log"}  # the mapping is rewritten as it was


def test_a_refused_or_failed_import_leaves_the_database_as_it_was(database_url, files, monkeypatch):
    load(database_url, parts_of(files))
    engine = store.make_engine(database_url)
    before = checksum(engine)
    path = store.sqlite_path(database_url)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path else None
    # refused: the grids' codes no longer start with their community's
    broken = [bundle.Part(p.source, p.target, dict(p.mapping, community_code="网格名称"), p.layer)
              if p.target == "grid" else p for p in parts_of(files)]
    refused = plan.make(engine, bundle.prepare(broken))
    assert not refused.ok
    with pytest.raises(applying.LoadRefused):
        applying.apply(engine, refused, username="admin", now=NOW)
    # failed half-way: the residents' insert breaks after streets, grids and buildings were written
    edited = [bundle.Part(p.source, p.target, dict(p.mapping), p.layer) for p in parts_of(files)]
    upd = plan.make(engine, bundle.prepare(edited), sync=True)
    upd.diffs["grid"].changed = list(upd.after["grid"]["key"])  # force writes before the failure
    real_insert = store.bulk_insert

    def failing(conn, model, rows, chunk=5000):
        if model.__tablename__ == "camera":
            raise RuntimeError("disk pulled out")
        return real_insert(conn, model, rows, chunk)

    upd.diffs["camera"].added = list(upd.after["camera"]["key"][:3])
    monkeypatch.setattr(store, "bulk_insert", failing)
    with pytest.raises(RuntimeError):
        applying.apply(engine, upd, username="admin", now=NOW)
    assert checksum(engine) == before
    if path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_export_in_every_format_and_back_through_our_own_importer(tmp_path, files):
    url = f"sqlite:///{tmp_path}/a.db"
    load(url, parts_of(files))
    engine = store.make_engine(url)
    counts = store.counts(engine)
    for fmt, name in (("gpkg", "street.gpkg"), ("shapefile", "street.zip"), ("xlsx", "street.xlsx")):
        data = export.export(engine, fmt)
        assert len(data) > 1000
    gpkg = sources.Source("street.gpkg", export.export(engine, "gpkg"))
    parts = bundle.guess_parts([gpkg])
    assert {p.target for p in parts} == {"street", "community", "grid", "building", "facility", "camera", "road",
                                         "register"}
    again = plan.make(engine, bundle.prepare(parts))  # the QGIS round trip, unedited: nothing to do
    assert sum(sum(d.counts()[k] for k in ("added", "changed", "removed")) for d in again.diffs.values()) == 0
    fresh = f"sqlite:///{tmp_path}/b.db"
    load(fresh, parts)
    got = store.counts(store.make_engine(fresh))
    assert {k: got[k] for k in ("grid", "building", "household", "facility", "camera", "road")} == {
        k: counts[k] for k in ("grid", "building", "household", "facility", "camera", "road")}


def test_the_demo_is_replaced_only_when_asked_and_only_by_an_own_password_account(tmp_path, files, small_town):
    from geo.access import auth

    url = f"sqlite:///{tmp_path}/demo.db"
    engine = store.make_engine(url)
    store.load_town(engine, small_town)
    auth.ensure_admin(engine, now=NOW, password="a-long-admin-password")
    made = plan.make(engine, bundle.prepare(parts_of(files)))
    assert made.state == "demo" and made.ok
    with pytest.raises(applying.LoadRefused, match="示范数据"):
        applying.apply(engine, made, username="admin", now=NOW)
    with pytest.raises(applying.LoadRefused, match="admin"):
        applying.apply(engine, made, username="leader", now=NOW, replace_demo=True)
    applying.apply(engine, made, username="admin", now=NOW, replace_demo=True)
    assert migrate.kind(engine) == "real"
    with engine.connect() as conn:
        users = conn.execute(text("SELECT username, street_id FROM app_user")).fetchall()
        street = conn.execute(text("SELECT id FROM street")).scalar_one()
    assert users == [("admin", street)]  # every demo account (public password) is gone
    assert store.counts(engine)["ticket"] == 0 and store.counts(engine)["resident"] == files.expected["residents"]


def test_the_command_checks_applies_and_says_why_it_refuses(tmp_path, files, capsys):
    from geo.load.__main__ import main

    url = f"sqlite:///{tmp_path}/cli.db"
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps([{"file": "监控点位.kml", "layer": "监控点位", "target": "camera",
                                    "columns": {"code": "Name", "name": "Description"}}], ensure_ascii=False))
    args = [str(p) for p in files.files.values()] + ["--url", url, "--mapping", str(mapping)]
    assert main(["check", *args, "--report", str(tmp_path / "r.xlsx")]) == 0
    assert (tmp_path / "r.xlsx").stat().st_size > 1000
    assert main(["apply", *args, "--user", "admin"]) == 0
    assert store.counts(store.make_engine(url))["camera"] == files.expected["cameras"]
    assert main(["apply", *args, "--user", "admin"]) == 0  # again: nothing changes
    out = capsys.readouterr().out
    assert "判断为 bd09" in out and "判断为 gcj02" in out
    bad = tmp_path / "坏文件.geojson"
    bad.write_bytes(b"PK\x03\x04 not json")
    assert main(["check", str(bad), "--url", url]) == 2
    assert "GeoJSON" in capsys.readouterr().err
