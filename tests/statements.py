"""The SQL a call sends, for tests that read the database's own query plan (EXPLAIN)."""
from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import event


def statements(engine, call: Callable[[], object], pattern: str = r"^\s*SELECT") -> list[tuple[str, object]]:
    """(statement, parameters) of every statement ``call`` runs on ``engine`` matching ``pattern``."""
    seen: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if re.search(pattern, statement, re.IGNORECASE):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen
