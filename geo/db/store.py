"""The data store: one SQLAlchemy engine over SQLite (embedded) or PostGIS.

Pages and services never write SQL; they call the functions here. Spatial
filters run in SQL on PostGIS (``ST_Covers`` / ``ST_Intersects`` with GiST
indexes) and, on SQLite, as a bounding-box filter in SQL followed by an exact
shapely test on the few rows left.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Connection, Engine, Integer, and_, bindparam, func, insert, inspect, select, text, update,
)

from geo import settings
from geo.db import migrate, schema
from geo.db.connect import describe, is_postgis, make_engine, sqlite_path  # noqa: F401 - the store's own names too
from geo.db.schema import Base, Geometry

Progress = Callable[[float, str], None]


def lock_rows(conn: Connection, table, ids: Iterable[int]) -> None:
    """Lock rows of ``table`` for the rest of ``conn``'s transaction, in id order (no deadlock between two
    transactions locking the same rows). Call it first in the transaction, before reading what it guards.

    PostGIS: ``SELECT … FOR UPDATE`` ordered by id; a second transaction waits here until the first
    commits, and then reads what the first wrote (READ COMMITTED). SQLite has one writer for the whole
    file: the same effect comes from taking the write lock up front, as ``BEGIN IMMEDIATE`` does — a
    no-op UPDATE of the rows, issued before any read, so every read after it sees the latest commit
    (pysqlite starts the transaction at the first write, not at a read).
    """
    ids = sorted({int(i) for i in ids})
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(select(table.c.id).where(table.c.id.in_(ids)).order_by(table.c.id).with_for_update())
    else:
        conn.execute(update(table).where(table.c.id.in_(ids)).values(id=table.c.id))


def create_schema(engine: Engine) -> None:
    """Create every table (and on PostGIS the extension and GiST indexes)."""
    with engine.begin() as conn:
        if is_postgis(engine):
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        Base.metadata.create_all(conn)
        if is_postgis(engine):
            for table in schema.SPATIAL_TABLES:
                conn.execute(text(
                    f"CREATE INDEX IF NOT EXISTS ix_{table.name}_geom_gist "
                    f"ON {table.name} USING GIST (geom)"))


def meta(engine: Engine) -> dict[str, str]:
    """The database's facts (schema version, how it was built); empty when new."""
    if not inspect(engine).has_table("meta"):
        return {}
    with engine.connect() as conn:
        return dict(conn.execute(select(schema.Meta.key, schema.Meta.value)).fetchall())


def is_built(engine: Engine, *, migrations=migrate.MIGRATIONS) -> bool:
    """True when a town has been loaded completely and its schema is the program's (no upgrade due)."""
    return migrate.state(engine, migrations=migrations) == "current"


def _what_to_do(engine: Engine, url: str, migrations) -> str:
    """On start: ``open``, ``build`` (empty, or a demo SQLite file to rebuild), or ``upgrade``.

    Only a demo database on SQLite is ever rebuilt; any other database behind the
    program is upgraded (backup first, geo.db.migrate), and one this program cannot
    read is refused with StorageError rather than touched.
    """
    now = migrate.state(engine, migrations=migrations)
    if now == "current":
        return "open"
    if now == "empty" and inspect(engine).has_table("meta"):
        with engine.connect() as conn:
            if meta_value(conn, HALF_BUILT) is not None:  # a streamed build stopped: its rows are there
                raise StorageError("half_built", url=describe(url))
    if now == "empty":
        return "build"
    demo_file = migrate.kind(engine) == migrate.DEMO and sqlite_path(url) is not None
    if now == "behind":
        return "build" if demo_file else "upgrade"
    if now == "unknown" and demo_file:
        return "build"
    raise StorageError("schema_" + now, url=describe(url))


