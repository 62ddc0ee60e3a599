"""Indicator formulas on hand-built tickets whose answers are counted by hand."""
from __future__ import annotations

import math
from datetime import datetime as dt

import pandas as pd
import pytest

from geo.tickets import indicators

NOW = dt(2026, 11, 20, 12)
START, END = dt(2026, 11, 1), dt(2026, 11, 20)


def ticket(id_, category, state, created, *, first=None, accepted=None, resolved=None, closed=None, due,
           rating=None, reopen=0, grid=1, first_resolved=None, ratings=None):
    """``ratings``: every rating the ticket was given (the last is ``rating``)."""
    ratings = ratings if ratings is not None else ([rating] if rating is not None else [])
    return dict(id=id_, category=category, state=state, grid_id=grid, community_id=1, street_id=1,
                created_at=created, accepted_at=accepted, first_response_at=first, resolved_at=resolved,
                first_resolved_at=first_resolved or resolved, closed_at=closed, due_at=due,
                rating=ratings[-1] if ratings else None, ratings_given=len(ratings),
                ratings_satisfied=sum(r >= 3 for r in ratings), reopen_count=reopen)


@pytest.fixture
def frame():
    return pd.DataFrame([
        # A: closed on time, 5 stars
        ticket("A", "sanitation", "closed", dt(2026, 11, 2, 8), first=dt(2026, 11, 2, 8, 30),
               accepted=dt(2026, 11, 2, 8, 30), resolved=dt(2026, 11, 3, 8), closed=dt(2026, 11, 4, 8),
               due=dt(2026, 11, 3, 8), rating=5),
        # B: done late; rated 2 stars (不满意: reopened), redone, rated 4 stars and closed
        ticket("B", "sanitation", "closed", dt(2026, 11, 5, 10), first=dt(2026, 11, 5, 11),
               accepted=dt(2026, 11, 5, 11), first_resolved=dt(2026, 11, 7, 10), resolved=dt(2026, 11, 10, 10),
               closed=dt(2026, 11, 11, 10), due=dt(2026, 11, 6, 10), ratings=[2, 4], reopen=1),
        # C: rejected (no case)
        ticket("C", "water", "rejected", dt(2026, 11, 6, 9), first=dt(2026, 11, 6, 9, 30),
               closed=dt(2026, 11, 6, 9, 30), due=dt(2026, 11, 7, 9)),
        # D: being worked on, past its limit: due, overdue now
        ticket("D", "water", "in_progress", dt(2026, 11, 10, 9), first=dt(2026, 11, 10, 10),
               accepted=dt(2026, 11, 10, 10), due=dt(2026, 11, 12, 9), grid=2),
        # E: being worked on, limit not reached
        ticket("E", "water", "in_progress", dt(2026, 11, 18, 9), first=dt(2026, 11, 18, 12),
               accepted=dt(2026, 11, 18, 12), due=dt(2026, 11, 25, 9), grid=2),
        # H: done once, rated 1 star, reopened and being redone now (limit ahead)
        ticket("H", "water", "in_progress", dt(2026, 11, 12, 9), first=dt(2026, 11, 12, 9, 30),
               accepted=dt(2026, 11, 12, 9, 30), first_resolved=dt(2026, 11, 13, 9), due=dt(2026, 11, 21, 9),
               ratings=[1], reopen=1, grid=2),
        # G: closed without fix, within its limit
        ticket("G", "water", "closed_unfixed", dt(2026, 11, 8, 9), first=dt(2026, 11, 8, 9, 10),
               accepted=dt(2026, 11, 8, 9, 10), closed=dt(2026, 11, 9, 9), due=dt(2026, 11, 9, 10)),
        # F: reported before the period: not counted in it
        ticket("F", "water", "closed", dt(2026, 10, 20, 9), first=dt(2026, 10, 20, 10),
               accepted=dt(2026, 10, 20, 10), resolved=dt(2026, 10, 21, 9), closed=dt(2026, 10, 22, 9),
               due=dt(2026, 10, 21, 9), rating=3),
    ])


