"""指挥大屏: the command-centre wall. Dark, large type, no mouse needed; refreshes itself.

``?kiosk=1`` hides every piece of chrome (sidebar, header, toolbar);
``?community=<id>`` drills down to one community and ``&grid=<id>`` to one of its grids
(a click on the map does both, the sidebar's pickers do the same in the normal view; the
address keeps the view on a refresh). Figures come from geo.screen.figures, the map from geo.screen.screen_map;
this file caches, lays out and draws.
"""
from __future__ import annotations

import calendar
import json
import re
from datetime import datetime, timedelta

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from geo import settings
from geo.io import plain
from geo.screen import figures, grid_card, map_data, panels, screen_map, wall
from geo.access import roles
from geo.access.roles import Scope
from pages import common

lang = common.lang()
t = common.t
url = settings.database_url()
engine = common.engine()
kiosk = str(st.query_params.get("kiosk", "")).lower() in ("1", "true", "yes")
viewer = common.require("screen")
base_scope = viewer.scope  # street leaders, street staff, the wall's screen account
#: a grid team's phones in full only for a role that may call them, and never on a kiosk (a wall in a room)
reveal_phones = roles.may(viewer.role, "call_grid_team") and not kiosk

#: Chart heights on the 1920x1080 layout (px; scaled with the wall like everything else).
CATS_H, TREND_H, MAP_H = 200, 200, 600  # categories: 6 bars, room for the party members panel
#: Rows of the ranking tables and of the feed (what fits at 19 px).
RANK_ROWS, FEED_ROWS = 6, 7
WARN_ROWS = 2  # warnings listed on the wall (each takes two lines of the feed's height)


def _rem(css: str) -> str:
    """px → rem (16 px = 1 rem at 1920x1080), except in @media lines (rem there ignores the root font size)."""
    return "\n".join(line if line.lstrip().startswith("@media") else
                     re.sub(r"(\d+(?:\.\d+)?)px", lambda m: f"{float(m[1]) / 16:g}rem", line)
                     for line in css.splitlines())


CSS = _rem("""<style>
/* one rem = 16 px on a 1920x1080 wall, 32 px on 3840x2160: every size below scales with the wall.
   (Not CSS zoom: Streamlit measures charts in zoomed px and Vega then draws them twice too wide.)
   Text read across a room is 18 px or more at 1080p. */
html { font-size: min(calc(100vw / 120), calc(100vh / 67.5)) !important; }
.stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"] {
  background: radial-gradient(ellipse at 50% 0%, #0d2552 0%, #061230 55%, #030a1c 100%); color: #dce7f7; }
[data-testid="stMainBlockContainer"] { padding: 0.4rem 1rem 0 1rem; max-width: 100%; }
[data-testid="stHeader"] { background: transparent; }
[data-testid="stVerticalBlock"] { gap: 0.4rem; }
.scr-head { display:flex; justify-content:space-between; align-items:center; gap: 16px;
  border-bottom: 1px solid #1f4a8a; padding-bottom: 3px; }
.scr-title { font-size: 32px; font-weight: 700; letter-spacing: .1em; color: #e8f1ff; white-space: nowrap;
  text-shadow: 0 0 12px #2f7dff; }
.scr-clock { text-align: right; white-space: nowrap; line-height: 1.2; }
.scr-time { font-size: 26px; font-weight: 700; color: #e8f1ff; font-variant-numeric: tabular-nums; }
.scr-fresh { font-size: 18px; color: #8fb0dd; }
.scr-alarm { flex: 1; min-width: 0; text-align: center; font-size: 21px; font-weight: 700; color: #fff;
  background: #b0101e; border-radius: 6px; padding: 3px 12px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; animation: scr-flash 1s infinite; }
@keyframes scr-flash { 50% { background: #5a0810; } }
.scr-kpis { display:grid; grid-template-columns: repeat(8, 1fr); gap: 10px; }
.scr-tile { background: linear-gradient(180deg, rgba(25,60,120,.55), rgba(8,24,55,.75)); min-width: 0;
  border: 1px solid #1f4f96; border-radius: 8px; padding: 5px 11px; box-shadow: inset 0 0 14px rgba(40,120,255,.18); }
.scr-label { font-size: 19px; color: #a9c3e8; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scr-value { font-size: 46px; font-weight: 700; line-height: 1.1; color: #f2f7ff; font-variant-numeric: tabular-nums; }
.scr-value.scr-long { font-size: 33px; line-height: 1.55; }
.scr-sub { font-size: 18px; color: #9bb6dc; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scr-sub .good { color: #37e39b; } .scr-sub .bad { color: #ff5c66; } .scr-sub .neutral, .scr-sub .flat { color: #9bb6dc; }
.scr-red .scr-value { color: #ff3b47; text-shadow: 0 0 14px rgba(255,40,60,.6); }
.scr-red { border-color: #b0202c; }
.scr-flash { animation: scr-tile-flash 0.8s infinite; }
@keyframes scr-tile-flash { 50% { background: #7a0c16; border-color: #ff3b47; } }
.scr-green .scr-value { color: #37e39b; } .scr-amber .scr-value { color: #ffc23a; }
.scr-panel { background: rgba(8,24,55,.72); border: 1px solid #1b467f; border-radius: 8px; padding: 5px 12px; }
.scr-h { font-size: 20px; font-weight: 700; color: #9fd0ff; border-left: 5px solid #2f8bff; padding-left: 8px;
  margin: 1px 0 4px; white-space: nowrap; }
.scr-base { display:grid; grid-template-columns: 1fr 1fr 1fr; gap: 2px 12px; }
.scr-base b { font-size: 27px; color: #f2f7ff; font-variant-numeric: tabular-nums; }
.scr-base span { font-size: 18px; color: #a9c3e8; display:block; }
.scr-base small.late { font-size: 20px; color: #ffb000; margin-left: 2px; }
.scr-party span { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scr-table { width:100%; border-collapse: collapse; font-size: 19px; }
.scr-table th { color:#9bb6dc; font-weight: 400; text-align:left; border-bottom: 1px solid #1b467f; }
.scr-table th.n { text-align:right; }
.scr-table td { padding: 1px 0; color:#dce7f7; border-bottom: 1px solid rgba(27,70,127,.35);
  white-space: nowrap; max-width: 150px; overflow: hidden; text-overflow: ellipsis; }
.scr-table td.n { text-align:right; font-variant-numeric: tabular-nums; padding-left: 8px; }
.scr-table td.red { color:#ff4d57; font-weight:700; }
.scr-table td.amber { color:#ffc23a; font-weight:700; } .scr-table td.green { color:#37e39b; }
.scr-table td.hot { color:#fff; font-weight:700; }
.scr-feed { list-style:none; padding:0 !important; margin:0 !important; font-size:19px; }
.scr-feed li { margin: 0 !important; padding:2px 0; border-bottom: 1px solid rgba(27,70,127,.35); white-space:nowrap; overflow:hidden;
  text-overflow:ellipsis; }
.scr-feed li.fresh { color: #fff; background: rgba(176,16,30,.55); animation: scr-flash 1s infinite; }
.scr-feed .when { color: #9bb6dc; font-variant-numeric: tabular-nums; margin-right: 6px; }
.scr-tag { display:inline-block; padding:0 6px; border-radius:4px; font-size:17px; margin-right:6px; background:#1d5bb8; }
.scr-tag.warn { background:#c0178f; } .scr-warn .why { color:#ffc6ec; font-size:16px; white-space:normal; }
.scr-tag.up { background:#c46a00; } .scr-tag.urgent { background:#c8102e; } .scr-tag.over { background:#e01828; }
.scr-legend { display:flex; flex-wrap: wrap; gap: 2px 16px; font-size: 18px; color: #dce7f7;
  background: rgba(3,10,28,.82); border: 1px solid #1b467f; border-radius: 6px; padding: 3px 10px; width: fit-content; }
.scr-legend i { display:inline-block; vertical-align: middle; margin-right: 5px; }
.scr-legend .dot { width: 13px; height: 13px; border-radius: 50%; }
.scr-legend .ring { width: 13px; height: 13px; border-radius: 50%; border: 3px solid; box-sizing: border-box; }
.scr-legend .col { width: 10px; height: 18px; border-radius: 2px; }
.scr-legend .ramp { width: 90px; height: 13px; border-radius: 3px; }
/* the legend sits in the map's top-left corner, which the tilted view leaves empty */
.st-key-scr-mapbox { position: relative; }
.st-key-scr-watch { display: none; }
.st-key-scr-legend { position: absolute; top: 8px; left: 8px; z-index: 5; pointer-events: none; width: auto !important; }
/* a grid's open tickets: fixed columns, so a long ticket code is cut (…) before the state is pushed out */
.scr-grid-open .scr-table { table-layout: fixed; }
.scr-grid-open .scr-table td { max-width: none; }
.scr-grid-open .scr-table td:nth-child(1) { width: 42%; } .scr-grid-open .scr-table td:nth-child(2) { width: 24%; }
.scr-grid-open .scr-table td[colspan] { width: auto; }
.scr-hint { font-size: 18px; color: #9fd0ff; background: rgba(3,10,28,.82); border-radius: 6px; padding: 1px 8px;
  width: fit-content; }
.scr-sub-h { font-size: 18px; margin-top: 6px; }
.scr-grid-helpers { display:grid; grid-template-columns: repeat(4, 1fr); gap: 0 8px; line-height: 1.2; }
.scr-grid-helpers b { font-size: 27px; color: #f2f7ff; font-variant-numeric: tabular-nums; }
.scr-grid-helpers span, .scr-grid-helpers small { font-size: 18px; color: #a9c3e8; display:block;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scr-grid-helpers small { color: #dce7f7; }
.scr-grid-none { font-size: 18px; color: #a9c3e8; }
.st-key-screen_back, .st-key-screen_back_community { pointer-events: auto; }
.st-key-screen_back button, .st-key-screen_back_community button { background: #0d2552; color: #dce7f7; border-color: #2f8bff; font-size: 18px; }
[data-testid="stDeckGlJsonChart"] { border: 1px solid #1b467f; border-radius: 8px; overflow: hidden;
  background: #040c20; }
[data-testid="stDeckGlJsonChart"] div { background-color: transparent !important; }
/* Vega-Lite height "container": the chart fills these boxes, whose height scales with the wall */
.st-key-scr-chart-cats [data-testid="stVegaLiteChart"] { height: {CATS_H}px !important; }
.st-key-scr-chart-trend [data-testid="stVegaLiteChart"] { height: {TREND_H}px !important; }
/* the deck keeps its 1920 layout size in px (the view's zoom level is fitted to that size on the server)
   and its element is zoomed on a 4K wall (px here: rem in a media condition ignores the root font size) */
@media (min-width: 3000px) and (min-height: 1600px) { .st-key-scr-map { zoom: 2; } [data-testid="stDeckGlJsonChart"] { height: {MAP_H}px !important; } }
</style>""".replace("{CATS_H}", str(CATS_H)).replace("{TREND_H}", str(TREND_H)).replace("{MAP_H}", str(MAP_H)))
KIOSK_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
[data-testid="stSidebarNav"], header, footer { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: .3rem; }
</style>"""
st.html(CSS + (KIOSK_CSS if kiosk else ""))


@st.cache_data(ttl=600, show_spinner=False)
def communities(url_: str, street_id: int | None, layout: str) -> pd.Series:
    return panels.area_names(common.engine(), Scope("street", street_id=street_id))["community"]


@st.cache_data(ttl=600, show_spinner=False)
def basemap(url_: str, scope: Scope, layout: str) -> map_data.Basemap:
    return map_data.basemap(common.engine(), scope)



@st.cache_data(ttl=600, show_spinner=False)
def circle(url_: str, scope: Scope, layout: str) -> dict:
    return figures.service_circle(common.engine(), scope, plan=common.walking_plan(url_, scope))


@st.cache_data(ttl=300, show_spinner=False)
def people(url_: str, scope: Scope, layout: str) -> dict[str, int]:
    """Residents, households, party members, volunteers: they change with loads and bindings, so five minutes."""
    return figures.population(common.engine(), scope)


@st.cache_resource(show_spinner=False, max_entries=64)
def ticket_feed(url_: str, scope: Scope) -> figures.TicketFeed:
    """One per area and server: each refresh rereads only the tickets changed since the last."""
    return figures.TicketFeed(scope)


@st.cache_resource(show_spinner=False, max_entries=64)
def change_watch(url_: str, scope: Scope) -> figures.ChangeWatch:
    """One per area and server: every wall of the area shares its looks for a changed ticket."""
    return figures.ChangeWatch(scope)


@st.cache_data(ttl=figures.REFRESH_S, show_spinner=False, max_entries=256)
def live(url_: str, scope: Scope, lang_: str, tick: str) -> wall.Screen:
    return wall.build(common.engine(), datetime.fromisoformat(tick), scope, lang=lang_,
                        circle=circle(url_, scope, common.layout_version()), feed=ticket_feed(url_, scope),
                        people=people(url_, scope, common.layout_version()))


@st.cache_data(ttl=figures.REFRESH_S, show_spinner=False, max_entries=256)
def card(url_: str, seen_from: Scope, scope: Scope, lang_: str, tick: str, reveal: bool) -> grid_card.GridCard | None:
    """The grid's team, helpers and open tickets, the tickets from the same refresh as its figures."""
    return grid_card.card(common.engine(), datetime.fromisoformat(tick), seen_from, scope.grid_id,
                          live(url_, scope, lang_, tick).frame, reveal=reveal, lang=lang_)


