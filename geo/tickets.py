"""Ticket rules over plain values: open a ticket, apply a move, decide escalation.

These functions work on a ticket as a plain dict (the columns of the
``ticket`` table) and return the history event to store, so the database
service (``geo.ticket_service``) and the demo generator run exactly the same
rules. Nothing here touches the database or the clock: time comes in as an
argument, which is what lets tests freeze it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geo import categories, workflow
from geo.errors import IllegalTransitionError, ValidationError
from geo.workflow import COMMUNITY, GRID, STATES, STREET, SYSTEM

Ticket = dict[str, Any]
Event = dict[str, Any]

LEVEL_ORDER = {GRID: 0, COMMUNITY: 1, STREET: 2}
#: 群众评单: 5–4 满意, 3 基本满意, 2–1 不满意.
RATING_WORDS = {5: "满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "不满意"}
RATING_WORDS_EN = {5: "satisfied", 4: "satisfied", 3: "fairly satisfied", 2: "dissatisfied", 1: "dissatisfied"}
MAX_DESCRIPTION = 4000  # Open311 GeoReport v2 limit


@dataclass(frozen=True)
class Actor:
    """Who acts: a display name and the workflow role they act in."""

    name: str
    role: str
    person_id: int | None = None


def new_ticket(*, category: str, description: str, created: datetime, urgent: bool = False,
               workflow_key: str | None = None, source: str = "resident", reporter_name: str | None = None,
               reporter_phone: str | None = None, photo: str | None = None, code: str | None = None,
               **place: Any) -> tuple[Ticket, Event]:
    """A freshly reported ticket (state ``reported``) and its first history event.

    ``place`` holds the routing result: geom, grid_id, community_id, street_id,
    routing_flag.
    """
    categories.category(category)  # a clear error for an unknown category
    description = (description or "").strip()
    if not description:
        raise ValidationError("请描述问题（不能为空） / Please describe the problem")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(f"问题描述不能超过 {MAX_DESCRIPTION} 字 / at most {MAX_DESCRIPTION} characters")
    wf = workflow.workflow(workflow_key)
    due = categories.due_at(category, created, urgent)
    t: Ticket = dict(
        code=code, category=category, description=description, state=wf.initial, workflow=wf.key,
        urgent=bool(urgent), source=source, reporter_name=reporter_name, reporter_phone=reporter_phone,
        photo=photo, assignee_id=None, department=None, level=GRID, created_at=created, updated_at=created,
        accepted_at=None, first_response_at=None, resolved_at=None, closed_at=None, due_at=due,
        step_due_at=categories.step_due_at(category, wf.initial, created, urgent, due),
        assigned_at=None, arrive_by=None, arrived_at=None, rating=None, rating_comment=None,
        reopen_count=0, merged_into_id=None, version=1, **place)
    event = dict(at=created, actor=reporter_name or "群众", actor_role=workflow.RESIDENT, action="report",
                 from_state=None, to_state=wf.initial, note=description[:200])
    return t, event


def apply(t: Ticket, action: str, actor: Actor, at: datetime, *, note: str | None = None,
          rating: int | None = None, assignee_id: int | None = None, assignee_is_party_member: bool = False,
          department: str | None = None, merged_into_id: int | None = None) -> Event:
    """Make one move on ``t`` in place and return the history event.

    Refuses (IllegalTransitionError, ``t`` unchanged) a move the workflow does
    not allow from the current state for the actor's role, a move without a
    required reason, and a rating outside 1–5.
    """
    wf = workflow.workflow(t.get("workflow"))
    move = workflow.check_move(t["state"], action, actor.role, workflow=wf, reason=note)
    if action == "rate" and rating not in (1, 2, 3, 4, 5):
        raise IllegalTransitionError("评价须为 1–5 星 / a rating is 1 to 5 stars")
    if action == "merge" and not merged_into_id:
        raise IllegalTransitionError("合并须指明保留的工单 / name the ticket to merge into")
    source = t["state"]
    target = STATES[move.target]
    t.update(state=move.target, updated_at=at, version=t.get("version", 1) + 1)
    if actor.role != SYSTEM and t.get("first_response_at") is None:
        t["first_response_at"] = at
    if action in ("accept", "escalate", "handle_in_grid") and t.get("accepted_at") is None:
        t["accepted_at"] = at  # 立案: the case is established
    if target.level in LEVEL_ORDER and LEVEL_ORDER[target.level] > LEVEL_ORDER.get(t.get("level") or GRID, 0):
        t["level"] = target.level
    if action == "assign" or (action == "handle_in_grid" and assignee_id):
        t.update(assignee_id=assignee_id, department=department, assigned_at=at,
                 arrive_by=at + categories.ARRIVAL_LIMIT if assignee_is_party_member else None,
                 arrived_at=None)
    if move.target == "resolved":
        t["resolved_at"] = at
    if action == "rate":
        t.update(rating=rating, rating_comment=note)
    if action == "reopen":
        t.update(closed_at=None, resolved_at=None, rating=None, reopen_count=t.get("reopen_count", 0) + 1)
    if action == "merge":
        t["merged_into_id"] = merged_into_id
    if not target.is_open:
        t["closed_at"] = at
    t["step_due_at"] = (categories.step_due_at(t["category"], move.target, at, t["urgent"], t["due_at"])
                        if target.is_open else None)
    text = note
    if action == "rate":
        text = f"{rating}星 {RATING_WORDS[rating]}" + (f"：{note}" if note else "")
    return dict(at=at, actor=actor.name, actor_role=actor.role, action=action, from_state=source,
                to_state=move.target, note=text)


def record_arrival(t: Ticket, actor: Actor, at: datetime) -> Event:
    """The party member is on site: the 30-minute promise is kept or broken."""
    if t["state"] != "in_progress" or t.get("arrive_by") is None:
        raise IllegalTransitionError("只有派给党员、正在办理的工单需要登记到场 / no on-site arrival expected")
    if t.get("arrived_at") is not None:
        raise IllegalTransitionError("已登记到场 / arrival already recorded")
    t.update(arrived_at=at, updated_at=at, version=t.get("version", 1) + 1)
    late = at > t["arrive_by"]
    return dict(at=at, actor=actor.name, actor_role=actor.role, action="arrive", from_state=t["state"],
                to_state=t["state"], note="超时到场" if late else "30分钟内到场")


def is_overdue(t: Ticket, now: datetime) -> bool:
    """Past the whole ticket's limit while still open."""
    return workflow.is_open(t["state"]) and t.get("due_at") is not None and now > t["due_at"]


def escalation_due(t: Ticket, now: datetime) -> str | None:
    """The escalation the clock should make now, if any.

    "小事不出网格，大事不出社区，急事不出社区": urgent tickets go to the community
    at once; a ticket that overstays its step limit at the grid goes to the
    community, at the community to the street. Tickets being worked on are
    not moved (they are overdue, and shown so, but stay with their handler).
    """
    wf = workflow.workflow(t.get("workflow"))
    state = t["state"]
    if wf.move(state, "escalate") is None or SYSTEM not in wf.move(state, "escalate").roles:
        return None
    if t.get("urgent") and state in ("reported", "grid_accepted"):
        return "escalate"
    if t.get("step_due_at") is not None and now > t["step_due_at"]:
        return "escalate"
    return None


SYSTEM_ACTOR = Actor("系统（时限升级）", SYSTEM)


def rating_label(stars: int | None, lang: str = "zh") -> str:
    if stars is None:
        return ""
    return (RATING_WORDS if lang == "zh" else RATING_WORDS_EN)[stars]


__all__ = ["Actor", "new_ticket", "apply", "record_arrival", "is_overdue", "escalation_due", "SYSTEM_ACTOR",
           "rating_label", "COMMUNITY", "STREET"]
