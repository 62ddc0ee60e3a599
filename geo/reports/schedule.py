"""Street staff's standing order: write last month's report on the first day of each month.

The setting is a row of the ``meta`` key/value table (no schema change): key
``report_schedule:<street>``, value JSON ``{"on": …, "communities": …, "by": …, "at": …}``;
``communities`` adds one report per community of the street. ``run_due`` is called by the app's
per-minute run (app.py) and from the command line; it writes last month's files under
data/reports/<street>/ the first time it runs on or after the 1st (a day the app was not opened
is caught up), and never twice: before writing it claims ``report_done:<street>:<YYYY-MM>`` in the
same table, so two sessions in the same minute write once, and a failed write gives the claim back.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from geo import settings
from geo.access import audit
from geo.access.roles import Scope
from geo.db import store
from geo.db.schema import Community, Meta
from geo.errors import ValidationError
from geo.reports import monthly, report_pdf

log = logging.getLogger(__name__)
OUT_DIR = settings.DATA_DIR / "reports"
PREFIX, DONE = "report_schedule:", "report_done:"


def _street(street_id: int | None) -> str:
    return "all" if street_id is None else str(street_id)


def get(engine: Engine, street_id: int | None) -> dict:
    """The street's schedule (off when never set)."""
    with engine.connect() as conn:
        value = conn.execute(select(Meta.value).where(Meta.key == PREFIX + _street(street_id))).scalar()
    return {"on": False, "communities": False, **(json.loads(value) if value else {})}


def set_schedule(engine: Engine, user, *, on: bool, communities: bool, now: datetime) -> dict:
    """Turn the monthly writing on or off for the user's street (street staff and leaders only), audited."""
    scope = user.scope
    if scope.level != "street":
        raise ValidationError("只有街道工作人员可以设置月度报告的定时生成。")
    key = PREFIX + _street(scope.street_id)
    value = {"on": bool(on), "communities": bool(communities), "by": user.username, "at": now.isoformat()}
    with engine.begin() as conn:
        if conn.execute(select(Meta.key).where(Meta.key == key)).first():
            conn.execute(update(Meta).where(Meta.key == key).values(value=json.dumps(value)))
        else:
            conn.execute(insert(Meta), [{"key": key, "value": json.dumps(value)}])
        audit.record(conn, at=now, username=user.username, role=user.role, action="report_schedule",
                     detail=f"月度报告定时生成：{'开启' if on else '关闭'}{'（含各社区）' if on and communities else ''}")
    return value


def _claim(engine: Engine, key: str, now: datetime) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(insert(Meta), [{"key": key, "value": now.isoformat()}])
        return True
    except IntegrityError:  # written already, or another session is writing it now
        return False


def write(engine: Engine, scope: Scope, month, now: datetime, folder: Path) -> list[Path]:
    """The month's Excel and PDF for ``scope`` in ``folder``; the two files, or none when it fails."""
    report = monthly.build(engine, scope, month, now)
    folder.mkdir(parents=True, exist_ok=True)
    files = [(folder / f"{report.file_stem}.xlsx", monthly.excel_bytes(report)),
             (folder / f"{report.file_stem}.pdf", report_pdf.pdf_bytes(report).data)]
    for path, data in files:  # whole files only: written aside, then renamed
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return [p for p, _ in files]


def run_due(engine: Engine, now: datetime, *, out_dir: Path | None = None) -> list[Path]:
    """Write last month's reports of every street whose schedule is on and that has none yet; the files written."""
    with engine.connect() as conn:
        orders = conn.execute(select(Meta.key, Meta.value).where(Meta.key.like(PREFIX + "%"))).fetchall()
    month = monthly.shift(now.date().replace(day=1), -1)
    written: list[Path] = []
    for key, value in orders:
        order = json.loads(value)
        street = key.removeprefix(PREFIX)
        done = f"{DONE}{street}:{month:%Y-%m}"
        if not order.get("on") or not _claim(engine, done, now):
            continue
        street_id = None if street == "all" else int(street)
        scopes = [Scope("street", street_id=street_id)]
        if order.get("communities"):
            ids = store.read_frame(engine, select(Community.id).where(
                Community.street_id == street_id) if street_id is not None else select(Community.id))["id"]
            scopes += [Scope("community", street_id=street_id, community_id=int(i)) for i in ids]
        folder = (out_dir or OUT_DIR) / street
        try:
            for scope in scopes:
                written += write(engine, scope, month, now, folder)
        except Exception:
            with engine.begin() as conn:  # give the claim back: the next minute's run tries again
                conn.execute(delete(Meta).where(Meta.key == done))
            raise
        log.info("monthly report %s of street %s written: %d files", f"{month:%Y-%m}", street, len(written))
    return written


def files(street_id: int | None, *, out_dir: Path | None = None) -> list[Path]:
    """The report files already written for the street, newest month first (the page lists them)."""
    folder = (out_dir or OUT_DIR) / _street(street_id)
    return sorted(folder.glob("月度报告_*.*"), reverse=True) if folder.exists() else []
