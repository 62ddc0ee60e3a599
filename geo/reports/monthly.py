"""The month of a street or a community, as tables a leader can sign off (月度报告).

Nothing is recounted here: every ticket figure is geo.tickets.indicators' (``compute`` over
the tickets *reported* in the month, ``by`` per community, grid, category and source), the
overdue list is the complement of 按期结案 within 应结案 (``case_flags``), the 30-minute
figures are ``indicators.arrivals``', the vulnerable households are geo.people.households'
definition, and the 15-minute circle is the wall's (geo.screen.figures.service_circle on the
same walking plan, about a second a street; per grid, the same per-building flags grouped —
coverage.circle_flags; straight lines only where no walking network can be built, and then the
report says so). Warnings come from
geo.tickets.warnings when that module exists (``warnings_of``); without it the section says so.

``build`` gathers everything into a ``Report``; ``excel_bytes`` writes one sheet per table
through geo.io.export (formula-safe); geo.reports.report_pdf prints it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from geo.access.roles import Scope
from geo.coverage import coverage
from geo.db import store
from geo.errors import NotFoundError, ValidationError
from geo.db.schema import Building, Community, Facility, Grid, Street, Ticket, TicketEvent, Visit
from geo.io import export
from geo.maps import layers
from geo.people import households
from geo.screen import figures
from geo.tickets import categories, indicators, rules, workflow

#: The figures compared month on month and year on year (the page's headline and the 30-minute row).
COMPARED = (*indicators.HEADLINE, "closed", "closed_fixed", "closed_unfixed", "rated",
            "reopened", *indicators.ARRIVAL, "arrival_due", "arrived_in_time")
#: The columns of the by-area tables in the PDF (Excel has them all).
SHORT = ("reported", "due", "closed_on_time", "on_time_rate", "satisfaction_rate", "overdue_now", "reopen_rate")


def month_start(day: date) -> date:
    return day.replace(day=1)


def shift(month: date, months: int) -> date:
    """The first of the month ``months`` away (negative: back)."""
    n = month.year * 12 + month.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def _dt(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


@dataclass
class Report:
    """One month of one area: a title, the figures and the tables, each named as its Excel sheet."""

    area: str
    scope: Scope
    month: date
    made_at: datetime
    values: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    circle: dict = field(default_factory=dict)
    grid_map: pd.DataFrame | None = None  # grid geometries in the area with the on-time rate (the PDF's map)

    @property
    def title(self) -> str:
        return f"{self.area} {self.month:%Y年%m月} 社区治理月度报告"

    @property
    def file_stem(self) -> str:
        place = self.scope.level if self.scope.level == "street" else f"community{self.scope.community_id}"
        return f"月度报告_{self.month:%Y-%m}_{place}"


def area_scope(engine: Engine, within: Scope, community_id: int | None = None) -> Scope:
    """The report's area for a user whose area is ``within``: their street (or one community in it), or their
    own community. Anything else is refused (NotFoundError), and a grid's staff get no report (ValidationError)."""
    if within.level == "grid":
        raise ValidationError("月度报告按街道或社区出具，网格账号请向社区索取本社区的报告。")
    if community_id is None:
        return within
    row = store.read_frame(engine, select(Community.id, Community.street_id).where(Community.id == community_id))
    inside = len(row) and (community_id == within.community_id if within.level == "community" else
                           within.street_id is None or int(row["street_id"].iloc[0]) == within.street_id)
    if not inside:
        raise NotFoundError("所选社区不在您的管辖范围内，只能查看本人所辖区域的月度报告。")
    return Scope("community", street_id=int(row["street_id"].iloc[0]), community_id=int(community_id))


def area_name(engine: Engine, scope: Scope) -> str:
    if scope.level == "community":
        return store.read_frame(engine, select(Community.name).where(Community.id == scope.community_id)).iloc[0, 0]
    if scope.level == "grid":
        return store.read_frame(engine, select(Grid.name).where(Grid.id == scope.grid_id)).iloc[0, 0]
    stmt = select(Street.name) if scope.street_id is None else select(Street.name).where(Street.id == scope.street_id)
    names = store.read_frame(engine, stmt)
    return names.iloc[0, 0] if len(names) == 1 else "全街道"


def _change(key: str, now_v: float, then_v: float) -> str:
    """Month on month / year on year: percentage points for rates, a signed difference otherwise."""
    if any(isinstance(v, float) and np.isnan(v) for v in (now_v, then_v)):
        return "—"
    diff = now_v - then_v
    if key in indicators.RATES:
        return f"{diff * 100:+.1f}个百分点"
    return f"{diff:+.1f}" if isinstance(diff, float) and not float(diff).is_integer() else f"{int(diff):+d}"