def test_formulas_match_hand_counts(frame):
    v = indicators.compute(frame, NOW, start=START, end=END)
    assert v["reported"] == 7  # A B C D E G H
    assert v["accepted"] == 6 and v["acceptance_rate"] == pytest.approx(6 / 7)  # C rejected
    # 应处置 = limit fell by the period's end (11-20 00:00) or step done: A B D G (E, H: limits ahead)
    assert v["handling_due"] == 4
    assert v["handled"] == 2 and v["handling_rate"] == pytest.approx(2 / 4)  # A, B done (H reopened)
    assert v["due"] == 4  # A B D G (E's and H's limits are still ahead)
    assert v["closed"] == 3 and v["closure_rate"] == pytest.approx(3 / 4)  # A B G
    assert (v["closed_fixed"], v["closed_unfixed"]) == (2, 1)  # A B solved; G closed without a fix, apart
    # on time: A only; B late; G closed unfixed is 结案 but never "solved on time" (DOMAIN.md)
    assert v["closed_on_time"] == 1 and v["on_time_rate"] == pytest.approx(1 / 4)
    assert v["overdue_now"] == 1  # D
    # response hours: 0.5, 1, 0.5, 1, 3, 1/6, 0.5 → median 0.5, p90 1.8 (linear)
    assert v["response_median_h"] == pytest.approx(0.5)
    assert v["response_p90_h"] == pytest.approx(1.8)
    # 办结 (to resolution) of A, B: 24, 120 h → median 72, p90 110.4 — no wait for the rating
    assert v["resolution_median_h"] == pytest.approx(72)
    assert v["resolution_p90_h"] == pytest.approx(110.4)
    # 结案 (to closure) of A, B, G: 48, 144, 24 → median 48, p90 124.8
    assert v["closure_median_h"] == pytest.approx(48)
    assert v["closure_p90_h"] == pytest.approx(124.8)
    # every rating counts: A 5; B 2 (reopened) then 4; H 1 (reopened) → 2 of 4
    assert v["rated"] == 4 and v["satisfaction_rate"] == pytest.approx(0.5)
    # 重办率 = 重办数 / 办结数: reopened B and H of A, B, H ever reported done (H is being redone: it counts)
    assert (v["reopened"], v["ever_resolved"]) == (2, 3) and v["reopen_rate"] == pytest.approx(2 / 3)


def test_rating_of_three_counts_as_basically_satisfied(frame):
    v = indicators.compute(frame, NOW)  # whole history: F's 3 stars join
    assert v["rated"] == 5 and v["satisfaction_rate"] == pytest.approx(3 / 5)


def test_rows_from_before_the_rating_history_count_their_stored_rating(frame):
    legacy = frame.drop(columns=["ratings_given", "ratings_satisfied", "first_resolved_at"])
    v = indicators.compute(legacy, NOW, start=START, end=END)
    assert v["rated"] == 3 and v["satisfaction_rate"] == pytest.approx(2 / 3)  # A 5, B 4, H 1
    assert v["reopen_rate"] == pytest.approx(1 / 2)  # without first_resolved_at: B of A, B


def test_by_category_and_grid_partition_the_totals(frame):
    total = indicators.compute(frame, NOW, start=START, end=END)
    per_cat = indicators.by(frame, "category", NOW, start=START, end=END).set_index("category")
    assert per_cat["reported"].sum() == total["reported"]
    assert per_cat.loc["sanitation", "on_time_rate"] == pytest.approx(0.5)  # A on time, B late
    assert per_cat.loc["water", "overdue_now"] == 1
    per_grid = indicators.by(frame, "grid_id", NOW, start=START, end=END).set_index("grid_id")
    assert per_grid.loc[2, "reported"] == 3 and per_grid.loc[2, "handled"] == 0
    assert per_grid["rated"].sum() == total["rated"]


def test_one_groupby_gives_what_each_grid_alone_gives(small_town):
    """``by`` (one groupby over every grid, issue 15) equals ``compute`` run on each grid's own tickets,
    figure by figure, durations and rates included; grids with nothing reported and nothing overdue are left out."""
    tickets = pd.DataFrame(small_town["ticket"])[indicators.FIELDS]
    now = tickets["created_at"].max()
    window = dict(start=now - pd.Timedelta(days=120), end=now)
    table = indicators.by(tickets, "grid_id", now, **window).set_index("grid_id")
    alone = {g: indicators.compute(t, now, **window) for g, t in tickets.groupby("grid_id")}
    kept = {g for g, v in alone.items() if v["reported"] or v["overdue_now"]}
    assert set(table.index) == kept and len(kept) > 10
    for g in kept:
        for key, value in alone[g].items():
            assert table.loc[g, key] == pytest.approx(value, nan_ok=True), (g, key)


def test_empty_area_gives_dashes_not_errors():
    empty = pd.DataFrame(columns=indicators.FIELDS)
    v = indicators.compute(empty, NOW)
    assert v["reported"] == 0 and math.isnan(v["on_time_rate"])
    shown = indicators.table(v).set_index("指标")["数值"]
    assert shown["按期结案率"] == "—" and shown["上报数"] == "0"


