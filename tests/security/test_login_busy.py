"""Thirty-two sign-ins at once: never more password checks running than the slots (issue 11, item 4).

A full-cost check holds 64 MiB; before the fix 32 parallel wrong sign-ins ran 32 checks at once
(one process reached 2.2 GB). Each check here is slowed to 0.2 s (a full-cost check on a loaded
2-core machine) so the burst piles up; the counter records how many ran at once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from geo import settings
from geo.access import auth, users
from geo.db.schema import LoginThrottle

from login_attempts import CountingChecks, attempt, burst

NOW = datetime(2026, 11, 23, 9)
BURST = 32


def test_parallel_sign_ins_never_run_more_checks_than_the_slots_and_the_rest_are_told_busy(engine, monkeypatch):
    slots = getattr(auth, "HASH_SLOTS", 2)
    counting = CountingChecks(auth.verify_password, delay_s=0.2)
    monkeypatch.setattr(auth, "verify_password", counting)
    monkeypatch.setattr(settings, "HASH_WAIT_S", 0.3, raising=False)  # a short wait, so the test is quick
    names = [f"visitor{i:02d}" for i in range(BURST)]  # unknown names, each from its own address
    results = burst([lambda n=n, i=i: attempt(engine, n, "wrong-password", f"192.0.2.{i + 1}", now=NOW)
                     for i, n in enumerate(names)])
    assert counting.peak <= slots, f"{counting.peak} checks at once, {slots} slots"
    busy = [names[i] for i, r in enumerate(results) if isinstance(r, users.BusyError)]
    assert busy, "the burst outran the slots: some must be told to come back"
    assert {str(r) for r in results if type(r).__name__ == "BusyError"} == {users.BUSY}
    assert users.BUSY.startswith("系统繁忙，请稍后再试")
    checked = [r for r in results if type(r) is users.LoginError]
    assert len(checked) + len(busy) == BURST and counting.calls == len(checked)  # one check each, busy none
    # a visitor told "busy" was not checked, so nothing was counted against their name
    with engine.connect() as conn:
        counted = dict(conn.execute(select(LoginThrottle.username, LoginThrottle.failures)
                                    .where(LoginThrottle.kind == "pair")).fetchall())
    assert {counted[n] for n in busy} == {0}
    assert {counted[n] for n in names if n not in busy} == {1}