names = communities(url, base_scope.street_id, common.layout_version()) if base_scope.level == "street" else pd.Series(dtype=object)
wanted = st.query_params.get("community")
chosen = int(wanted) if wanted and str(wanted).isdigit() and int(wanted) in names.index else None
if not kiosk and len(names):
    options = [None, *names.index.tolist()]
    chosen = st.sidebar.selectbox(t("screen.scope"), options, index=options.index(chosen),
                                  format_func=lambda i: t("screen.all") if i is None else names[i],
                                  key="screen_community")
    if chosen is None:
        st.query_params.pop("community", None)
    else:
        st.query_params["community"] = str(chosen)
grids = (basemap(url, Scope("community", community_id=chosen), common.layout_version()).grids.set_index("id")["name"].sort_index()
         if chosen is not None else pd.Series(dtype=object))  # its grids in service (retired ones hold no land)
asked = st.query_params.get("grid")
chosen_grid = int(asked) if asked and str(asked).isdigit() and int(asked) in grids.index else None
if not kiosk and len(grids):
    grid_options = [None, *grids.index.tolist()]
    chosen_grid = st.sidebar.selectbox(t("screen.grid_pick"), grid_options, index=grid_options.index(chosen_grid),
                                       format_func=lambda i: t("screen.grid_all") if i is None else grids[i],
                                       key=f"screen_grid_{chosen}")  # one per community: their options differ
