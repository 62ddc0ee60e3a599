"""The ticket loop: every path of both workflows, refusals, reopen, merge,
escalation on a frozen clock, boundary routing and optimistic locking."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
import shapely
from sqlalchemy import func, select

from geo import categories, ticket_service as ts, tickets, workflow
from geo.errors import ConcurrentEditError, IllegalTransitionError, OutsideAreaError, ValidationError
from geo.schema import Ticket, TicketEvent
from geo.tickets import Actor

MONDAY = datetime(2026, 11, 23, 9, 0)  # a Monday
GRID = Actor("网格员王芳", workflow.GRID)
COMMUNITY = Actor("社区李主任", workflow.COMMUNITY)
STREET = Actor("街道审单员", workflow.STREET)
HANDLER = Actor("城管中队", workflow.HANDLER)
RESIDENT = Actor("张三", workflow.RESIDENT)


def fresh(category="sanitation", urgent=False, workflow_key=None, at=MONDAY):
    t, _ = tickets.new_ticket(category=category, description="楼下垃圾堆放", created=at, urgent=urgent,
                              workflow_key=workflow_key, grid_id=1, community_id=1, street_id=1)
    return t


def run(t, *steps):
    """Apply (action, actor, hours-after-report, kwargs) steps; return the events."""
    events = []
    for action, actor, hours, *kw in steps:
        events.append(tickets.apply(t, action, actor, t["created_at"] + timedelta(hours=hours),
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
    events = run(t, ("accept", STREET, 1), ("assign", STREET, 2), ("resolve", COMMUNITY, 10),
                 ("rate", Actor("居民议事会", workflow.COMMUNITY), 12, {"rating": 5}))
    assert [e["to_state"] for e in events] == ["street_accepted", "in_progress", "resolved", "closed"]
    with pytest.raises(IllegalTransitionError):
        tickets.apply(fresh(workflow_key="erqi"), "accept", GRID, MONDAY)  # the street accepts, not the grid


@pytest.mark.parametrize("wf", list(workflow.WORKFLOWS.values()), ids=list(workflow.WORKFLOWS))
def test_every_move_of_every_workflow_lands_where_it_says(wf):
    for move in wf.moves:
        t = fresh(workflow_key=wf.key)
        t["state"] = move.source
        kw = {"note": "原因" if move.needs_reason else None}
        if move.action == "rate":
            kw["rating"] = 3
        if move.action == "merge":
            kw["merged_into_id"] = 99
        event = tickets.apply(t, move.action, Actor("x", move.roles[0]), MONDAY + timedelta(hours=1), **kw)
        assert t["state"] == event["to_state"] == move.target, move
        assert (t["closed_at"] is None) == workflow.is_open(move.target), move


def test_exits_reject_return_close_unfixed_and_reopen():
    t = fresh()
    run(t, ("reject", GRID, 1, {"note": "重复上报"}))
    assert t["state"] == "rejected" and t["closed_at"] is not None and t["accepted_at"] is None

    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 2), ("return", COMMUNITY, 3, {"note": "网格可自办"}))
    assert t["state"] == "grid_accepted"

    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 2), ("assign", COMMUNITY, 3),
        ("close_unfixed", COMMUNITY, 50, {"note": "历史遗留"}))
    assert t["state"] == "closed_unfixed" and not workflow.STATES["closed_unfixed"].is_fixed

    t = fresh()
    run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 2), ("resolve", GRID, 3),
        ("reopen", RESIDENT, 5, {"note": "1星 不满意：还是很脏"}))
    assert t["state"] == "in_progress" and t["reopen_count"] == 1
    assert t["resolved_at"] is None and t["closed_at"] is None
    run(t, ("resolve", GRID, 8), ("rate", RESIDENT, 9, {"rating": 4}))
    assert t["state"] == "closed" and t["reopen_count"] == 1


def test_refusals_change_nothing():
    t = fresh()
    before = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="只能由"):
        tickets.apply(t, "accept", RESIDENT, MONDAY)  # wrong role
    with pytest.raises(IllegalTransitionError, match="不能执行"):
        tickets.apply(t, "resolve", GRID, MONDAY)  # not from 'reported'
    with pytest.raises(IllegalTransitionError, match="原因"):
        tickets.apply(t, "reject", GRID, MONDAY, note="  ")  # reason required
    run(t, ("accept", GRID, 1), ("handle_in_grid", GRID, 2), ("resolve", GRID, 3))
    snapshot = copy.deepcopy(t)
    with pytest.raises(IllegalTransitionError, match="1–5"):
        tickets.apply(t, "rate", RESIDENT, MONDAY + timedelta(hours=4), rating=6)
    assert t == snapshot
    assert before["state"] == "reported"
    with pytest.raises(ValidationError):
        tickets.new_ticket(category="sanitation", description="   ", created=MONDAY)
    with pytest.raises(KeyError, match="unknown ticket category"):
        tickets.new_ticket(category="ufo", description="x", created=MONDAY)


# --------------------------------------------------------------------------- the clock

def test_working_days_skip_the_weekend():
    friday = datetime(2026, 11, 27, 10)
    assert categories.add_working_days(friday, 1) == datetime(2026, 11, 30, 10)  # Monday
    saturday = datetime(2026, 11, 28, 10)
    assert categories.add_working_days(saturday, 1) == datetime(2026, 12, 1, 10)  # Tuesday
    assert categories.due_at("dispute", MONDAY, urgent=False) == datetime(2026, 11, 30, 9)  # 5 working days
    assert categories.due_at("water", MONDAY, urgent=True) == MONDAY + timedelta(hours=4)


def test_escalation_on_a_frozen_clock():
    t = fresh()  # ordinary: the grid has 4 hours to check it
    assert t["step_due_at"] == MONDAY + timedelta(hours=4)
    assert tickets.escalation_due(t, MONDAY + timedelta(hours=3, minutes=59)) is None
    assert tickets.escalation_due(t, MONDAY + timedelta(hours=4, minutes=1)) == "escalate"
    tickets.apply(t, "escalate", tickets.SYSTEM_ACTOR, MONDAY + timedelta(hours=4, minutes=1))
    assert t["state"] == "community_dispatched" and t["level"] == "community"
    assert t["first_response_at"] is None  # the clock is not a response
    assert t["step_due_at"] == MONDAY + timedelta(hours=28, minutes=1)  # the community's day starts now
    assert tickets.escalation_due(t, MONDAY + timedelta(hours=27)) is None
    assert tickets.escalation_due(t, MONDAY + timedelta(hours=29)) == "escalate"

    urgent = fresh(category="safety_hazard", urgent=True)  # 急事不出社区: at once
    assert urgent["due_at"] == MONDAY + timedelta(hours=4)
    assert tickets.escalation_due(urgent, MONDAY) == "escalate"

    working = fresh()
    run(working, ("accept", GRID, 1), ("handle_in_grid", GRID, 2))
    assert tickets.escalation_due(working, MONDAY + timedelta(days=30)) is None  # being worked on
    assert tickets.is_overdue(working, MONDAY + timedelta(days=30))


def test_party_member_arrives_within_30_minutes_or_is_late():
    t = fresh()
    run(t, ("accept", GRID, 1), ("escalate", GRID, 1), ("assign", COMMUNITY, 2,
                                                          {"assignee_id": 7, "assignee_is_party_member": True}))
    assert t["arrive_by"] == MONDAY + timedelta(hours=2, minutes=30)
    late = copy.deepcopy(t)
    on_time = tickets.record_arrival(t, Actor("党员", workflow.HANDLER), MONDAY + timedelta(hours=2, minutes=29))
    assert on_time["note"] == "30分钟内到场"
    assert tickets.record_arrival(late, Actor("党员", workflow.HANDLER),
                                  MONDAY + timedelta(hours=2, minutes=31))["note"] == "超时到场"
    with pytest.raises(IllegalTransitionError):
        tickets.record_arrival(t, Actor("党员", workflow.HANDLER), MONDAY + timedelta(hours=3))


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


def test_report_then_two_people_act_at_once_one_wins(engine, small_town):
    p = small_town["grid"][1]["geom"].representative_point()
    t = ts.report(engine, category="water", description="整栋楼停水", lon=p.x, lat=p.y, now=MONDAY,
                  reporter_name="李四", reporter_phone="13800001234")
    assert t["code"].startswith("GD20261123") and t["grid_id"] == small_town["grid"][1]["id"]
    version = ts.get(engine, t["id"])["version"]
    ts.act(engine, t["id"], "accept", GRID, expected_version=version, now=MONDAY + timedelta(minutes=5))
    events = count(engine, TicketEvent)
    with pytest.raises(ConcurrentEditError):  # the second person read the same version
        ts.act(engine, t["id"], "reject", GRID, expected_version=version, now=MONDAY + timedelta(minutes=6),
               note="重复上报")
    after = ts.get(engine, t["id"])
    assert after["state"] == "grid_accepted" and after["version"] == version + 1
    assert count(engine, TicketEvent) == events
    with pytest.raises(IllegalTransitionError):  # an illegal move writes nothing either
        ts.act(engine, t["id"], "rate", GRID, expected_version=after["version"], now=MONDAY, rating=5)
    assert ts.get(engine, t["id"])["version"] == after["version"]
    assert list(ts.history(engine, t["id"])["action"]) == ["report", "accept"]


def test_duplicates_are_suggested_and_merge_keeps_both_histories(engine, small_town):
    p = small_town["grid"][2]["geom"].representative_point()
    first = ts.report(engine, category="sanitation", description="垃圾桶满了", lon=p.x, lat=p.y, now=MONDAY)
    nearby = (p.x + 0.0003, p.y)  # ~30 m east
    dup = ts.duplicates(engine, category="sanitation", lon=nearby[0], lat=nearby[1], now=MONDAY)
    assert first["id"] in set(dup["id"]) and dup.set_index("id").loc[first["id"], "distance_m"] < 40
    assert first["id"] not in set(ts.duplicates(engine, category="water", lon=nearby[0], lat=nearby[1],
                                                now=MONDAY)["id"])
    second = ts.report(engine, category="sanitation", description="垃圾没人清", lon=nearby[0], lat=nearby[1],
                       now=MONDAY + timedelta(minutes=10))
    ts.act(engine, second["id"], "merge", GRID, expected_version=1, now=MONDAY + timedelta(minutes=20),
           merged_into_id=first["id"], note="同一处垃圾")
    merged = ts.get(engine, second["id"])
    assert merged["state"] == "merged" and merged["merged_into_id"] == first["id"]
    assert list(ts.history(engine, second["id"])["action"]) == ["report", "merge"]
    assert list(ts.history(engine, first["id"])["action"]) == ["report", "merged_from"]
    assert ts.get(engine, first["id"])["state"] == "reported"  # the kept ticket goes on


def test_the_clock_escalates_in_the_database(engine, small_town):
    p = small_town["grid"][3]["geom"].representative_point()
    t = ts.report(engine, category="sanitation", description="污水外溢", lon=p.x, lat=p.y, now=MONDAY)
    assert t["id"] not in ts.escalate_due(engine, MONDAY + timedelta(hours=3))
    assert t["id"] in ts.escalate_due(engine, MONDAY + timedelta(hours=5))
    assert t["id"] not in ts.escalate_due(engine, MONDAY + timedelta(hours=6))  # once
    last = ts.history(engine, t["id"]).iloc[-1]
    assert last["actor_role"] == "system" and last["to_state"] == "community_dispatched"


def test_nearest_available_party_members_are_suggested(engine, small_town):
    p = small_town["grid"][0]["geom"].representative_point()
    t = ts.report(engine, category="elderly_care", description="独居老人需要帮助", lon=p.x, lat=p.y, now=MONDAY)
    people = ts.suggest_assignees(engine, t["id"], n=5)
    assert len(people) == 5
    assert set(people["role"]) <= {"party_member", "volunteer"}
    d = people["distance_m"].dropna().to_list()
    assert d == sorted(d)
    bound = {p_["id"] for p_ in small_town["person"] if p_.get("grid_id") == t["grid_id"] and p_.get("available", True)}
    assert set(people["id"]) <= bound
