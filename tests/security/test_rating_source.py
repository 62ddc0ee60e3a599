"""A grid head cannot rate a ticket *as the resident*: every rating records who gave it.

Before the fix a grid head (or community staff) pressed 群众评单 with some stars and the rating
was stored and counted in 满意率 exactly like the resident's own: nothing said who gave it or how.
Now the resident's own rating is recorded as such, and staff rate only on the resident's behalf
(代居民评价) after naming the follow-up — 电话回访 / 上门回访 / 现场 / 12345回访 — stored on the
ticket and its event; the indicators count residents' own ratings apart.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from geo import settings
from geo.access import auth
from geo.demo import accounts
from geo.tickets import indicators, service as ts, rules, workflow
from geo.db import store
from geo.errors import IllegalTransitionError
from geo.access.roles import WHOLE_STREET
from geo.db.schema import Grid, Ticket, TicketEvent
from geo.tickets.rules import Actor

MONDAY = datetime(2026, 11, 23, 9)
HEAD = Actor("网格长王芳", workflow.GRID, username="gridhead1")
RESIDENT = Actor("张三", workflow.RESIDENT)


def resolved(**kw) -> dict:
    t, _ = rules.new_ticket(category="sanitation", description="楼下垃圾", created=MONDAY, grid_id=1,
                              community_id=1, street_id=1, **kw)
    for action in ("accept", "handle_in_grid", "resolve"):
        rules.apply(t, action, HEAD, MONDAY + timedelta(hours=1))
    return t


# --------------------------------------------------------------------------- the rule

def test_staff_cannot_rate_as_the_resident_without_naming_the_follow_up():
    t = resolved()
    before = dict(t)
    with pytest.raises(IllegalTransitionError, match="代居民评价须选择回访方式"):
        rules.apply(t, "rate", HEAD, MONDAY + timedelta(hours=5), rating=5)
    with pytest.raises(IllegalTransitionError, match="代居民评价须选择回访方式"):  # nor claim to be the resident
        rules.apply(t, "rate", HEAD, MONDAY + timedelta(hours=5), rating=5, rating_channel=rules.SELF_RATING)
    assert t == before  # refused: nothing changed
    event = rules.apply(t, "rate", HEAD, MONDAY + timedelta(hours=5), rating=4, rating_channel="phone",
                          note="已修好")
    assert event["rating_channel"] == "phone" and event["note"] == "4星 满意（代居民评价·电话回访）：已修好"
    assert (t["rating_channel"], t["ratings_given"], t["ratings_self"], t["ratings_self_satisfied"]) == \
        ("phone", 1, 0, 0)


def test_the_residents_own_rating_is_recorded_as_theirs():
    t = resolved()
    event = rules.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=5), rating=2, note="没修好")
    assert event["action"] == "reopen" and event["rating_channel"] == rules.SELF_RATING
    assert event["note"] == "2星 不满意：没修好"
    assert (t["rating_channel"], t["ratings_given"], t["ratings_self"], t["ratings_self_satisfied"]) == \
        (rules.SELF_RATING, 1, 1, 0)
    with pytest.raises(IllegalTransitionError):  # a resident has no follow-up channel to name
        rules.apply(resolved(), "rate", RESIDENT, MONDAY, rating=5, rating_channel="hotline")
    assert rules.rating_channel_label("visit") == "代居民评价·上门回访"
    assert rules.rating_channel_label(rules.SELF_RATING) == "居民本人评价"


def test_indicators_count_residents_own_ratings_apart():
    frame = pd.DataFrame([  # three ratings: the resident's own 5 and 1 stars, one by phone on their behalf, 4 stars
        dict(id=1, category="sanitation", state="closed", grid_id=1, community_id=1, street_id=1,
             created_at=MONDAY, accepted_at=MONDAY, first_response_at=MONDAY, resolved_at=MONDAY,
             first_resolved_at=MONDAY, closed_at=MONDAY, due_at=MONDAY, rating=5, ratings_given=2,
             ratings_satisfied=1, ratings_self=2, ratings_self_satisfied=1, reopen_count=1),
        dict(id=2, category="sanitation", state="closed", grid_id=1, community_id=1, street_id=1,
             created_at=MONDAY, accepted_at=MONDAY, first_response_at=MONDAY, resolved_at=MONDAY,
             first_resolved_at=MONDAY, closed_at=MONDAY, due_at=MONDAY, rating=4, ratings_given=1,
             ratings_satisfied=1, ratings_self=0, ratings_self_satisfied=0, reopen_count=0)])
    v = indicators.compute(frame, MONDAY + timedelta(days=1))
    assert (v["rated"], v["rated_self"], v["rated_proxy"]) == (3, 2, 1)
    assert v["satisfaction_rate"] == pytest.approx(2 / 3)
    assert v["self_rated_share"] == pytest.approx(2 / 3) and v["satisfaction_self_rate"] == pytest.approx(1 / 2)
    assert indicators.shown("self_rated_share", v["self_rated_share"]) == "66.7%"


# --------------------------------------------------------------------------- stored, on both backends

def test_the_source_is_stored_on_the_ticket_and_its_event(engine):
    spot = store.read_layer(engine, Grid).geometry.iloc[0].representative_point()
    t = ts.report(engine, category="sanitation", description="楼下垃圾", lon=spot.x, lat=spot.y, now=MONDAY)
    for i, action in enumerate(("accept", "handle_in_grid", "resolve")):
        t = ts.act(engine, t["id"], action, HEAD, expected_version=t["version"], now=MONDAY + timedelta(hours=i),
                   scope=WHOLE_STREET)
    with pytest.raises(IllegalTransitionError):
        ts.act(engine, t["id"], "rate", HEAD, expected_version=t["version"], now=MONDAY + timedelta(hours=4),
               scope=WHOLE_STREET, rating=5)
    t = ts.act(engine, t["id"], "rate", HEAD, expected_version=t["version"], now=MONDAY + timedelta(hours=4),
               scope=WHOLE_STREET, rating=5, rating_channel="hotline")
    with engine.connect() as conn:
        row = conn.execute(select(Ticket.rating_channel, Ticket.ratings_self, Ticket.ratings_given)
                           .where(Ticket.id == t["id"])).one()
        event = conn.execute(select(TicketEvent.rating_channel, TicketEvent.note).where(
            TicketEvent.ticket_id == t["id"], TicketEvent.action == "rate")).one()
    assert tuple(row) == ("hotline", 0, 1) and event[0] == "hotline" and "代居民评价·12345回访" in event[1]
    mine = indicators.load(engine, scope=WHOLE_STREET).query("id == @t['id']")
    v = indicators.compute(mine, MONDAY + timedelta(days=1))
    assert (v["rated"], v["rated_self"], v["rated_proxy"]) == (1, 0, 1)


def test_demo_ratings_carry_their_source(small_town):
    rated = [e for e in small_town["ticket_event"] if e.get("rating")]
    assert rated and all(e["rating_channel"] in rules.RATING_CHANNELS for e in rated)
    for e in rated:  # the resident's own channel exactly when the resident rated
        assert (e["rating_channel"] == rules.SELF_RATING) == (e["actor_role"] == workflow.RESIDENT)
    assert {e["rating_channel"] for e in rated} >= {rules.SELF_RATING, "phone"}


# --------------------------------------------------------------------------- the desk and the indicators page

def desk(url: str, monkeypatch, ticket_id: int) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", url)
    at = AppTest.from_file(str(settings.ROOT / "pages" / "tickets.py"), default_timeout=120)
    at.session_state["user"] = auth.authenticate(store.make_engine(url), "gridhead1", accounts.DEMO_PASSWORD,
                                                 now=settings.now())
    at.session_state["tickets_open_id"] = ticket_id
    return at.run()


def keyed(at: AppTest, kind: str, prefix: str):
    return next(w for w in getattr(at, kind) if (w.key or "").startswith(prefix))


def test_the_desk_says_on_the_residents_behalf_and_asks_how(town_url, monkeypatch):
    engine = store.make_engine(town_url)
    head = auth.authenticate(engine, "gridhead1", accounts.DEMO_PASSWORD, now=settings.now())
    spot = store.read_layer(engine, Grid, where=Grid.id == head.grid_id).geometry.iloc[0].representative_point()
    now = settings.now()
    t = ts.report(engine, category="sanitation", description="楼道堆物", lon=spot.x, lat=spot.y, now=now)
    for action in ("accept", "handle_in_grid", "resolve"):
        t = ts.act(engine, t["id"], action, rules.actor_for(head), expected_version=t["version"], now=now,
                   scope=head.scope)
    at = desk(town_url, monkeypatch, t["id"])
    assert not at.exception, at.exception
    move = keyed(at, "radio", f"tickets_move_{t['id']}_")
    assert move.format_func("rate") == "群众评单（代居民评价）"
    assert keyed(at, "slider", f"tickets_rating_{t['id']}_").label == "代居民评价（星）"
    channel = keyed(at, "radio", f"tickets_channel_{t['id']}_")
    assert channel.value is None and channel.options == ["电话回访", "上门回访", "现场", "12345回访"]  # none preset
    move.set_value("rate")
    at.button[0].click().run()  # no channel chosen: refused, nothing stored
    assert any("代居民评价须选择回访方式" in e.value for e in at.error)
    assert ts.get(engine, t["id"], scope=head.scope)["state"] == "resolved"
    keyed(at, "radio", f"tickets_move_{t['id']}_").set_value("rate")
    keyed(at, "radio", f"tickets_channel_{t['id']}_").set_value("visit")
    at.button[0].click().run()
    assert not at.exception, at.exception
    done = ts.get(engine, t["id"], scope=head.scope)
    assert done["state"] == "closed" and done["rating_channel"] == "visit" and done["ratings_self"] == 0
    notes = ts.history_table(engine, t["id"], scope=head.scope)["意见"].tolist()
    assert any("代居民评价·上门回访" in n for n in notes)

    monkeypatch.setenv("DATABASE_URL", town_url)
    page = AppTest.from_file(str(settings.ROOT / "pages" / "indicators.py"), default_timeout=120)
    page.session_state["user"] = auth.authenticate(engine, "staff", accounts.DEMO_PASSWORD, now=settings.now())
    page.run()
    assert not page.exception, page.exception
    assert any(c.value.startswith("满意率") and "居民本人评价" in c.value and "代居民评价" in c.value
               for c in page.caption)
