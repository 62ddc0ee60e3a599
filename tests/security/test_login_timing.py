"""Sign-in takes as long for a name that exists as for one that does not (issue 11, item 12).

A security property, measured as medians of interleaved attempts and compared as a ratio (robust
on a busy 2-core machine), not a speed test. On a demo database ``admin`` has a full-cost hash
(argon2id 64 MiB) and the demo users cheap ones; before the fix an unknown name was checked
against a dummy with the demo's cheap parameters, so ``admin`` took ~25× longer than a name that
does not exist, and a demo user as long as an unknown one: timing told which names exist.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime

from geo.access import auth, users

from login_attempts import attempt

NOW = datetime(2026, 11, 23, 9)
ROUNDS = 7  # per name: below every bucket's free budget, each round from a fresh address
TOLERANCE = 1.5  # slowest median / fastest median


def test_a_wrong_password_takes_as_long_for_admin_a_demo_user_and_a_name_that_does_not_exist(engine):
    auth.ensure_admin(engine, now=NOW, password="admin-password-1")
    names = {"admin (full-cost hash)": "admin", "gridhead1 (demo hash)": "gridhead1", "unknown name": "nobody-here"}
    times: dict[str, list[float]] = {label: [] for label in names}
    attempt(engine, "warm-up", "wrong-password", "192.0.2.250", now=NOW)  # dummies made, parameters read
    for r in range(ROUNDS):
        for j, (label, name) in enumerate(names.items()):
            start = time.perf_counter()
            result = attempt(engine, name, "wrong-password", f"192.0.2.{r * 3 + j + 1}", now=NOW)
            times[label].append(time.perf_counter() - start)
            assert type(result) is users.LoginError, (label, result)  # checked, not refused
    medians = {label: statistics.median(v) for label, v in times.items()}
    ratio = max(medians.values()) / min(medians.values())
    assert ratio <= TOLERANCE, {label: f"{m * 1000:.0f} ms" for label, m in medians.items()}
