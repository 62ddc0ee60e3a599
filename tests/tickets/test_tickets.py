"""The ticket loop: every path of both workflows, refusals, reopen, merge,
escalation on a frozen clock, boundary routing and optimistic locking."""
from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta

import pandas as pd
import pytest
import shapely
from sqlalchemy import func, select

from geo.access import audit
from geo.tickets import categories, indicators, service as ts, rules, workflow
from geo.errors import (ConcurrentEditError, IllegalTransitionError, NotFoundError, OutsideAreaError,
                        ValidationError)
from geo.access.roles import WHOLE_STREET as WHOLE, Scope
from geo.db.schema import Ticket, TicketEvent
from geo.tickets.rules import Actor

MONDAY = datetime(2026, 11, 23, 9, 0)  # a Monday
GRID = Actor("网格员王芳", workflow.GRID)
COMMUNITY = Actor("社区李主任", workflow.COMMUNITY)
STREET = Actor("街道审单员", workflow.STREET)
HANDLER = Actor("城管中队", workflow.HANDLER)
RESIDENT = Actor("张三", workflow.RESIDENT)


def fresh(category="sanitation", urgent=False, workflow_key=None, at=MONDAY):
    t, _ = rules.new_ticket(category=category, description="楼下垃圾堆放", created=at, urgent=urgent,
                              workflow_key=workflow_key, grid_id=1, community_id=1, street_id=1)
    return t


def run(t, *steps):
    """Apply (action, actor, hours-after-report, kwargs) steps; return the events."""
    events = []
    for action, actor, hours, *kw in steps:
        events.append(rules.apply(t, action, actor, t["created_at"] + timedelta(hours=hours),
                                    **(kw[0] if kw else {})))
    return events


# --------------------------------------------------------------------------- paths

def test_five_step_full_loop_grid_community_street_department_resident():
    t = fresh()
    events = run(t, ("accept", GRID, 1), ("escalate", GRID, 2), ("escalate", COMMUNITY, 3),
                 ("assign", STREET, 4, {"department": "环卫所"}), ("resolve", HANDLER, 20),
                 ("rate", RESIDENT, 30, {"rating": 5, "note": "很快"}))
    assert [e["to_state"] for e in events] == ["grid_accepted", "community_dispatched", "street_reviewed",
                                              "in_progress", "resolved", "closed"]
    assert t["state"] == "closed" and workflow.STATES["closed"].is_fixed
    assert t["level"] == "street" and t["department"] == "环卫所"
    assert t["accepted_at"] == MONDAY + timedelta(hours=1) == t["first_response_at"]
    assert t["resolved_at"] == MONDAY + timedelta(hours=20)
    assert t["closed_at"] == MONDAY + timedelta(hours=30) and t["rating"] == 5
    assert t["version"] == 7 and t["step_due_at"] is None
    assert events[-1]["note"].startswith("5星 满意")


def test_small_matters_stay_in_the_grid():
    t = fresh()
    run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 1.5), ("resolve", GRID, 3), ("rate", RESIDENT, 5,
                                                                                       {"rating": 4}))
    assert t["state"] == "closed" and t["level"] == "grid"


def test_erqi_one_lead_four_orders():
    t = fresh(workflow_key="erqi")
    events = run(t, ("accept", STREET, 1), ("assign", STREET, 2, {"department": "东大街社区共建单位"}),
                 ("resolve", COMMUNITY, 10),
                 ("rate", Actor("居民议事会", workflow.COMMUNITY), 12,  # staff record it: on the residents' behalf
                  {"rating": 5, "rating_channel": "on_site"}))
    assert [e["to_state"] for e in events] == ["street_accepted", "in_progress", "resolved", "closed"]
    with pytest.raises(IllegalTransitionError):
        rules.apply(fresh(workflow_key="erqi"), "accept", GRID, MONDAY)  # the street accepts, not the grid


@pytest.mark.parametrize("wf", list(workflow.WORKFLOWS.values()), ids=list(workflow.WORKFLOWS))
def test_every_move_of_every_workflow_lands_where_it_says(wf):
    for move in wf.moves:
        t = fresh(workflow_key=wf.key)
        t["state"] = move.source
        kw = {"note": "原因" if move.needs_reason else None}
        if move.ratings:
            kw["rating"] = move.ratings[0]
        if move.action == "assign":
            kw["department"] = "环卫所"
        if move.action == "merge":
            kw["merged_into_id"] = 99
        who = Actor("x", move.roles[0], person_id=7 if move.action == "claim" else None)  # a claim is one's own
        event = rules.apply(t, move.action, who, MONDAY + timedelta(hours=1), **kw)
        assert t["state"] == event["to_state"] == move.target, move
        assert (t["closed_at"] is None) == workflow.is_open(move.target), move


@pytest.mark.parametrize("wf, state, holder", [
    ("five_step", "reported", GRID), ("five_step", "grid_accepted", GRID),
    ("five_step", "community_dispatched", COMMUNITY), ("five_step", "street_reviewed", STREET),
    ("erqi", "reported", STREET), ("erqi", "street_accepted", STREET)])
