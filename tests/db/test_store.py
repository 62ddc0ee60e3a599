"""The store on both backends: same answers from SQLite and PostGIS."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import shapely
from sqlalchemy import func, inspect, select, text

from geo.access import auth, roles, users
from geo.demo import generator
from geo.maps import layers
from geo.db import schema, store

NOW = datetime(2026, 11, 23, 9)


def test_every_row_arrives(engine, small_town):
    counts = store.counts(engine)
    for table, rows in small_town.items():
        assert counts[table] == len(rows), table
    assert store.is_built(engine)


def test_geometries_round_trip_exactly(engine, small_town):
    grids = store.read_layer(engine, schema.Grid)
    assert grids.crs.to_epsg() == 4326
    by_id = {g["id"]: g["geom"] for g in small_town["grid"]}
    for gid, geom in zip(grids["id"], grids.geometry):
        assert geom.equals_exact(by_id[gid], 1e-12)


def test_point_in_grid_interior_edge_and_outside(engine, small_town):
    grids = {g["id"]: g["geom"] for g in small_town["grid"]}
    gid, poly = next(iter(grids.items()))
    inside = poly.representative_point()
    assert store.grids_covering(engine, inside.x, inside.y) == [gid]
    # a corner shared with neighbours (exact coordinates) belongs to all of them;
    # routing breaks the tie, the store reports every candidate
    mine = set(poly.exterior.coords)
    sharing = {o for o, g in grids.items() if mine & set(g.exterior.coords)}
    corner = next(c for c in mine if sum(c in set(g.exterior.coords) for g in grids.values()) >= 2)
    owners = sorted(o for o, g in grids.items() if corner in set(g.exterior.coords))
    assert gid in owners and len(owners) >= 2 and set(owners) <= sharing
    assert store.grids_covering(engine, *corner) == owners
    street = small_town["street"][0]["geom"]
    x0, y0, x1, y1 = street.bounds
    assert store.grids_covering(engine, x1 + 0.01, y1 + 0.01) == []


def test_what_lies_in_an_area(engine, small_town):
    grid = small_town["grid"][3]
    expected_buildings = sorted(b["id"] for b in small_town["building"] if b["grid_id"] == grid["id"])
    assert store.ids_intersecting(engine, schema.Building, grid["geom"]) == expected_buildings
    expected_tickets = sorted(t["id"] for t in small_town["ticket"] if grid["geom"].intersects(t["geom"]))
    assert store.ids_intersecting(engine, schema.Ticket, grid["geom"]) == expected_tickets
    assert store.ids_intersecting(engine, schema.Ticket, shapely.Point(0, 0).buffer(0.001)) == []


def test_layers_and_headline_agree_with_the_rows(engine, small_town):
    heads = layers.headline(engine, NOW, scope=roles.WHOLE_STREET)
    assert heads["grids"] == len(small_town["grid"])
    assert heads["residents"] == len(small_town["resident"])
    open_rows = [t for t in small_town["ticket"] if t["state"] in layers.workflow.OPEN_STATES]
    assert heads["open_tickets"] == len(open_rows)
    owing = [t for t in open_rows if t["state"] in layers.workflow.OVERDUE_STATES]  # not those awaiting a rating
    assert heads["overdue"] == sum(t["due_at"] < NOW for t in owing)
    grids = layers.grids(engine)
    assert grids["households"].sum() == len(small_town["household"])
    assert grids["grid_head"].notna().all()
    tickets = layers.open_tickets(engine, NOW, scope=roles.WHOLE_STREET)
    assert tickets["overdue"].sum() == heads["overdue"]
    assert set(tickets["category"]) <= set(layers.category_names())


@pytest.fixture(scope="module")
def two_streets():
    """Two neighbouring streets of one community each: what a district database looks like (enough
    tickets that each street has some open at NOW: a year of 40 left none once the demo's camera draws changed)."""
    return generator.generate(now=NOW, streets=2, communities=1, tickets_per_street=150)


def test_street_layers_keep_to_one_street(database_url, two_streets):
    engine = store.make_engine(database_url)
    store.load_town(engine, two_streets)
    first, second = (s["id"] for s in two_streets["street"])
    assert list(layers.streets(engine)) == [first, second]
    got = layers.street_layers(engine, NOW, scope=roles.WHOLE_STREET, street_id=second)
    comm = {c["id"] for c in two_streets["community"] if c["street_id"] == second}
    grids = {g["id"] for g in two_streets["grid"] if g["community_id"] in comm}
    assert set(got["street"]["id"]) == {second}
    assert set(got["communities"]["id"]) == comm
    assert set(got["grids"]["id"]) == grids
    assert set(got["buildings"]["grid_id"]) == grids
    assert set(got["cameras"]["grid_id"]) <= grids and len(got["cameras"])
    assert set(got["facilities"]["community_id"]) == comm
    assert set(got["tickets"]["grid_id"]) <= grids
    outline = two_streets["street"][1]["geom"]
    inside = {r["id"] for r in two_streets["road"] if r["geom"].intersects(outline)}
    assert set(got["roads"]["id"]) == inside and len(inside) < len(two_streets["road"])
    # both streets together are what a district-wide view without a street asks for
    assert len(layers.street_layers(engine, NOW, scope=roles.WHOLE_STREET)["grids"]) == len(two_streets["grid"])
    engine.dispose()


def test_a_user_moved_to_a_grid_of_another_street_moves_street_too(database_url, two_streets):
    engine = store.make_engine(database_url)
    store.load_town(engine, two_streets)
    first, second = (s["id"] for s in two_streets["street"])
    grid_in = {c["street_id"]: next(g["id"] for g in two_streets["grid"] if g["community_id"] == c["id"])
               for c in two_streets["community"]}
    users.create_user(engine, "mover", "a-long-password", "grid_head", now=NOW, grid_id=grid_in[first])
    auth.update_user(engine, "mover", now=NOW, by="leader", grid_id=grid_in[second])
    moved = auth.authenticate(engine, "mover", "a-long-password", now=NOW)
    assert (moved.street_id, moved.grid_id) == (second, grid_in[second])  # else its scope mixes two streets
    engine.dispose()


def test_headline_counts_the_street_and_the_viewers_tickets(database_url, two_streets):
    engine = store.make_engine(database_url)
    store.load_town(engine, two_streets)
    second = two_streets["street"][1]["id"]
    comm = {c["id"] for c in two_streets["community"] if c["street_id"] == second}
    grid_ids = [g["id"] for g in two_streets["grid"] if g["community_id"] in comm]
    open_here = [t for t in two_streets["ticket"]
                 if t["state"] in layers.workflow.OPEN_STATES and t["street_id"] == second]
    busiest = max(grid_ids, key=lambda g: sum(t["grid_id"] == g for t in open_here))
    street_view = layers.headline(engine, NOW, scope=roles.WHOLE_STREET, street_id=second)
    assert street_view["grids"] == len(grid_ids)
    assert street_view["residents"] == sum(b["residents"] for b in two_streets["building"]
                                           if b["grid_id"] in grid_ids)
    assert street_view["open_tickets"] == len(open_here)
    grid_view = layers.headline(engine, NOW, street_id=second,
                                scope=roles.Scope("grid", street_id=second, grid_id=busiest))
    mine = [t for t in open_here if t["grid_id"] == busiest]
    assert grid_view["open_tickets"] == len(mine) > 0
    assert grid_view["overdue"] == sum(t["due_at"] < NOW for t in mine)
    assert (grid_view["grids"], grid_view["communities"]) == (1, 1)  # the viewer's area, every figure
    assert grid_view["residents"] == sum(b["residents"] for b in two_streets["building"] if b["grid_id"] == busiest)
    engine.dispose()


def test_a_failed_load_writes_nothing(database_url, small_town):
    engine = store.make_engine(database_url)
    broken = {k: list(v) for k, v in small_town.items()}
    broken["ticket"] = broken["ticket"] + [dict(broken["ticket"][0], id=999_999, code="BROKEN",
                                                 grid_id=424_242)]  # no such grid
    with pytest.raises(Exception):
        store.load_town(engine, broken)
    assert not store.is_built(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.Grid)).scalar_one() == 0
    engine.dispose()