def with_bbox(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the bounding-box columns that SQLite's spatial pre-filter reads."""
    rows = list(rows)
    if not rows:
        return rows
    bounds = shapely.bounds(np.array([r["geom"] for r in rows], dtype=object))
    for r, (x0, y0, x1, y1) in zip(rows, bounds.tolist()):
        r.update(minx=x0, miny=y0, maxx=x1, maxy=y1)
    return rows


def bulk_insert(conn, model, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """Insert many rows in one transaction (the caller's), in chunks."""
    if not rows:
        return
    if "geom" in model.__table__.c:
        rows = with_bbox(rows)
    rows = _complete(model.__table__, rows)
    for i in range(0, len(rows), chunk):
        conn.execute(insert(model), list(rows[i:i + chunk]))


def _default(column):
    """The model's scalar default of ``column`` (None: none, or one computed per row)."""
    default = column.default
    return default.arg if default is not None and not callable(default.arg) else None


def _complete(table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same keys (executemany needs one shape); defaults fill gaps."""
    keys = set().union(*(r.keys() for r in rows))
    fill = {c.name: _default(c) for c in table.c if c.name in keys}
    return [r if len(r) == len(keys) else {**fill, **r} for r in rows]


#: The ``meta`` key of a town written street by street (geo.demo.stream) and not yet complete.
HALF_BUILT = "demo.stream"

#: The order a town's tables are written in: every row after the rows it refers to.
TOWN_ORDER = ("street", "community", "grid", "estate", "building", "household", "resident",
              "volunteer_team", "person", "care_link", "facility", "camera", "road", "open_space",
              "ticket", "ticket_event", "app_user", "visit", "api_key", "volunteer_activity", "volunteer_attendance",
              "time_account", "time_entry", "patrol", "patrol_rating", "leader_visit", "council_matter",
              "council_opinion", "council_ticket")


def _models() -> dict[str, type]:
    return {m.__tablename__: m for m in Base.__subclasses__()}


def load_town(engine: Engine, town: dict[str, list[dict[str, Any]]],
              progress: Progress | None = None, *, kind: str = migrate.DEMO, migrations=migrate.MIGRATIONS) -> None:
    """Write a town (table name → rows) in one transaction: all or nothing.

    ``kind`` is recorded (``demo``: the generated town, which may be rebuilt;
    ``real``: a street's own data, which is only ever upgraded), and the schema
    revision is stamped in the same transaction. A town too big for one
    transaction (a city) goes in parts with ``write_town`` and ``finish_town``
    (geo.demo.stream).
    """
    create_schema(engine)
    models = _models()
    with engine.begin() as conn:
        for i, name in enumerate(TOWN_ORDER):
            if progress:
                progress(0.5 + 0.5 * i / len(TOWN_ORDER), name)
            bulk_insert(conn, models[name], town.get(name, []))
        finish_town(conn, kind=kind, migrations=migrations)


def write_town(conn: Connection, town: dict[str, list[dict[str, Any]]]) -> int:
    """Write part of a town (table name → rows, ids given) in the caller's transaction, fast: COPY on
    PostGIS, executemany on SQLite. Returns how many rows went in."""
    models = _models()
    unknown = set(town) - set(TOWN_ORDER)
    if unknown:
        raise ValueError(f"no place in the town's order for {sorted(unknown)}")
    copy = conn.dialect.name == "postgresql"
    for name in TOWN_ORDER:
        rows = town.get(name)
        if rows:
            (copy_rows if copy else bulk_insert)(conn, models[name], rows)
    return sum(len(rows) for rows in town.values())


def finish_town(conn: Connection, *, kind: str = migrate.DEMO, migrations=migrate.MIGRATIONS) -> None:
    """The last step of writing a town, in its last transaction: record what it is (``built``: until
    then the database counts as empty), stamp the schema revision, and on PostGIS move every serial
    past the ids written and refresh the planner's statistics."""
    conn.execute(insert(schema.Meta), [{"key": "built", "value": kind}])
    migrate.stamp(conn, migrations=migrations)
    if conn.dialect.name == "postgresql":
        models = _models()
        for name in TOWN_ORDER:
            _advance_sequence(conn, models[name].__table__)
            conn.execute(text(f"ANALYZE {name}"))


def copy_rows(conn: Connection, model, rows: Sequence[dict[str, Any]]) -> None:
    """Rows into ``model``'s table with PostgreSQL's COPY (psycopg 3), in the caller's transaction.

    Many times faster than INSERT for a city's tens of millions of rows. Columns
    a row leaves out take the model's scalar default, as an INSERT through the
    model would; geometry goes as hex EWKB (SRID 4326), which PostGIS reads as
    text; the bounding-box columns are filled as ``bulk_insert`` fills them.
    """
    table = model.__table__
    if "geom" in table.c:
        rows = with_bbox(rows)
    keys = set().union(*(r.keys() for r in rows))
    cols = [c for c in table.c if c.name in keys or _default(c) is not None]
    fill = {c.name: _default(c) for c in cols}
    names = [c.name for c in cols]
    values = [[r.get(n, fill[n]) for n in names] for r in rows]
    for j, c in enumerate(cols):
        if isinstance(c.type, Geometry):
            geoms = np.array([shapely.from_wkb(bytes(v[j])) if isinstance(v[j], (bytes, bytearray, memoryview))
                              else v[j] for v in values], dtype=object)
            have = ~shapely.is_missing(geoms)
            hexed = np.full(len(geoms), None, dtype=object)
            hexed[have] = shapely.to_wkb(shapely.set_srid(geoms[have], schema.SRID), hex=True, include_srid=True)
            for v, h in zip(values, hexed):
                v[j] = h
    columns = ", ".join(f'"{n}"' for n in names)
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for v in values:
                copy.write_row(v)


def meta_value(conn: Connection, key: str) -> str | None:
    """One fact from the ``meta`` table (None when absent or when there is no such table yet)."""
    if not inspect(conn).has_table("meta"):
        return None
    return conn.execute(select(schema.Meta.value).where(schema.Meta.key == key)).scalar()


def set_meta(conn: Connection, key: str, value: str | None) -> None:
    """Record (or with None remove) one fact in ``meta``, in the caller's transaction."""
    conn.execute(schema.Meta.__table__.delete().where(schema.Meta.key == key))
    if value is not None:
        conn.execute(insert(schema.Meta), [{"key": key, "value": value}])


def _advance_sequence(conn, table) -> None:
    """Rows came with their ids: move the serial past them so new rows get fresh ids."""
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(pk[0].type, Integer):
        return
    conn.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
        f"COALESCE((SELECT max({pk[0].name}) FROM {table.name}), 0) + 1, false)"))


def ensure_database(url: str | None = None, *, build: Callable[[Progress | None], dict[str, list[dict[str, Any]]]],
                    progress: Progress | None = None, migrations=migrate.MIGRATIONS, log=None) -> Engine:
    """Open the database: fill an empty one with ``build(progress)``'s rows, upgrade an old one.

    The store does not know what a first start fills in: the app's bootstrap
    passes the demo town's generator (geo.demo.generator.ensure_database), so the
    store never imports the layers above it. A database whose schema is behind
    the program is upgraded with a backup taken first (geo.db.migrate); only a
    demo SQLite file is rebuilt instead.

    An embedded SQLite file is built under a temporary name beside it and moved into
    place only when complete; a build that fails removes its temporary files, and
    files left by a build that was killed (its process gone) are removed by the
    next. A data folder the server may not write to is refused with StorageError
    (the message says which folder and what to do), not a traceback.
    """
    url = url or settings.database_url()
    final = sqlite_path(url)
    check_folder(url)
    engine = make_engine(url)
    todo = _what_to_do(engine, url, migrations)
    if todo == "open":
        return engine
    if todo == "upgrade":
        engine.dispose()
        migrate.upgrade(url, migrations=migrations, log=log)
        return make_engine(url)
    town = build(progress)
    if final is not None:
        _remove_stale_builds(final)
        tmp = final.with_name(f"{final.name}.building-{os.getpid()}")
        _remove_sqlite(tmp)
        tmp_engine = make_engine(f"sqlite:///{tmp}")
        try:
            load_town(tmp_engine, town, progress, migrations=migrations)
            with tmp_engine.connect() as conn:  # fold the WAL back into the file before the move
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            tmp_engine.dispose()
            engine.dispose()
            for suffix in ("-wal", "-shm"):
                Path(f"{final}{suffix}").unlink(missing_ok=True)
            os.replace(tmp, final)
        finally:  # done or failed: no temporary file stays behind
            tmp_engine.dispose()
            _remove_sqlite(tmp)
        engine = make_engine(url)
    else:
        load_town(engine, town, progress, migrations=migrations)
    if progress:
        progress(1.0, "done")
    return engine


def check_folder(url: str) -> None:
    """For a SQLite URL: its folder exists (made if need be) and this process may write
    there and to the file; otherwise StorageError("folder") naming the folder."""
    final = sqlite_path(url)
    if final is None:
        return
    folder = final.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise StorageError("folder", path=str(folder)) from None
    if not os.access(folder, os.W_OK | os.X_OK) or (final.exists() and not os.access(final, os.R_OK | os.W_OK)):
        raise StorageError("folder", path=str(folder))


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _remove_stale_builds(final: Path) -> None:
    """Temporary build files of processes that no longer run (a first start that was killed)."""
    for path in final.parent.glob(f"{final.name}.building-*"):
        pid = path.name.removeprefix(f"{final.name}.building-").split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


# --------------------------------------------------------------------------- when the database says no

class StorageError(RuntimeError):
    """The database cannot be used right now; ``message(lang)`` says why and what to do."""

    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params
        super().__init__(f"{self.message('zh')} / {self.message('en')}")

    def message(self, lang: str = "zh") -> str:
        from geo.i18n import t

        return t(f"db.err_{self.key}", lang).format(**self.params)


#: What SQLite / PostgreSQL say (lower case) → StorageError key.
_STORAGE_PROBLEMS = (
    ("database is locked", "locked"), ("database table is locked", "locked"),
    ("readonly database", "readonly"), ("read-only", "readonly"),
    ("unable to open database file", "open"),
    ("database or disk is full", "full"), ("no space left", "full"),
    ("disk i/o error", "io"),
    ("connection refused", "connect"), ("could not connect", "connect"), ("connection failed", "connect"),
    ("server closed the connection", "connect"), ("lock timeout", "locked"), ("deadlock detected", "locked"),
)


def storage_problem(exc: BaseException) -> StorageError | None:
    """The StorageError an exception from the database amounts to, or None if it is something else
    (a bug: let it surface). Pages show its message instead of a traceback."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, migrate.MigrationError):
        return StorageError("migration", reason=str(exc))
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, (DBAPIError, OSError)):
        return None
    text_ = str(getattr(exc, "orig", None) or exc).lower()
    key = next((k for needle, k in _STORAGE_PROBLEMS if needle in text_), None)
    return StorageError(key) if key else None


# --------------------------------------------------------------------------- reading

def read_frame(engine: Engine | Connection, stmt) -> pd.DataFrame:
    """The rows of ``stmt``; on a Connection (inside the caller's transaction) or a connection of its own.

    Built from plain tuples: pandas reads a list of tuples twice as fast as SQLAlchemy Row objects
    (1.0 s against 2.2 s for 300,000 tickets; issue 15, the wall's frame)."""
    if isinstance(engine, Connection):
        result = engine.execute(stmt)
        return pd.DataFrame.from_records([tuple(row) for row in result.fetchall()], columns=list(result.keys()))
    with engine.connect() as conn:
        return read_frame(conn, stmt)


def to_gdf(df: pd.DataFrame, geom_col: str = "geom") -> gpd.GeoDataFrame:
    """A GeoDataFrame in the storage CRS from rows whose geometry is shapely."""
    geoms = df.pop(geom_col) if geom_col in df else []
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=settings.STORAGE_CRS)


def read_layer(engine: Engine, model, *, where=None, columns: Sequence[str] | None = None
               ) -> gpd.GeoDataFrame:
    """One spatial table as a GeoDataFrame (bbox columns left out)."""
    table = model.__table__
    names = columns or [c.name for c in table.c if c.name not in ("minx", "miny", "maxx", "maxy")]
    if "geom" not in names:
        names = [*names, "geom"]
    stmt = select(*[table.c[n] for n in names])
    if where is not None:
        stmt = stmt.where(where)
    return to_gdf(read_frame(engine, stmt.order_by(table.c[names[0]])))


def _area_param(area) -> Any:
    return bindparam("area", value=area, type_=Geometry())


def connection(engine: Engine | Connection):
    """A connection to read on: the caller's own (inside its transaction: a write that reads first needs no
    second connection from the pool), or a new one from ``engine``."""
    import contextlib

    return contextlib.nullcontext(engine) if isinstance(engine, Connection) else engine.connect()


def in_box(engine: Engine | Connection, table, bounds: Sequence[float]):
    """WHERE a row's bounding box meets ``bounds`` (x0, y0, x1, y1, lon-lat): a pre-filter, the exact
    test is the caller's. The GiST index on PostGIS (``&&``), the bounding-box columns on SQLite."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    if is_postgis(engine):
        return table.c.geom.op("&&")(func.ST_MakeEnvelope(x0, y0, x1, y1, schema.SRID))
    return and_(table.c.maxx >= x0, table.c.minx <= x1, table.c.maxy >= y0, table.c.miny <= y1)


def ids_intersecting(engine: Engine | Connection, model, area) -> list[int]:
    """Ids of rows of ``model`` whose geometry intersects ``area`` (lon-lat shapely); ``engine`` may be the
    caller's Connection."""
    if area is None or area.is_empty:
        return []
    table = model.__table__
    if is_postgis(engine):
        stmt = select(table.c.id).where(func.ST_Intersects(table.c.geom, _area_param(area)))
        with connection(engine) as conn:
            return sorted(conn.execute(stmt).scalars())
    x0, y0, x1, y1 = area.bounds
    stmt = select(table.c.id, table.c.geom).where(
        table.c.maxx >= x0, table.c.minx <= x1, table.c.maxy >= y0, table.c.miny <= y1)
    with connection(engine) as conn:
        rows = conn.execute(stmt).fetchall()
    if not rows:
        return []
    ids = np.array([r[0] for r in rows])
    hit = shapely.intersects(np.array([r[1] for r in rows], dtype=object), area)
    return sorted(ids[hit].tolist())


def grids_covering(engine: Engine | Connection, lon: float, lat: float) -> list[int]:
    """Ids of the grids whose polygon covers the point (boundary included); ``engine`` may be a Connection."""
    point = shapely.Point(lon, lat)
    table = schema.Grid.__table__
    if is_postgis(engine):
        stmt = select(table.c.id).where(func.ST_Covers(table.c.geom, _area_param(point)))
        with connection(engine) as conn:
            return sorted(conn.execute(stmt).scalars())
    stmt = select(table.c.id, table.c.geom).where(
        table.c.minx <= lon, table.c.maxx >= lon, table.c.miny <= lat, table.c.maxy >= lat)
    with connection(engine) as conn:
        rows = conn.execute(stmt).fetchall()
    return sorted(r[0] for r in rows if shapely.covers(r[1], point))


def counts(engine: Engine) -> dict[str, int]:
    """Row count of every table (the demo summary and health checks)."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return out