def test_merge_is_offered_only_at_the_level_that_holds_the_ticket(wf, state, holder):
    """Issue 13, item 3: a grid head and community staff were offered 合并重复工单 on a ticket the street
    holds (and could make it). Only the holder merges; the rule is the workflow's, so the page and the
    service agree."""
    for actor in (GRID, COMMUNITY, STREET):
        t = fresh(workflow_key=wf)
        t["state"] = state
        offered = "merge" in [m.action for m in rules.allowed_moves(t, actor)]
        assert offered == (actor is holder), (wf, state, actor.role)
        if actor is not holder:
            with pytest.raises(IllegalTransitionError):
                rules.apply(t, "merge", actor, MONDAY, merged_into_id=99, note="重复")
            assert t["state"] == state


def test_exits_reject_return_close_unfixed_and_reopen():
    t = fresh()
    run(t, ("reject", GRID, 1, {"note": "重复上报"}))
    assert t["state"] == "rejected" and t["closed_at"] is not None and t["accepted_at"] is None

    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 2), ("return", COMMUNITY, 3, {"note": "网格可自办"}))
    assert t["state"] == "grid_accepted"

    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 2), ("assign", COMMUNITY, 3, {"department": "环卫所"}),
        ("close_unfixed", COMMUNITY, 50, {"note": "历史遗留"}))
    assert t["state"] == "closed_unfixed" and not workflow.STATES["closed_unfixed"].is_fixed

    t = fresh()
    run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 2), ("resolve", GRID, 3),
        ("reopen", RESIDENT, 5, {"rating": 1, "note": "还是很脏"}))
    assert t["state"] == "community_dispatched" and t["reopen_count"] == 1  # back to the community
    assert t["resolved_at"] is None and t["closed_at"] is None
    assert t["first_resolved_at"] == MONDAY + timedelta(hours=3)  # kept: the reopen rate counts on it
    run(t, ("assign", COMMUNITY, 6, {"department": "环卫所"}), ("resolve", HANDLER, 8),
        ("rate", RESIDENT, 9, {"rating": 4}))
    assert t["state"] == "closed" and t["reopen_count"] == 1


def test_refusals_change_nothing():
    t = fresh()
    before = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="只能由"):
        rules.apply(t, "accept", RESIDENT, MONDAY)  # wrong role
    with pytest.raises(IllegalTransitionError, match="不能执行"):
        rules.apply(t, "resolve", GRID, MONDAY)  # not from 'reported'
    with pytest.raises(IllegalTransitionError, match="原因"):
        rules.apply(t, "reject", GRID, MONDAY, note="  ")  # reason required
    run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 2), ("resolve", GRID, 3))
    snapshot = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="1–5"):
        rules.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=4), rating=6)
    assert t == snapshot
    assert before["state"] == "reported"
    with pytest.raises(ValidationError):
        rules.new_ticket(category="sanitation", description="   ", created=MONDAY)
    with pytest.raises(KeyError, match="unknown ticket category"):
        rules.new_ticket(category="ufo", description="x", created=MONDAY)


# --------------------------------------------------------------------------- the clock

def test_working_days_skip_the_weekend():
    friday = datetime(2026, 11, 27, 10)
    assert categories.add_working_days(friday, 1) == datetime(2026, 11, 30, 10)  # Monday, same hour
    saturday = datetime(2026, 11, 28, 10)
    assert categories.add_working_days(saturday, 1) == datetime(2026, 11, 30, 17, 30)  # Monday's whole day
    assert categories.due_at("dispute", MONDAY, urgent=False) == datetime(2026, 11, 30, 9)  # 5 working days
    assert categories.due_at("water", MONDAY, urgent=True) == MONDAY + timedelta(hours=4)  # on the clock
    # a limit running out at noon ends at noon, not after lunch
    assert categories.add_working_hours(MONDAY, 3) == datetime(2026, 11, 23, 12)
    assert categories.add_working_hours(MONDAY, 3.5) == datetime(2026, 11, 23, 14, 30)
    assert categories.working_hours_between(datetime(2026, 11, 27, 21), datetime(2026, 11, 30, 14, 30)) == 4


def test_a_friday_night_report_is_not_escalated_on_saturday_night():
    """The whole weekend on a frozen clock: ordinary limits run in office hours only."""
    friday_night = datetime(2026, 11, 27, 21, 0)
    t = fresh(at=friday_night)  # sanitation: 4 working hours at the grid
    assert t["step_due_at"] == datetime(2026, 11, 30, 14, 30)  # Mon 08:30–12:00 + 14:00–14:30
    for when in (datetime(2026, 11, 28, 1), datetime(2026, 11, 29, 23, 59), datetime(2026, 11, 30, 14, 29)):
        assert rules.escalation_due(t, when) is None, when
    assert rules.escalation_due(t, datetime(2026, 11, 30, 14, 30)) == "escalate"
    assert rules.escalation_at(t) == datetime(2026, 11, 30, 14, 30)
    # urgent matters run on the clock, day and night: to the community at once
    urgent = fresh(category="safety_hazard", urgent=True, at=friday_night)
    assert rules.escalation_at(urgent) == friday_night
    rules.apply(urgent, "escalate", rules.SYSTEM_ACTOR, friday_night)
    assert urgent["step_due_at"] == friday_night + timedelta(hours=2)  # the community has 2 clock hours