if chosen_grid is None:
    st.query_params.pop("grid", None)  # none asked, or one not in this community: the community it is
else:
    st.query_params["grid"] = str(chosen_grid)
scope = (Scope("grid", community_id=chosen, grid_id=chosen_grid) if chosen_grid is not None else
         Scope("community", community_id=chosen) if chosen is not None else base_scope)
title = wall.street_title(engine, scope)
#: one map per area, so the last click at one level is not taken again at another
map_key = f"screen_map_{chosen}" + (f"_{chosen_grid}" if chosen_grid is not None else "")


URGENT_TAG = "<span class='scr-tag urgent'>!</span>"
TONE_CLASS = {"bad": "red", "warn": "amber", "good": "green", "": ""}


def pct(v: float) -> str:
    return "—" if v is None or np.isnan(v) else f"{v * 100:.1f}%"


def change(c: figures.Change, *, rate: bool = False, vs: str = "screen.vs_yesterday") -> str:
    """▲/▼ and the change, coloured by whether it is good news (geo decides which way is good)."""
    if c.tone == "neutral" and c.delta != c.delta:
        return ""
    if c.tone == "flat":
        body = t("screen.flat")
    else:
        d = abs(c.delta) * (100 if rate else 1)
        body = ("▲" if c.delta > 0 else "▼") + (f"{d:.1f}{t('screen.points')}" if rate else f"{d:,.0f}")
    return f"{t(vs)} <span class='{c.tone}'>{body}</span>"


def tile(label: str, value, sub: str = "", tone: str = "", title: str = "") -> str:
    size = " scr-long" if len(str(value)) > 8 else ""  # 2,101/2,400 cameras of a district still fit
    hover = f" title='{plain.html(title)}'" if title else ""
    return (f"<div class='scr-tile {tone}'{hover}><div class='scr-label'>{label}</div>"
            f"<div class='scr-value{size}'>{value}</div><div class='scr-sub'>{sub or '&nbsp;'}</div></div>")


def rank_table(df: pd.DataFrame, by: str) -> str:
    cols = (("col_name", "col_open", "col_overdue", "col_on_time") if by == "load"
            else ("col_name", "col_due", "col_on_time", "col_open"))
    head = "".join(f"<th class='{'' if k == 'col_name' else 'n'}'>{t('screen.' + k)}</th>" for k in cols)
    cell = {"col_name": lambda r: f"<td>{plain.html(str(r['name']))}</td>",
            "col_open": lambda r: f"<td class='n'>{r['open']}</td>",
            "col_overdue": lambda r: f"<td class='n {'red' if r['overdue'] else ''}'>{r['overdue']}</td>",
            "col_due": lambda r: f"<td class='n'>{r['due']}</td>",
            "col_on_time": lambda r: f"<td class='n {TONE_CLASS[figures.on_time_tone(r['on_time_rate'])]}'>"
                                     f"{pct(r['on_time_rate'])}</td>"}  # coloured by band, not by ranking
    rows = "".join("<tr>" + "".join(cell[k](r) for k in cols) + "</tr>" for _, r in df.iterrows())
    if not len(df):
        rows = f"<tr><td colspan='4'>{t('screen.rank_empty').format(n=figures.MIN_DUE)}</td></tr>"
    return f"<table class='scr-table'><tr>{head}</tr>{rows}</table>"


def ranking_panels(s: wall.Screen, flip: bool) -> tuple[str, str]:
    """The left and right rankings. Across communities both alternate on each refresh between open
    load and the worst on-time rate; inside one community its grids show both at once."""
    if len(s.names["community"]) <= 1:
        return ranking_panel(s, "grid", False), ranking_panel(s, "grid", True)
    return ranking_panel(s, "community", flip), ranking_panel(s, "grid", flip)


def ranking_panel(s: wall.Screen, level: str, flip: bool) -> str:
    """One ranking: by open load, or (``flip``) by the worst on-time rate."""
    by = "on_time" if flip else "load"
    df = getattr(s, ("communities" if level == "community" else "grids") + ("_on_time" if flip else ""))
    key = f"screen.rank_{'communities' if level == 'community' else 'grids'}{'_on_time' if flip else ''}"
    return f"<div class='scr-panel'><div class='scr-h'>{t(key)}</div>{rank_table(df.head(RANK_ROWS), by)}</div>"