def comparison(frame: pd.DataFrame, month: date, now: datetime) -> tuple[dict, pd.DataFrame]:
    """The month's figures beside last month's and the same month last year."""
    periods = {"本月": month, "上月": shift(month, -1), "去年同月": shift(month, -12)}
    values = {k: indicators.compute(frame, now, start=_dt(m), end=_dt(shift(m, 1))) for k, m in periods.items()}
    rows = []
    for key in COMPARED:
        v, last, year = (values[p][key] for p in periods)
        rows.append({"指标": indicators.label(key), "本月": indicators.shown(key, v),
                     "上月": indicators.shown(key, last), "环比": _change(key, v, last),
                     "去年同月": indicators.shown(key, year), "同比": _change(key, v, year)})
    return values["本月"], pd.DataFrame(rows)


def _month_and_open(frame: pd.DataFrame, window: dict) -> pd.DataFrame:
    """The tickets any figure of the month can count: reported in it, or open (当前超期 counts open tickets
    whenever reported). The same figures as the whole frame gives, over a month's rows instead of years'."""
    in_month = frame.index.isin(indicators.in_period(frame, **window).index)
    return frame[in_month | frame["state"].isin(workflow.OPEN_STATES).to_numpy()]


def _by(frame: pd.DataFrame, key: str, now: datetime, window: dict, names: dict, *, lowest_first: bool = True,
        table: pd.DataFrame | None = None) -> pd.DataFrame:
    """indicators.by for people (or ``table``, its result), lowest on-time rate first (the ones to look at on top)."""
    table = indicators.by(frame, key, now, **window) if table is None else table
    if lowest_first:
        table = table.sort_values(["on_time_rate", "reported"], ascending=[True, False], na_position="last")
    return indicators.labelled(table.reset_index(drop=True), key, "zh", names)


