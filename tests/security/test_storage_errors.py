"""A database that says no (issue 11, item 14): a data folder the server may not write, a
write lock held by someone else, a first start that crashes. Each is told in Chinese, no
traceback reaches the page, and a failed first start leaves no temporary build files.

Every test here failed on the code before (git archive 3f65961): no StorageError, no
storage_problem, the build files stayed, and the pages showed tracebacks.
"""
from __future__ import annotations

import functools
import os
import sqlite3
import subprocess
from datetime import datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.demo import accounts, generator
from geo.db import schema, store

NOW = datetime(2026, 11, 23, 9)
APP = settings.ROOT / "app.py"
#: A folder nobody may create files in, root included (the test machine runs as root).
READ_ONLY = "/proc/shequ-no-such-folder/data"


def small(monkeypatch) -> None:
    """First starts in these tests build a one-community town (seconds, not the whole street)."""
    monkeypatch.setattr(generator, "generate", functools.partial(generator.generate, communities=1, tickets_per_street=20,
                                                             now=NOW))


def crash_mid_load(monkeypatch) -> None:
    """The build dies after writing part of the town (a full disk, a power cut, a bug)."""
    def load_town(engine, town, progress=None, **_):
        store.create_schema(engine)
        with engine.begin() as conn:
            conn.execute(insert(schema.Street), town["street"])
        raise RuntimeError("power cut while loading")

    monkeypatch.setattr(store, "load_town", load_town)


def build_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building-" in p.name)


def test_a_first_start_that_fails_leaves_no_build_files_and_the_next_one_builds(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/first.db"
    small(monkeypatch)
    with monkeypatch.context() as m:
        crash_mid_load(m)
        with pytest.raises(RuntimeError, match="power cut"):
            generator.ensure_database(url)
    assert build_files(tmp_path) == []  # neither the half-built file nor its -wal/-shm
    assert not store.is_built(store.make_engine(url))
    engine = generator.ensure_database(url)  # the next start builds from scratch
    assert store.is_built(engine) and store.counts(engine)["ticket"] >= 20  # 20 simulated + party members' offers
    assert store.counts(engine)["ticket"] == len(generator.generate()["ticket"])  # small(): the same town, whole
    assert build_files(tmp_path) == []


def test_build_files_of_a_killed_first_start_are_removed_by_the_next(tmp_path, monkeypatch):
    small(monkeypatch)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs: its build was killed (kill -9, power cut)
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"first.db.building-{gone.pid}{suffix}").write_bytes(b"half a town")
    running = tmp_path / f"first.db.building-{os.getppid()}"  # another server building right now: not touched
    running.write_bytes(b"being built")
    generator.ensure_database(f"sqlite:///{tmp_path}/first.db")
    assert build_files(tmp_path) == [running.name]


def test_a_data_folder_the_server_may_not_write_is_said_in_words():
    with pytest.raises(store.StorageError) as err:
        generator.ensure_database(f"sqlite:///{READ_ONLY}/shequ.db")
    assert err.value.key == "folder"
    said = err.value.message("zh")
    assert READ_ONLY in said and "不存在或不可写" in said and "DATABASE_URL" in said


def test_an_existing_folder_this_process_may_not_write_is_said_in_words(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere; ask the kernel's answer for a service account instead
        monkeypatch.setattr(store.os, "access", lambda path, mode: not (mode & os.W_OK) or str(path) != str(folder))
    try:
        with pytest.raises(store.StorageError) as err:
            generator.ensure_database(f"sqlite:///{folder}/shequ.db")
        assert err.value.key == "folder" and str(folder) in err.value.message("en")
        assert not (folder / "shequ.db").exists()
    finally:
        folder.chmod(0o755)


def locked(path) -> sqlite3.Connection:
    """Another program holding the write lock of the SQLite file (until closed)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_write_lock_held_elsewhere_is_a_storage_problem_with_words(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "SQLITE_BUSY_SECONDS", 0.2)
    engine = store.make_engine(f"sqlite:///{tmp_path}/busy.db")
    store.create_schema(engine)
    holder = locked(tmp_path / "busy.db")
    try:
        with pytest.raises(OperationalError) as err, engine.begin() as conn:
            conn.execute(insert(schema.Meta), [{"key": "k", "value": "v"}])
    finally:
        holder.close()
    problem = store.storage_problem(err.value)
    assert problem is not None and problem.key == "locked"
    assert "数据库正被其他操作占用" in problem.message("zh") and "请稍候几秒再试" in problem.message("zh")
    assert store.storage_problem(ValueError("a bug")) is None  # bugs are not dressed up as storage problems
    engine.dispose()


# --------------------------------------------------------------------------- what the page shows

def test_the_app_on_a_read_only_data_folder_says_so_without_a_traceback(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{READ_ONLY}/shequ.db")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any("数据目录" in e.value and READ_ONLY in e.value for e in at.error), [e.value for e in at.error]


def test_a_crashed_first_start_says_so_and_leaves_no_build_files(tmp_path, monkeypatch):
    small(monkeypatch)
    crash_mid_load(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any("首次启动生成示范数据失败" in e.value for e in at.error), [e.value for e in at.error]
    assert build_files(tmp_path) == []
    assert "power cut" not in "\n".join(e.value for e in at.error)  # the cause goes to the log, not the page


def test_signing_in_while_another_program_holds_the_write_lock_says_so(tmp_path, monkeypatch):
    small(monkeypatch)
    url = f"sqlite:///{tmp_path}/town.db"
    generator.ensure_database(url)
    monkeypatch.setattr(settings, "SQLITE_BUSY_SECONDS", 0.3, raising=False)  # (the old code waited 30 s)
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    holder = locked(tmp_path / "town.db")
    try:
        at.text_input(key="login_username").input("leader")
        at.text_input(key="login_password").input(accounts.DEMO_PASSWORD)
        at.button[0].click().run()
    finally:
        holder.close()
    assert not at.exception, at.exception
    assert any("数据库正被其他操作占用" in e.value for e in at.error), [e.value for e in at.error]
