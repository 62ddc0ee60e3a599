"""Sign-in attempts for the burst tests in this folder, from a given address, in parallel.

The code before issue 11 took no address (``authenticate(engine, name, pw, *, now)``); the helper
leaves it out there, so the same tests run against that code show what it did (the commit messages
quote those runs).
"""
from __future__ import annotations

import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from geo.access import auth, users


def attempt(engine, name: str, password: str, address: str, *, now: datetime):
    """The user, or the LoginError the attempt raised (any other exception escapes: a test failure)."""
    kwargs = {"address": address} if "address" in inspect.signature(auth.authenticate).parameters else {}
    try:
        return auth.authenticate(engine, name, password, now=now, **kwargs)
    except users.LoginError as exc:
        return exc


def burst(calls: list, *, before=None) -> list:
    """Run every ``call`` (no arguments) at once on its own thread, released together; their results in order.

    ``before(i)`` runs on thread ``i`` after the release and before its call (to hold one back).
    """
    gate = threading.Barrier(len(calls))

    def run(i: int):
        gate.wait()
        if before is not None:
            before(i)
        return calls[i]()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, range(len(calls))))


class CountingChecks:
    """Stands in for auth.verify_password: counts the checks of one stored hash, and the most running at once."""

    def __init__(self, real, stored: str | None = None, *, delay_s: float = 0.0) -> None:
        self.real, self.stored, self.delay_s = real, stored, delay_s
        self.lock = threading.Lock()
        self.of_stored: list[str] = []
        self.calls = self.running = self.peak = 0
        self.started = threading.Event()

    def __call__(self, stored_hash: str, password: str) -> bool:
        import time

        with self.lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            if stored_hash == self.stored:
                self.of_stored.append(password)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return self.real(stored_hash, password)
        finally:
            with self.lock:
                self.running -= 1

    def wait_for(self, n: int, timeout_s: float = 20.0) -> None:
        """Block until ``n`` checks of the stored hash have begun (or the timeout passes)."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.of_stored) >= n:
                    return
            time.sleep(0.005)
