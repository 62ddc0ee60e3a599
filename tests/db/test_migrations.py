"""A real street is upgraded, never replaced; only the demo is rebuilt; a failed upgrade changes nothing.

The program's revisions are copied with one more of the test's own ("bumping
the version on a copy"): a column added to ``street`` and filled. A database
built at the program's head is then one revision behind.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from geo import settings
from geo.db import migrate, schema, store

NEXT = '''"""A test's schema change: every street gets a motto."""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"


def upgrade():
    op.add_column("street", sa.Column("motto", sa.String(50), nullable=True))
    op.execute("UPDATE street SET motto = '共建共治共享'")
    {fail}


def downgrade():
    pass
'''


def revisions(tmp_path: Path, *, fail: bool = False) -> Path:
    folder = tmp_path / ("broken" if fail else "next")
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "9001_motto.py").write_text(
        NEXT.format(down=migrate.head(), fail="raise RuntimeError('the second step failed')" if fail else ""),
        encoding="utf-8")
    return folder


def never_build(progress=None):
    raise AssertionError("a database that holds a town must not be built again")


def built(url: str, town, kind: str):
    engine = store.make_engine(url)
    store.load_town(engine, town, kind=kind)
    return engine


def street_columns(engine, table: str = "street") -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_database_records_what_it_holds_and_its_revision(database_url, small_town):
    engine = built(database_url, small_town, migrate.REAL)
    assert migrate.kind(engine) == "real" and migrate.state(engine) == "current"
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.head()
    assert store.ensure_database(database_url, build=never_build) is not None  # opened, not built


def test_a_real_database_behind_the_program_is_upgraded_with_a_backup(database_url, small_town, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")  # where a pg_dump goes
    engine = built(database_url, small_town, migrate.REAL)
    counts = store.counts(engine)
    engine.dispose()
    newer = revisions(tmp_path)
    assert migrate.state(store.make_engine(database_url), migrations=newer) == "behind"

    engine = store.ensure_database(database_url, build=never_build, migrations=newer)
    assert "motto" in street_columns(engine)
    with engine.connect() as conn:
        assert set(conn.execute(text("SELECT motto FROM street")).scalars()) == {"共建共治共享"}
        assert migrate.revision_of(conn) == "9001"
    assert store.counts(engine) == counts  # every resident, ticket and history row kept
    assert migrate.kind(engine) == "real" and store.is_built(engine, migrations=newer)
    path = store.sqlite_path(database_url)
    if path is not None:  # the backup beside the file is the database as it was
        (backup,) = path.parent.glob(f"{path.name}.before-{migrate.head()}-*.bak")
        old = store.make_engine(f"sqlite:///{backup}")
        assert "motto" not in street_columns(old) and store.counts(old) == counts
        assert not list(path.parent.glob("*.migrating-*"))
    else:
        (dump,) = (tmp_path / "data").glob(f"*.before-{migrate.head()}-*.dump")
        assert dump.stat().st_size > 10_000


def test_a_demo_file_behind_the_program_is_rebuilt(tmp_path, small_town):
    url = f"sqlite:///{tmp_path}/demo.db"
    engine = built(url, small_town, migrate.DEMO)
    with engine.begin() as conn:
        conn.execute(update(schema.Street).values(name="改过的名字"))
    engine.dispose()
    calls = []

    def tiny(progress=None):
        calls.append(1)
        return small_town

    engine = store.ensure_database(url, build=tiny, migrations=revisions(tmp_path))
    assert calls == [1]  # rebuilt from the demo town, not upgraded
    with engine.connect() as conn:
        assert "改过的名字" not in set(conn.execute(select(schema.Street.name)).scalars())
    assert not list(tmp_path.glob("demo.db.before-*"))


def test_a_failed_upgrade_leaves_the_sqlite_file_byte_for_byte(tmp_path, small_town):
    url = f"sqlite:///{tmp_path}/street.db"
    built(url, small_town, migrate.REAL).dispose()
    path = tmp_path / "street.db"
    before = digest(path)
    with pytest.raises(migrate.MigrationError) as err:
        store.ensure_database(url, build=never_build, migrations=revisions(tmp_path, fail=True))
    assert "原数据未改动" in str(err.value)
    assert store.storage_problem(err.value).message("zh").startswith("数据库结构升级失败")
    assert digest(path) == before
    assert not list(tmp_path.glob("*.migrating-*"))
    assert "motto" not in street_columns(store.make_engine(url))


def test_a_failed_upgrade_is_rolled_back_on_postgis(postgis_url, small_town, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")
    engine = built(postgis_url, small_town, migrate.REAL)
    counts = store.counts(engine)
    with pytest.raises(migrate.MigrationError):
        store.ensure_database(postgis_url, build=never_build, migrations=revisions(tmp_path, fail=True))
    assert "motto" not in street_columns(engine)
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.head()
    assert store.counts(engine) == counts


def baseline_file(path: Path, *, stamped: bool) -> str:
    """A SQLite database with the tables as they were at revision 0001 (and a street, to see it kept)."""
    import sqlite3
    with sqlite3.connect(path) as conn:
        conn.executescript((migrate.MIGRATIONS / "baseline_sqlite.sql").read_text(encoding="utf-8"))
        if stamped:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('0001')")
        else:  # built before migrations existed: only meta says which schema it has
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (migrate.LEGACY_VERSION,))
        conn.execute("INSERT INTO meta VALUES ('built', 'real')")
        conn.execute("INSERT INTO street (id, code, name, geom, minx, miny, maxx, maxy) "
                     "VALUES (1, '510182001', '天彭街道', X'00', 0, 0, 0, 0)")
    return f"sqlite:///{path}"


def test_a_database_from_before_migrations_is_stamped_and_upgraded(tmp_path):
    """Built by the program before migrations existed: meta says schema_version 7, no alembic_version."""
    url = baseline_file(tmp_path / "old.db", stamped=False)
    assert migrate.state(store.make_engine(url)) == "behind"
    engine = store.ensure_database(url, build=never_build)
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.head()
        assert conn.execute(text("SELECT name FROM street")).scalar() == "天彭街道"
    assert list(tmp_path.glob(f"old.db.before-{migrate.BASELINE}-*.bak"))


def test_a_database_written_by_a_newer_program_is_refused_untouched(tmp_path, small_town):
    url = f"sqlite:///{tmp_path}/newer.db"
    engine = built(url, small_town, migrate.REAL)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    before = digest(tmp_path / "newer.db")
    with pytest.raises(store.StorageError) as err:
        store.ensure_database(url, build=never_build)
    assert err.value.key == "schema_ahead" and "不要删除数据库" in err.value.message("zh")
    assert digest(tmp_path / "newer.db") == before


def test_postgis_refuses_to_upgrade_without_a_backup_and_says_how(postgis_url, small_town, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(migrate.shutil, "which", lambda name: None)  # no pg_dump on this server
    built(postgis_url, small_town, migrate.REAL).dispose()
    with pytest.raises(migrate.MigrationError) as err:
        store.ensure_database(postgis_url, build=never_build, migrations=revisions(tmp_path))
    assert "pg_dump --format=custom" in str(err.value) and "SHEQU_MIGRATE_WITHOUT_BACKUP=1" in str(err.value)
    assert "motto" not in street_columns(store.make_engine(postgis_url))


# --------------------------------------------------------------------------- backup and restore

def test_backup_and_restore_a_street_on_sqlite(tmp_path, small_town, capsys):
    from geo.db import backup

    url = f"sqlite:///{tmp_path}/street.db"
    engine = built(url, small_town, migrate.REAL)
    counts = store.counts(engine)
    assert backup.main(["create", "--url", url, "--output", str(tmp_path / "b.db")]) == 0
    with engine.begin() as conn:  # a bad afternoon: every ticket deleted (with what points at tickets)
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        conn.execute(text("UPDATE ticket SET merged_into_id = NULL"))
        for table in reversed(schema.Base.metadata.sorted_tables):
            if any(fk.column.table.name == "ticket" for fk in table.foreign_keys) and table.name != "ticket":
                conn.execute(table.delete())
        conn.execute(text("DELETE FROM ticket"))
    assert store.counts(engine)["ticket"] == 0
    with pytest.raises(SystemExit):  # not without --yes: the current data would be replaced
        backup.main(["restore", str(tmp_path / "b.db"), "--url", url])
    assert store.counts(engine)["ticket"] == 0
    assert backup.main(["restore", str(tmp_path / "b.db"), "--url", url, "--yes"]) == 0
    assert store.counts(engine) == counts  # the running engine sees the restored rows
    (kept,) = tmp_path.glob("street.db.before-restore-*.bak")
    assert store.counts(store.make_engine(f"sqlite:///{kept}"))["ticket"] == 0  # what was there is kept too


def test_restore_refuses_what_is_not_a_backup_of_this_product(tmp_path, small_town):
    from geo.db import backup

    url = f"sqlite:///{tmp_path}/street.db"
    built(url, small_town, migrate.REAL).dispose()
    before = digest(tmp_path / "street.db")
    (tmp_path / "notes.db").write_bytes(b"not a database at all")
    other = tmp_path / "other.db"
    import sqlite3
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    for bad, said in ((tmp_path / "notes.db", "不是数据库备份文件"), (other, "不是本系统的数据库备份")):
        with pytest.raises(backup.BackupError, match=said):
            backup.restore(url, bad)
    assert digest(tmp_path / "street.db") == before


def test_backup_and_restore_on_postgis(postgis_url, small_town, tmp_path):
    from geo.db import backup

    engine = built(postgis_url, small_town, migrate.REAL)
    counts = store.counts(engine)
    dump = backup.create(postgis_url, tmp_path / "street.dump")
    with engine.begin() as conn:
        conn.execute(text("UPDATE street SET name = '被误改'"))
    backup.restore(postgis_url, dump)
    with engine.connect() as conn:
        assert "被误改" not in set(conn.execute(select(schema.Street.name)).scalars())
    assert store.counts(engine) == counts and migrate.state(engine) == "current"


def test_the_revisions_bring_the_first_schema_to_exactly_the_tables_of_the_program(tmp_path):
    """A schema change without its revision fails here: the baseline's tables (as SQLite wrote them at
    revision 0001), upgraded through every revision, must equal geo/db/schema.py column for column."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = store.ensure_database(baseline_file(tmp_path / "baseline.db", stamped=True), build=never_build)
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.head()
        diff = compare_metadata(MigrationContext.configure(conn), schema.Base.metadata)
    assert diff == [], f"geo/db/schema.py differs from what the revisions make: {diff[:5]}"


def test_every_revision_goes_down_to_the_baseline_and_back_up(database_url):
    """Each backend, a database made by the program (names as create_all gives them) taken down to the
    baseline and up again: every downgrade and upgrade runs, and the result is the program's schema
    (on PostGIS too: a revision's geometry column, its GiST index, foreign keys added to tables others use)."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = store.make_engine(database_url)
    store.create_schema(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # batch mode copies tables that others point at
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            migrate.stamp(conn)
            command.downgrade(migrate.config(conn), migrate.BASELINE)
    engine.dispose()
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.BASELINE
        assert "retired_at" not in {c["name"] for c in inspect(conn).get_columns("grid")}
    migrate._run(store.make_engine(database_url), migrate.BASELINE, migrate.MIGRATIONS)
    with engine.connect() as conn:
        assert migrate.revision_of(conn) == migrate.head()
        diff = [d for d in compare_metadata(MigrationContext.configure(conn), schema.Base.metadata)
                if not (d[0] == "remove_index" and d[1].name.endswith("_geom_gist"))  # made beside the metadata
                and not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")]  # PostGIS's own
        gist = {i["name"] for i in inspect(conn).get_indexes("volunteer_activity")}
    assert diff == [], f"the revisions' schema differs from geo/db/schema.py: {diff[:5]}"
    if engine.dialect.name == "postgresql":
        assert "ix_volunteer_activity_geom_gist" in gist
