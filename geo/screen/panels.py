"""The big screen's panels: the live feed, the 30-day trend, categories, rankings, open tickets by stage and age."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from geo.tickets import indicators, workflow
from geo.db import store
from geo.maps.layers import category_names
from geo.access.roles import Scope
from geo.io import plain
from geo.screen import figures
from geo.db.schema import (
    Community, Grid, Ticket, TicketEvent)





def clock_labels(at: pd.Series, now: datetime) -> list[str]:
    """"HH:MM" for today's times, "MM-DD HH:MM" for older ones (so yesterday never reads as today)."""
    at = pd.to_datetime(at)
    today = at.dt.normalize() == pd.Timestamp(figures.midnight(now))
    return np.where(today, at.dt.strftime("%H:%M"), at.dt.strftime("%m-%d %H:%M")).tolist() if len(at) else []


def feed(engine: Engine, now: datetime, scope: Scope, *, limit: int = 10, lang: str = "zh") -> pd.DataFrame:
    """The newest reports and escalations, newest first: at, when, action, code, category, place, urgent."""
    e, t = TicketEvent.__table__, Ticket.__table__
    stmt = (select(e.c.at, e.c.action, e.c.to_state, t.c.code, t.c.category, t.c.urgent,
                   Grid.name.label("grid"), Community.name.label("community"))
            .join(t, t.c.id == e.c.ticket_id)
            .outerjoin(Grid, Grid.id == t.c.grid_id).outerjoin(Community, Community.id == t.c.community_id)
            .where(e.c.action.in_(figures.FEED_ACTIONS), e.c.at <= now, scope.clause(t))
            .order_by(e.c.at.desc(), e.c.id.desc()).limit(limit))
    df = store.read_frame(engine, stmt)
    df["at"] = pd.to_datetime(df["at"])
    df["when"] = clock_labels(df["at"], now)
    df["category"] = df["category"].map(category_names(lang)).fillna(df["category"])
    df["to_state_name"] = [workflow.STATES[s].name(lang) for s in df["to_state"]]
    return df


