"""The grid rule: the bounds table, the code rule and check_grids, on synthetic grids with known answers,
on a city's own rules file, and as the standing report over the demo town (both backends)."""
from __future__ import annotations


import geopandas as gpd
import pytest
import shapely
from sqlalchemy import update

from geo.access import roles
from geo.db.schema import Grid
from geo.errors import ValidationError
from geo.grids import rules

CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 3_430_000.0  # metres in UTM 48N, near the demo town
COMM = "510182001001"


def box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def grids(*rows) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame([{"code": c, "grid_type": t, "community_code": COMM} for c, t, _ in rows],
                            geometry=[g for *_, g in rows], crs=CRS)


def buildings(*rows) -> gpd.GeoDataFrame:
    """(footprint, households, residents[, estate_id])"""
    return gpd.GeoDataFrame([{"name": f"{i + 1}栋", "households": r[1], "residents": r[2],
                              "estate_id": r[3] if len(r) > 3 else None} for i, r in enumerate(rows)],
                            geometry=[r[0] for r in rows], crs=CRS)


@pytest.fixture
def restore_rules():
    saved, digits = dict(rules.BOUNDS), rules.CODE_DIGITS
    yield
    rules.BOUNDS.clear()
    rules.BOUNDS.update(saved)
    rules.CODE_DIGITS = digits


def test_the_defaults_are_the_seeds_rule_for_every_type():
    for key in rules.GRID_TYPES:
        b = rules.bounds_for(key)
        assert (b.households, b.people, b.measure) == ((300, 500), (1000, 1500), "either")
        assert "300—500" in b.source
    b = rules.bounds_for("area")
    assert list(b.within([299, 300, 500, 501, 200, 200], [900, 900, 900, 900, 1000, 1501])) == \
        [False, True, True, False, True, False]  # 300–500 户 **或** 1,000–1,500 人


def test_known_grids_give_known_findings():
    g = grids((f"{COMM}001", "area", box(0, 0, 100, 100)),  # 2 buildings: 150 households — too few
              (f"{COMM}002", "area", box(100, 0, 200, 100)),  # 450 households — fine
              (f"{COMM}003", "estate", box(200, 0, 300, 100).union(box(400, 0, 450, 50))),  # two pieces
              ("51018200100104", "area", box(0, 100, 300, 200)))  # a two-digit number: breaks the code rule
    b = buildings((box(10, 10, 30, 30), 100, 250), (box(40, 10, 60, 30), 50, 130),
                  (box(120, 10, 140, 30), 250, 700, 7), (box(150, 40, 170, 60), 200, 560, 7),
                  (box(190, 70, 210, 90), 0, 0),  # straddles 002 | 003 half and half: a cut building
                  (box(220, 10, 260, 40), 600, 1600),
                  (box(20, 120, 40, 140), 400, 1100))
    check = rules.check_grids(g, b)
    table = check.grids.set_index("code")
    assert table.loc[f"{COMM}001", "households"] == 150 and not table.loc[f"{COMM}001", "within"]
    assert table.loc[f"{COMM}002", "households"] == 450 and table.loc[f"{COMM}002", "within"]
    assert table.loc[f"{COMM}003", "parts"] == 2
    found = {(r.code, r.kind): r.severity for r in check.findings.itertuples()}
    assert found == {(f"{COMM}001", "bounds_low"): "reason", (f"{COMM}003", "bounds_high"): "reason",
                     (f"{COMM}003", "not_contiguous"): "refuse", ("51018200100104", "bad_code"): "refuse",
                     (f"{COMM}002", "cuts_building"): "refuse", (f"{COMM}003", "cuts_building"): "refuse"}
    assert "150 户" in check.findings.set_index("code").loc[f"{COMM}001", "message"]
    assert "5栋" in check.findings.query("kind == 'cuts_building'")["message"].iloc[0]
    only = rules.check_grids(g, b, only={f"{COMM}001"})
    assert set(only.findings["code"]) == {f"{COMM}001"}


