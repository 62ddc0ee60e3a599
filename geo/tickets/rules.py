"""Ticket rules over plain values: open a ticket, apply a move, decide escalation.

These functions work on a ticket as a plain dict (the columns of the
``ticket`` table) and return the history event to store, so the database
service (``geo.tickets.service``) and the demo generator run exactly the same
rules. Nothing here touches the database or the clock: time comes in as an
argument, which is what lets tests freeze it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geo.tickets import categories, workflow
from geo.errors import IllegalTransitionError, ValidationError
from geo.tickets.workflow import COMMUNITY, GRID, STATES, STREET, SYSTEM

Ticket = dict[str, Any]
Event = dict[str, Any]

LEVEL_ORDER = {GRID: 0, COMMUNITY: 1, STREET: 2}
#: 群众评单: 5–4 满意, 3 基本满意, 2–1 不满意.
RATING_WORDS = {5: "满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "不满意"}
RATING_WORDS_EN = {5: "satisfied", 4: "satisfied", 3: "fairly satisfied", 2: "dissatisfied", 1: "dissatisfied"}
MAX_DESCRIPTION = 4000  # Open311 GeoReport v2 limit

#: Who gave a rating, and how (评价来源). Only the resident rates by their own channel (the
#: tracking link, a kiosk: an actor in the RESIDENT role); a member of staff who records the
#: resident's verdict does it on the resident's behalf (代居民评价) and names the channel of the
#: follow-up (回访, 国办发〔2020〕53号: 受理 → … → 办结 → 回访 → 评价). The indicators show how many
#: ratings residents gave themselves (geo.tickets.indicators), so a 满意率 made of staff-entered ratings
#: is seen for what it is.
SELF_RATING = "resident"
RATING_CHANNELS = {
    SELF_RATING: ("居民本人评价", "by the resident"),
    "phone": ("电话回访", "phone follow-up"),
    "visit": ("上门回访", "home visit"),
    "on_site": ("现场", "on site"),
    "hotline": ("12345回访", "12345 hotline follow-up"),
}
PROXY_CHANNELS: tuple[str, ...] = tuple(k for k in RATING_CHANNELS if k != SELF_RATING)

#: Where a ticket came from (GB/T 30428 信息收集: public reports, inspectors, video, superior referrals;
#: the 12345 hotline; a household visit). The report form asks for it, with no default.
SOURCES: dict[str, tuple[str, str]] = {
    "resident": ("居民上报", "Resident"),
    "patrol": ("网格巡查", "Grid patrol"),
    "video": ("视频发现", "Video"),
    "hotline": ("12345热线", "12345 hotline"),
    "visit": ("入户走访", "Household visit"),
}


def source_label(key: str | None, lang: str = "zh") -> str:
    zh, en = SOURCES.get(key or "", (key or "", key or ""))
    return zh if lang == "zh" else en


@dataclass(frozen=True)
class Actor:
    """Who acts: the name histories show, the workflow role they act in, and their login.

    ``username`` is what the audit log records (the same bare user name that
    sign-ins and visits use, so one filter finds all of a user's actions);
    without one (the demo's history, a resident) the display name is used.
    ``person_id`` ties a party member's login to the tickets assigned to them.
    """

    name: str
    role: str
    person_id: int | None = None
    username: str | None = None

    @property
    def audit_name(self) -> str:
        return self.username or self.name


#: The workflow role each user role (geo.access.roles.ROLES) acts in; read-only accounts (the wall) act in none.
ACTS_AS: dict[str, str] = {
    "street_leader": workflow.STREET, "street_staff": workflow.STREET, "community_staff": workflow.COMMUNITY,
    "grid_head": workflow.GRID, "grid_worker": workflow.GRID, "party_member": workflow.HANDLER,
}


def actor_for(user) -> Actor:
    """A signed-in user (geo.access.users.User) acting on tickets, in their workflow role: the one place that says how."""
    return Actor(user.label, ACTS_AS.get(user.role, ""), user.person_id, user.username)


def new_ticket(*, category: str, description: str, created: datetime, urgent: bool = False,
               workflow_key: str | None = None, source: str = "resident", reporter_name: str | None = None,
               reporter_phone: str | None = None, photo: str | None = None, code: str | None = None,
               by: Actor | None = None, **place: Any) -> tuple[Ticket, Event]:
    """A freshly reported ticket (state ``reported``) and its first history event.

    ``place`` holds the routing result: geom, grid_id, community_id, street_id,
    routing_flag. ``by`` is a member of staff who took the report (a patrol,
    the hotline, a grid head on the desk): the event is theirs; without it
    the reporting resident is the actor (their name is masked when shown).
    """
    if not category:
        raise ValidationError("请选择问题类别 / choose a category")
    categories.category(category)  # a clear error for an unknown category
    if source not in SOURCES:
        raise ValidationError("请选择问题来源（居民上报、网格巡查、视频发现、12345热线或入户走访） / choose where the "
                              "report came from")
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
        first_resolved_at=None, ratings_given=0, ratings_satisfied=0, rating_channel=None, ratings_self=0,
        ratings_self_satisfied=0, reopen_count=0, merged_into_id=None, version=1, **place)
    who = by or Actor(reporter_name or "群众", workflow.RESIDENT)
    event = dict(at=created, actor=who.name, actor_role=who.role, action="report", from_state=None,
                 to_state=wf.initial, note=description[:200], rating=None, username=who.audit_name)
    return t, event


def apply(t: Ticket, action: str, actor: Actor, at: datetime, *, note: str | None = None,
          rating: int | None = None, assignee_id: int | None = None, assignee_is_party_member: bool = False,
          department: str | None = None, merged_into_id: int | None = None,
          rating_channel: str | None = None) -> Event:
    """Make one move on ``t`` in place and return the history event.

    Refuses (IllegalTransitionError, ``t`` unchanged) a move the workflow does
    not allow from the current state for the actor's role, a move without a
    required reason, a rating the move does not take, an assignment to nobody,
    and a handler acting on a ticket that is not theirs.

    A rating of 1–2 given with "rate" *is* the reopen move (不满意 never closes
    a ticket as fixed). Every rating is counted (``ratings_given``,
    ``ratings_satisfied``) and stored with its event, so satisfaction counts
    the ratings that led to a reopen too.

    Every rating records who gave it (``rating_channel``, RATING_CHANNELS): a
    resident actor rates by their own channel; anyone else rates on the
    resident's behalf and must name the follow-up it came from (PROXY_CHANNELS),
    else the move is refused.
    """
    wf = workflow.workflow(t.get("workflow"))
    if rating is not None and rating not in RATING_WORDS:
        raise IllegalTransitionError("评价须为 1–5 星 / a rating is 1 to 5 stars")
    if action == "rate" and rating in workflow.BAD_RATINGS and wf.move(t["state"], "reopen"):
        action = "reopen"
    move = workflow.check_move(t["state"], action, actor.role, workflow=wf, reason=note, rating=rating)
    if action == "assign" and not assignee_id and not (department and department.strip()):
        raise IllegalTransitionError("派单须指定承办人或承办部门 / name a person or a department to assign to")
    if action == "merge" and not merged_into_id:
        raise IllegalTransitionError("合并须指明保留的工单 / name the ticket to merge into")
    if action == "claim":  # 党员接单: the member takes it for themselves, never on someone's behalf
        if actor.person_id is None:
            raise IllegalTransitionError("只有党员本人可以接单 / only a party member claims a ticket, for themselves")
    else:
        _check_handler(t, actor)
    channel = _rating_channel(actor, rating_channel) if move.ratings else None
    source = t["state"]
    target = STATES[move.target]
    t.update(state=move.target, updated_at=at, version=t.get("version", 1) + 1)
    if actor.role != SYSTEM and t.get("first_response_at") is None:
        t["first_response_at"] = at
    if t.get("accepted_at") is None and is_case_decision(action, actor):
        t["accepted_at"] = at  # 立案 (GB/T 30428 案卷建立): a person took the case on
    if target.level in LEVEL_ORDER and LEVEL_ORDER[target.level] > LEVEL_ORDER.get(t.get("level") or GRID, 0):
        t["level"] = target.level
    if action == "claim":
        t.update(assignee_id=actor.person_id, department=None, assigned_at=at,
                 arrive_by=at + categories.ARRIVAL_LIMIT, arrived_at=None)
    elif action == "assign" or (action == "handle_in_grid" and assignee_id):
        t.update(assignee_id=assignee_id, department=(department or "").strip() or None, assigned_at=at,
                 arrive_by=at + categories.ARRIVAL_LIMIT if assignee_is_party_member else None,
                 arrived_at=None)
    if action == "return" and t.get("arrive_by") is not None and t.get("arrived_at") is None and at < t["arrive_by"]:
        t["arrive_by"] = None  # handed back within the half hour: no promise was broken (later: a miss, kept)
    if move.target == "resolved":
        t["resolved_at"] = at
        if t.get("first_resolved_at") is None:
            t["first_resolved_at"] = at  # kept through reopens: the reopen rate counts on it
    if move.ratings:
        satisfied, own = rating in workflow.SATISFIED_RATINGS, channel == SELF_RATING
        t.update(rating=rating, rating_comment=note, rating_channel=channel,
                 ratings_given=(t.get("ratings_given") or 0) + 1,
                 ratings_satisfied=(t.get("ratings_satisfied") or 0) + satisfied,
                 ratings_self=(t.get("ratings_self") or 0) + own,
                 ratings_self_satisfied=(t.get("ratings_self_satisfied") or 0) + (own and satisfied))
    if action == "reopen":
        t.update(closed_at=None, resolved_at=None, reopen_count=(t.get("reopen_count") or 0) + 1)
    if action == "merge":
        t["merged_into_id"] = merged_into_id
    if not target.is_open:
        t["closed_at"] = at
    t["step_due_at"] = (categories.step_due_at(t["category"], move.target, at, t["urgent"], t["due_at"])
                        if target.is_open else None)
    text = note
    if move.ratings:
        behalf = "" if channel == SELF_RATING else f"（代居民评价·{RATING_CHANNELS[channel][0]}）"
        text = f"{rating}星 {RATING_WORDS[rating]}{behalf}" + (f"：{note}" if note else "")  # the resident's own words
    return dict(at=at, actor=actor.name, actor_role=actor.role, action=action, from_state=source,
                to_state=move.target, note=text, rating=rating if move.ratings else None,
                rating_channel=channel, username=actor.audit_name)


#: Moves that refuse a report rather than take it on: they never make it a case (立案).
REFUSALS = ("reject", "merge")


def is_case_decision(action: str, actor: Actor) -> bool:
    """Whether this move is 立案: a member of staff taking the report on as a case (GB/T 30428 案卷建立).

    立案 is a person's decision that the case is real and ours (DOMAIN.md, "Standards and defaults"):
    the first move a member of staff makes on it other than refusing it (不予受理, 合并). The clock's
    escalation of a report nobody looked at is not 立案, nor is anything a resident does.
    """
    return actor.role not in (SYSTEM, workflow.RESIDENT) and action not in REFUSALS


def _rating_channel(actor: Actor, channel: str | None) -> str:
    """Who gives this rating: the resident by their own channel, or staff on their behalf through ``channel``."""
    if actor.role == workflow.RESIDENT:
        if channel not in (None, SELF_RATING):
            raise IllegalTransitionError("居民本人评价无需选择回访方式 / a resident's own rating has no follow-up channel")
        return SELF_RATING
    if channel not in PROXY_CHANNELS:
        names = " / ".join(RATING_CHANNELS[k][0] for k in PROXY_CHANNELS)
        raise IllegalTransitionError(f"代居民评价须选择回访方式：{names}（居民本人评价请用其本人渠道） / rating on the "
                                     "resident's behalf needs the follow-up channel (phone, home visit, on site, 12345)")
    return channel


def rating_channel_label(channel: str | None, lang: str = "zh") -> str:
    """评价来源 as people read it: 居民本人评价, or 代居民评价·电话回访 …; "" when nobody rated."""
    if not channel:
        return ""
    zh, en = RATING_CHANNELS.get(channel, (channel, channel))
    if channel == SELF_RATING:
        return zh if lang == "zh" else en
    return f"代居民评价·{zh}" if lang == "zh" else f"on the resident's behalf ({en})"


def allowed_moves(t: Ticket, actor: Actor) -> list[workflow.Move]:
    """The moves ``actor`` may make on ``t`` now: what a page offers (the same checks as apply)."""
    if not _handler_may_act(t, actor):
        return []
    # a claim is taken from the party member's own page (geo.people.orders), which checks the offer
    return [m for m in workflow.workflow(t.get("workflow")).allowed(t["state"], actor.role) if m.action != "claim"]


def actionable_states(actor: Actor) -> dict[str, tuple[str, ...]]:
    """Per workflow, the states in which ``actor``'s role has a move to make: the desk's 待我办理.

    A handler (party member) acts only on tickets assigned to them: the caller adds that
    condition (geo.tickets.service.query does, by ``person_id``).
    """
    return {key: tuple(sorted({m.source for m in wf.moves if actor.role in m.roles}))
            for key, wf in workflow.WORKFLOWS.items()}


def may_record_arrival(t: Ticket, actor: Actor) -> bool:
    """True when ``actor`` is the party member whose on-site arrival ``t`` is waiting for."""
    return (t["state"] == "in_progress" and t.get("arrive_by") is not None and t.get("arrived_at") is None
            and actor.person_id is not None and actor.person_id == t.get("assignee_id"))


def _handler_may_act(t: Ticket, actor: Actor) -> bool:
    """A party member or volunteer signed in as a handler acts only on tickets assigned to them."""
    return not (actor.role == workflow.HANDLER and actor.person_id is not None
                and t.get("assignee_id") != actor.person_id)


def _check_handler(t: Ticket, actor: Actor) -> None:
    """Refuse a handler acting on a ticket not assigned to them (see _handler_may_act)."""
    if not _handler_may_act(t, actor):
        raise IllegalTransitionError("此工单未派给您，不能办理 / this ticket is not assigned to you")


def record_arrival(t: Ticket, actor: Actor, at: datetime) -> Event:
    """The party member is on site: the 30-minute promise is kept or broken.

    Only the party member the ticket is assigned to records it (their login
    carries their person id); nobody may vouch for them.
    """
    if t["state"] != "in_progress" or t.get("arrive_by") is None:
        raise IllegalTransitionError("只有派给党员、正在办理的工单需要登记到场 / no on-site arrival expected")
    if actor.person_id is None or actor.person_id != t.get("assignee_id"):
        raise IllegalTransitionError("只有被派单的党员本人可以登记到场 / only the assigned party member records arrival")
    if t.get("arrived_at") is not None:
        raise IllegalTransitionError("已登记到场 / arrival already recorded")
    t.update(arrived_at=at, updated_at=at, version=t.get("version", 1) + 1)
    late = at > t["arrive_by"]
    return dict(at=at, actor=actor.name, actor_role=actor.role, action="arrive", from_state=t["state"],
                to_state=t["state"], note="超时到场" if late else "30分钟内到场", rating=None,
                username=actor.audit_name)


def is_overdue(t: Ticket, now: datetime) -> bool:
    """Past the whole ticket's limit while work is still owed (see workflow.OVERDUE_STATES)."""
    return t["state"] in workflow.OVERDUE_STATES and t.get("due_at") is not None and now > t["due_at"]


def escalation_at(t: Ticket) -> datetime | None:
    """When the clock escalates ``t`` from its current state (None: it never does from here).

    "小事不出网格，大事不出社区，急事不出社区": an urgent ticket leaves a state
    whose escalation is marked ``urgent`` the moment it entered it
    (``updated_at``); any other ticket leaves when its step limit runs out
    (``step_due_at``). States with no system escalation (work in progress,
    the street's review in the five-step loop) are never moved by the clock:
    such tickets are overdue, and shown so, but stay with whoever holds them.
    """
    move = workflow.workflow(t.get("workflow")).move(t["state"], "escalate")
    if move is None or SYSTEM not in move.roles:
        return None
    if t.get("urgent") and move.urgent:
        return t.get("updated_at") or t.get("created_at")
    return t.get("step_due_at")


def escalation_due(t: Ticket, now: datetime) -> str | None:
    """The escalation the clock should have made by ``now``, if any (see escalation_at)."""
    at = escalation_at(t)
    return "escalate" if at is not None and at <= now else None


SYSTEM_ACTOR = Actor("系统", SYSTEM, username="system")


def rating_label(stars: int | None, lang: str = "zh") -> str:
    if stars is None:
        return ""
    return (RATING_WORDS if lang == "zh" else RATING_WORDS_EN)[stars]


__all__ = ["Actor", "new_ticket", "apply", "REFUSALS", "is_case_decision", "SOURCES", "source_label",
           "actionable_states", "SELF_RATING", "RATING_CHANNELS", "PROXY_CHANNELS", "rating_channel_label", "allowed_moves", "may_record_arrival", "record_arrival", "is_overdue", "escalation_at", "escalation_due",
           "SYSTEM_ACTOR",
           "rating_label", "COMMUNITY", "STREET"]