def test_step_limits_are_per_category_and_configurable():
    assert fresh(category="safety_hazard")["step_due_at"] == datetime(2026, 11, 23, 11)  # 2 working hours
    assert categories.step_limit("safety_hazard", "reported", False) == categories.Limit(2)
    assert categories.step_limit("sanitation", "reported", False) == categories.Limit(4)
    assert categories.step_limit("wage_arrears", "grid_accepted", False) == categories.Limit(14)
    assert categories.step_limit("sanitation", "in_progress", False) is None
    assert categories.step_limit("water", "reported", True) == categories.Limit(0.5, working=False)
    saved = dict(categories.STEP_LIMITS)
    try:  # a city gives sanitation a whole working day at the grid
        categories.set_step_limit("sanitation", "reported", ordinary=categories.Limit(7), urgent=None)
        assert fresh()["step_due_at"] == datetime(2026, 11, 24, 9)
        assert fresh(category="water")["step_due_at"] == datetime(2026, 11, 23, 15)  # others keep the default
    finally:
        categories.STEP_LIMITS.clear()
        categories.STEP_LIMITS.update(saved)
    with pytest.raises(KeyError):
        categories.set_step_limit("ufo", "reported", ordinary=None, urgent=None)


def test_escalation_on_a_frozen_clock():
    t = fresh()  # ordinary: the grid has 4 working hours to check it (09:00–12:00, 14:00–15:00)
    assert t["step_due_at"] == MONDAY + timedelta(hours=6)
    assert rules.escalation_due(t, MONDAY + timedelta(hours=5, minutes=59)) is None
    assert rules.escalation_due(t, MONDAY + timedelta(hours=6)) == "escalate"
    rules.apply(t, "escalate", rules.SYSTEM_ACTOR, MONDAY + timedelta(hours=6))
    assert t["state"] == "community_dispatched" and t["level"] == "community"
    assert t["first_response_at"] is None  # the clock is not a response
    assert t["step_due_at"] == datetime(2026, 11, 24, 15)  # one working day from 15:00 Monday
    assert rules.escalation_due(t, datetime(2026, 11, 24, 14, 59)) is None
    assert rules.escalation_due(t, datetime(2026, 11, 24, 15)) == "escalate"

    urgent = fresh(category="safety_hazard", urgent=True)  # 急事不出社区: at once
    assert urgent["due_at"] == MONDAY + timedelta(hours=4)
    assert rules.escalation_due(urgent, MONDAY) == "escalate"

    working = fresh()
    run(working, ("accept", GRID, 1), ("handle_in_grid", GRID, 2))
    assert rules.escalation_due(working, MONDAY + timedelta(days=30)) is None  # being worked on
    assert rules.is_overdue(working, MONDAY + timedelta(days=30))


def test_waiting_for_the_rating_is_not_overdue():
    """The work was reported done; the resident's rating has no limit, so the desk need not chase it."""
    t = resolved()
    late = t["due_at"] + timedelta(days=3)
    assert not rules.is_overdue(t, late)
    assert workflow.overdue(["resolved", "in_progress", "closed"], [t["due_at"]] * 3, late).tolist() == [
        False, True, False]


def test_erqi_has_the_same_clock():
    urgent = fresh(category="water", urgent=True, workflow_key="erqi")  # 急事不出社区: to the community parties
    assert rules.escalation_at(urgent) == MONDAY
    rules.apply(urgent, "escalate", rules.SYSTEM_ACTOR, MONDAY)
    assert urgent["state"] == "in_progress"
    t = fresh(workflow_key="erqi")  # the street party committee has 4 working hours to take it
    assert rules.escalation_due(t, MONDAY + timedelta(hours=5)) is None
    assert rules.escalation_due(t, MONDAY + timedelta(hours=6)) == "escalate"
    run(t, ("accept", STREET, 1))
    assert rules.escalation_at(t) == datetime(2026, 11, 24, 10)  # a working day from 10:00
    rules.apply(t, "escalate", rules.SYSTEM_ACTOR, datetime(2026, 11, 24, 10))
    assert t["state"] == "in_progress"
    with pytest.raises(IllegalTransitionError, match="只能由"):
        rules.apply(fresh(workflow_key="erqi"), "escalate", STREET, MONDAY)  # only the clock


# --------------------------------------------------------------------------- ratings

def resolved(workflow_key=None):
    t = fresh(workflow_key=workflow_key)
    if workflow_key == "erqi":
        run(t, ("accept", STREET, 1), ("assign", STREET, 2, {"department": "共建单位"}), ("resolve", COMMUNITY, 3))
    else:
        run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 2), ("resolve", GRID, 3))
    return t