def test_postgis_uses_real_geometry_and_gist(postgis_url, small_town):
    engine = store.make_engine(postgis_url)
    store.create_schema(engine)
    with engine.connect() as conn:
        kind = conn.execute(text(
            "SELECT type FROM geometry_columns WHERE f_table_name = 'grid' "
            "AND f_table_schema = current_schema()")).scalar_one()
        # from the catalogue, not pg_indexes: that view decompiles every index in the database and
        # fails when a parallel run drops its schema at that moment ("could not open relation")
        gist = conn.execute(text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_am a ON a.oid = c.relam WHERE c.relkind = 'i' AND n.nspname = current_schema() "
            "AND a.amname = 'gist'")).scalar_one()
    assert kind == "GEOMETRY"
    assert gist == len(schema.SPATIAL_TABLES)
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_first_start_builds_once_and_leaves_no_temp_files(tmp_path):
    url = f"sqlite:///{tmp_path}/first.db"
    seen = []
    engine = generator.ensure_database(url, progress=lambda f, label: seen.append(f), now=NOW,
                                   communities=2, tickets_per_street=50)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    made = generator.generate(now=NOW, communities=2, tickets_per_street=50)["ticket"]
    assert len(made) >= 50 and store.counts(engine)["ticket"] == len(made)  # 50 + this morning's party offers
    assert sorted(p.name for p in Path(tmp_path).iterdir() if "building" in p.name) == []
    seen.clear()
    generator.ensure_database(url, progress=lambda f, label: seen.append(f))  # already built: no work
    assert seen == []
    assert inspect(engine).has_table("ticket")