def test_an_estate_split_between_grids_needs_a_reason():
    g = grids((f"{COMM}001", "estate", box(0, 0, 100, 100)), (f"{COMM}002", "estate", box(100, 0, 200, 100)))
    b = buildings((box(10, 10, 30, 30), 400, 1100, 3), (box(120, 10, 140, 30), 400, 1100, 3))
    estates = gpd.GeoDataFrame({"id": [3], "name": ["锦华苑"]}, geometry=[box(0, 0, 200, 50)], crs=CRS)
    check = rules.check_grids(g, b, estates=estates)
    assert set(check.findings["kind"]) == {"cuts_estate"}
    assert set(check.need_reason["code"]) == {f"{COMM}001", f"{COMM}002"}
    assert "锦华苑" in check.findings["message"].iloc[0]
    by_land = rules.check_grids(g.assign(households=400, residents=1100), estates=estates)
    assert set(by_land.findings["kind"]) == {"cuts_estate"}  # without buildings: the estate's land is split


def test_tiling_gaps_overlaps_and_land_outside_the_community():
    comm = gpd.GeoDataFrame({"code": [COMM]}, geometry=[box(0, 0, 300, 100)], crs=CRS)
    g = grids((f"{COMM}001", "area", box(0, 0, 120, 100)), (f"{COMM}002", "area", box(100, 0, 250, 100)),
              (f"{COMM}003", "area", box(260, 0, 320, 100))).assign(households=400, residents=1000)
    check = rules.check_grids(g, communities=comm)
    kinds = {r.kind: r.message for r in check.findings.itertuples()}
    assert set(kinds) == {"gap", "overlap", "outside"}
    assert "1,000 m²" in kinds["gap"] and "2,000 m²" in kinds["overlap"] and "2,000 m²" in kinds["outside"]


def test_codes_numbers_and_reading_order():
    assert rules.code_ok(f"{COMM}007", COMM) and not rules.code_ok(f"{COMM}000", COMM)
    assert not rules.code_ok(f"{COMM}07", COMM) and not rules.code_ok(f"510182001002007", COMM)
    assert rules.next_codes(COMM, [f"{COMM}001", f"{COMM}009", "510182001002010"], 2) == [f"{COMM}010", f"{COMM}011"]
    cells = [box(100, 0, 200, 100), box(0, 0, 100, 100), box(0, 300, 100, 400), box(100, 300, 200, 400)]
    assert list(rules.reading_order(cells)) == [2, 3, 1, 0]  # north row west→east, then the south row


def test_a_citys_rules_file_and_bad_ones(tmp_path, restore_rules):
    good = tmp_path / "rules.toml"
    good.write_text('code_digits = 2\n[unit]\nhouseholds = [100, 300]\nmeasure = "households"\n'
                    'source = "某市单位型网格规定"\n', encoding="utf-8")
    changed = rules.load_rules_file(good)
    assert set(changed) == {"unit"} and rules.bounds_for("unit").households == (100, 300)
    assert rules.bounds_for("area").households == (300, 500) and rules.CODE_DIGITS == 2
    g = grids((f"{COMM}01", "unit", box(0, 0, 100, 100)), (f"{COMM}02", "area", box(100, 0, 200, 100)))
    check = rules.check_grids(g.assign(households=[200, 200], residents=[500, 500]))
    assert list(check.findings["kind"]) == ["bounds_low"] and check.findings["code"].iloc[0] == f"{COMM}02"
    for text, name in (('{"unit": {"households": [300]}}', "a.json"), ('{"flat": {}}', "b.json"),
                       ('{"unit": {"measure": "area"}}', "c.json"), ("[unit\n", "d.toml")):
        bad = tmp_path / name
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValidationError) as err:
            rules.load_rules_file(bad)
        assert name in str(err.value)
    assert rules.bounds_for("unit").households == (100, 300)  # a bad file changes nothing


def test_the_standing_report_over_the_demo_town(engine):
    clean = rules.report(engine, roles.WHOLE_STREET)
    assert len(clean.grids) == 17 and clean.grids["within"].all() and clean.findings.empty
    with engine.begin() as conn:  # a code typed wrong, and two grids of community 1 drawn over each other
        conn.execute(update(Grid.__table__).where(Grid.id == 1).values(code="X-1"))
        g2 = conn.execute(Grid.__table__.select().where(Grid.id == 2)).first()
        grown = g2.geom.buffer(0.0005)
        conn.execute(update(Grid.__table__).where(Grid.id == 2).values(geom=grown))
    found = rules.report(engine, roles.Scope("community", community_id=1))
    kinds = set(found.findings["kind"])
    assert {"bad_code", "overlap", "outside"} <= kinds
    assert found.findings.loc[found.findings["kind"] == "bad_code", "code"].tolist() == ["X-1"]
    assert set(rules.report(engine, roles.Scope("community", community_id=2)).findings["kind"]) <= {"overlap"}