def test_a_bad_rating_reopens_and_every_rating_counts():
    t = resolved()
    event = rules.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=5), rating=2, note="还是很脏")
    assert event["action"] == "reopen" and event["rating"] == 2 and event["note"] == "2星 不满意：还是很脏"
    assert t["state"] == "community_dispatched" and t["closed_at"] is None  # 不满意 never closes as fixed
    assert (t["reopen_count"], t["ratings_given"], t["ratings_satisfied"], t["rating"]) == (1, 1, 0, 2)
    run(t, ("assign", COMMUNITY, 6, {"department": "环卫所"}), ("resolve", HANDLER, 8))
    event = rules.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=9), rating=3)
    assert event["action"] == "rate" and t["state"] == "closed"  # 基本满意 closes
    assert (t["reopen_count"], t["ratings_given"], t["ratings_satisfied"], t["rating"]) == (1, 2, 1, 3)

    erqi = resolved("erqi")
    event = rules.apply(erqi, "rate", RESIDENT, MONDAY + timedelta(hours=5), rating=1)
    assert erqi["state"] == "in_progress" and erqi["reopen_count"] == 1  # back to the community parties
    assert event["note"] == "1星 不满意" and erqi["rating_comment"] is None  # no comment is put in their mouth


def test_a_resident_reopens_only_with_a_bad_rating():
    t = resolved()
    snapshot = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="1、2 星"):
        rules.apply(t, "reopen", RESIDENT, MONDAY + timedelta(hours=5), note="想再看看")  # no rating
    with pytest.raises(IllegalTransitionError, match="1、2 星"):
        rules.apply(t, "reopen", RESIDENT, MONDAY + timedelta(hours=5), rating=5)
    with pytest.raises(IllegalTransitionError, match="1–5|3、4、5"):
        rules.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=5), rating=6)
    assert t == snapshot


def test_reopen_after_closure_takes_a_bad_rating_and_keeps_the_good_one():
    t = resolved()
    run(t, ("rate", RESIDENT, 5, {"rating": 5}))
    assert t["state"] == "closed" and t["ratings_given"] == 1 == t["ratings_satisfied"]
    with pytest.raises(IllegalTransitionError):
        rules.apply(t, "reopen", RESIDENT, MONDAY + timedelta(days=3), rating=4)
    rules.apply(t, "reopen", RESIDENT, MONDAY + timedelta(days=3), rating=1, note="又坏了")
    assert t["state"] == "community_dispatched" and t["closed_at"] is None and t["resolved_at"] is None
    assert (t["reopen_count"], t["ratings_given"], t["ratings_satisfied"]) == (1, 2, 1)
    assert t["first_resolved_at"] == MONDAY + timedelta(hours=3)


# --------------------------------------------------------------------------- who may

def test_an_assignment_names_a_person_or_a_department():
    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 2))
    snapshot = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="承办人或承办部门"):
        rules.apply(t, "assign", COMMUNITY, MONDAY + timedelta(hours=3), department="  ")
    assert t == snapshot
    rules.apply(t, "assign", COMMUNITY, MONDAY + timedelta(hours=3), department="环卫所")  # the community may
    assert t["department"] == "环卫所" and t["assignee_id"] is None and t["arrive_by"] is None


def test_only_the_assigned_party_member_records_arrival_or_works_the_ticket():
    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 1), ("assign", COMMUNITY, 2,
                                                          {"assignee_id": 7, "assignee_is_party_member": True}))
    snapshot = copy.deepcopy(t)
    other = Actor("另一名党员", workflow.HANDLER, person_id=8)
    for who in (other, GRID, Actor("党员", workflow.HANDLER)):  # someone else, the grid, a login-less name
        with pytest.raises(IllegalTransitionError, match="本人"):
            rules.record_arrival(t, who, MONDAY + timedelta(hours=2, minutes=10))
    assert not rules.may_record_arrival(t, other) and rules.may_record_arrival(
        t, Actor("党员", workflow.HANDLER, person_id=7))
    with pytest.raises(IllegalTransitionError, match="未派给您"):
        rules.apply(t, "resolve", other, MONDAY + timedelta(hours=3))
    assert rules.allowed_moves(t, other) == []
    assert t == snapshot


def test_party_member_arrives_within_30_minutes_or_is_late():
    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 1), ("assign", COMMUNITY, 2,
                                                          {"assignee_id": 7, "assignee_is_party_member": True}))
    assert t["arrive_by"] == MONDAY + timedelta(hours=2, minutes=30)
    member = Actor("党员", workflow.HANDLER, person_id=7)
    late = copy.deepcopy(t)
    on_time = rules.record_arrival(t, member, MONDAY + timedelta(hours=2, minutes=29))
    assert on_time["note"] == "30分钟内到场"
    assert rules.record_arrival(late, member, MONDAY + timedelta(hours=2, minutes=31))["note"] == "超时到场"
    with pytest.raises(IllegalTransitionError):
        rules.record_arrival(t, member, MONDAY + timedelta(hours=3))  # once


# --------------------------------------------------------------------------- on the database

def count(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_routing_inside_on_boundary_just_outside_and_far(engine, small_town):
    grids = {g["id"]: g for g in small_town["grid"]}
    g = small_town["grid"][0]
    inside = g["geom"].representative_point()
    assert ts.route(engine, inside.x, inside.y) == ts.Routing(g["id"], g["community_id"], 1, None)
    # an exact corner shared by several grids: the smallest grid code wins, flagged
    corner = next(c for c in g["geom"].exterior.coords
                  if sum(c in set(o["geom"].exterior.coords) for o in small_town["grid"]) >= 2)
    owners = [o for o in small_town["grid"] if corner in set(o["geom"].exterior.coords)]
    r = ts.route(engine, *corner)
    assert r.flag == "boundary" and r.grid_id == min(owners, key=lambda o: o["code"])["id"]
    # 10 m outside the street's edge: the nearest grid, flagged as snapped
    street = small_town["street"][0]["geom"]
    edge_pt = shapely.Point(street.exterior.coords[0])
    centre = street.centroid
    dx, dy = edge_pt.x - centre.x, edge_pt.y - centre.y
    norm = (dx ** 2 + dy ** 2) ** 0.5
    near = shapely.Point(edge_pt.x + dx / norm * 0.0001, edge_pt.y + dy / norm * 0.0001)  # ~10 m
    assert not street.covers(near)
    r = ts.route(engine, near.x, near.y)
    assert r.flag == "snapped" and 0 < r.distance_m <= ts.ROUTING_TOLERANCE_M
    assert grids[r.grid_id]["geom"].distance(near) == min(o["geom"].distance(near) for o in small_town["grid"])
    before = count(engine, Ticket)
    far = shapely.Point(edge_pt.x + dx / norm * 0.005, edge_pt.y + dy / norm * 0.005)  # ~500 m
    with pytest.raises(OutsideAreaError):
        ts.report(engine, category="water", description="停水", lon=far.x, lat=far.y, now=MONDAY)
    assert count(engine, Ticket) == before


def audit_rows(engine, prefix="ticket."):
    return audit.read(engine, action_prefix=prefix, limit=100_000, scope=WHOLE)


def test_report_then_two_people_act_at_once_one_wins(engine, small_town):
    p = small_town["grid"][1]["geom"].representative_point()
    t = ts.report(engine, category="water", description="整栋楼停水", lon=p.x, lat=p.y, now=MONDAY,
                  reporter_name="李四", reporter_phone="13800001234")
    assert t["code"].startswith("GD20261123") and t["grid_id"] == small_town["grid"][1]["id"]
    version = ts.get(engine, t["id"], scope=WHOLE)["version"]
    ts.act(engine, t["id"], "accept", GRID, expected_version=version, now=MONDAY + timedelta(minutes=5),
           scope=WHOLE)
    events, logged = count(engine, TicketEvent), len(audit_rows(engine))
    with pytest.raises(ConcurrentEditError):  # the second person read the same version
        ts.act(engine, t["id"], "reject", GRID, expected_version=version, now=MONDAY + timedelta(minutes=6),
               note="重复上报", scope=WHOLE)
    after = ts.get(engine, t["id"], scope=WHOLE)
    assert after["state"] == "grid_accepted" and after["version"] == version + 1
    assert count(engine, TicketEvent) == events and len(audit_rows(engine)) == logged
    with pytest.raises(IllegalTransitionError):  # an illegal move writes nothing either
        ts.act(engine, t["id"], "rate", GRID, expected_version=after["version"], now=MONDAY, rating=5,
               scope=WHOLE)
    assert ts.get(engine, t["id"], scope=WHOLE)["version"] == after["version"]
    assert list(ts.history(engine, t["id"], scope=WHOLE)["action"]) == ["report", "accept"]


def test_every_reader_and_writer_demands_a_scope(engine):
    for call in (lambda: ts.get(engine, 1), lambda: ts.history(engine, 1), lambda: ts.query(engine, now=MONDAY),
                 lambda: ts.duplicates(engine, category="water", lon=0, lat=0, now=MONDAY),
                 lambda: ts.act(engine, 1, "accept", GRID, expected_version=1, now=MONDAY),
                 lambda: ts.arrive(engine, 1, GRID, expected_version=1, now=MONDAY),
                 lambda: ts.suggest_assignees(engine, 1), lambda: ts.history_table(engine, 1),
                 lambda: indicators.load(engine), lambda: indicators.for_area(engine, MONDAY)):
        with pytest.raises(TypeError, match="scope"):
            call()


def two_grids(small_town):
    """Two neighbouring grids of the first community (five-step loop) and a spot inside each."""
    first = small_town["grid"][0]
    other = next(g for g in small_town["grid"][1:] if g["community_id"] == first["community_id"]
                 and g["geom"].touches(first["geom"]))
    return first, other


def test_duplicates_are_suggested_and_merge_keeps_both_histories(engine, small_town):
    p = small_town["grid"][2]["geom"].representative_point()
    scope = Scope("grid", grid_id=small_town["grid"][2]["id"])
    first = ts.report(engine, category="sanitation", description="垃圾桶满了", lon=p.x, lat=p.y, now=MONDAY)
    nearby = (p.x + 0.0003, p.y)  # ~30 m east
    dup = ts.duplicates(engine, scope=scope, category="sanitation", lon=nearby[0], lat=nearby[1], now=MONDAY)
    assert first["id"] in set(dup["id"]) and dup.set_index("id").loc[first["id"], "distance_m"] < 40
    assert first["id"] not in set(ts.duplicates(engine, scope=scope, category="water", lon=nearby[0],
                                                lat=nearby[1], now=MONDAY)["id"])
    second = ts.report(engine, category="sanitation", description="垃圾没人清", lon=nearby[0], lat=nearby[1],
                       now=MONDAY + timedelta(minutes=10))
    head = Actor("王芳", workflow.GRID, username="gridhead9")
    ts.act(engine, second["id"], "merge", head, expected_version=1, now=MONDAY + timedelta(minutes=20),
           merged_into_id=first["id"], note="同一处垃圾", scope=scope)
    merged = ts.get(engine, second["id"], scope=scope)
    assert merged["state"] == "merged" and merged["merged_into_id"] == first["id"]
    assert list(ts.history(engine, second["id"], scope=scope)["action"]) == ["report", "merge"]
    assert list(ts.history(engine, first["id"], scope=scope)["action"]) == ["report", "merged_from"]
    assert ts.get(engine, first["id"], scope=scope)["state"] == "reported"  # the kept ticket goes on
    log = audit_rows(engine)  # both tickets' events are audited, under the user name
    mine = log[log["username"] == "gridhead9"]
    assert sorted(zip(mine["action"], mine["object_id"])) == sorted(
        [("ticket.merge", second["id"]), ("ticket.merged_from", first["id"])])


def test_merge_stays_inside_the_scope_and_the_category(engine, small_town):
    mine, theirs = two_grids(small_town)
    here, there = mine["geom"].representative_point(), theirs["geom"].representative_point()
    scope = Scope("grid", grid_id=mine["id"])
    ours = ts.report(engine, category="sanitation", description="垃圾", lon=here.x, lat=here.y, now=MONDAY)
    foreign = ts.report(engine, category="sanitation", description="另一网格的垃圾", lon=there.x, lat=there.y,
                        now=MONDAY)
    water = ts.report(engine, category="water", description="停水", lon=here.x, lat=here.y, now=MONDAY)
    events, logged = count(engine, TicketEvent), len(audit_rows(engine))
    with pytest.raises(NotFoundError):  # another grid's ticket does not exist for this grid head
        ts.act(engine, ours["id"], "merge", GRID, expected_version=1, now=MONDAY, merged_into_id=foreign["id"],
               note="重复", scope=scope)
    with pytest.raises(ValidationError, match="同一类别"):
        ts.act(engine, ours["id"], "merge", GRID, expected_version=1, now=MONDAY, merged_into_id=water["id"],
               note="重复", scope=scope)
    assert count(engine, TicketEvent) == events and len(audit_rows(engine)) == logged
    assert list(ts.history(engine, foreign["id"], scope=WHOLE)["action"]) == ["report"]
    assert ts.get(engine, ours["id"], scope=scope)["state"] == "reported"


def test_duplicates_show_only_what_is_in_scope(engine, small_town):
    mine, theirs = two_grids(small_town)
    edge = mine["geom"].intersection(theirs["geom"]).representative_point()  # on their shared edge
    c = theirs["geom"].centroid
    norm = ((c.x - edge.x) ** 2 + (c.y - edge.y) ** 2) ** 0.5
    inside_theirs = shapely.Point(edge.x + (c.x - edge.x) / norm * 0.0002,
                                  edge.y + (c.y - edge.y) / norm * 0.0002)  # ~20 m across the edge
    foreign = ts.report(engine, category="fire_equipment", description="灭火器过期，王大爷家门口",
                        lon=inside_theirs.x, lat=inside_theirs.y, now=MONDAY)
    assert foreign["grid_id"] == theirs["id"]
    scope = Scope("grid", grid_id=mine["id"])
    seen = ts.duplicates(engine, scope=scope, category="fire_equipment", lon=edge.x, lat=edge.y, now=MONDAY)
    assert foreign["id"] not in set(seen["id"])
    assert ts.duplicates_elsewhere(engine, scope=scope, category="fire_equipment", lon=edge.x, lat=edge.y,
                                   now=MONDAY) >= 1
    theirs_view = ts.duplicates(engine, scope=Scope("grid", grid_id=theirs["id"]), category="fire_equipment",
                                lon=edge.x, lat=edge.y, now=MONDAY)
    assert foreign["id"] in set(theirs_view["id"])


def test_history_masks_residents_and_the_audit_names_the_user(engine, small_town):
    p = small_town["grid"][3]["geom"].representative_point()
    by_phone = ts.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=MONDAY,
                         reporter_name="李小明", reporter_phone="13812345678")
    staff = Actor("王芳(gridhead1)", workflow.GRID, username="gridhead1")
    ts.act(engine, by_phone["id"], "accept", staff, expected_version=1, now=MONDAY + timedelta(minutes=3),
           scope=WHOLE)
    shown = ts.history_table(engine, by_phone["id"], scope=WHOLE)
    assert list(shown["办理人"]) == ["李**", "王芳(gridhead1)"]  # residents masked, staff by name
    assert list(shown["操作"]) == ["上报", "网格收单"]
    for action, who in (("escalate", GRID), ("assign", COMMUNITY)):
        ts.act(engine, by_phone["id"], action, who, scope=WHOLE, now=MONDAY + timedelta(minutes=9),
               expected_version=ts.get(engine, by_phone["id"], scope=WHOLE)["version"], department="自来水公司")
    assert list(ts.history_table(engine, by_phone["id"], scope=WHOLE)["操作"])[-1] == "社区派单"  # not 派发部门
    on_desk = ts.report(engine, category="water", description="停水", lon=p.x, lat=p.y, now=MONDAY,
                        reporter_name="张三", by=staff)
    first = ts.history(engine, on_desk["id"], scope=WHOLE).iloc[0]
    assert (first["actor"], first["actor_role"]) == ("王芳(gridhead1)", "grid")
    assert ts.get(engine, on_desk["id"], scope=WHOLE)["reporter_name"] == "张三"
    log = audit_rows(engine)
    assert set(log.loc[log["object_id"] == on_desk["id"], "username"]) == {"gridhead1"}
    assert set(log.loc[(log["object_id"] == by_phone["id"]) & (log["action"] == "ticket.accept"),
                       "username"]) == {"gridhead1"}


