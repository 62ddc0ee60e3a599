"""The test harness itself: both database backends answer through database_url."""
from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select, text


def test_database_url_roundtrip(database_url):
    engine = create_engine(database_url)
    try:
        meta = MetaData()
        things = Table(
            "harness_things", meta,
            Column("id", Integer, primary_key=True),
            Column("name", String(50), nullable=False),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(things.insert(), [{"id": 1, "name": "社区网格 A"}])
        with engine.connect() as conn:
            rows = conn.execute(select(things.c.id, things.c.name)).all()
        assert [tuple(r) for r in rows] == [(1, "社区网格 A")]
    finally:
        engine.dispose()


def test_database_url_is_fresh(database_url):
    """Every test starts empty: the table from the test above is not visible."""
    from sqlalchemy import inspect

    engine = create_engine(database_url)
    try:
        assert "harness_things" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_postgis_functions(postgis_url):
    engine = create_engine(postgis_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT PostGIS_Version()")).scalar_one()
            inside = conn.execute(text(
                "SELECT ST_Contains("
                "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326),"
                "ST_SetSRID(ST_Point(0.5, 0.5), 4326))"
            )).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        assert version
        assert inside is True
        assert schema.startswith("t_"), schema  # the per-test schema is first
    finally:
        engine.dispose()
