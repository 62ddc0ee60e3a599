"""The wall's and the clock's ticket queries can be answered through indexes on PostGIS (issue 15: EXPLAIN
showed the whole ticket table read for one street's wall, with no index on ``ticket.street_id`` /
``closed_at``). The town is small, so the planner is asked to avoid sequential scans: a query that has
no usable index still reads the table from end to end, and the test fails."""
from __future__ import annotations

from datetime import datetime

import pytest
from statements import statements

from geo.access import roles
from geo.db import store
from geo.screen import figures

pytestmark = pytest.mark.postgis
NOW = datetime(2026, 11, 23, 9)


def plan_of(engine, call) -> str:
    """PostgreSQL's plan for the ticket SELECT ``call`` runs, with sequential scans discouraged."""
    seen = statements(engine, call, r"FROM ticket\b")
    assert seen, "no ticket query ran"
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("ANALYZE ticket")
        statement, parameters = seen[0]
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


@pytest.fixture
def town(postgis_url, small_town):
    eng = store.make_engine(postgis_url)
    store.load_town(eng, small_town)
    yield eng
    eng.dispose()


def test_a_streets_wall_reads_its_tickets_through_indexes(town):
    street = roles.Scope("street", street_id=1)
    plan = plan_of(town, lambda: figures.load_tickets(town, NOW, street))
    assert "Seq Scan on ticket" not in plan, plan
    assert "ix_ticket_street_id" in plan or "ix_ticket_closed_at" in plan, plan


def test_the_clock_finds_what_fell_due_through_an_index(town):
    """The clock's query (escalating states whose step ran out) goes through the ``state`` index."""
    from geo.tickets import service

    plan = plan_of(town, lambda: service.escalate_due(town, NOW))
    assert "Seq Scan on ticket" not in plan, plan


def test_how_fresh_the_wall_is_stops_at_the_newest_event(town):
    """``data_as_of`` walks the events' time index newest first and stops at the first in the area; max()
    over the join read every event of a city (0.8 s of a 1.8 s city-wide refresh)."""
    seen = statements(town, lambda: figures.data_as_of(town, NOW, roles.WHOLE_STREET), r"FROM ticket_event\b")
    assert seen, "no event query ran"
    with town.connect() as conn:
        statement, parameters = seen[0]
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
    assert plan[0].startswith("Limit"), "\n".join(plan)
    assert any("Index Scan Backward using ix_ticket_event_at" in line for line in plan), "\n".join(plan)