def test_the_clock_escalates_in_the_database_at_the_moment_it_fell_due(engine, small_town):
    p = small_town["grid"][3]["geom"].representative_point()
    t = ts.report(engine, category="sanitation", description="污水外溢", lon=p.x, lat=p.y, now=MONDAY)
    assert t["step_due_at"] == MONDAY + timedelta(hours=6)  # 4 working hours: 15:00
    assert t["id"] not in ts.escalate_due(engine, MONDAY + timedelta(hours=5))
    # nobody opened a page until Tuesday 17:00: both steps ran out meanwhile, each is stamped when it did
    assert t["id"] in ts.escalate_due(engine, datetime(2026, 11, 24, 17))
    assert t["id"] not in ts.escalate_due(engine, datetime(2026, 11, 24, 18))  # once
    h = ts.history(engine, t["id"], scope=WHOLE)
    clock = h[h["actor_role"] == "system"]
    assert list(clock["at"]) == [datetime(2026, 11, 23, 15), datetime(2026, 11, 24, 15)]
    assert list(clock["to_state"]) == ["community_dispatched", "street_reviewed"]
    assert set(clock["actor"]) == {"系统"}
    log = audit_rows(engine, "ticket.escalate")
    assert set(log.loc[log["object_id"] == t["id"], "username"]) == {"system"}
    urgent = ts.report(engine, category="safety_hazard", description="燃气泄漏", lon=p.x, lat=p.y, urgent=True,
                       now=MONDAY + timedelta(hours=1))
    ts.escalate_due(engine, MONDAY + timedelta(hours=1, minutes=1))
    last = ts.history(engine, urgent["id"], scope=WHOLE).iloc[-1]
    assert (last["action"], last["at"]) == ("escalate", MONDAY + timedelta(hours=1))  # at once


