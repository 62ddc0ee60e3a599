"""The figures leaders quote, for any area and period, with their definitions.

Definitions per DOMAIN.md ("Standards and defaults": GB/T 30428 数字化城市管理信息系统, and the
12345 hotline's scoring, 国办发〔2020〕53号), over the tickets *reported* in the period
[start, end) inside the area (the page's period is "by report date", so every figure
describes the same tickets). The cut-off of what is due is the period's end, or ``now``
when that is earlier. Each definition is also in ``DEFINITIONS`` (the page's help), next
to its label:

- 上报数 reported: tickets reported in the period (信息收集: residents, patrols, video,
  the hotline, visits).
- 立案数 accepted: of those, the cases a member of staff took on (案卷建立, GB/T 30428):
  ``accepted_at`` is stamped by the first move a person makes other than 不予受理 /
  合并 (geo.tickets.rules.is_case_decision). 立案 is a person's decision: the clock's
  escalation of a report nobody looked at is not 立案 (DOMAIN.md); rejected and merged
  tickets are no case. 立案率 = 立案数 / 上报数.
- 应处置数 / 应结案数: one rule for both (GB/T 30428: "the cases whose step is due by
  the period's end"): the cases whose limit fell by the cut-off, plus those whose step
  is already done (done early is done: 处置 by a reported fix or a closure, 结案 by a
  closure). Before issue 13 处置率 divided by every case instead.
- 处置数 handled: cases the handler reported done and that were not reopened since
  (awaiting rating, or closed fixed). 处置率 = 处置数 / 应处置数.
- 结案数 closed: cases closed (结案), fixed or not — rejected and merged are no case.
  结案率 = 结案数 / 应结案数. Shown apart: 已解决结案数 closed fixed (状态 已办结) and
  办结未解决数 closed unfixed: a case closed without a fix is 结案 but not "solved"
  (DOMAIN.md, after FixMyStreet's users: fix rates stay honest).
- 按期结案数 closed on time: cases closed *fixed* whose work was finished (办结: the
  handler's last "done") no later than their limit; the resident's rating may come
  days later and does not count against the handler; a case closed unfixed never
  counts here. 按期结案率 = 按期结案数 / 应结案数 (a case past its limit and still open
  counts against it).
- 超期 overdue now: open tickets in the area still owing work past their limit at
  ``now`` (whenever reported).
- 响应时长 response: report → first action by a person (the clock's escalations
  are no response). 办结时长 time to resolution: report → the handler's last
  "done" (``resolved_at``), over cases resolved now. 结案时长 time to closure:
  report → closure, which includes the wait for the resident's rating. All in
  hours, median and 90th percentile.
- 满意率 satisfaction (12345's scoring) = (满意 + 基本满意) / 评价数, where 评价数 counts
  *every* rating residents gave these tickets, the bad ones that reopened a ticket
  included (a ticket rated 1 star, redone and rated 5 stars adds one of each):
  5–4 stars 满意, 3 基本满意, 2–1 不满意 (which reopens, geo.tickets.workflow). Rows
  from before the rating history was kept count their one stored rating.
- 评价来源 who rated (geo.tickets.rules.RATING_CHANNELS): the 12345 loop ends 办结 → 回访 →
  评价 (国办发〔2020〕53号), and most follow-ups are a member of staff phoning or
  visiting the resident and recording the verdict — on the resident's behalf
  (代居民评价). A 满意率 built from such ratings is only as honest as the
  follow-up, so the source is counted apart:
  居民自评数 self-rated = ratings the resident gave by their own channel;
  居民自评占比 self-rated share = 居民自评数 / 评价数 (the rest, 代评数, were
  entered by staff by phone, at the door, on site or after a 12345 follow-up);
  居民自评满意率 = (满意 + 基本满意 among the self-rated) / 居民自评数.
  Ratings stored before the source was recorded count as entered by staff.
- 重办率 reopen rate = 重办数 / 办结数 (DOMAIN.md): cases reopened after a reported fix
  over cases reported fixed (``first_resolved_at``, kept through reopens, so a reopened
  ticket still being redone counts in both).
- 党员30分钟到场 (务川: 党员干部在半小时内上门接单). Over the tickets a party member
  claimed or was sent to (``arrive_by`` set: the latest such dispatch of each
  ticket): 应到场数 due = those whose 30 minutes have run out by ``now`` or
  that were reached; 30分钟内到场数 = reached by ``arrive_by``; 超时到场数 late =
  reached after it; 超时未到场数 missing = due and never recorded as reached;
  30分钟到场率 = 30分钟内到场数 / 应到场数; 到场时长中位数 = median minutes from
  the claim (or dispatch) to arrival, over those reached. A member still
  inside the half hour is on the way, in no figure yet; one who hands the
  ticket back within it owes no arrival (geo.tickets.rules clears the promise),
  one who hands it back later without arriving counts as missing.

The core is ``compute(frame, now)`` over a plain DataFrame, so tests can
check the formulas on hand-built tickets; ``case_flags`` gives the same per-case
masks to the wall's rankings (geo.screen.panels), so both say the same; ``for_area``
reads the frame. Run ``python -m geo.tickets.indicators --now 2026-11-23T09:00`` for the
table of a database.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from geo.db import store
from geo.tickets import workflow
from geo.access.roles import Scope
from geo.db.schema import Ticket

FIELDS = ["id", "category", "state", "grid_id", "community_id", "street_id", "created_at", "accepted_at",
          "first_response_at", "resolved_at", "first_resolved_at", "closed_at", "due_at", "rating",
          "ratings_given", "ratings_satisfied", "ratings_self", "ratings_self_satisfied", "reopen_count",
          "assigned_at", "arrive_by", "arrived_at"]

LABELS = {
    "reported": ("上报数", "Reported"),
    "accepted": ("立案数", "Accepted as cases"),
    "acceptance_rate": ("立案率", "Acceptance rate"),
    "handling_due": ("应处置数", "Due for handling"),
    "handled": ("处置数", "Handled"),
    "handling_rate": ("处置率", "Handling rate"),
    "due": ("应结案数", "Due for closure"),
    "closed": ("结案数", "Closed"),
    "closed_fixed": ("其中：已解决结案", "of which closed fixed"),
    "closed_unfixed": ("其中：办结未解决", "of which closed unfixed"),
    "closure_rate": ("结案率", "Closure rate"),
    "closed_on_time": ("按期结案数", "Closed fixed on time"),
    "on_time_rate": ("按期结案率", "On-time closure rate"),
    "overdue_now": ("当前超期", "Overdue now"),
    "response_median_h": ("响应时长中位数(小时)", "Median response (h)"),
    "response_p90_h": ("响应时长P90(小时)", "90th pct response (h)"),
    "resolution_median_h": ("办结时长中位数(小时)", "Median time to resolution (h)"),
    "resolution_p90_h": ("办结时长P90(小时)", "90th pct time to resolution (h)"),
    "closure_median_h": ("结案时长中位数(小时)", "Median time to closure (h)"),
    "closure_p90_h": ("结案时长P90(小时)", "90th pct time to closure (h)"),
    "rated": ("评价数", "Ratings given"),
    "satisfaction_rate": ("满意率", "Satisfaction rate"),
    "rated_self": ("居民自评数", "Rated by residents themselves"),
    "rated_proxy": ("代居民评价数", "Rated by staff on residents' behalf"),
    "self_rated_share": ("居民自评占比", "Share rated by residents themselves"),
    "satisfaction_self_rate": ("居民自评满意率", "Satisfaction among residents' own ratings"),
    "reopened": ("重办数", "Reopened after a reported fix"),
    "ever_resolved": ("办结数", "Reported fixed"),
    "reopen_rate": ("重办率", "Reopen rate"),
    "arrival_due": ("党员应到场数", "Party members due on site"),
    "arrived_in_time": ("30分钟内到场数", "Arrived within 30 minutes"),
    "arrival_rate": ("30分钟到场率", "Share arriving within 30 minutes"),
    "arrival_median_min": ("到场时长中位数(分钟)", "Median time to arrive (min)"),
    "arrived_late": ("超时到场数", "Arrived late"),
    "arrival_missing": ("超时未到场数", "Not recorded on site in time"),
}
_GB, _HOTLINE = "GB/T 30428", "12345热线考核口径（国办发〔2020〕53号）"
#: What each figure counts, and where the definition comes from (the page's help; DOMAIN.md).
DEFINITIONS: dict[str, tuple[str, str]] = {
    "reported": ("统计期内上报的工单（居民、巡查、视频、12345热线、走访）", "Tickets reported in the period"),
    "accepted": (f"工作人员决定受理立案的工单（{_GB} 案卷建立）：首个非“不予受理/合并”的人工操作即立案；"
                 "系统超时自动升级、无人看过的上报不算立案",
                 f"Cases a member of staff took on ({_GB}); the clock's escalation of an unread report is not one"),
    "acceptance_rate": (f"立案率 = 立案数 / 上报数（{_GB}）", f"Accepted / reported ({_GB})"),
    "handling_due": (f"办理时限在统计期末（或此刻，取早者）之前到期的案件，加上已处置或已结案的案件（{_GB}，与应结案数同一口径）",
                     f"Cases whose limit fell by the period's end (or now), plus those handled or closed ({_GB}, "
                     "the same rule as for closure)"),
    "due": (f"办理时限在统计期末（或此刻，取早者）之前到期的案件，加上已结案的案件（{_GB}）",
            f"Cases whose limit fell by the period's end (or now), plus those closed ({_GB})"),
    "handled": ("承办方已反馈办结且未被重办的案件（待群众评单或已解决结案）",
                "Cases reported done by the handler and not reopened since"),
    "handling_rate": (f"处置率 = 处置数 / 应处置数（{_GB}）", f"Handled / due for handling ({_GB})"),
    "closed": ("已结案的案件：已解决结案 + 办结未解决（不予受理、合并不是案件）",
               "Cases closed, fixed or not (rejected and merged are no case)"),
    "closed_fixed": ("结案且问题已解决（群众评单基本满意以上）", "Closed with the problem fixed"),
    "closed_unfixed": ("结案但问题未解决（如历史遗留），单列，不算“已解决”，也不计入按期结案",
                       "Closed without a fix: shown apart, never counted as solved or on time"),
    "closure_rate": (f"结案率 = 结案数 / 应结案数（{_GB}）", f"Closed / due ({_GB})"),
    "closed_on_time": ("已解决结案，且承办方在办理时限内反馈办结（群众评价的等待不计）",
                       "Closed fixed, the work reported done within the limit (the wait for the rating not counted)"),
    "on_time_rate": (f"按期结案率 = 按期结案数 / 应结案数（{_GB}）；超过时限仍未结案的计入分母",
                     f"Closed fixed on time / due ({_GB}); a case past its limit and still open counts against it"),
    "overdue_now": ("此刻仍欠办理且已过办理时限的工单（不论何时上报）", "Open tickets still owing work past their limit now"),
    "response_median_h": ("上报到首个人工操作的小时数（系统自动升级不算响应）", "Report → first action by a person"),
    "response_p90_h": ("同上，90%分位", "The same, 90th percentile"),
    "resolution_median_h": ("上报到承办方最后一次反馈办结的小时数", "Report → the handler's last 'done'"),
    "resolution_p90_h": ("同上，90%分位", "The same, 90th percentile"),
    "closure_median_h": ("上报到结案的小时数（含等待群众评价）", "Report → closure (including the wait for the rating)"),
    "closure_p90_h": ("同上，90%分位", "The same, 90th percentile"),
    "rated": ("群众对这些工单的全部评价次数，含导致重办的不满意评价", "Every rating given, the ones that reopened a case included"),
    "satisfaction_rate": (f"满意率 = (满意 + 基本满意) / 评价数，每次评价都计入（{_HOTLINE}）；5–4星满意，3星基本满意，1–2星不满意",
                          "(satisfied + fairly satisfied) / ratings, every rating counted (12345 hotline scoring)"),
    "rated_self": ("居民通过本人渠道给出的评价", "Ratings residents gave by their own channel"),
    "rated_proxy": ("工作人员回访后代居民录入的评价（电话、上门、现场、12345回访）",
                    "Ratings staff entered on the resident's behalf after a follow-up"),
    "self_rated_share": ("居民自评占比 = 居民自评数 / 评价数", "Self-rated / ratings"),
    "satisfaction_self_rate": ("居民自评中 (满意 + 基本满意) / 居民自评数", "Satisfied among the self-rated"),
    "reopened": ("承办方反馈办结后又被重办的案件数", "Cases reopened after a reported fix"),
    "ever_resolved": ("承办方曾反馈办结的案件数（重办后仍计入）", "Cases ever reported fixed"),
    "reopen_rate": ("重办率 = 重办数 / 办结数", "Reopened / reported fixed"),
    "arrival_due": ("党员认领或被派的工单中，30 分钟已到或已到场的（党员干部半小时内上门接单，务川经验）；"
                    "30 分钟内交回的不计", "Tickets a party member claimed or was sent to whose 30 minutes have run "
                    "out or who arrived; one handed back within them owes none"),
    "arrived_in_time": ("接单后 30 分钟内记录到场的", "Recorded on site within 30 minutes of the claim"),
    "arrival_rate": ("30分钟到场率 = 30分钟内到场数 / 党员应到场数", "Arrived within 30 minutes / due on site"),
    "arrival_median_min": ("从认领（或派单）到记录到场的分钟数中位数，只计已到场的",
                           "Median minutes from the claim (or dispatch) to arrival, over those who arrived"),
    "arrived_late": ("超过 30 分钟才记录到场的", "Recorded on site after the 30 minutes"),
    "arrival_missing": ("30 分钟已过仍未记录到场的（含超时后交回的）",
                        "30 minutes passed and never recorded on site (handed back late included)"),
}
RATES = {k for k in LABELS if k.endswith("_rate")} | {"self_rated_share"}


def label(key: str, lang: str = "zh") -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def definition(key: str, lang: str = "zh") -> str:
    """What ``key`` counts and its source (the page's help beside the figure)."""
    zh, en = DEFINITIONS[key]
    return zh if lang == "zh" else en


def _column(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index)


def in_period(frame: pd.DataFrame, *, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """The tickets reported in [start, end)."""
    created = pd.to_datetime(frame["created_at"])
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= created >= pd.Timestamp(start)
    if end is not None:
        keep &= created < pd.Timestamp(end)
    return frame[keep]


def cutoff(now: datetime, end: datetime | None = None) -> pd.Timestamp:
    """What is due is due by the period's end, or by ``now`` when the period has not ended yet."""
    return pd.Timestamp(now if end is None else min(now, end))


def case_flags(p: pd.DataFrame, now: datetime, *, end: datetime | None = None) -> pd.DataFrame:
    """One row per case (立案, not rejected or merged) of ``p`` with the masks every figure counts.

    Columns: closed, fixed, unfixed, handled, handling_due, due, on_time, ever_resolved, reopened (see the
    module docstring).
    """
    state = p["state"]
    cases = p[p["accepted_at"].notna() & ~state.isin(("rejected", "merged"))]
    state = cases["state"]
    resolved_at = pd.to_datetime(cases["resolved_at"])
    due_at = pd.to_datetime(cases["due_at"])
    closed = state.isin(workflow.CASE_CLOSED_STATES)
    fixed = state.map(lambda s: workflow.STATES[s].is_fixed).astype(bool) if len(cases) else closed
    handled = resolved_at.notna() | fixed
    ever_resolved = pd.to_datetime(_column(cases, "first_resolved_at")).notna() | handled
    reopened = pd.to_numeric(cases["reopen_count"], errors="coerce").fillna(0) > 0
    due_by_end = due_at < cutoff(now, end)
    return pd.DataFrame({
        "closed": closed, "fixed": fixed, "unfixed": closed & ~fixed, "handled": handled,
        "handling_due": due_by_end | handled | closed, "due": due_by_end | closed,
        "on_time": fixed & (resolved_at.fillna(pd.to_datetime(cases["closed_at"])) <= due_at),
        "ever_resolved": ever_resolved, "reopened": reopened & ever_resolved,
    }, index=cases.index)


#: Figures that are counts (ints); every other figure is a rate or a duration (float, NaN when undefined).
COUNTS = ("reported", "accepted", "handled", "handling_due", "due", "closed", "closed_fixed", "closed_unfixed",
          "closed_on_time", "overdue_now", "rated", "rated_self", "rated_proxy", "reopened", "ever_resolved",
          "arrival_due", "arrived_in_time", "arrived_late", "arrival_missing")
#: Durations and the column of ``_per_ticket`` each is a median / 90th percentile of.
_SPREADS = {"response_median_h": ("response_h", 0.5), "response_p90_h": ("response_h", 0.9),
            "resolution_median_h": ("resolution_h", 0.5), "resolution_p90_h": ("resolution_h", 0.9),
            "closure_median_h": ("closure_h", 0.5), "closure_p90_h": ("closure_h", 0.9),
            "arrival_median_min": ("arrival_min", 0.5)}


def _per_ticket(df: pd.DataFrame, now: datetime, *, start: datetime | None = None,
                end: datetime | None = None) -> pd.DataFrame:
    """One row per ticket of ``df``: what it adds to each count (0/1 or a number of ratings) and its durations
    (NaN where it is in no such figure). Every figure is then a sum, a quantile or a ratio of sums, so
    any number of areas is one groupby (issue 15: a Python loop per grid took 19.5 s for 1,341 grids)."""
    p = pd.Series(df.index.isin(in_period(df, start=start, end=end).index), index=df.index)
    cases = case_flags(df[p], now, end=end)
    case = pd.Series(df.index.isin(cases.index), index=df.index)
    flags = cases.reindex(df.index, fill_value=False).astype(bool)
    created = pd.to_datetime(df["created_at"])
    hours = lambda col: (pd.to_datetime(df[col]) - created).dt.total_seconds() / 3600  # noqa: E731
    stored = pd.to_numeric(_column(df, "rating"), errors="coerce")
    given = pd.to_numeric(_column(df, "ratings_given", 0), errors="coerce").fillna(0)
    satisfied = pd.to_numeric(_column(df, "ratings_satisfied", 0), errors="coerce").fillna(0)
    legacy = (given == 0) & stored.notna()  # a rating stored before every rating was counted (see ``ratings``)
    own = pd.to_numeric(_column(df, "ratings_self", 0), errors="coerce").fillna(0)
    own_good = pd.to_numeric(_column(df, "ratings_self_satisfied", 0), errors="coerce").fillna(0)
    assigned, promised, arrived = (pd.to_datetime(_column(df, c)) for c in ("assigned_at", "arrive_by", "arrived_at"))
    came = promised.notna() & arrived.notna()
    arrival_due = promised.notna() & (came | (promised <= pd.Timestamp(now)))
    in_time = came & (arrived <= promised)
    out = pd.DataFrame({
        "reported": p, "accepted": case,
        "handled": flags["handled"], "handling_due": flags["handling_due"], "due": flags["due"],
        "closed": flags["closed"], "closed_fixed": flags["fixed"], "closed_unfixed": flags["unfixed"],
        "closed_on_time": flags["on_time"], "reopened": flags["reopened"], "ever_resolved": flags["ever_resolved"],
        "overdue_now": workflow.overdue(df["state"], df["due_at"], now) if len(df) else [],
        "rated": given.where(~legacy, 1).where(p, 0),
        "satisfied": satisfied.where(~legacy, (stored >= 3).astype(float)).where(p, 0),
        "rated_self": own.where(p, 0), "satisfied_self": own_good.where(p, 0),
        "arrival_due": arrival_due & p, "arrived_in_time": in_time & p,
        "arrived_late": came & ~in_time & p, "arrival_missing": arrival_due & ~came & p,
        "response_h": hours("first_response_at").where(p),
        "resolution_h": hours("resolved_at").where(case),
        "closure_h": hours("closed_at").where(case & flags["closed"]),
        "arrival_min": ((arrived - assigned).dt.total_seconds() / 60).where(came & p),
    }, index=df.index)
    return out


def _figures(per: pd.DataFrame, keys) -> pd.DataFrame:
    """Every indicator per group of ``keys`` (a column or a Series aligned with ``per``): sums, quantiles,
    then the rates from the sums."""
    grouped = per.groupby(keys)
    sums = grouped[[c for c in per.columns if not c.endswith(("_h", "_min"))]].sum()
    out = sums.astype(float)
    for name, (col, q) in _SPREADS.items():
        out[name] = grouped[col].quantile(q)
    out["rated_proxy"] = out["rated"] - out["rated_self"]
    ratio = lambda num, den: (out[num] / out[den]).where(out[den] > 0)  # noqa: E731
    out["satisfaction_rate"] = ratio("satisfied", "rated")
    out["self_rated_share"] = ratio("rated_self", "rated")
    out["satisfaction_self_rate"] = ratio("satisfied_self", "rated_self")
    out["acceptance_rate"] = ratio("accepted", "reported")
    out["handling_rate"] = ratio("handled", "handling_due")
    out["closure_rate"] = ratio("closed", "due")
    out["on_time_rate"] = ratio("closed_on_time", "due")
    out["reopen_rate"] = ratio("reopened", "ever_resolved")
    out["arrival_rate"] = ratio("arrived_in_time", "arrival_due")
    out = out[list(LABELS)]
    counts = [c for c in COUNTS if c in out.columns]
    out[counts] = out[counts].round().astype(int)
    return out


def compute(frame: pd.DataFrame, now: datetime, *, start: datetime | None = None,
            end: datetime | None = None) -> dict[str, float]:
    """Every indicator for the tickets in ``frame`` (see the module docstring)."""
    per = _per_ticket(frame.reset_index(drop=True), now, start=start, end=end)
    table = _figures(per, np.zeros(len(per), dtype=int))
    if table.empty:  # no ticket at all: nothing counted, nothing to divide
        return {k: 0 if k in COUNTS else float("nan") for k in LABELS}
    row = table.iloc[0]
    return {k: int(row[k]) if k in COUNTS else float(row[k]) for k in LABELS}


def by(frame: pd.DataFrame, key: str, now: datetime, **period) -> pd.DataFrame:
    """The indicators per value of ``key`` (category, grid_id, community_id): one groupby, however many.

    Only values with a ticket reported in the period or overdue now: a row of
    zeros and dashes tells a reader nothing.
    """
    frame = frame.reset_index(drop=True)
    out = _figures(_per_ticket(frame, now, **period), frame[key]).rename_axis(key).reset_index()
    return out[(out["reported"] > 0) | (out["overdue_now"] > 0)].reset_index(drop=True)


def load(engine: Engine, *, scope: Scope) -> pd.DataFrame:
    """The ticket fields the indicators need, for the area (no geometry, no personal data).

    ``scope`` is required (``roles.WHOLE_STREET`` for the whole street), so no
    caller can forget it.
    """
    t = Ticket.__table__
    return store.read_frame(engine, select(*[t.c[f] for f in FIELDS]).where(scope.clause(t)))


def for_area(engine: Engine, now: datetime, *, scope: Scope, start: datetime | None = None,
             end: datetime | None = None) -> dict[str, float]:
    return compute(load(engine, scope=scope), now, start=start, end=end)


#: The figures a leader quotes first (the page shows them as cards above the full table).
HEADLINE = ("reported", "on_time_rate", "satisfaction_rate", "overdue_now",
            "acceptance_rate", "handling_rate", "closure_rate", "reopen_rate")
#: The 30-minute promise of party members (党员接单), a row of its own under the headline.
ARRIVAL = ("arrival_rate", "arrival_median_min", "arrived_late", "arrival_missing")


def shown(key: str, value: float) -> str:
    """One indicator as people read it: rates in percent, hours to 0.1, counts with separators."""
    if key in RATES:
        return "—" if np.isnan(value) else f"{value * 100:.1f}%"
    if isinstance(value, float):
        return "—" if np.isnan(value) else f"{value:.1f}"
    return f"{value:,}"


def table(values: dict[str, float], lang: str = "zh", *, definitions: bool = True) -> pd.DataFrame:
    """Indicators as a table for display and export (rates as percentages), each with its definition."""
    zh = lang == "zh"
    rows = [(label(k, lang), shown(k, v), definition(k, lang)) for k, v in values.items()]
    out = pd.DataFrame(rows, columns=["指标" if zh else "Indicator", "数值" if zh else "Value",
                                      "定义与依据" if zh else "Definition"])
    return out if definitions else out.iloc[:, :2]


def labelled(frame: pd.DataFrame, key: str, lang: str, names: dict) -> pd.DataFrame:
    """A ``by`` table for people: the key as a name, columns translated, rates in percent."""
    out = frame.copy()
    out[key] = out[key].map(names).fillna(out[key].astype(str))
    for col in RATES & set(out.columns):
        out[col] = (out[col] * 100).round(1)
    for col in [c for c in out.columns if c.endswith("_h")]:
        out[col] = out[col].round(1)
    heading = {"category": ("类别", "Category"), "grid_id": ("网格", "Grid"), "community_id": ("社区", "Community"),
               "source": ("来源", "Source")}
    cols = {key: heading[key][0 if lang == "zh" else 1]}
    cols |= {k: label(k, lang) + ("(%)" if k in RATES else "") for k in LABELS}
    return out.rename(columns=cols)


def main(argv: list[str] | None = None) -> int:
    """Print the indicator table of a database for the whole year and the last 30 days before ``--now``."""
    from geo import settings
    from geo.access import roles

    parser = argparse.ArgumentParser(prog="python -m geo.tickets.indicators", description=main.__doc__)
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or data/shequ.db)")
    parser.add_argument("--now", help="the clock, ISO time (default: now)")
    parser.add_argument("--lang", default="zh", choices=["zh", "en"])
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now) if args.now else settings.now()
    frame = load(store.make_engine(args.url or settings.database_url()), scope=roles.WHOLE_STREET)
    year = table(compute(frame, now, start=now - timedelta(days=365), end=now), args.lang, definitions=False)
    month = table(compute(frame, now, start=now - timedelta(days=30), end=now), args.lang, definitions=False)
    both = year.merge(month, on=year.columns[0], suffixes=("", "_30"))
    both.columns = [year.columns[0], "近一年" if args.lang == "zh" else "Last 365 days",
                    "近30天" if args.lang == "zh" else "Last 30 days"]
    print(both.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
