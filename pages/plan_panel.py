"""One plan on screen (geo.grids.boundaries.Plan), for 网格调整 and 网格规划: what changes, what is
refused or needs a reason, who moves, the preview map, and the button that applies it.

Every rule is in geo.grids; this only draws the plan and passes the reason and reassignments on.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.access import roles
from geo.errors import ConcurrentEditError
from geo.grids import boundaries, boundaries_map
from geo.io import plain
from pages import common


def show(plan: boundaries.Plan, user, *, key: str, on_done) -> None:
    """Draw ``plan``; on a successful apply call ``on_done(changes)`` (the page resets itself and reruns)."""
    t, lang, eng = common.t, common.lang(), common.engine()
    st.subheader(t("boundaries.changes"))
    columns = {"code": t("field.code"), "name": t("field.name"), "households_before": t("gridplan.col_hh_before"),
               "households_after": t("gridplan.col_hh_after"), "residents_after": t("gridplan.col_res_after")} | {
        c: t(f"boundaries.col_{c.removesuffix('_m2')}") for c in plan.changes.columns
        if c.endswith(("_in", "_out", "_m2"))}
    shown = plan.changes[[c for c in columns if c in plan.changes.columns]]
    st.dataframe(shown.rename(columns=columns).round(1), hide_index=True, width="stretch")
    if len(plan.recodes):
        st.caption(t("gridplan.recodes").format(n=len(plan.recodes)))
    if plan.problems or len(plan.refused):
        st.warning(t("boundaries.refused"))
    for problem in plan.problems:
        st.error(plain.markdown(problem.message(lang)))
    for message in plan.refused["message"]:
        st.error(plain.markdown(message))
    if len(plan.needs_reason):
        st.warning(t("gridplan.need_reason"))
        for message in plan.needs_reason["message"]:
            st.warning(plain.markdown(message))

    m = boundaries_map.preview_map(boundaries_map.preview_layers(eng, plan), plan, lang=lang)
    st_folium(m, height=480, use_container_width=True, returned_objects=[], key=f"{key}map_{lang}")
    st.caption(t("boundaries.legend"))
    st.subheader(t("boundaries.moves"))
    if len(plan.moves):
        st.dataframe(plan.moves[["name", "from_code", "to_code", "households", "residents"]].rename(columns={
            "name": t("field.name"), "from_code": t("boundaries.col_from"), "to_code": t("boundaries.col_to"),
            "households": t("field.households"), "residents": t("field.residents")}), hide_index=True,
            width="stretch")
    else:
        st.caption(t("boundaries.no_moves"))
    reassign = _bindings(plan, key)
    if not plan.ok:
        return
    reason = st.text_area(t("gridplan.reason"), max_chars=boundaries.REASON_CHARS, key=f"{key}reason") \
        if len(plan.needs_reason) else None
    if st.button(t("boundaries.apply"), type="primary", key=f"{key}apply"):
        try:
            done = boundaries.apply_adjustment(eng, user, plan,
                                               now=common.now(), reason=reason, reassign=reassign)
        except boundaries.BoundaryError as exc:
            st.error(plain.markdown(exc.message(lang)))
            return
        except (ConcurrentEditError, PermissionError) as exc:
            st.error(plain.markdown(exc))
            return
        st.cache_data.clear()  # layers, figures and coverage are all grouped by grid: none may show the old cut
        on_done(done)
        st.rerun()


def _bindings(plan: boundaries.Plan, key: str) -> dict[int, int]:
    """The retired grids' team, contact points and logins, and where each retired grid's go (a choice)."""
    t = common.t
    b = plan.bindings
    if not len(b):
        return {}
    st.subheader(t("gridplan.bindings"))
    targets = {int(i): c for i, c in zip(plan.new["id"], plan.new["code"])}
    chosen = {}
    for rid, rows in b.groupby("from_grid_id"):
        default = rows["to_grid_id"].dropna()
        options = list(targets)
        first = options.index(int(default.iloc[0])) if len(default) and int(default.iloc[0]) in options else 0
        chosen[int(rid)] = st.selectbox(f"{rows['from_code'].iloc[0]} → {t('gridplan.to_grid')}", options, index=first,
                                        format_func=targets.get, key=f"{key}to_{rid}")
        team = rows[~rows["follows_place"].astype(bool)]
        st.dataframe(pd.DataFrame({
            t("gridplan.col_kind"): [t(f"gridplan.kind_{k}") for k in team["kind"]],
            t("gridplan.col_role"): [_role(k, r) for k, r in zip(team["kind"], team["role"])],
            t("field.name"): team["name"].astype(str)}), hide_index=True, width="stretch")
        placed = int(rows["follows_place"].astype(bool).sum())
        if placed:
            st.caption(t("gridplan.bindings_place").format(n=placed))
    return chosen


def _role(kind: str, role: str) -> str:
    if kind == "user" and role in roles.ROLES:
        return roles.ROLES[role].name(common.lang())
    return common.t(f"personrole.{role}")