def grid_panels(c: grid_card.GridCard | None) -> tuple[str, str]:
    """A grid's team and helpers (left) and its open tickets (right), in the rankings' places."""
    if c is None:
        return "", ""
    team = "".join(f"<tr><td>{grid_card.role_name(r.role, lang)}</td><td>{plain.html(str(r.name))}</td>"
                   f"<td class='n'>{plain.html(str(r.phone or ''))}</td></tr>" for r in c.team.head(2).itertuples())
    if not (c.team["role"] == "grid_head").any():
        team = f"<tr><td colspan='3' class='red'>{t('screen.grid_team_none')}</td></tr>" + team
    # the helpers: how many of each role, and the one looking after most households (亮身份: names shown)
    helpers = "".join(
        f"<div><b>{n}</b><span>{grid_card.role_name(r, lang)}</span><small>{plain.html(top) or '—'}</small></div>"
        for r, n, top in grid_card.by_role(c.helpers, c.helper_counts))
    left = (f"<div class='scr-panel scr-grid-team'><div class='scr-h'>{t('screen.grid_team')} · {plain.html(c.name)}</div>"
            f"<table class='scr-table'>{team}</table>"
            f"<div class='scr-h scr-sub-h'>{t('screen.grid_helpers')}</div>"
            + (f"<div class='scr-grid-helpers'>{helpers}</div>" if len(c.helpers) else
               f"<div class='scr-grid-none'>{t('screen.grid_helpers_none')}</div>") + "</div>")
    o = c.open_tickets
    shown = o.head(RANK_ROWS - 1 if len(o) > RANK_ROWS else RANK_ROWS)
    rows = "".join(
        f"<tr><td>{URGENT_TAG if r.urgent else ''}{plain.html(str(r.code))}</td><td>{plain.html(str(r.category))}</td>"
        + (f"<td class='n red'>{t('screen.grid_over').format(h=f'{r.hours_over:g}')}</td>" if r.overdue
           else f"<td class='n'>{plain.html(str(r.state))}</td>") + "</tr>" for r in shown.itertuples())
    if len(o) > len(shown):
        rows += f"<tr><td colspan='3'>… {t('screen.grid_more').format(n=len(o) - len(shown))}</td></tr>"
    if not len(o):
        rows = f"<tr><td colspan='3'>{t('screen.grid_open_none')}</td></tr>"
    right = (f"<div class='scr-panel scr-grid-open'><div class='scr-h'>{t('screen.grid_open')}（{len(o)}）</div>"
             f"<table class='scr-table'>{rows}</table></div>")
    return left, right


def stage_table(stages: pd.DataFrame) -> str:
    """Open tickets by stage (rows) and age (columns); the older the bucket, the hotter a non-zero cell."""
    buckets = [c for c in stages.columns if c != "total"]
    head = "<th></th>" + "".join(f"<th class='n'>{t(f'screen.age_{b}')}</th>" for b in buckets) + \
        f"<th class='n'>{t('screen.total')}</th>"
    heat = ["", "", "hot", "red"]
    rows = "".join(
        f"<tr><td>{t('screen.stage_' + stage)}</td>"
        + "".join(f"<td class='n {heat[b] if r[b] else ''}'>{r[b]}</td>" for b in buckets)
        + f"<td class='n'><b>{r['total']}</b></td></tr>" for stage, r in stages.iterrows())
    return f"<table class='scr-table'><tr>{head}</tr>{rows}</table>"


def legend_html(items: list[dict]) -> str:
    parts = []
    for it in items:
        k, c, label = it["kind"], it["color"], t(it["key"])
        if k == "ramp":
            sw = f"<i class='ramp' style='background:linear-gradient(90deg,{','.join(c)})'></i>"
            label = f"{label} {it['lo']}–{it['hi']}"
        elif k == "dots":
            sw = "".join(f"<i class='dot' style='background:{x};margin-right:1px'></i>" for x in c)
        elif k == "ring":
            sw = f"<i class='ring' style='border-color:{c}'></i>"
        else:
            sw = f"<i class='{'col' if k == 'column' else 'dot'}' style='background:{c}'></i>"
        parts.append(f"<span>{sw}{plain.html(label)}</span>")
    return "<div class='scr-legend'>" + "".join(parts) + "</div>"


