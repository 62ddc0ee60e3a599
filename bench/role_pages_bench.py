"""Benchmark: every page a grid head and a community's staff may open, on a big database, signed in as they
are: the page run's server time and the bytes it sends to the browser, beside the same page for the street
leader (a whole street) as the peer measured in the same run.

    python -m geo.demo --scale district --output postgresql+psycopg://…/shequ_district    # 20 streets
    python -m bench.role_pages_bench --url postgresql+psycopg://…/shequ_district

Targets (issue 15): under 2 s server time and at most 2 MB to the browser for every page of a grid head
or community staff at district scale. Each page is run through Streamlit's AppTest (the real page script,
in this process): "first" is its first open in the process (Streamlit's caches empty for this area), "warm"
the best of ``--runs`` opens after it; bytes are the serialised size of every message the run sends
(ForwardMsg.ByteSize, what the websocket carries; maps and charts included, as their deltas hold them).
The demo accounts live in the first street: ``gridhead1`` (its busiest grid), ``community1``, ``leader``.
Not run by pytest or CI.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USERS = ("gridhead1", "community1", "leader")


def _measure_bytes():
    """Patch AppTest's script runner so each run's sent bytes are recorded (the last run's in ``sent[-1]``)."""
    from streamlit.testing.v1 import local_script_runner as lsr

    sent: list[int] = []
    original = lsr.LocalScriptRunner.forward_msgs

    def forward_msgs(self):
        msgs = original(self)
        sent.append(sum(m.ByteSize() for m in msgs))
        return msgs

    lsr.LocalScriptRunner.forward_msgs = forward_msgs
    return sent


def app_pages() -> list[tuple[str, str, str]]:
    """app.PAGES, read from the source (app.py is a Streamlit script: importing it would run it)."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "PAGES":
            return ast.literal_eval(node.value)
    raise SystemExit("app.py has no PAGES list")


def open_page(at, page: str, sent: list[int]) -> tuple[float, int, bool]:
    t0 = time.perf_counter()
    at.switch_page(page).run()
    return time.perf_counter() - t0, sent[-1] if sent else 0, bool(at.exception)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="a database holding a big town (a district)")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ["DATABASE_URL"] = args.url
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # "missing ScriptRunContext" from cache threads
    from streamlit.testing.v1 import AppTest

    from geo import settings
    from geo.access import auth, roles
    from geo.db import store
    from geo.demo import accounts

    pages = [(key, path) for key, path, _ in app_pages() if (ROOT / path).exists()]
    sent = _measure_bytes()
    engine = store.make_engine(args.url)
    table: dict[tuple[str, str], tuple[float, float, int, bool]] = {}
    for username in USERS:
        user = auth.authenticate(engine, username, accounts.DEMO_PASSWORD, now=settings.now())
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.session_state["user"] = user
        at.session_state["clock_minute"] = None
        at.run()
        for key, path in pages:
            if not roles.may_see(user.role, key) or key == "screen":
                continue
            first, first_bytes, failed = open_page(at, path, sent)
            warm = min(open_page(at, path, sent)[0] for _ in range(args.runs))
            table[username, key] = (first, warm, first_bytes, failed)
            print(f"  {username:11} {key:14} first {first:6.2f} s  warm {warm:6.2f} s  "
                  f"{first_bytes / 1e6:6.2f} MB{'  EXCEPTION' if failed else ''}", flush=True)
    print(f"\n{'page':14} | {'grid head s':>11} {'MB':>5} | {'community s':>11} {'MB':>5} | "
          f"{'leader s':>11} {'MB':>5} | worst vs leader")
    for key, _ in pages:
        cells, worst = [], None
        for username in USERS:
            row = table.get((username, key))
            cells.append(f"{row[0]:>5.2f}/{row[1]:<5.2f} {row[2] / 1e6:>5.2f}" if row else f"{'—':>11} {'':>5}")
            if row and username != "leader":
                worst = max(worst or 0, row[0])
        lead = table.get(("leader", key))
        ratio = f"{worst / lead[0]:.2f}x" if lead and worst else ""
        if worst is not None or lead:
            print(f"{key:14} | {cells[0]} | {cells[1]} | {cells[2]} | {ratio}")
    print("\nseconds: first open / warm; MB sent by the first open")
    over = [(u, k) for (u, k), (first, _, b, failed) in table.items()
            if u != "leader" and (first > 2 or b > 2e6 or failed)]
    print("over target (2 s, 2 MB) or failed: " + (", ".join(f"{u} {k}" for u, k in over) or "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
