"""The minute's housekeeping, done once a minute for the whole deployment (not once per session or server).

What falls due with time and with nobody acting: ticket escalations (geo.tickets.service.escalate_due),
the early warnings' detection (geo.tickets.warnings.refresh_if_due, every ten minutes) and the monthly
reports streets asked for (geo.reports.schedule.run_due). app.py calls ``run_minute`` on a page load;
the first caller of each minute, in any session of any app server on the database, claims it
(geo.db.clock) and does the work; everyone else returns at once after one indexed read. Each step stays
idempotent on its own (optimistic ticket versions, claimed report months), so a claim lost to a crash is
made good by the next minute's run.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from geo.db import clock
from geo.tickets import service, warnings

log = logging.getLogger(__name__)


def run_minute(engine: Engine, now: datetime) -> list[int] | None:
    """This minute's housekeeping if no one has done it yet: the ids of the tickets escalated now
    (the caller's desk toasts them), or None when another session or server has this minute.

    A database that is busy or out of reach while claiming or escalating is raised for the caller to
    handle quietly (the next minute's run catches up); a report that fails is logged and tried again.
    """
    if not clock.claim(engine, "minute", now):
        return None
    from geo.reports import schedule  # local: reportlab loads at the first minute's run, not at the app's start

    moved = service.escalate_due(engine, now)
    warnings.refresh_if_due(engine, now)  # 智能预警: at most every 10 minutes, itself claimed
    try:
        schedule.run_due(engine, now)
    except Exception:  # noqa: BLE001 - housekeeping must not break the page being opened
        log.exception("scheduled monthly report not written; retried next minute")
    return moved