def clock_html(now: datetime, as_of: datetime | None, tick: str) -> str:
    """Date, weekday and time of the street's clock, ticking every second in the browser.

    The browser counts on from the server's local time (so the wall shows
    Beijing time whatever its own clock or zone), and the freshness line says
    when the newest ticket event happened.
    """
    days = t("screen.weekdays").split(",")
    shown = f"{now:%Y-%m-%d} {days[now.weekday()]} {now:%H:%M:%S}"
    fresh = f"{t('screen.as_of')} {as_of:%m-%d %H:%M}" if as_of else ""
    base_ms = calendar.timegm(now.timetuple()) * 1000
    script = """<script>
(function () {
  window.__scrClock = {base: %d, at: Date.now(), days: %s};
  if (window.__scrClockTimer) return;
  var pad = function (n) { return String(n).padStart(2, '0'); };
  window.__scrClockTimer = setInterval(function () {
    var c = window.__scrClock, d = new Date(c.base + Date.now() - c.at);
    var text = d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' '
      + c.days[(d.getUTCDay() + 6) %% 7] + ' ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':'
      + pad(d.getUTCSeconds());
    document.querySelectorAll('.scr-time').forEach(function (e) { e.textContent = text; });
  }, 250);
})();
</script>""" % (base_ms, json.dumps(days, ensure_ascii=False))
    return (f"<div class='scr-clock' data-scr-tick='{tick}'><div class='scr-time'>{shown}</div>"
            f"<div class='scr-fresh'>{fresh} · {t('screen.every').format(n=figures.REFRESH_S)}</div></div>{script}")


def alarm_html(fresh: pd.DataFrame, grids: pd.Series) -> str:
    """The flashing banner of tickets overdue since the last refresh (empty when there are none)."""
    if not len(fresh):
        return ""
    items = "；".join(f"{plain.html(r.code)} {plain.html(r.category)}·{plain.html(grids.get(r.grid_id, ''))}"
                     for r in fresh.head(2).itertuples())
    more = f" …+{len(fresh) - 2}" if len(fresh) > 2 else ""
    return f"<div class='scr-alarm'>⚠ {t('screen.fresh_count').format(n=len(fresh))}：{items}{more}</div>"


def wall_px(px: float) -> dict:
    """A Vega size that scales with the wall like the rem-based CSS (px at 1920x1080, twice that at 4K)."""
    return {"expr": f"{px} * max(1, min(windowSize()[0] / 1920, windowSize()[1] / 1080))"}


def dark(chart: alt.Chart) -> alt.Chart:
    """Dark, wall-sized chart; its height comes from the st.container it is drawn in (CSS, in rem)."""
    return (chart.properties(background="transparent")
            .configure_view(strokeWidth=0)
            .configure_axis(labelColor="#c4d4ec", titleColor="#9fb3d1", gridColor="#163664", domainColor="#1f4a8a",
                            labelFontSize=wall_px(18), labelPadding=wall_px(4), tickSize=wall_px(4),
                            labelLimit=wall_px(140))
            .configure_legend(labelColor="#dce7f7", titleColor="#9fb3d1", orient="top", labelFontSize=wall_px(18),
                              symbolSize=wall_px(160), symbolStrokeWidth=wall_px(3), padding=wall_px(0),
                              offset=wall_px(2)))


def chart(key: str, c: alt.Chart) -> None:
    with st.container(key=f"scr-chart-{key}"):
        st.altair_chart(dark(c.properties(height="container")), theme=None, width="stretch")


def up_to_second(at: datetime) -> datetime:
    """``at`` rounded up to the whole second: a refresh at that moment includes what changed at ``at``."""
    return at if at.microsecond == 0 or at == datetime.min else at.replace(microsecond=0) + timedelta(seconds=1)


@st.fragment(run_every=figures.WATCH_S)
def watch_changes() -> None:
    """Every WATCH_S: a ticket in the area changed since the wall was drawn, so draw it now (issue 15: a
    new ticket on the wall within 5 s, where the figures otherwise wait up to REFRESH_S). Draws nothing."""
    with common.unexpected_errors():
        seen = change_watch(url, scope).look(common.engine(), common.now())
        if seen > st.session_state.get("screen_drawn", seen):
            st.rerun(scope="app")


def since_last_refresh(tick: datetime) -> datetime:
    """The wall's previous refresh (session state): tickets overdue since then flash, once."""
    seen = st.session_state.get("screen_seen")  # (tick, since) of the last drawn refresh
    if seen is None:
        since = tick - timedelta(seconds=figures.REFRESH_S)
    elif seen[0] == tick:
        since = seen[1]  # the same refresh drawn again (a rerun): keep what it flashed
    else:
        since = seen[0]
    st.session_state["screen_seen"] = (tick, since)
    return since


def show_area(community: int | None, grid: int | None = None) -> None:
    """Show one community (a click on it), one of its grids (a click inside it), or go back a level."""
    for key, value in (("community", community), ("grid", grid if community is not None else None)):
        if value is None:
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = str(value)
    for key in [k for k in st.session_state if k == "screen_community" or str(k).startswith("screen_grid_")]:
        st.session_state.pop(key, None)  # the sidebar's pickers start again from the address
    st.session_state["screen_redraw"] = True


def drill_down() -> None:
    """A click on the map: across the street it opens a community, inside one a grid."""
    selection = st.session_state[map_key].selection
    if chosen is None:
        picked = screen_map.picked_community(selection)
        if picked is not None and picked in names.index:
            show_area(int(picked))
    else:
        picked = screen_map.picked_grid(selection)
        if picked is not None and picked in grids.index:
            show_area(chosen, int(picked))


