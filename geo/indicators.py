"""The figures leaders quote, for any area and period, with their definitions.

Definitions (GB/T 30428 数字化城市管理 and the 12345 hotline practice, DOMAIN.md),
over the tickets *reported* in the period [start, end) inside the area:

- 上报数 reported: tickets reported in the period.
- 立案数 accepted: of those, tickets taken on as a case (accepted by the grid,
  or sent up as urgent) — rejected and merged ones are not. 立案率 = 立案数 / 上报数.
- 应处置数 = 立案数; 处置数 handled: cases the handler reported done (reached
  "awaiting rating", or closed). 处置率 = 处置数 / 应处置数.
- 应结案数 due: cases whose time limit fell before ``now`` or that are closed;
  结案数 closed: cases closed (fixed or not — rejected and merged are no case).
  结案率 = 结案数 / 应结案数.
- 按期结案数 closed on time: closed cases whose work was finished (办结: the
  handler reported done; for cases closed unfixed, the closure) no later than
  their limit. The resident's rating may come days later and does not count
  against the handler.
  按期结案率 = 按期结案数 / 应结案数 (a case past its limit and still open counts against it).
- 超期 overdue now: open tickets in the area past their limit at ``now`` (whenever reported).
- Response time: report → first action by a person; closure time: report → closure;
  both in hours, median and 90th percentile.
- 满意率 satisfaction: rated tickets with 3 stars or more (满意 + 基本满意) over all rated.
- 重办率 reopen rate: cases reopened at least once over cases handled.

The core is ``compute(frame, now)`` over a plain DataFrame, so tests can
check the formulas on hand-built tickets; ``for_area`` reads the frame.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from geo import store, workflow
from geo.roles import Scope
from geo.schema import Ticket

FIELDS = ["id", "category", "state", "grid_id", "community_id", "street_id", "created_at", "accepted_at",
          "first_response_at", "resolved_at", "closed_at", "due_at", "rating", "reopen_count"]

LABELS = {
    "reported": ("上报数", "Reported"),
    "accepted": ("立案数", "Accepted"),
    "acceptance_rate": ("立案率", "Acceptance rate"),
    "handled": ("处置数", "Handled"),
    "handling_rate": ("处置率", "Handling rate"),
    "due": ("应结案数", "Due for closure"),
    "closed": ("结案数", "Closed"),
    "closure_rate": ("结案率", "Closure rate"),
    "closed_on_time": ("按期结案数", "Closed on time"),
    "on_time_rate": ("按期结案率", "On-time closure rate"),
    "overdue_now": ("当前超期", "Overdue now"),
    "response_median_h": ("响应时长中位数(小时)", "Median response (h)"),
    "response_p90_h": ("响应时长P90(小时)", "90th pct response (h)"),
    "closure_median_h": ("办结时长中位数(小时)", "Median closure (h)"),
    "closure_p90_h": ("办结时长P90(小时)", "90th pct closure (h)"),
    "rated": ("评价数", "Rated"),
    "satisfaction_rate": ("满意率", "Satisfaction rate"),
    "reopen_rate": ("重办率", "Reopen rate"),
}
RATES = {k for k in LABELS if k.endswith("_rate")}


def label(key: str, lang: str = "zh") -> str:
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def _ratio(num: int, den: int) -> float:
    return float(num) / den if den else float("nan")


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.total_seconds().dropna() / 3600


def compute(frame: pd.DataFrame, now: datetime, *, start: datetime | None = None,
            end: datetime | None = None) -> dict[str, float]:
    """Every indicator for the tickets in ``frame`` (see the module docstring)."""
    df = frame
    created = pd.to_datetime(df["created_at"])
    in_period = pd.Series(True, index=df.index)
    if start is not None:
        in_period &= created >= pd.Timestamp(start)
    if end is not None:
        in_period &= created < pd.Timestamp(end)
    p = df[in_period]
    state = p["state"]
    is_case = p["accepted_at"].notna() & ~state.isin(("rejected", "merged"))
    cases = p[is_case]
    closed_mask = cases["state"].isin(workflow.CASE_CLOSED_STATES)
    handled_mask = cases["resolved_at"].notna() | (cases["state"] == "closed")
    due_mask = (pd.to_datetime(cases["due_at"]) < pd.Timestamp(now)) | closed_mask
    finished = pd.to_datetime(cases["resolved_at"]).fillna(pd.to_datetime(cases["closed_at"]))
    on_time = closed_mask & (finished <= pd.to_datetime(cases["due_at"]))
    response = _hours(p["first_response_at"], p["created_at"])
    closure = _hours(cases.loc[closed_mask, "closed_at"], cases.loc[closed_mask, "created_at"])
    rated = p["rating"].dropna()
    overdue_now = workflow.overdue(df["state"], df["due_at"], now).sum() if len(df) else 0
    out = {
        "reported": int(len(p)),
        "accepted": int(is_case.sum()),
        "handled": int(handled_mask.sum()),
        "due": int(due_mask.sum()),
        "closed": int(closed_mask.sum()),
        "closed_on_time": int(on_time.sum()),
        "overdue_now": int(overdue_now),
        "response_median_h": _q(response, 0.5),
        "response_p90_h": _q(response, 0.9),
        "closure_median_h": _q(closure, 0.5),
        "closure_p90_h": _q(closure, 0.9),
        "rated": int(len(rated)),
        "satisfaction_rate": _ratio(int((rated >= 3).sum()), len(rated)),
        "reopen_rate": _ratio(int((cases.loc[handled_mask, "reopen_count"] > 0).sum()), int(handled_mask.sum())),
    }
    out["acceptance_rate"] = _ratio(out["accepted"], out["reported"])
    out["handling_rate"] = _ratio(out["handled"], out["accepted"])
    out["closure_rate"] = _ratio(out["closed"], out["due"])
    out["on_time_rate"] = _ratio(out["closed_on_time"], out["due"])
    return {k: out[k] for k in LABELS}


def _q(values: pd.Series, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")


def by(frame: pd.DataFrame, key: str, now: datetime, **period) -> pd.DataFrame:
    """The indicators per value of ``key`` (category, grid_id, community_id)."""
    rows = {k: compute(g, now, **period) for k, g in frame.groupby(key)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(key).reset_index()


def load(engine: Engine, *, scope: Scope | None = None) -> pd.DataFrame:
    """The ticket fields the indicators need, for the area (no geometry, no personal data)."""
    t = Ticket.__table__
    stmt = select(*[t.c[f] for f in FIELDS])
    if scope is not None:
        stmt = stmt.where(scope.clause(t))
    return store.read_frame(engine, stmt)


def for_area(engine: Engine, now: datetime, *, scope: Scope | None = None, start: datetime | None = None,
             end: datetime | None = None) -> dict[str, float]:
    return compute(load(engine, scope=scope), now, start=start, end=end)


def table(values: dict[str, float], lang: str = "zh") -> pd.DataFrame:
    """Indicators as a two-column table for display (rates as percentages)."""
    rows = []
    for k, v in values.items():
        if k in RATES:
            shown = "—" if np.isnan(v) else f"{v * 100:.1f}%"
        elif isinstance(v, float):
            shown = "—" if np.isnan(v) else f"{v:.1f}"
        else:
            shown = f"{v:,}"
        rows.append((label(k, lang), shown))
    return pd.DataFrame(rows, columns=["指标" if lang == "zh" else "Indicator", "数值" if lang == "zh" else "Value"])


def labelled(frame: pd.DataFrame, key: str, lang: str, names: dict) -> pd.DataFrame:
    """A ``by`` table for people: the key as a name, columns translated, rates in percent."""
    out = frame.copy()
    out[key] = out[key].map(names).fillna(out[key].astype(str))
    for col in RATES & set(out.columns):
        out[col] = (out[col] * 100).round(1)
    for col in [c for c in out.columns if c.endswith("_h")]:
        out[col] = out[col].round(1)
    heading = {"category": ("类别", "Category"), "grid_id": ("网格", "Grid"), "community_id": ("社区", "Community")}
    cols = {key: heading[key][0 if lang == "zh" else 1]}
    cols |= {k: label(k, lang) + ("(%)" if k in RATES else "") for k in LABELS}
    return out.rename(columns=cols)