def _sources(engine: Engine, frame: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    t = Ticket.__table__
    src = store.read_frame(engine, select(t.c.id, t.c.source).where(scope.clause(t)))
    out = frame.merge(src, on="id", how="left")
    out["source"] = out["source"].fillna("resident")
    return out


def _events(engine: Engine, ids: list[int], *, action: str | None = None) -> pd.DataFrame:
    if not ids:
        return pd.DataFrame(columns=["ticket_id", "at", "action", "note", "rating"])
    e = TicketEvent.__table__
    stmt = select(e.c.ticket_id, e.c.at, e.c.action, e.c.note, e.c.rating).where(e.c.ticket_id.in_(ids))
    if action:
        stmt = stmt.where(e.c.action == action)
    return store.read_frame(engine, stmt.order_by(e.c.ticket_id, e.c.at, e.c.id))


def _ticket_rows(engine: Engine, p: pd.DataFrame, grids: dict) -> pd.DataFrame:
    t = Ticket.__table__
    codes = store.read_frame(engine, select(t.c.id, t.c.code).where(t.c.id.in_(p["id"].tolist()))) if len(p) \
        else pd.DataFrame(columns=["id", "code"])
    out = p.merge(codes, on="id", how="left")
    return pd.DataFrame({
        "id": out["id"], "工单编号": out["code"],
        "类别": out["category"].map(lambda c: categories.CATEGORIES[c].name() if c in categories.CATEGORIES else c),
        "网格": out["grid_id"].map(grids).fillna("—"),
        "上报时间": pd.to_datetime(out["created_at"]).dt.strftime("%m-%d %H:%M"),
        "办理时限": pd.to_datetime(out["due_at"]).dt.strftime("%m-%d %H:%M"),
        "当前状态": out["state"].map(lambda s: workflow.STATES[s].name() if s in workflow.STATES else s)})


def overdue(engine: Engine, frame: pd.DataFrame, month: date, now: datetime, grids: dict) -> pd.DataFrame:
    """Cases of the month due for closure but not closed fixed on time (应结案 − 按期结案), with why.

    The reason is where the case stands (its state) and the last note staff wrote on it (not a rating's).
    """
    end = _dt(shift(month, 1))
    p = indicators.in_period(frame, start=_dt(month), end=end)
    flags = indicators.case_flags(p, now, end=end)
    late = p.loc[flags.index[flags["due"] & ~flags["on_time"]]]
    rows = _ticket_rows(engine, late, grids)
    ev = _events(engine, late["id"].tolist())
    notes = ev[ev["rating"].isna()].dropna(subset=["note"]).groupby("ticket_id")["note"].last()  # not the rating's
    rows["原因"] = [f"{'办结晚于时限' if key == 'closed' else shown}：{notes.get(i, '无说明')}"
                  for i, shown, key in zip(rows["id"], rows["当前状态"], late["state"])]
    return rows.drop(columns="id").sort_values("办理时限").reset_index(drop=True)


def reopened(engine: Engine, frame: pd.DataFrame, month: date, now: datetime, grids: dict) -> pd.DataFrame:
    """Cases of the month reopened after a reported fix (the 重办数), each with the residents' reasons."""
    end = _dt(shift(month, 1))
    p = indicators.in_period(frame, start=_dt(month), end=end)
    flags = indicators.case_flags(p, now, end=end)
    again = p.loc[flags.index[flags["reopened"]]]
    rows = _ticket_rows(engine, again, grids)
    ev = _events(engine, again["id"].tolist(), action="reopen")
    why = ev.assign(text=[n or (f"{int(r)}星，未留言" if pd.notna(r) else "未留言")
                          for r, n in zip(ev["rating"], ev["note"])]).groupby("ticket_id")["text"].agg("；".join)
    rows["重办次数"] = again["reopen_count"].astype(int).to_numpy()
    rows["重办原因"] = rows["id"].map(why).fillna("未留言")
    return rows.drop(columns="id").reset_index(drop=True)


def visits(engine: Engine, scope: Scope, month: date, now: datetime, grids: dict) -> pd.DataFrame:
    """Per grid: vulnerable households (geo.people.households' definition), how many were visited this month."""
    vul = households.households(engine, scope=scope, now=now, vulnerable_only=True)[["id", "grid_id"]]
    v = Visit.__table__
    seen = store.read_frame(engine, select(v.c.household_id, v.c.grid_id).where(
        scope.clause(v), v.c.visited_on >= month, v.c.visited_on < shift(month, 1)))
    visited = vul[vul["id"].isin(seen["household_id"])]
    out = pd.DataFrame({"困难户数": vul.groupby("grid_id").size(),
                        "本月已走访户数": visited.groupby("grid_id").size(),
                        "本月走访次数": seen.groupby("grid_id").size()}).fillna(0).astype(int)
    out = out[out["困难户数"] > 0]
    out["走访覆盖率(%)"] = (out["本月已走访户数"] / out["困难户数"] * 100).round(1)
    out = out.sort_values("走访覆盖率(%)").rename_axis("grid_id").reset_index()
    out.insert(0, "网格", out.pop("grid_id").map(grids).fillna("—"))
    total = {"网格": "合计", "困难户数": int(out["困难户数"].sum()), "本月已走访户数": int(out["本月已走访户数"].sum()),
             "本月走访次数": int(out["本月走访次数"].sum())}
    total["走访覆盖率(%)"] = round(total["本月已走访户数"] / total["困难户数"] * 100, 1) if total["困难户数"] else float("nan")
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def coverage_gaps(engine: Engine, scope: Scope, grids: dict, plan: coverage.Plan | None = None
                  ) -> tuple[dict, pd.DataFrame]:
    """The 15-minute circle of the area (the wall's figure, walking on ``plan``) and, per grid, the
    residents outside it, worst first. Without a plan: in a straight line, as the wall falls back."""
    circle = figures.service_circle(engine, scope, plan=plan)
    if plan is not None:
        standard, _ = coverage.circle_flags(plan)
        b = plan.buildings[["grid_id", "residents"]].assign(inside=standard)
        b = b[figures.scope_mask(plan.buildings, scope)]
    else:
        b = store.read_frame(engine, select(Building.grid_id, Building.residents, Building.entrance_lon,
                                            Building.entrance_lat).where(figures.in_scope(Building.grid_id, scope)))
        f = store.read_frame(engine, select(Facility.type, Facility.minx.label("lon"), Facility.miny.label("lat")))
        b = b.assign(inside=figures.straight_line_covered(b["entrance_lon"], b["entrance_lat"], f, every=True))
    b = b.assign(covered=np.where(b["inside"], b["residents"], 0))
    g = b.groupby("grid_id")[["residents", "covered"]].sum()
    g = g[g["residents"] > 0]
    out = pd.DataFrame({"网格": g.index.map(lambda i: grids.get(i, "—")), "常住人口": g["residents"].astype(int),
                        "圈内人口": g["covered"].astype(int), "圈外人口": (g["residents"] - g["covered"]).astype(int),
                        "覆盖率(%)": (g["covered"] / g["residents"] * 100).round(1)})
    return circle, out.sort_values(["覆盖率(%)", "圈外人口"], ascending=[True, False]).reset_index(drop=True)


def warnings_of(engine: Engine, start: datetime, end: datetime, scope: Scope) -> pd.DataFrame | None:
    """The month's warnings from geo.tickets.warnings (``of_period``), or None while that module does not exist."""
    try:
        module = importlib.import_module("geo.tickets.warnings")
    except ImportError:
        return None
    of_period = getattr(module, "of_period", None)
    return None if of_period is None else pd.DataFrame(of_period(engine, start, end, scope))


def _grid_map(engine: Engine, scope: Scope, by_grid: pd.DataFrame) -> pd.DataFrame:
    g = store.read_layer(engine, Grid, columns=["id", "name", "geom"],
                         where=Grid.retired_at.is_(None) & scope.clause(Grid.__table__))
    rate = by_grid.set_index("grid_id")["on_time_rate"] if len(by_grid) else pd.Series(dtype=float)
    return g.assign(on_time_rate=g["id"].map(rate))


def build(engine: Engine, scope: Scope, month: date, now: datetime, *, plan: coverage.Plan | None | bool = True
          ) -> Report:
    """The report of ``month`` (any day in it) for ``scope`` (a street or a community), as of ``now``.

    ``plan``: the walking plan for the 15-minute circle (a page passes the one it caches); True builds
    it for the report's area (figures.walking_plan), None measures in a straight line."""
    if plan is True:
        plan = figures.walking_plan(engine, scope)
    month = month_start(month)
    window = dict(start=_dt(month), end=_dt(shift(month, 1)))
    frame = indicators.load(engine, scope=scope)
    values, compared = comparison(frame, month, now)
    month_frame = _month_and_open(frame, window)
    grids = layers.grid_names(engine, scope=scope)
    cats = {k: c.name() for k, c in categories.CATEGORIES.items()}
    tables = {"指标对比": compared}
    if scope.level == "street":
        tables["按社区"] = _by(month_frame, "community_id", now, window, layers.community_names(engine, scope))
    raw_by_grid = indicators.by(month_frame, "grid_id", now, **window)
    tables["按网格"] = _by(month_frame, "grid_id", now, window, grids, table=raw_by_grid)
    tables["按类别"] = _by(month_frame, "category", now, window, cats, lowest_first=False).sort_values(
        indicators.label("reported"), ascending=False).reset_index(drop=True)
    tables["按来源"] = _by(_sources(engine, month_frame, scope), "source", now, window,
                        {k: rules.source_label(k) for k in rules.SOURCES}, lowest_first=False)
    tables["超期工单"] = overdue(engine, frame, month, now, grids)
    tables["重办工单"] = reopened(engine, frame, month, now, grids)
    arrival = pd.DataFrame([{"指标": indicators.label(k), "数值": indicators.shown(k, values[k]),
                             "定义": indicators.definition(k)}
                            for k in ("arrival_due", "arrived_in_time", *indicators.ARRIVAL)])
    tables["党员30分钟到场"] = arrival
    tables["困难户走访"] = visits(engine, scope, month, now, grids)
    circle, gaps = coverage_gaps(engine, scope, grids, plan)
    tables["15分钟服务圈缺口"] = gaps
    notes = {}
    warned = warnings_of(engine, window["start"], window["end"], scope)
    if warned is None:
        notes["预警"] = "暂无预警系统数据（智能预警模块尚未启用），本节留空。"
        warned = pd.DataFrame({"说明": [notes["预警"]]})
    elif warned.empty:
        notes["预警"] = "本月无预警。"
        warned = pd.DataFrame({"说明": [notes["预警"]]})  # said in the sheet, not an empty table
    tables["本月预警"] = warned
    return Report(area=area_name(engine, scope), scope=scope, month=month, made_at=now, values=values,
                  tables=tables, notes=notes, circle=circle, grid_map=_grid_map(engine, scope, raw_by_grid))


def excel_bytes(report: Report) -> bytes:
    """One sheet per table (geo.io.export: formula-like text neutralised), a cover sheet first."""
    cover = pd.DataFrame({"项目": ["报告", "区域", "月份", "生成时间", "口径"],
                          "内容": [report.title, report.area, f"{report.month:%Y-%m}", f"{report.made_at:%Y-%m-%d %H:%M}",
                                 "按上报时间统计本月上报的工单；应结案以月末为准；当前超期以生成时为准（GB/T 30428）"]})
    return export.excel_bytes({"封面": cover, **report.tables})