def test_the_clock_runs_from_the_command_line(database_url, small_town, capsys):
    from geo.db import store

    eng = store.make_engine(database_url)
    store.load_town(eng, small_town)
    p = small_town["grid"][0]["geom"].representative_point()
    t = ts.report(eng, category="sanitation", description="垃圾", lon=p.x, lat=p.y, now=MONDAY)
    from sqlalchemy import func, select

    from geo.db.schema import TicketEvent

    def clock_moves() -> int:
        with eng.connect() as conn:
            return conn.execute(select(func.count()).select_from(TicketEvent)
                                .where(TicketEvent.actor_role == "system")).scalar_one()

    before = clock_moves()
    assert ts.main(["escalate", "--url", database_url, "--now", "2026-11-23T16:00"]) == 0
    moved = int(re.search(r"自动升级 (\d+) 张工单", capsys.readouterr().out).group(1))
    assert ts.get(eng, t["id"], scope=WHOLE)["state"] == "community_dispatched"
    assert moved >= 1 and clock_moves() - before >= moved  # what it says is what it did
    assert ts.main(["escalate", "--url", database_url, "--now", "2026-11-23T16:00"]) == 0
    assert "自动升级 0 张工单" in capsys.readouterr().out  # and a second run finds nothing left
    eng.dispose()


