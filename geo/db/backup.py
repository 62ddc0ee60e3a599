"""Back up a street's database and restore it: ``python -m geo.db.backup create|restore``.

- SQLite: ``create`` writes a consistent copy while the dashboard keeps running
  (SQLite's online backup) to ``data/backups/shequ-<time>.db`` or ``--output``.
  ``restore FILE`` first checks that FILE is a database of this product that
  this program can read (not newer than it), backs up the current file beside
  it, then copies FILE into place (online, so a running server sees the
  restored data at its next read). A restored database older than the program
  is upgraded at the next start, like any other (geo.db.migrate).
- PostGIS: ``pg_dump --format=custom`` and ``pg_restore --clean``; when the URL
  names a schema (``options=-csearch_path=…``) only that schema is dumped.
  Without the tools the command prints what to run by hand.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import make_url

from geo import settings
from geo.db import connect, migrate


class BackupError(RuntimeError):
    """A backup or restore that did not happen; the message says why and what to do."""


def _stamp(now: dt.datetime | None) -> str:
    return (now or settings.now()).strftime("%Y%m%d-%H%M%S")


def create(url: str, output: Path | None = None, *, now: dt.datetime | None = None) -> Path:
    """A backup of the database at ``url``; returns where it was written."""
    path = connect.sqlite_path(url)
    if path is None:
        output = output or settings.DATA_DIR / "backups" / f"{make_url(url).database}-{_stamp(now)}.dump"
        output.parent.mkdir(parents=True, exist_ok=True)
        _pg_tool("pg_dump", ["--format=custom", f"--file={output}", *_schema_args(url), _dsn(url)])
        return output
    if not path.exists():
        raise BackupError(f"没有数据库文件 {path} / no database file {path}")
    output = output or settings.DATA_DIR / "backups" / f"{path.stem}-{_stamp(now)}.db"
    output.parent.mkdir(parents=True, exist_ok=True)
    migrate.copy_sqlite(path, output)
    return output


def restore(url: str, source: Path, *, now: dt.datetime | None = None) -> Path | None:
    """Put the backup ``source`` in place of the database at ``url``; returns the backup of what was there."""
    path = connect.sqlite_path(url)
    if path is None:
        _pg_tool("pg_restore", ["--clean", "--if-exists", "--no-owner", *_schema_args(url), f"--dbname={_dsn(url)}",
                                str(source)])
        return None
    _check_readable(source)
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.before-restore-{_stamp(now)}.bak")
        migrate.copy_sqlite(path, kept)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return kept


def _check_readable(source: Path) -> None:
    """``source`` is a SQLite database of this product, at a revision this program knows."""
    if not source.is_file() or source.read_bytes()[:16] != b"SQLite format 3\x00":
        raise BackupError(f"{source.name} 不是数据库备份文件 / {source.name} is not a database backup")
    engine = connect.make_engine(f"sqlite:///{source}")
    try:
        now_state = migrate.state(engine)
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many kinds
        raise BackupError(f"{source.name} 无法读取（可能已损坏） / {source.name} cannot be read") from exc
    finally:
        engine.dispose()
    if now_state in ("empty", "unknown"):
        raise BackupError(f"{source.name} 不是本系统的数据库备份 / {source.name} is not a backup of this product")
    if now_state == "ahead":
        raise BackupError(f"{source.name} 由更新版本的程序写入，请先升级程序 / {source.name} comes from a newer program")


def _dsn(url: str) -> str:
    """A libpq URL (no SQLAlchemy driver name, no search_path option: the tools take it apart)."""
    u = make_url(url).set(drivername="postgresql")
    return u.set(query={k: v for k, v in u.query.items() if k not in ("options", "application_name")}
                 ).render_as_string(hide_password=False)


def _schema_args(url: str) -> list[str]:
    """``--schema=NAME`` when the URL's options put a schema first on the search_path."""
    options = unquote(str(make_url(url).query.get("options", "")))
    if "search_path=" not in options:
        return []
    first = options.split("search_path=", 1)[1].split(",")[0].split()[0]
    return [f"--schema={first}"] if first and first != "public" else []


def _pg_tool(name: str, args: list[str]) -> None:
    tool = shutil.which(name)
    shown = " ".join([name, *(a if not a.startswith("postgresql") and not a.startswith("--dbname=") else "<URL>"
                             for a in args)])
    if tool is None:
        raise BackupError(f"本机没有 {name}；请在数据库服务器上运行：{shown} / {name} is not installed; run: {shown}")
    done = subprocess.run([tool, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{name} 失败：{done.stderr.strip()[:300]} / {name} failed")


def main(argv: list[str] | None = None) -> int:
    """``python -m geo.db.backup create [--output F]`` / ``restore F --yes``."""
    parser = argparse.ArgumentParser(prog="python -m geo.db.backup", description=main.__doc__)
    parser.add_argument("action", choices=["create", "restore"])
    parser.add_argument("file", nargs="?", type=Path, help="restore: the backup to put in place")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or data/shequ.db)")
    parser.add_argument("--output", type=Path, help="create: where to write the backup")
    parser.add_argument("--yes", action="store_true", help="restore: replace the current data")
    args = parser.parse_args(argv)
    url = args.url or settings.database_url()
    try:
        if args.action == "create":
            print(f"备份已写入 / backup written: {create(url, args.output)}")
            return 0
        if args.file is None or not args.yes:
            parser.error("restore needs the backup file and --yes (the current data is replaced)")
        kept = restore(url, args.file)
        print(f"已恢复 {args.file}" + (f"；恢复前的数据备份在 {kept}" if kept else "") + " / restored")
        return 0
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