def test_what_is_due_is_due_by_the_periods_end():
    """应处置数 / 应结案数 count the cases due by the period's end (GB/T 30428), not by today: a case of
    a past month whose limit falls after that month is not yet owed in it (it was before issue 13)."""
    frame = pd.DataFrame([
        # X: reported in the period, limit after the period's end but before now, still being worked on
        ticket("X", "water", "in_progress", dt(2026, 11, 5, 9), first=dt(2026, 11, 5, 10),
               accepted=dt(2026, 11, 5, 10), due=dt(2026, 11, 12, 9)),
        # Y: limit within the period, handled (awaiting the rating), not closed
        ticket("Y", "water", "resolved", dt(2026, 11, 2, 9), first=dt(2026, 11, 2, 10),
               accepted=dt(2026, 11, 2, 10), resolved=dt(2026, 11, 3, 9), due=dt(2026, 11, 4, 9)),
        # Z: limit after the period, but closed fixed early: done early is done (it counts)
        ticket("Z", "water", "closed", dt(2026, 11, 8, 9), first=dt(2026, 11, 8, 10),
               accepted=dt(2026, 11, 8, 10), resolved=dt(2026, 11, 9, 9), closed=dt(2026, 11, 9, 12),
               due=dt(2026, 11, 14, 9), rating=5),
    ])
    v = indicators.compute(frame, NOW, start=dt(2026, 11, 1), end=dt(2026, 11, 10))
    assert v["handling_due"] == 2 and v["handled"] == 2  # Y (due), Z (done); X not due by 11-10
    assert v["due"] == 2 and v["closed"] == 1  # Y (due), Z (closed)
    assert v["handling_rate"] == pytest.approx(1.0) and v["closure_rate"] == pytest.approx(0.5)
    assert v["on_time_rate"] == pytest.approx(0.5)  # Z of Y, Z
    today = indicators.compute(frame, NOW, start=dt(2026, 11, 1), end=dt(2026, 11, 21))  # a period not over
    assert today["due"] == 3 and today["handling_due"] == 3  # X's limit fell before now


def test_a_clock_escalation_is_not_a_case_a_persons_move_is():
    """立案 is a person's decision (DOMAIN.md): through the real rules, a report the clock escalated and
    nobody has looked at is not counted as 立案; the community's first move on it is."""
    from datetime import timedelta

    from geo.tickets import rules, workflow

    monday = dt(2026, 11, 23, 9)
    community = rules.Actor("社区李主任", workflow.COMMUNITY)
    grid = rules.Actor("网格员王芳", workflow.GRID)

    def new(urgent):
        t, _ = rules.new_ticket(category="sanitation", description="楼下垃圾", created=monday, urgent=urgent,
                                grid_id=1, community_id=1, street_id=1)
        return t

    unread = new(True)  # urgent: the clock sends it to the community at once
    rules.apply(unread, "escalate", rules.SYSTEM_ACTOR, monday)
    assert unread["state"] == "community_dispatched" and unread["accepted_at"] is None
    taken = new(True)
    rules.apply(taken, "escalate", rules.SYSTEM_ACTOR, monday)
    rules.apply(taken, "assign", community, monday + timedelta(hours=2), department="环卫所")
    assert taken["accepted_at"] == monday + timedelta(hours=2)
    accepted = new(False)
    rules.apply(accepted, "accept", grid, monday + timedelta(hours=1))
    refused = new(False)
    rules.apply(refused, "reject", grid, monday + timedelta(hours=1), note="重复上报")
    assert refused["accepted_at"] is None
    frame = pd.DataFrame([{**t, "id": i} for i, t in enumerate((unread, taken, accepted, refused))])
    v = indicators.compute(frame, monday + timedelta(hours=3))
    assert v["reported"] == 4 and v["accepted"] == 2 and v["acceptance_rate"] == pytest.approx(0.5)