def test_the_erqi_loop_on_the_database(engine, small_town):
    """一领四单 in the pilot community, on both backends: the street takes it, the community does it."""
    pilot = next(c for c in small_town["community"] if c.get("workflow") == "erqi")
    grid = next(g for g in small_town["grid"] if g["community_id"] == pilot["id"])
    p = grid["geom"].representative_point()
    t = ts.report(engine, category="property", description="电梯停运", lon=p.x, lat=p.y, now=MONDAY,
                  reporter_name="赵六")
    assert t["workflow"] == "erqi"
    street, community = Actor("街道党工委", workflow.STREET), Actor("社区书记", workflow.COMMUNITY)
    resident = Actor("赵六", workflow.RESIDENT)
    scope = Scope("community", community_id=pilot["id"])
    with pytest.raises(IllegalTransitionError):
        ts.act(engine, t["id"], "accept", GRID, expected_version=1, now=MONDAY, scope=scope)
    steps = [("accept", street, 1, {}), ("assign", street, 2, {"department": "物业共建单位"}),
             ("resolve", community, 20, {}), ("rate", resident, 22, {"rating": 2, "note": "还是不行"}),
             ("resolve", community, 30, {}), ("rate", resident, 31, {"rating": 4})]
    for action, who, hours, kw in steps:
        v = ts.get(engine, t["id"], scope=scope)["version"]
        ts.act(engine, t["id"], action, who, expected_version=v, now=MONDAY + timedelta(hours=hours),
               scope=scope, **kw)
    done = ts.get(engine, t["id"], scope=scope)
    assert done["state"] == "closed" and done["reopen_count"] == 1
    assert (done["ratings_given"], done["ratings_satisfied"]) == (2, 1)
    h = ts.history(engine, t["id"], scope=scope)
    assert list(h["to_state"]) == ["reported", "street_accepted", "in_progress", "resolved", "in_progress",
                                   "resolved", "closed"]
    assert [r for r in h["rating"] if pd.notna(r)] == [2, 4]
    urgent = ts.report(engine, category="water", description="爆管", lon=p.x, lat=p.y, urgent=True, now=MONDAY)
    assert urgent["id"] in ts.escalate_due(engine, MONDAY + timedelta(minutes=1))
    assert ts.get(engine, urgent["id"], scope=scope)["state"] == "in_progress"  # to the community at once


def test_party_member_arrival_on_the_database(engine, small_town):
    p = small_town["grid"][0]["geom"].representative_point()
    grid_id = small_town["grid"][0]["id"]
    member = next(m for m in small_town["person"] if m["role"] == "party_member" and m["grid_id"] == grid_id)
    t = ts.report(engine, category="elderly_care", description="独居老人摔倒", lon=p.x, lat=p.y, now=MONDAY)
    for action, kw in (("accept", {}), ("escalate", {})):
        ts.act(engine, t["id"], action, GRID, expected_version=ts.get(engine, t["id"], scope=WHOLE)["version"],
               now=MONDAY, scope=WHOLE, **kw)
    t = ts.act(engine, t["id"], "assign", COMMUNITY, expected_version=3, now=MONDAY, scope=WHOLE,
               assignee_id=member["id"])
    assert t["arrive_by"] == MONDAY + timedelta(minutes=30)
    events = count(engine, TicketEvent)
    with pytest.raises(IllegalTransitionError, match="本人"):
        ts.arrive(engine, t["id"], GRID, expected_version=t["version"], now=MONDAY, scope=WHOLE)
    assert count(engine, TicketEvent) == events
    me = Actor(member["name"], workflow.HANDLER, person_id=member["id"], username="party9")
    ts.arrive(engine, t["id"], me, expected_version=t["version"], now=MONDAY + timedelta(minutes=12), scope=WHOLE)
    assert ts.get(engine, t["id"], scope=WHOLE)["arrived_at"] == MONDAY + timedelta(minutes=12)
    assert ts.history(engine, t["id"], scope=WHOLE).iloc[-1]["note"] == "30分钟内到场"


def test_nearest_available_party_members_are_suggested(engine, small_town):
    p = small_town["grid"][0]["geom"].representative_point()
    t = ts.report(engine, category="elderly_care", description="独居老人需要帮助", lon=p.x, lat=p.y, now=MONDAY)
    people = ts.suggest_assignees(engine, t["id"], scope=Scope("grid", grid_id=t["grid_id"]), n=5)
    assert len(people) == 5
    assert set(people["role"]) <= {"party_member", "volunteer"}
    d = people["distance_m"].dropna().to_list()
    assert d == sorted(d)
    bound = {p_["id"] for p_ in small_town["person"] if p_.get("grid_id") == t["grid_id"] and p_.get("available", True)}
    assert set(people["id"]) <= bound
    assert people["phone"].str.fullmatch(r"\d{3}\*{4}\d{4}").all()  # 138****1234
    labels = [ts.assignee_label(r) for r in people.itertuples()]
    assert not any("nan" in label for label in labels)
    with pytest.raises(NotFoundError):  # another grid's ticket: no suggestions either
        ts.suggest_assignees(engine, t["id"], scope=Scope("grid", grid_id=t["grid_id"] + 1))
