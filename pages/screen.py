"""指挥大屏: the command-centre wall. Dark, large type, no mouse needed; refreshes itself.

``?kiosk=1`` hides every piece of chrome (sidebar, header, toolbar);
``?community=<id>`` drills down to one community (the selectbox does the same
in the normal view). Figures come from geo.screen, the map from geo.screen_map.
"""
from __future__ import annotations

import html
import re
from datetime import datetime

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from geo import screen, screen_map, settings
from geo.roles import Scope
from pages import common

lang = common.lang()
t = common.t
url = settings.database_url()
engine = common.engine()
kiosk = str(st.query_params.get("kiosk", "")).lower() in ("1", "true", "yes")
base_scope = common.require("screen").scope  # street leaders, street staff, the wall's screen account

#: Chart heights on the 1920x1080 layout (px; scaled with the wall like everything else).
CATS_H, TREND_H, MAP_H = 230, 190, 740


def _rem(css: str) -> str:
    """px → rem (16 px = 1 rem at 1920x1080), except in @media lines (rem there ignores the root font size)."""
    return "\n".join(line if line.lstrip().startswith("@media") else
                     re.sub(r"(\d+(?:\.\d+)?)px", lambda m: f"{float(m[1]) / 16:g}rem", line)
                     for line in css.splitlines())


CSS = _rem("""<style>
/* one rem = 16 px on a 1920x1080 wall, 32 px on 3840x2160: every size below scales with the wall.
   (Not CSS zoom: Streamlit measures charts in zoomed pixels and Vega then draws them twice too wide.) */
html { font-size: min(calc(100vw / 120), calc(100vh / 67.5)) !important; }
.stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"] {
  background: radial-gradient(ellipse at 50% 0%, #0d2552 0%, #061230 55%, #030a1c 100%); color: #dce7f7; }
[data-testid="stMainBlockContainer"] { padding: 0.5rem 1.1rem 0 1.1rem; max-width: 100%; }
[data-testid="stHeader"] { background: transparent; }
[data-testid="stVerticalBlock"] { gap: 0.45rem; }
.scr-head { display:flex; justify-content:space-between; align-items:baseline;
  border-bottom: 1px solid #1f4a8a; padding-bottom: 4px; }
.scr-title { font-size: 34px; font-weight: 700; letter-spacing: .12em; color: #e8f1ff;
  text-shadow: 0 0 12px #2f7dff; }
.scr-clock { font-size: 17px; color: #8fb0dd; }
.scr-kpis { display:grid; grid-template-columns: repeat(8, 1fr); gap: 11px; }
.scr-tile { background: linear-gradient(180deg, rgba(25,60,120,.55), rgba(8,24,55,.75));
  border: 1px solid #1f4f96; border-radius: 8px; padding: 7px 12px; box-shadow: inset 0 0 14px rgba(40,120,255,.18); }
.scr-label { font-size: 15px; color: #8fb0dd; white-space: nowrap; }
.scr-value { font-size: 47px; font-weight: 700; line-height: 1.1; color: #f2f7ff; font-variant-numeric: tabular-nums; }
.scr-sub { font-size: 14px; color: #7f9cc8; white-space: nowrap; }
.scr-red .scr-value { color: #ff3b47; text-shadow: 0 0 14px rgba(255,40,60,.7); animation: scr-blink 1.6s infinite; }
.scr-red { border-color: #b0202c; }
.scr-green .scr-value { color: #37e39b; } .scr-amber .scr-value { color: #ffc23a; }
@keyframes scr-blink { 50% { opacity: .55; } }
.scr-panel { background: rgba(8,24,55,.72); border: 1px solid #1b467f; border-radius: 8px; padding: 6px 12px; }
.scr-h { font-size: 18px; font-weight: 700; color: #9fd0ff; border-left: 5px solid #2f8bff; padding-left: 8px; margin: 2px 0 6px; }
.scr-base { display:grid; grid-template-columns: 1fr 1fr; gap: 2px 15px; }
.scr-base b { font-size: 26px; color: #f2f7ff; font-variant-numeric: tabular-nums; }
.scr-base span { font-size: 14px; color: #8fb0dd; display:block; }
.scr-table { width:100%; border-collapse: collapse; font-size: 15px; }
.scr-table th { color:#7f9cc8; font-weight: 400; text-align:left; border-bottom: 1px solid #1b467f; }
.scr-table td { padding: 2px 0; color:#dce7f7; border-bottom: 1px solid rgba(27,70,127,.35); }
.scr-table td.n { text-align:right; font-variant-numeric: tabular-nums; }
.scr-table td.red { color:#ff4d57; font-weight:700; }
.scr-feed { list-style:none; padding:0; margin:0; font-size:15px; }
.scr-feed li { padding:3px 0; border-bottom: 1px solid rgba(27,70,127,.35); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.scr-tag { display:inline-block; padding:0 6px; border-radius:4px; font-size:13px; margin-right:6px; background:#1d5bb8; }
.scr-tag.up { background:#c46a00; } .scr-tag.urgent { background:#c8102e; }
.scr-legend { font-size: 14px; color: #8fb0dd; }
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
[data-testid="stMainBlockContainer"] { padding-top: .4rem; }
</style>"""
st.html(CSS + (KIOSK_CSS if kiosk else ""))


@st.cache_data(ttl=600, show_spinner=False)
def communities(url_: str, street_id: int | None) -> pd.Series:
    return screen.area_names(common.engine(), Scope("street", street_id=street_id))["community"]


@st.cache_data(ttl=600, show_spinner=False)
def basemap(url_: str, scope: Scope) -> screen.Basemap:
    return screen.basemap(common.engine(), scope)


@st.cache_data(ttl=600, show_spinner=False)
def circle(url_: str, scope: Scope) -> dict[str, float]:
    return screen.service_circle(common.engine(), scope)


@st.cache_data(ttl=screen.REFRESH_S, show_spinner=False)
def live(url_: str, scope: Scope, lang_: str, tick: str) -> screen.Screen:
    return screen.build(common.engine(), datetime.fromisoformat(tick), scope, lang=lang_,
                        circle=circle(url_, scope))


names = communities(url, base_scope.street_id) if base_scope.level == "street" else pd.Series(dtype=object)
wanted = st.query_params.get("community")
chosen = int(wanted) if wanted and str(wanted).isdigit() and int(wanted) in names.index else None
if not kiosk and len(names):
    options = [None, *names.index.tolist()]
    chosen = st.selectbox(t("screen.scope"), options, index=options.index(chosen),
                          format_func=lambda i: t("screen.all") if i is None else names[i], key="screen_community")
    if chosen is None:
        st.query_params.pop("community", None)
    else:
        st.query_params["community"] = str(chosen)
scope = Scope("community", community_id=chosen) if chosen is not None else base_scope
title = screen.street_title(engine, scope)


URGENT_TAG = "<span class='scr-tag urgent'>!</span>"


def pct(v: float) -> str:
    return "—" if v is None or np.isnan(v) else f"{v * 100:.1f}%"


def tile(label: str, value, sub: str = "", tone: str = "") -> str:
    return (f"<div class='scr-tile {tone}'><div class='scr-label'>{label}</div>"
            f"<div class='scr-value'>{value}</div><div class='scr-sub'>{sub or '&nbsp;'}</div></div>")


def rank_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{t(k)}</th>" for k in ("screen.col_name", "screen.col_open", "screen.col_overdue",
                                                 "screen.col_on_time"))
    rows = "".join(f"<tr><td>{html.escape(str(r['name']))}</td><td class='n'>{r['open']}</td>"
                   f"<td class='n {'red' if r['overdue'] else ''}'>{r['overdue']}</td>"
                   f"<td class='n'>{pct(r['on_time_rate'])}</td></tr>" for _, r in df.iterrows())
    return f"<table class='scr-table'><tr>{head}</tr>{rows}</table>"


