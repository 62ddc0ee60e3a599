"""Ticket states and the moves between them: the one place that knows the loop.

The default workflow is the five-step loop of 道真县 (网格收单 → 社区分单 →
街道审单 → 部门领单 → 群众评单, DOMAIN.md). Every state is classified once
here (open / fixed / closed, as FixMyStreet does) and everything else asks this
module: the map colours, the indicators and the demo town's history.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class State:
    key: str
    name_zh: str
    name_en: str
    color: str
    is_open: bool
    is_fixed: bool = False  # closed with the problem solved (counts as 结案)

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


@dataclass(frozen=True)
class Workflow:
    key: str
    name_zh: str
    name_en: str
    states: dict[str, State]
    moves: tuple[Move, ...]
    initial: str = "reported"
    steps: tuple[str, ...] = field(default=())  # the main path, in order

    def moves_from(self, state: str) -> list[Move]:
        return [m for m in self.moves if m.source == state]

    def move(self, state: str, action: str) -> Move | None:
        for m in self.moves:
            if m.source == state and m.action == action:
                return m
        return None


STATES: dict[str, State] = {
    s.key: s
    for s in [
        State("reported", "群众点单", "Reported", "#e63946", True),
        State("grid_accepted", "网格收单", "Accepted by grid", "#f77f00", True),
        State("community_dispatched", "社区分单", "Dispatched by community", "#fcbf49", True),
        State("street_reviewed", "街道审单", "Reviewed by street", "#a98467", True),
        State("in_progress", "部门领单", "In progress", "#4361ee", True),
        State("resolved", "待评单", "Awaiting rating", "#4cc9f0", True),
        State("closed", "群众评单·已办结", "Closed (rated)", "#2a9d8f", False, is_fixed=True),
        State("closed_unfixed", "办结未解决", "Closed, not fixed", "#6c757d", False),
        State("rejected", "不予受理", "Rejected", "#adb5bd", False),
        State("merged", "已合并", "Merged", "#ced4da", False),
    ]
}

GRID, COMMUNITY, STREET, DEPARTMENT, RESIDENT = (
    "grid_worker", "community_staff", "street_staff", "department", "resident")

FIVE_STEP = Workflow(
    key="five_step",
    name_zh="五步闭环（网格收单→社区分单→街道审单→部门领单→群众评单）",
    name_en="Five-step loop",
    states=STATES,
    steps=("reported", "grid_accepted", "community_dispatched", "street_reviewed",
           "in_progress", "resolved", "closed"),
    moves=(
        Move("accept", "reported", "grid_accepted", (GRID,), "网格收单", "Accept"),
        Move("reject", "reported", "rejected", (GRID,), "不予受理", "Reject", needs_reason=True),
        # small matters stay in the grid: the grid handles them itself
        Move("handle_in_grid", "grid_accepted", "in_progress", (GRID,), "网格自办", "Handle in grid"),
        Move("escalate", "grid_accepted", "community_dispatched", (GRID,), "上报社区", "Escalate to community"),
        # big matters stay in the community: it dispatches to its own people
        Move("assign", "community_dispatched", "in_progress", (COMMUNITY,), "社区派单", "Assign"),
        Move("escalate", "community_dispatched", "street_reviewed", (COMMUNITY,), "上报街道", "Escalate to street"),
        Move("return", "community_dispatched", "grid_accepted", (COMMUNITY,), "退回网格", "Return to grid",
             needs_reason=True),
        Move("assign", "street_reviewed", "in_progress", (STREET,), "派发部门", "Send to department"),
        Move("return", "street_reviewed", "community_dispatched", (STREET,), "退回社区", "Return to community",
             needs_reason=True),
        Move("resolve", "in_progress", "resolved", (DEPARTMENT, GRID, COMMUNITY), "办结反馈", "Report done"),
        Move("close_unfixed", "in_progress", "closed_unfixed", (COMMUNITY, STREET), "办结未解决",
             "Close without fix", needs_reason=True),
        Move("rate", "resolved", "closed", (RESIDENT, GRID), "群众评单", "Rate and close"),
        Move("reopen", "resolved", "in_progress", (RESIDENT, GRID), "不满意重办", "Reopen", needs_reason=True),
        Move("reopen", "closed", "in_progress", (RESIDENT, COMMUNITY), "重新办理", "Reopen", needs_reason=True),
    ),
)

WORKFLOWS: dict[str, Workflow] = {FIVE_STEP.key: FIVE_STEP}
DEFAULT_WORKFLOW = FIVE_STEP

OPEN_STATES: tuple[str, ...] = tuple(k for k, s in STATES.items() if s.is_open)
CLOSED_STATES: tuple[str, ...] = tuple(k for k, s in STATES.items() if not s.is_open)


def is_open(state: str) -> bool:
    return STATES[state].is_open


def state_color(state: str) -> str:
    return STATES[state].color


def check_move(state: str, action: str, role: str, *, workflow: Workflow = DEFAULT_WORKFLOW,
               reason: str | None = None) -> Move:
    """The move ``role`` makes by ``action`` from ``state``, or a clear refusal.

    Pure rule check shared by the ticket service and the demo generator, so
    every stored history obeys the same machine.
    """
    from geo.errors import IllegalTransitionError

    move = workflow.move(state, action)
    if move is None:
        allowed = "、".join(f"{m.name_zh}({m.action})" for m in workflow.moves_from(state)) or "无"
        raise IllegalTransitionError(
            f"工单当前为「{STATES[state].name_zh}」，不能执行“{action}”。可执行：{allowed}")
    if role not in move.roles:
        raise IllegalTransitionError(
            f"「{move.name_zh}」需由 {'/'.join(move.roles)} 执行，当前角色为 {role}")
    if move.needs_reason and not (reason and reason.strip()):
        raise IllegalTransitionError(f"「{move.name_zh}」必须填写原因")
    return move


def overdue(states, due_at, now) -> "np.ndarray":
    """Vectorised: open tickets whose time limit has passed at ``now``."""
    import numpy as np
    import pandas as pd

    open_ = pd.Series(states).isin(OPEN_STATES).to_numpy()
    due = pd.to_datetime(pd.Series(due_at)).to_numpy()
    return open_ & ~pd.isna(due) & (due < np.datetime64(now))
