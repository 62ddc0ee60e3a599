"""The wall's ticket feed (issue 15, item 4): a refresh rereads only the tickets changed since the last
one, and still gives exactly what a full read gives — new reports, moves, escalations by the clock,
tickets leaving the window — on both backends."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from geo.access import roles
from geo.screen import figures
from geo.tickets import service as ts, workflow
from geo.tickets.rules import Actor

NOW = datetime(2026, 11, 23, 9)  # the small town's tickets end here
GRID = Actor("网格员王芳", workflow.GRID)
STREET = roles.Scope("street", street_id=1)


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = lambda f: f.sort_values("id").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(a), key(b), check_dtype=False)


def test_a_refresh_rereads_only_what_changed_and_equals_a_full_read(engine, small_town, monkeypatch):
    feed = figures.TicketFeed(STREET)
    same(feed.read(engine, NOW), figures.load_tickets(engine, NOW, STREET))
    # a new report, a move on an old open ticket, and the clock's escalations of what fell due since
    p = small_town["grid"][1]["geom"].representative_point()
    new = ts.report(engine, category="water", description="整栋楼停水", lon=p.x, lat=p.y, now=NOW + timedelta(minutes=1))
    ts.act(engine, new["id"], "accept", GRID, expected_version=1, now=NOW + timedelta(minutes=2),
           scope=roles.WHOLE_STREET)
    moved = ts.escalate_due(engine, NOW + timedelta(days=2))
    later = NOW + timedelta(minutes=5)
    full_reads = []
    real = figures.load_tickets
    monkeypatch.setattr(figures, "load_tickets", lambda *a, **k: full_reads.append(1) or real(*a, **k))
    fed = feed.read(engine, later)
    assert full_reads == [] and feed.catch_ups == 1  # no two-month reread: only the changed tickets
    monkeypatch.setattr(figures, "load_tickets", real)
    same(fed, figures.load_tickets(engine, later, STREET))
    assert new["id"] in set(fed["id"]) and moved, "the test must change something"
    row = fed.set_index("id").loc[new["id"]]
    assert row["state"] == "community_dispatched" and pd.notna(row["accepted_at"])  # accepted, then the clock


def test_tickets_leave_the_window_and_a_full_read_comes_back_on_its_clock(engine):
    feed = figures.TicketFeed(STREET, days=30, full_every=timedelta(hours=1))
    feed.read(engine, NOW)
    later = NOW + timedelta(minutes=50)  # old closed tickets drop out as the window moves, with no read
    same(feed.read(engine, later), figures.load_tickets(engine, later, STREET, days=30))
    assert feed.full_reads == 1
    feed.read(engine, NOW + timedelta(hours=1, minutes=1))
    assert feed.full_reads == 2
    feed.read(engine, NOW)  # the clock went back (a test, a corrected server clock): read afresh
    assert feed.full_reads == 3


def test_a_grids_feed_holds_only_its_grid(engine, small_town):
    g = small_town["grid"][2]
    scope = roles.Scope("grid", street_id=1, community_id=g["community_id"], grid_id=g["id"])
    feed = figures.TicketFeed(scope)
    feed.read(engine, NOW)
    p = small_town["grid"][1]["geom"].representative_point()  # another grid's report stays out
    ts.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=NOW + timedelta(minutes=1))
    fed = feed.read(engine, NOW + timedelta(minutes=2))
    assert set(fed["grid_id"]) == {g["id"]}
    same(fed, figures.load_tickets(engine, NOW + timedelta(minutes=2), scope))


def test_a_change_that_commits_after_a_newer_one_is_still_taken_in(engine, small_town):
    """On PostgreSQL an audit id is handed out before its transaction commits: the change with id 9
    can become visible after the feed has read id 10. The feed looks back over the newest rows and
    takes in any it has not seen (here: a gap left in the ids, filled after the read)."""
    from sqlalchemy import delete, insert, select, update

    from geo.db.schema import AuditLog, Ticket

    p = small_town["grid"][1]["geom"].representative_point()
    first = ts.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=NOW)
    ts.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=NOW)  # the newer change
    with engine.begin() as conn:  # the first report's audit row "not committed yet" when the feed reads
        row = conn.execute(select(AuditLog.__table__).where(AuditLog.object_id == first["id"])).mappings().one()
        conn.execute(delete(AuditLog).where(AuditLog.id == row["id"]))
    feed = figures.TicketFeed(STREET)
    feed.read(engine, NOW + timedelta(minutes=1))
    with engine.begin() as conn:  # ... and now it commits, with its older id, changing the ticket
        conn.execute(update(Ticket).where(Ticket.id == first["id"]).values(state="grid_accepted", version=2))
        conn.execute(insert(AuditLog), [dict(row)])
    fed = feed.read(engine, NOW + timedelta(minutes=2))
    assert feed.full_reads == 1
    assert fed.set_index("id").loc[first["id"], "state"] == "grid_accepted"


def test_a_wall_sees_a_new_ticket_in_its_area_at_the_next_look_and_not_one_elsewhere(engine, small_town):
    """figures.ChangeWatch (a new ticket on the wall within 5 s): the first look only marks where the
    audit stands; a report in the area is seen at the next look, one in another grid is not, and looks
    closer together than ``every`` ask the database nothing."""
    g = small_town["grid"][2]
    scope = roles.Scope("grid", street_id=1, community_id=g["community_id"], grid_id=g["id"])
    watch = figures.ChangeWatch(scope)
    assert watch.look(engine, NOW) == datetime.min and watch.looks == 1
    elsewhere = small_town["grid"][1]["geom"].representative_point()
    ts.report(engine, category="water", description="停水", lon=elsewhere.x, lat=elsewhere.y,
              now=NOW + timedelta(seconds=1))
    assert watch.look(engine, NOW + timedelta(seconds=2)) == datetime.min  # another grid's ticket: no redraw
    here = g["geom"].representative_point()
    ts.report(engine, category="water", description="停水", lon=here.x, lat=here.y, now=NOW + timedelta(seconds=2))
    assert watch.look(engine, NOW + timedelta(seconds=2, milliseconds=500)) == datetime.min  # within `every`
    assert watch.looks == 2
    seen_at = NOW + timedelta(seconds=4)
    assert watch.look(engine, seen_at) == seen_at  # the report in the grid: seen, and when
    assert watch.look(engine, NOW + timedelta(seconds=6)) == seen_at  # nothing newer since
    street = figures.ChangeWatch(STREET)
    street.look(engine, NOW)
    ts.report(engine, category="water", description="停水", lon=elsewhere.x, lat=elsewhere.y,
              now=NOW + timedelta(seconds=7))
    assert street.look(engine, NOW + timedelta(seconds=8)) == NOW + timedelta(seconds=8)  # the street holds both