def wall_px(px: float) -> dict:
    """A Vega size that scales with the wall like the rem-based CSS (px at 1920x1080, twice that at 4K)."""
    return {"expr": f"{px} * max(1, min(windowSize()[0] / 1920, windowSize()[1] / 1080))"}


def dark(chart: alt.Chart) -> alt.Chart:
    """Dark, wall-sized chart; its height comes from the st.container it is drawn in (CSS, in rem)."""
    return (chart.properties(background="transparent")
            .configure_view(strokeWidth=0)
            .configure_axis(labelColor="#b4c6e2", titleColor="#9fb3d1", gridColor="#163664", domainColor="#1f4a8a",
                            labelFontSize=wall_px(15), labelPadding=wall_px(4), tickSize=wall_px(4),
                            labelLimit=wall_px(140))
            .configure_legend(labelColor="#dce7f7", titleColor="#9fb3d1", orient="top", labelFontSize=wall_px(15),
                              symbolSize=wall_px(160), symbolStrokeWidth=wall_px(3)))


def chart(key: str, c: alt.Chart) -> None:
    with st.container(key=f"scr-chart-{key}"):
        st.altair_chart(dark(c.properties(height="container")), theme=None, width="stretch")


@st.fragment(run_every=screen.REFRESH_S)
def wall() -> None:
    now = common.now().replace(microsecond=0)
    tick = datetime.fromtimestamp(int(now.timestamp()) // screen.REFRESH_S * screen.REFRESH_S).isoformat()
    s, base = live(url, scope, lang, tick), basemap(url, scope)
    f, n = s.figures, screen.PERIOD_DAYS
    period = t("screen.period").format(n=n)
    st.html(f"<div class='scr-head'><div class='scr-title'>{html.escape(title)} · {t('screen.title')}</div>"
            f"<div class='scr-clock'>{t('screen.updated')} {now:%Y-%m-%d %H:%M:%S} · "
            f"{t('screen.every').format(n=screen.REFRESH_S)}</div></div>")
    st.html("<div class='scr-kpis'>" + "".join([
        tile(t("screen.open"), f"{f['open']:,}", f"{t('screen.urgent')} {f['urgent_open']}"),
        tile(t("screen.new_today"), f"{f['new_today']:,}", f"{t('screen.reported')} {period} {f['reported_period']:,}"),
        tile(t("screen.closed_today"), f"{f['closed_today']:,}", "", "scr-green"),
        tile(t("screen.overdue"), f"{f['overdue']:,}", "", "scr-red" if f["overdue"] else ""),
        tile(t("screen.on_time"), pct(f["on_time_rate"]), period),
        tile(t("screen.satisfaction"), pct(f["satisfaction_rate"]), period),
        tile(t("screen.cameras"), f"{f['cameras_online']:,}/{f['cameras']:,}",
             f"{t('screen.cameras_offline')} {f['cameras_offline']}", "scr-amber" if f["cameras_offline"] else ""),
        tile(t("screen.circle"), pct(f["circle_share"]), f"{t('screen.complete')} {pct(f['complete_share'])}"),
    ]) + "</div>")
    left, middle, right = st.columns([1, 2.3, 1], gap="small")
    with left:
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.base')}</div><div class='scr-base'>" + "".join(
            f"<div><b>{f[k]:,}</b><span>{t(label)}</span></div>" for k, label in (
                ("residents", "screen.residents"), ("households", "screen.households"),
                ("communities", "screen.communities"), ("grids", "screen.grids"),
                ("party_members", "screen.party"), ("volunteers", "screen.volunteers"))) + "</div></div>")
        st.html(f"<div class='scr-h'>{t('screen.categories').format(n=n)}</div>")
        cats = s.categories.head(8)
        chart("cats", alt.Chart(cats).mark_bar(color="#2f8bff", cornerRadiusEnd=wall_px(3)).encode(
            x=alt.X("reported:Q", title=None, axis=alt.Axis(tickCount=4)), y=alt.Y("name:N", sort=None, title=None)))
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.rank_communities')}</div>"
                f"{rank_table(s.communities.head(6))}</div>")
    with middle:
        pulse = int(now.timestamp()) // screen.REFRESH_S % 2  # overdue rings grow and shrink on alternate refreshes
        d = screen_map.deck(base, s, basemap=screen.BASEMAP, height_px=MAP_H, width_px=1000, pulse=pulse)
        with st.container(key="scr-map"):  # zoomed as one on a 4K wall (CSS)
            st.pydeck_chart(d, height=MAP_H, key="screen_map")
        st.html(f"<div class='scr-legend'>{t('screen.legend').format(n=n)}"
                f"{' · ' + t('screen.offline_map') if screen.BASEMAP == 'offline' else ''}</div>")
    with right:
        items = "".join(
            f"<li><span class='scr-tag {'up' if e.action == 'escalate' else ''}'>"
            f"{t('screen.feed_escalate' if e.action == 'escalate' else 'screen.feed_report')}</span>"
            f"{URGENT_TAG if e.urgent else ''}"
            f"{e.at:%H:%M} {html.escape(str(e.category))} · {html.escape(str(e.grid or ''))}</li>"
            for e in s.feed.head(9).itertuples())
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.feed')}</div><ul class='scr-feed'>{items}</ul></div>")
        st.html(f"<div class='scr-h'>{t('screen.trend').format(n=n)}</div>")
        long = s.trend.melt("day", var_name="kind", value_name="count")
        long["kind"] = long["kind"].map({"reported": t("screen.reported"), "closed": t("screen.closed")})
        chart("trend", alt.Chart(long).mark_line(strokeWidth=wall_px(2.5)).encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%m-%d", labelAngle=0, tickCount=4)),
            y=alt.Y("count:Q", title=None, axis=alt.Axis(tickCount=4)),
            color=alt.Color("kind:N", title=None, scale=alt.Scale(range=["#2f8bff", "#37e39b"]))))
        st.html(f"<div class='scr-panel'><div class='scr-h'>{t('screen.rank_grids')}</div>"
                f"{rank_table(s.grids.head(6))}</div>")


wall()