@st.fragment(run_every=figures.REFRESH_S)
def draw_wall() -> None:
    with common.unexpected_errors():  # the fragment's own reruns do not pass through app.py
        _draw_wall()


def _draw_wall() -> None:
    if st.session_state.pop("screen_redraw", False):
        st.rerun(scope="app")  # a click changed the area: the whole page, not only this fragment
    common.data_version(fresh=True)  # the fragment's reruns skip app.py: a boundary cut elsewhere redraws the map
    now = common.now().replace(microsecond=0)
    every_at = datetime.fromtimestamp(int(now.timestamp()) // figures.REFRESH_S * figures.REFRESH_S)
    seen = change_watch(url, scope).look(common.engine(), common.now())
    st.session_state["screen_drawn"] = seen  # watch_changes redraws when a newer change is seen
    tick_at = max(every_at, up_to_second(seen))  # a ticket changed since the last whole refresh: shown now
    tick = tick_at.isoformat()
    s, base = live(url, scope, lang, tick), basemap(url, scope, common.layout_version())
    fresh = figures.newly_overdue(s.frame, since_last_refresh(tick_at), tick_at, lang=lang)
    flip = bool(int(every_at.timestamp()) // figures.REFRESH_S % 2)
    if chosen_grid is not None:  # down to a grid: who answers for it and what is open, where the rankings were
        rank_left, rank_right = grid_panels(card(url, base_scope, scope, lang, tick, reveal_phones))
    else:
        rank_left, rank_right = ranking_panels(s, flip)
    f, c, n = s.figures, s.changes, figures.PERIOD_DAYS
    period = t("screen.period").format(n=n)
    st.html(f"<div class='scr-head'><div class='scr-title'>{plain.html(title)} · {t('screen.title')}</div>"
            f"{alarm_html(fresh, s.names['grid'])}{clock_html(now, s.as_of, tick)}</div>",
            unsafe_allow_javascript=True)
    # the planning page's figure (coverage.circle: each type within its standard reach); beneath it, named
    # 宽口径, every type within a 15-minute walk; the definition on hover (a laptop) and in the README
    circle_sub = t("screen.circle_loose" if f["circle_method"] == "walking" else "screen.circle_straight").format(
        p=pct(f["circle_loose_share"]))
    circle_help = t("screen.circle_help").format(m=f"{f['circle_reach_m']:,.0f}")
    overdue_tone = ("scr-red scr-flash" if len(fresh) else "scr-red") if f["overdue"] else ""
    overdue_sub = t("screen.fresh_count").format(n=len(fresh)) if len(fresh) else change(c["overdue"])
    st.html("<div class='scr-kpis'>" + "".join([
        tile(t("screen.open"), f"{f['open']:,}", change(c["open"])),
        tile(t("screen.new_today"), f"{f['new_today']:,}", change(c["new_today"])),
        tile(t("screen.closed_today"), f"{f['closed_today']:,}", change(c["closed_today"]), "scr-green"),
        tile(t("screen.overdue"), f"{f['overdue']:,}", overdue_sub, overdue_tone),
        tile(f"{t('screen.on_time')}·{period}", pct(f["on_time_rate"]),
             change(c["on_time_rate"], rate=True, vs="screen.vs_prev")),
        tile(f"{t('screen.satisfaction')}·{period}", pct(f["satisfaction_rate"]),
             change(c["satisfaction_rate"], rate=True, vs="screen.vs_prev")),
        tile(t("screen.cameras"), f"{f['cameras_online']:,}/{f['cameras']:,}",
             f"{t('screen.cameras_offline')} {f['cameras_offline']} · {t('screen.cameras_fault')} {f['cameras_fault']}",
             "scr-amber" if f["cameras_offline"] + f["cameras_fault"] else ""),
        tile(t("screen.circle"), pct(f["circle_share"]), circle_sub, title=circle_help),
    ]) + "</div>")
    left, middle, right = st.columns([1, 2.3, 1], gap="small")
    with left:
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.base')}</div><div class='scr-base'>" + "".join(
            f"<div><b>{f[k]:,}</b><span>{t(label)}</span></div>" for k, label in (
                ("residents", "screen.residents"), ("households", "screen.households"),
                ("party_members", "screen.party"), ("communities", "screen.communities"),
                ("grids", "screen.grids"), ("volunteers", "screen.volunteers"))) + "</div></div>")
        # 党员接单: the 30-minute promise over the window, and members on their way now (ringed on the map)
        way_late = int((s.on_the_way["minutes_left"] < 0).sum()) if s.on_the_way is not None else 0
        median = f["arrival_median_min"]
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.party_orders').format(n=n)}</div>"
                "<div class='scr-base scr-party'>" + "".join(  # one line per label, or the column outgrows the wall
                    f"<div><b>{v}</b><span title='{label}'>{label}</span></div>" for v, label in (
                    (pct(f["arrival_rate"]), t("screen.arrival_rate")),
                    ("—" if median != median else f"{median:.0f}", t("screen.arrival_median")),
                    (f"{f['on_the_way']}" + (f"<small class='late'>/{way_late}</small>" if way_late else ""),
                     t("screen.on_the_way")))) + "</div></div>")
        st.html(f"<div class='scr-h'>{t('screen.categories').format(n=n)}</div>")
        cats = s.categories.head(6)
        chart("cats", alt.Chart(cats).mark_bar(color="#2f8bff", cornerRadiusEnd=wall_px(3)).encode(
            x=alt.X("reported:Q", title=None, axis=alt.Axis(tickCount=4)), y=alt.Y("name:N", sort=None, title=None)))
        st.html(rank_left)
    with middle:
        d = screen_map.deck(base, s, basemap=figures.BASEMAP, tiles_url=figures.TILES, height_px=MAP_H,
                            width_px=figures.MAP_WIDTH_PX if kiosk else 860,  # the sidebar takes ~300 px
                            fresh=fresh, lang=lang)
        with st.container(key="scr-mapbox"):
            with st.container(key="scr-map"):  # zoomed as one on a 4K wall (CSS)
                # a click on a grid drills down to its community, inside a community to the grid (the kiosk
                # has no sidebar picker); one key per area, so a level's last click is not taken again
                drill = (chosen is None and len(names) > 1) or (chosen is not None and chosen_grid is None)
                st.pydeck_chart(d, height=MAP_H, key=map_key, selection_mode="single-object",
                                on_select=drill_down if drill else "ignore")
            with st.container(key="scr-legend"):  # laid over the map's top-left corner
                st.html(legend_html(screen_map.legend(base, s)))
                if chosen_grid is not None:  # the way back, a level at a time, on the wall too
                    st.button(t("screen.back_community").format(name=names.get(chosen, "")),
                              key="screen_back_community", on_click=show_area, args=(chosen,))
                elif chosen is not None:
                    st.button(t("screen.back"), key="screen_back", on_click=show_area, args=(None,))
                    st.html(f"<div class='scr-hint'>{t('screen.grid_hint')}</div>")  # the next level down
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.stages')}</div>{stage_table(s.stages)}</div>")
    with right:
        warned = min(len(s.warnings), WARN_ROWS) if s.warnings is not None else 0  # 智能预警 (rings on the map)
        st.html(panels.warnings_html(s.warnings, now, rows=WARN_ROWS, heading=t("screen.warnings"),
                                     none=t("screen.warnings_none")))
        slots = max(1, warned)  # the warnings panel takes a line when empty, two per warning: the feed gives them back
        overdue_rows = max(0, 3 - slots)
        over = "".join(
            f"<li class='fresh'><span class='scr-tag over'>{t('screen.feed_overdue')}</span>"
            f"<span class='when'>{w}</span>{plain.html(str(r.category))} · "
            f"{plain.html(str(s.names['grid'].get(r.grid_id, '')))}</li>"
            for r, w in zip(fresh.head(overdue_rows).itertuples(), panels.clock_labels(fresh["due_at"].head(overdue_rows),
                                                                                      now)))
        items = "".join(
            f"<li><span class='scr-tag {'up' if e.action == 'escalate' else ''}'>"
            f"{t('screen.feed_escalate' if e.action == 'escalate' else 'screen.feed_report')}</span>"
            f"{URGENT_TAG if e.urgent else ''}<span class='when'>{e.when}</span>"
            f"{plain.html(str(e.category))} · {plain.html(str(e.grid or ''))}</li>"
            for e in s.feed.head(max(1, FEED_ROWS - min(len(fresh), overdue_rows) - 2 * slots)).itertuples())
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.feed')}</div>"
                f"<ul class='scr-feed'>{over}{items}</ul></div>")
        st.html(f"<div class='scr-h'>{t('screen.trend').format(n=n)}</div>")
        long = s.trend.melt("day", var_name="kind", value_name="count")
        kinds = {"reported": t("screen.reported"), "closed": t("screen.closed"),
                 "reported_prev": t("screen.prev_period")}
        long["kind"] = long["kind"].map(kinds)
        chart("trend", alt.Chart(long).mark_line(strokeWidth=wall_px(2.5)).encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%m-%d", labelAngle=0, tickCount=4)),
            y=alt.Y("count:Q", title=None, axis=alt.Axis(tickCount=4)),
            color=alt.Color("kind:N", title=None, sort=list(kinds.values()),
                            scale=alt.Scale(domain=list(kinds.values()), range=["#2f8bff", "#37e39b", "#7f8fa8"])),
            strokeDash=alt.StrokeDash("kind:N", title=None, sort=list(kinds.values()),
                                      scale=alt.Scale(domain=list(kinds.values()), range=[[1, 0], [1, 0], [6, 4]]))))
        st.html(rank_right)


draw_wall()
with st.container(key="scr-watch"):  # hidden (CSS): it only looks, every WATCH_S
    watch_changes()