def test_satisfaction_counts_every_rating_through_the_real_rules():
    """满意率 = (满意 + 基本满意) / 评价数 with every rating counted, the one that reopened a closed case
    included; 重办率 = 重办数 / 办结数 (DOMAIN.md). Counted by hand: ratings 5, 1, 3 and 4 → 3 of 4."""
    from datetime import timedelta

    from geo.tickets import rules, workflow

    monday = dt(2026, 11, 23, 9)
    grid, resident = rules.Actor("网格员", workflow.GRID), rules.Actor("居民", workflow.RESIDENT)
    community = rules.Actor("社区", workflow.COMMUNITY)

    def fixed(t, hours, stars):
        rules.apply(t, "resolve", grid if t["state"] == "in_progress" and t["level"] == "grid" else community,
                    monday + timedelta(hours=hours))
        rules.apply(t, "rate", resident, monday + timedelta(hours=hours + 1), rating=stars)

    a, _ = rules.new_ticket(category="sanitation", description="垃圾", created=monday, grid_id=1,
                            community_id=1, street_id=1)
    rules.apply(a, "accept", grid, monday + timedelta(hours=1))
    rules.apply(a, "handle_in_grid", grid, monday + timedelta(hours=2))
    fixed(a, 3, 5)  # 满意, closed
    rules.apply(a, "reopen", resident, monday + timedelta(hours=30), rating=1)  # 不满意 after the closure
    rules.apply(a, "assign", community, monday + timedelta(hours=31), department="环卫所")
    fixed(a, 40, 3)  # 基本满意, closed again
    b, _ = rules.new_ticket(category="sanitation", description="垃圾2", created=monday, grid_id=1,
                            community_id=1, street_id=1)
    rules.apply(b, "accept", grid, monday + timedelta(hours=1))
    rules.apply(b, "handle_in_grid", grid, monday + timedelta(hours=2))
    fixed(b, 3, 4)  # 满意
    v = indicators.compute(pd.DataFrame([{**a, "id": 1}, {**b, "id": 2}]), monday + timedelta(days=3))
    assert v["rated"] == 4 and v["satisfaction_rate"] == pytest.approx(3 / 4)
    assert (v["reopened"], v["ever_resolved"]) == (1, 2) and v["reopen_rate"] == pytest.approx(1 / 2)


def test_every_figure_has_a_definition_with_its_source():
    assert set(indicators.DEFINITIONS) == set(indicators.LABELS)
    for key in ("acceptance_rate", "handling_rate", "closure_rate", "on_time_rate", "due", "handling_due"):
        assert "GB/T 30428" in indicators.definition(key)
    assert "12345" in indicators.definition("satisfaction_rate")
    assert "重办数 / 办结数" in indicators.definition("reopen_rate")
# --------------------------------------------------------------------------- 党员30分钟到场

def _party(id_, claimed, *, arrived_after_min=None, state="in_progress", grid=1):
    """A ticket a party member claimed at ``claimed``: on site after so many minutes, or not (yet)."""
    from datetime import timedelta

    t = ticket(id_, "sanitation", state, claimed - timedelta(hours=1), accepted=claimed - timedelta(minutes=50),
               first=claimed - timedelta(minutes=50), due=claimed + timedelta(days=2), grid=grid)
    t.update(assigned_at=claimed, arrive_by=claimed + timedelta(minutes=30),
             arrived_at=None if arrived_after_min is None else claimed + timedelta(minutes=arrived_after_min))
    return t


def test_the_30_minute_figure_on_hand_built_claims():
    now = dt(2026, 11, 20, 12)
    frame = pd.DataFrame([
        _party("P1", dt(2026, 11, 19, 9), arrived_after_min=8),     # in time
        _party("P2", dt(2026, 11, 19, 10), arrived_after_min=22),   # in time
        _party("P3", dt(2026, 11, 19, 11), arrived_after_min=30),   # exactly 30: still kept
        _party("P4", dt(2026, 11, 19, 14), arrived_after_min=45),   # late
        _party("P5", dt(2026, 11, 19, 15), state="resolved"),       # never recorded on site: missing
        _party("P6", now - pd.Timedelta(minutes=10)),              # on the way, 20 minutes left: no figure yet
        _party("P7", now - pd.Timedelta(minutes=40)),              # 10 minutes over, not there: missing
        ticket("X", "water", "closed", dt(2026, 11, 18, 9), accepted=dt(2026, 11, 18, 9, 5),
               resolved=dt(2026, 11, 18, 12), closed=dt(2026, 11, 18, 13), due=dt(2026, 11, 19, 9)),  # no member
    ])
    v = indicators.compute(frame, now)
    assert v["arrival_due"] == 6  # P1–P5, P7
    assert v["arrived_in_time"] == 3 and v["arrival_rate"] == pytest.approx(3 / 6)
    assert v["arrived_late"] == 1 and v["arrival_missing"] == 2
    assert v["arrival_median_min"] == pytest.approx(26)  # 8, 22, 30, 45 → (22 + 30) / 2
    shown = indicators.table(v).set_index("指标")["数值"]
    assert shown["30分钟到场率"] == "50.0%" and shown["到场时长中位数(分钟)"] == "26.0"
    per_grid = indicators.by(frame.assign(grid_id=[1, 1, 1, 2, 2, 2, 2, 1]), "grid_id", now).set_index("grid_id")
    assert per_grid.loc[1, "arrival_rate"] == 1.0 and per_grid.loc[2, "arrival_due"] == 3


def test_no_party_member_dispatch_gives_a_dash(frame):
    v = indicators.compute(frame, NOW)  # the hand-built frame has no arrival columns at all
    assert v["arrival_due"] == 0 and math.isnan(v["arrival_rate"]) and math.isnan(v["arrival_median_min"])
    assert indicators.shown("arrival_rate", v["arrival_rate"]) == "—"
