"""The one engine over SQLite (embedded, WAL) or PostgreSQL + PostGIS, and where a SQLite file lives.

Below everything else in geo.db: the store (loading, queries) and the
migrations both open databases through here.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from geo import settings


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: DATABASE_URL or the embedded SQLite file)."""
    url = url or settings.database_url()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": settings.SQLITE_BUSY_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL lets the dashboard read while a grid worker writes; FKs keep the tree whole."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def is_postgis(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def sqlite_path(url: str) -> Path | None:
    """The file of an embedded SQLite database URL (None for PostGIS or in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def describe(url: str) -> str:
    """The URL for a log line or a message: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