def trend(frame: pd.DataFrame, now: datetime, *, days: int = figures.PERIOD_DAYS) -> pd.DataFrame:
    """Per day of the last ``days`` (today included): reported, closed (as cases), and reported on the
    same day of the previous window (``reported_prev``: the line to compare with)."""
    first = pd.Timestamp(figures.midnight(now)) - pd.Timedelta(days=days - 1)
    index = pd.date_range(first, periods=days, freq="D")
    shift = pd.Timedelta(days=days)

    def per_day(times: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
        counts = times[(times >= lo) & (times <= hi)].dt.normalize().value_counts()
        return counts.reindex(index - (first - lo), fill_value=0).to_numpy()

    closed_at = frame.loc[frame["state"].isin(workflow.CASE_CLOSED_STATES), "closed_at"]
    return pd.DataFrame({"day": index,
                         "reported": per_day(frame["created_at"], first, pd.Timestamp(now)),
                         "closed": per_day(closed_at, first, pd.Timestamp(now)),
                         "reported_prev": per_day(frame["created_at"], first - shift,
                                                  pd.Timestamp(now) - shift)})


def by_category(frame: pd.DataFrame, now: datetime, *, days: int = figures.PERIOD_DAYS, lang: str = "zh") -> pd.DataFrame:
    """Per category: reported in the window and open now, most reported first."""
    start = pd.Timestamp(now - timedelta(days=days))
    recent = frame[(frame["created_at"] >= start) & (frame["created_at"] <= pd.Timestamp(now))]
    out = pd.DataFrame({"reported": recent.groupby("category").size(),
                        "open": frame[frame["state"].isin(workflow.OPEN_STATES)].groupby("category").size()})
    out = out.fillna(0).astype(int).rename_axis("category").reset_index()
    out["name"] = out["category"].map(category_names(lang)).fillna(out["category"])
    return out.sort_values(["reported", "open", "category"], ascending=[False, False, True],
                           ignore_index=True)


def on_time_by(frame: pd.DataFrame, key: str, now: datetime, *, days: int = figures.PERIOD_DAYS) -> pd.DataFrame:
    """Cases due and closed on time per value of ``key`` over the window, and the on-time rate.

    The definitions of geo.tickets.indicators (按期结案率 = 按期结案数 / 应结案数), computed
    for every area at once: a loop of indicators.compute over 1,400 district grids
    takes seconds, this takes milliseconds (tests check both agree).
    """
    p = indicators.in_period(frame, start=now - timedelta(days=days), end=now)
    flags = indicators.case_flags(p, now, end=now)  # the same masks as the indicators page
    keys = p.loc[flags.index, key]
    out = pd.DataFrame({"due": flags["due"].groupby(keys).sum(), "on_time": flags["on_time"].groupby(keys).sum()})
    out = out.astype(int)
    out["on_time_rate"] = out["on_time"] / out["due"].where(out["due"] > 0)
    return out


def open_overdue(frame: pd.DataFrame, now: datetime, key: str) -> pd.DataFrame:
    """Open and overdue tickets per value of ``key`` (only values with some; the rest is the caller's)."""
    is_open = frame["state"].isin(workflow.OPEN_STATES)
    overdue = workflow.overdue(frame["state"], frame["due_at"], now) if len(frame) else np.array([], bool)
    return pd.DataFrame({"open": frame[is_open].groupby(key).size(),
                         "overdue": frame[overdue].groupby(key).size()})


def area_table(frame: pd.DataFrame, now: datetime, names: pd.Series, *, key: str = "community_id",
               days: int = figures.PERIOD_DAYS) -> pd.DataFrame:
    """Every area of ``names`` (id → name) with its open, overdue, cases due, on time and on-time rate."""
    rates = on_time_by(frame, key, now, days=days)
    t = open_overdue(frame, now, key).reindex(names.index)
    t[["due", "on_time"]] = rates[["due", "on_time"]].reindex(names.index)
    t = t.fillna(0).astype(int).rename_axis("id").reset_index()
    t["on_time_rate"] = rates["on_time_rate"].reindex(t["id"]).to_numpy()
    t["name"] = names.reindex(t["id"]).to_numpy()
    return t


def rank_areas(table: pd.DataFrame, *, by: str = "load", top: int = 8, min_due: int = figures.MIN_DUE) -> pd.DataFrame:
    """The first ``top`` rows of an ``area_table``, by load or by the worst on-time rate (see ``ranking``)."""
    if by not in ("load", "on_time"):
        raise ValueError(f"by must be 'load' or 'on_time', not {by!r}")
    if by == "load":
        t = table.sort_values(["open", "overdue", "id"], ascending=[False, False, True])
    else:
        t = table[table["due"] >= min_due].sort_values(["on_time_rate", "due", "id"], ascending=[True, False, True])
    return t.head(top).reset_index(drop=True)


def ranking(frame: pd.DataFrame, now: datetime, names: pd.Series, *, key: str = "community_id",
            top: int = 8, days: int = figures.PERIOD_DAYS, by: str = "load", min_due: int = figures.MIN_DUE) -> pd.DataFrame:
    """The areas to look at first, with open, overdue, cases due and on-time rate.

    ``by="load"``: most open tickets, then most overdue; every area of ``names``
    is listed (a calm one at the bottom). ``by="on_time"``: the worst on-time
    rate over the window first, among areas with at least ``min_due`` cases due.
    """
    return rank_areas(area_table(frame, now, names, key=key, days=days), by=by, top=top, min_due=min_due)


def open_by_stage_age(frame: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open tickets by where they wait (STAGES: grid, community, street, handler, resident) and by
    age since report (AGE_EDGES_D buckets, columns 0…3), with a ``total`` column."""
    o = frame[frame["state"].isin(workflow.OPEN_STATES)]
    stage = o["state"].map(lambda s: workflow.STATES[s].level)
    age_d = (pd.Timestamp(now) - o["created_at"]).dt.total_seconds().to_numpy() / 86400
    bucket = np.digitize(age_d, figures.AGE_EDGES_D)
    table = pd.crosstab(stage.to_numpy(), bucket) if len(o) else pd.DataFrame()
    table = table.reindex(index=list(figures.STAGES), columns=range(len(figures.AGE_EDGES_D) + 1), fill_value=0).fillna(0)
    table = table.astype(int)
    table["total"] = table.sum(axis=1)
    return table.rename_axis(index="stage", columns=None)


def area_names(engine: Engine, scope: Scope) -> dict[str, pd.Series]:
    """Names of the communities and grids in ``scope`` (id → name)."""
    g = store.read_frame(engine, select(Grid.id, Grid.name, Grid.community_id).where(Grid.id.in_(figures.grid_ids(scope))))
    c = store.read_frame(engine, select(Community.id, Community.name)
                         .where(Community.id.in_(g["community_id"].unique().tolist() or [-1])))
    return {"community": c.set_index("id")["name"].sort_index(), "grid": g.set_index("id")["name"].sort_index()}




def warnings_html(warnings: pd.DataFrame | None, now: datetime, *, rows: int = 3, heading: str, none: str) -> str:
    """The wall's early-warning panel (geo.tickets.warnings.live): kind, since when, what, and the figure
    (the meaning's first clause; the whole meaning on hover and in the map's tooltip). Text is escaped."""
    w = warnings if warnings is not None else pd.DataFrame()
    items = "".join(
        f"<li title='{plain.html(str(r.meaning))}'><span class='scr-tag warn'>{plain.html(str(r.kind_name))}</span>"
        f"<span class='when'>{when}</span>{plain.html(str(r.title))}"
        f"<div class='why'>{plain.html(str(r.meaning).split('；')[0])}</div></li>"
        for r, when in zip(w.head(rows).itertuples(), clock_labels(w["since"].head(rows), now) if len(w) else []))
    return (f"<div class='scr-panel scr-warn'><div class='scr-h'>{heading.format(n=len(w))}</div>"
            f"<ul class='scr-feed'>{items or f'<li>{none}</li>'}</ul></div>")
