"""Ticket states and the moves between them: the one place that knows the loop.

Two configurations ship:

- ``five_step`` (道真县, the default): 网格收单 → 社区分单 → 街道审单 → 部门领单 →
  群众评单, with the escalation rule "small matters stay in the grid, big ones
  in the community, urgent ones go to the community at once".
- ``erqi`` (二七区 "一领四单"): 居民下单 → 街道党工委接单 → 社区各方共建做单 →
  居民自治结单.

Every state is classified once here (open / fixed / closed, as FixMyStreet
does) and everything else asks this module: map colours, indicators, the
ticket service and the demo town's history. Each move names the workflow
roles that may make it; ``geo.access.roles`` maps a user's job onto those roles.

Exits that real systems need are moves too: reject with a reason (not our
matter, duplicate, no problem found), return to the previous step, reopen
after a bad rating, close without "fixed" (so fix rates stay honest), and
merge into a duplicate.

Ratings (群众评单) decide the way out of "awaiting rating": 3 stars (基本满意)
or more close the ticket as fixed; 1–2 stars (不满意) reopen it and send it
back to the community (a reopen, counted as one). A resident reopens only
with a bad rating, also after a closure. ``Move.ratings`` holds the stars a
move takes, so the rule lives here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo.errors import IllegalTransitionError

# Workflow roles: who acts at each level of the loop.
GRID = "grid"  # grid head / grid worker
COMMUNITY = "community"  # community staff
STREET = "street"  # street staff, street party committee
HANDLER = "handler"  # the department, party member or volunteer doing the work
RESIDENT = "resident"  # the reporter
SYSTEM = "system"  # the clock: escalation of urgent and overdue tickets
ROLES = (GRID, COMMUNITY, STREET, HANDLER, RESIDENT, SYSTEM)

REJECT_REASONS = ("不属于本辖区事项", "重复上报", "现场核实无问题")


@dataclass(frozen=True)
class State:
    key: str
    name_zh: str
    name_en: str
    color: str
    is_open: bool
    is_fixed: bool = False  # closed with the problem solved (counts as 结案)
    level: str = GRID  # who holds the ticket while it is in this state

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class Move:
    action: str
    source: str
    target: str
    roles: tuple[str, ...]  # who may make this move
    name_zh: str
    name_en: str
    needs_reason: bool = False
    ratings: tuple[int, ...] = ()  # stars this move takes (rate: 3–5, reopen: 1–2); () = no rating
    urgent: bool = False  # a system escalation the clock makes at once for urgent tickets

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


#: Stars that close a ticket as fixed (基本满意 3, 满意 4–5) and stars that reopen it (不满意).
SATISFIED_RATINGS = (3, 4, 5)
BAD_RATINGS = (1, 2)


@dataclass(frozen=True)
class Workflow:
    key: str
    name_zh: str
    name_en: str
    moves: tuple[Move, ...]
    steps: tuple[str, ...] = field(default=())  # the main path, in order
    initial: str = "reported"

    def moves_from(self, state: str) -> list[Move]:
        return [m for m in self.moves if m.source == state]

    def move(self, state: str, action: str) -> Move | None:
        return next((m for m in self.moves if m.source == state and m.action == action), None)

    def allowed(self, state: str, role: str) -> list[Move]:
        """The moves ``role`` may make now: what a page offers as buttons."""
        return [m for m in self.moves_from(state) if role in m.roles]

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


STATES: dict[str, State] = {
    s.key: s
    for s in [
        State("reported", "群众点单", "Reported", "#e63946", True, level=GRID),
        State("grid_accepted", "网格收单", "Accepted by grid", "#f77f00", True, level=GRID),
        State("community_dispatched", "社区分单", "With the community", "#fcbf49", True, level=COMMUNITY),
        State("street_reviewed", "街道审单", "With the street", "#a98467", True, level=STREET),
        State("street_accepted", "街道党工委接单", "Accepted by street party committee", "#a98467", True,
              level=STREET),
        State("in_progress", "部门领单·办理中", "In progress", "#4361ee", True, level=HANDLER),
        State("resolved", "待群众评单", "Awaiting rating", "#4cc9f0", True, level=RESIDENT),
        State("closed", "已办结", "Closed (fixed)", "#2a9d8f", False, is_fixed=True),
        State("closed_unfixed", "办结未解决", "Closed, not fixed", "#6c757d", False),
        State("rejected", "不予受理", "Rejected", "#adb5bd", False),
        State("merged", "已合并", "Merged", "#ced4da", False),
    ]
}

OPEN_STATES: tuple[str, ...] = tuple(k for k, s in STATES.items() if s.is_open)
CLOSED_STATES: tuple[str, ...] = tuple(k for k, s in STATES.items() if not s.is_open)
#: Open states in which someone still owes work, so a passed limit makes the ticket overdue.
#: Waiting for the resident's rating is not: the work was reported done (on time or not,
#: which 按期结案 measures), and the rating has no limit.
OVERDUE_STATES: tuple[str, ...] = tuple(k for k in OPEN_STATES if k != "resolved")
#: Closed states that count as a real closure (结案) — rejected and merged do not.
CASE_CLOSED_STATES: tuple[str, ...] = ("closed", "closed_unfixed")


def _with_merges(moves: tuple[Move, ...], states: tuple[str, ...]) -> tuple[Move, ...]:
    """``moves`` plus a merge into a duplicate from each of ``states``, made by whoever holds the ticket there.

    The holder is the staff level that makes the state's other moves (the grid for 网格收单, the
    community for 社区分单, the street for 街道审单; in 一领四单 the street takes 居民下单): a grid
    head or community staff is not offered to merge away a ticket the street holds (issue 13).
    """
    merges = []
    for state in states:
        holders = tuple(r for r in (GRID, COMMUNITY, STREET) if any(r in m.roles for m in moves if m.source == state))
        if not holders:
            raise ValueError(f"nobody holds {state!r}: a merge from it would be offered to no one")
        merges.append(Move("merge", state, "merged", holders, "合并重复工单", "Merge duplicate", needs_reason=True))
    return moves + tuple(merges)


FIVE_STEP = Workflow(
    key="five_step",
    name_zh="五步闭环：网格收单→社区分单→街道审单→部门领单→群众评单",
    name_en="Five-step loop (grid → community → street → department → resident)",
    steps=("reported", "grid_accepted", "community_dispatched", "street_reviewed",
           "in_progress", "resolved", "closed"),
    moves=_with_merges((
        Move("accept", "reported", "grid_accepted", (GRID,), "网格收单", "Accept"),
        Move("reject", "reported", "rejected", (GRID,), "不予受理", "Reject", needs_reason=True),
        Move("escalate", "reported", "community_dispatched", (SYSTEM,), "急事/超时直报社区",
             "Urgent or overdue: to community", urgent=True),
        # small matters stay in the grid: the grid handles them itself
        Move("handle_in_grid", "grid_accepted", "in_progress", (GRID,), "网格自办", "Handle in grid"),
        Move("escalate", "grid_accepted", "community_dispatched", (GRID, SYSTEM), "上报社区",
             "Escalate to community", urgent=True),
        # big matters stay in the community: it dispatches to its own people
        Move("assign", "community_dispatched", "in_progress", (COMMUNITY,), "社区派单", "Assign"),
        # 网格下单、党员接单 (正安; 务川: 党员半小时内上门接单): a party member bound to the grid, or near
        # it, takes an offered ticket themselves (geo.people.orders), waiting in the grid or the community
        Move("claim", "grid_accepted", "in_progress", (HANDLER,), "党员接单", "Claimed by a party member"),
        Move("claim", "community_dispatched", "in_progress", (HANDLER,), "党员接单", "Claimed by a party member"),
        Move("escalate", "community_dispatched", "street_reviewed", (COMMUNITY, SYSTEM), "上报街道",
             "Escalate to street"),
        Move("return", "community_dispatched", "grid_accepted", (COMMUNITY,), "退回网格", "Return to grid",
             needs_reason=True),
        Move("reject", "community_dispatched", "rejected", (COMMUNITY,), "不予受理", "Reject",
             needs_reason=True),
        Move("assign", "street_reviewed", "in_progress", (STREET,), "派发部门", "Send to department"),
        Move("return", "street_reviewed", "community_dispatched", (STREET,), "退回社区",
             "Return to community", needs_reason=True),
        Move("reject", "street_reviewed", "rejected", (STREET,), "不予受理", "Reject", needs_reason=True),
        Move("resolve", "in_progress", "resolved", (HANDLER, GRID, COMMUNITY), "办结反馈", "Report done"),
        Move("return", "in_progress", "community_dispatched", (HANDLER,), "退回重派", "Return for re-dispatch",
             needs_reason=True),
        Move("close_unfixed", "in_progress", "closed_unfixed", (COMMUNITY, STREET), "办结未解决",
             "Close without fix", needs_reason=True),
        # a bad rating (1–2) is a reopen: back to the community, which dispatches again
        Move("rate", "resolved", "closed", (RESIDENT, GRID), "群众评单", "Rate and close",
             ratings=SATISFIED_RATINGS),
        Move("reopen", "resolved", "community_dispatched", (RESIDENT, GRID), "不满意重办", "Reopen",
             ratings=BAD_RATINGS),
        Move("reopen", "closed", "community_dispatched", (RESIDENT, COMMUNITY), "不满意重新办理", "Reopen",
             ratings=BAD_RATINGS),
    ), ("reported", "grid_accepted", "community_dispatched", "street_reviewed")),
)

ERQI = Workflow(
    key="erqi",
    name_zh="一领四单：居民下单→街道党工委接单→社区各方共建做单→居民自治结单",
    name_en="'One lead, four orders' (resident → street party committee → community parties → residents)",
    steps=("reported", "street_accepted", "in_progress", "resolved", "closed"),
    moves=_with_merges((
        Move("accept", "reported", "street_accepted", (STREET,), "街道党工委接单", "Accept"),
        Move("reject", "reported", "rejected", (STREET,), "不予受理", "Reject", needs_reason=True),
        # the same clock as the five-step loop: urgent matters go to the community parties at
        # once (急事不出社区), and a step the street lets run out goes to them too
        Move("escalate", "reported", "in_progress", (SYSTEM,), "急事/超时直派社区做单",
             "Urgent or overdue: to community parties", urgent=True),
        Move("assign", "street_accepted", "in_progress", (STREET,), "派社区共建做单", "Hand to community parties"),
        Move("claim", "street_accepted", "in_progress", (HANDLER,), "党员接单", "Claimed by a party member"),
        Move("escalate", "street_accepted", "in_progress", (SYSTEM,), "超时直派社区做单",
             "Overdue: to community parties", urgent=True),
        Move("return", "street_accepted", "reported", (STREET,), "退回重审", "Return", needs_reason=True),
        Move("resolve", "in_progress", "resolved", (HANDLER, COMMUNITY), "做单完成", "Report done"),
        Move("return", "in_progress", "street_accepted", (HANDLER, COMMUNITY), "退回街道", "Return to street",
             needs_reason=True),
        Move("close_unfixed", "in_progress", "closed_unfixed", (STREET,), "办结未解决", "Close without fix",
             needs_reason=True),
        Move("rate", "resolved", "closed", (RESIDENT, COMMUNITY), "居民自治结单", "Residents close",
             ratings=SATISFIED_RATINGS),
        # a bad rating sends the work back to the community parties
        Move("reopen", "resolved", "in_progress", (RESIDENT, COMMUNITY), "不满意重办", "Reopen",
             ratings=BAD_RATINGS),
        Move("reopen", "closed", "in_progress", (RESIDENT, STREET), "不满意重新办理", "Reopen",
             ratings=BAD_RATINGS),
    ), ("reported", "street_accepted")),
)

WORKFLOWS: dict[str, Workflow] = {w.key: w for w in (FIVE_STEP, ERQI)}
DEFAULT_WORKFLOW = FIVE_STEP


def workflow(key: str | None) -> Workflow:
    try:
        return WORKFLOWS[key or DEFAULT_WORKFLOW.key]
    except KeyError:
        raise KeyError(f"unknown workflow {key!r}; known: {', '.join(WORKFLOWS)}") from None


def is_open(state: str) -> bool:
    return STATES[state].is_open


def state_color(state: str) -> str:
    return STATES[state].color


def check_move(state: str, action: str, role: str, *, workflow: Workflow = DEFAULT_WORKFLOW,
               reason: str | None = None, rating: int | None = None) -> Move:
    """The move ``role`` makes by ``action`` from ``state``, or a clear refusal.

    Pure rule check shared by the ticket service and the demo generator, so
    every stored history obeys the same machine. A move that takes a rating
    refuses stars outside ``Move.ratings``.
    """
    move = workflow.move(state, action)
    if move is None:
        allowed = "、".join(f"{m.name_zh}" for m in workflow.moves_from(state)) or "无"
        raise IllegalTransitionError(
            f"工单当前为「{STATES[state].name_zh}」，不能执行“{action}”。当前可执行：{allowed}")
    if role not in move.roles:
        raise IllegalTransitionError(
            f"「{move.name_zh}」只能由 {'/'.join(move.roles)} 执行，当前身份为 {role}")
    if move.needs_reason and not (reason and reason.strip()):
        raise IllegalTransitionError(f"「{move.name_zh}」必须填写原因")
    if move.ratings and rating not in move.ratings:
        stars = "、".join(str(r) for r in move.ratings)
        raise IllegalTransitionError(f"「{move.name_zh}」须给出 {stars} 星评价 / this move takes {stars} stars")
    return move


def claimable_states() -> tuple[str, ...]:
    """States a party member may claim a ticket from (党员接单), in any workflow."""
    return tuple(sorted({m.source for wf in WORKFLOWS.values() for m in wf.moves if m.action == "claim"}))


def escalating_states(*, urgent: bool = False) -> tuple[str, ...]:
    """States the clock may escalate out of (``urgent``: those it leaves at once when urgent)."""
    return tuple(sorted({m.source for wf in WORKFLOWS.values() for m in wf.moves
                         if m.action == "escalate" and SYSTEM in m.roles and (m.urgent or not urgent)}))


def overdue(states, due_at, now) -> np.ndarray:
    """Vectorised: tickets still owing work (OVERDUE_STATES) whose time limit has passed at ``now``.

    A Series is used as it is: a datetime column is not converted again (issue 15: forcing object dtype
    and back cost 1.4 s per call on a million tickets, and the wall calls this several times a refresh).
    """
    states = states if isinstance(states, pd.Series) else pd.Series(states, dtype=object)
    due_at = due_at if isinstance(due_at, pd.Series) else pd.Series(due_at, dtype=object)
    open_ = states.isin(OVERDUE_STATES).to_numpy()
    due = pd.to_datetime(due_at).to_numpy()
    return open_ & ~pd.isna(due) & (due < np.datetime64(now))
