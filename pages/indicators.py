"""工单指标: the figures leaders quote, for the user's area and a chosen period."""
from __future__ import annotations

import time as time_
from datetime import datetime, time, timedelta

import streamlit as st

from geo import settings
from geo.tickets import categories, indicators
from geo.io import export
from geo.maps import layers
from geo.access.roles import Scope
from geo.reports import monthly, report_pdf, schedule
from pages import common

user = common.require("indicators")
lang, t = common.lang(), common.t
engine = common.engine()
now = common.now()

st.title(t("nav.indicators"))
c1, c2 = st.columns(2)
period = c1.date_input(t("ind.period"), value=(now.date() - timedelta(days=30), now.date()),
                       max_value=now.date(), key="ind_period")
start, end = (period[0], period[-1]) if isinstance(period, tuple) and period else (now.date(), now.date())
scope = user.scope
if scope.level == "street":  # the street may look at one community
    names = layers.community_names(engine, scope)
    pick = c2.selectbox(t("tickets.community"), [None, *names], key="ind_community",
                        format_func=lambda k: t("tickets.all") if k is None else names[k])
    if pick is not None:
        scope = Scope("community", street_id=scope.street_id, community_id=pick)

frame = indicators.load(engine, scope=scope)
window = dict(start=datetime.combine(start, time.min), end=datetime.combine(end + timedelta(days=1), time.min))
values = indicators.compute(frame, now, **window)
for row in (indicators.HEADLINE[:4], indicators.HEADLINE[4:]):
    for col, key in zip(st.columns(len(row), border=True), row):
        col.metric(indicators.label(key, lang), indicators.shown(key, values[key]),
                   help=indicators.definition(key, lang))
st.caption(t("ind.closed_apart").format(closed=f"{values['closed']:,}", fixed=f"{values['closed_fixed']:,}",
                                        unfixed=f"{values['closed_unfixed']:,}"))
st.caption(t("ind.arrival"))  # 党员接单: the 30-minute promise (务川)
for col, key in zip(st.columns(len(indicators.ARRIVAL), border=True), indicators.ARRIVAL):
    col.metric(indicators.label(key, lang), indicators.shown(key, values[key]), help=indicators.definition(key, lang))
st.caption(t("ind.rating_sources").format(  # who rated: residents themselves, or staff on their behalf
    all=indicators.shown("satisfaction_rate", values["satisfaction_rate"]), own=f"{values['rated_self']:,}",
    share=indicators.shown("self_rated_share", values["self_rated_share"]), proxy=f"{values['rated_proxy']:,}",
    own_rate=indicators.shown("satisfaction_self_rate", values["satisfaction_self_rate"])))
st.caption(t("ind.definitions"))
with st.expander(t("ind.all"), expanded=False):
    full = indicators.table(values, lang)
    st.dataframe(full, hide_index=True, width="stretch", height=35 * (len(values) + 1) + 3,
                 column_config={full.columns[0]: st.column_config.TextColumn(width="medium"),
                                full.columns[2]: st.column_config.TextColumn(width="large")})

by_category = indicators.labelled(indicators.by(frame, "category", now, **window), "category", lang,
                                  {k: c.name(lang) for k, c in categories.CATEGORIES.items()})
by_grid = indicators.labelled(indicators.by(frame, "grid_id", now, **window), "grid_id", lang,
                              layers.grid_names(engine, scope=scope))
st.subheader(t("ind.by_category"))
st.dataframe(by_category, hide_index=True, width="stretch")
st.subheader(t("ind.by_grid"))
st.dataframe(by_grid, hide_index=True, width="stretch")
st.download_button(t("tickets.export_xlsx"), lambda: export.excel_bytes({  # built when asked, not every run
    "指标": indicators.table(values, lang), "按类别": by_category, "按网格": by_grid}),
    f"indicators_{start:%Y%m%d}_{end:%Y%m%d}.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="ind_export")

# ---- 月度报告 (issue 19, item 2): the chosen area's month as Excel and a printable PDF (geo.reports)
st.divider()
st.subheader(t("mrep.title"))
st.caption(t("mrep.caption"))
if user.scope.level == "grid":
    st.info(t("mrep.street_only"))
    st.stop()
report_scope = monthly.area_scope(engine, user.scope, scope.community_id if scope.level == "community" else None)
months = [monthly.shift(now.date().replace(day=1), -i) for i in range(0, 13)]
month = st.selectbox(t("mrep.month"), months, index=1, format_func=lambda m: f"{m:%Y-%m}", key="mrep_month")
asked = (report_scope, month)
if st.button(t("mrep.make"), key="mrep_make", type="primary"):
    began = time_.perf_counter()
    report = monthly.build(engine, report_scope, month, now, plan=common.walking_plan(settings.database_url(), report_scope))
    printed = report_pdf.pdf_bytes(report)
    st.session_state["mrep"] = (asked, report.area, report.file_stem, monthly.excel_bytes(report), printed.data,
                                printed.embedded, time_.perf_counter() - began)
made = st.session_state.get("mrep")
if made and made[0] == asked:
    _, area, stem, xlsx, pdf, embedded, seconds = made
    st.success(t("mrep.made").format(area=area, month=f"{month:%Y-%m}", s=seconds))
    left, right = st.columns(2)
    left.download_button(t("mrep.excel"), xlsx, f"{stem}.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="mrep_xlsx")
    right.download_button(t("mrep.pdf"), pdf, f"{stem}.pdf", "application/pdf", key="mrep_pdf")
    if not embedded:
        st.warning(t("mrep.no_font"))

with st.expander(t("mrep.schedule"), expanded=False):
    if user.scope.level != "street":
        st.caption(t("mrep.street_only"))
    else:
        current = schedule.get(engine, user.scope.street_id)
        on = st.toggle(t("mrep.schedule_on"), value=current["on"], key="mrep_on")
        with_communities = st.checkbox(t("mrep.schedule_communities"), value=current["communities"],
                                       key="mrep_communities", disabled=not on)
        if st.button(t("mrep.schedule_save"), key="mrep_save"):
            with common.storage_errors():
                schedule.set_schedule(engine, user, on=on, communities=with_communities, now=now)
            st.success(t("mrep.schedule_saved").format(state=t("mrep.on") if on else t("mrep.off")))
        files = schedule.files(user.scope.street_id)
        st.caption(t("mrep.files") if files else t("mrep.no_files"))
        for i, path in enumerate(files[:12]):
            kind = "application/pdf" if path.suffix == ".pdf" else \
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            st.download_button(path.name, lambda path=path: path.read_bytes(), path.name, kind, key=f"mrep_file_{i}")
