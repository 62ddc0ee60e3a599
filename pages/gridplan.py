"""网格规划: the grid rule over a community, split / merge / new / retire on the map, and automatic cutting.

Every rule is in geo.grids (rules: the bounds and the checks; edits: the four edits; autocut: the
proposal; boundaries: the plan and its one audited transaction). The map takes clicks (st_folium's
last_clicked): a cutting line or an outline is the clicked points, so nothing is loaded from a CDN.
"""
from __future__ import annotations

import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from geo.access import roles
from geo.grids import autocut, boundaries, boundaries_map, edits, rules
from geo.io import plain
from geo.maps import layers as layers_
from pages import common, plan_panel

K = "gridplan_"
user = common.require("gridplan")
lang, t = common.lang(), common.t
eng = common.engine()

st.title(t("gridplan.title"))
st.caption(t("gridplan.subtitle"))
if K + "done" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "done")))

communities = layers_.community_names(eng, user.scope)
cid = st.selectbox(t("gridplan.community"), list(communities), format_func=communities.get, key=K + "community")
mode = st.segmented_control(t("gridplan.mode"), ["report", "edit", "autocut"], default="report", key=K + "mode",
                            format_func=lambda m: t(f"gridplan.mode_{m}")) or "report"
base = boundaries_map.edit_layers(eng, cid)
codes = list(base["grids"]["code"])


def done(kind: str):
    def reset(changes) -> None:
        for k in [k for k in st.session_state if k.startswith(K) and k not in (K + "community", K + "mode")]:
            del st.session_state[k]
        people = int(changes["residents_in"].sum())
        st.session_state[K + "done"] = t("gridplan.applied").format(
            kind=t(f"gridplan.kind_{kind}"), n=len(changes), b=int(changes["buildings_in"].sum()), p=people)
    return reset


def plan_or_error(make):
    try:
        return make()
    except boundaries.BoundaryError as exc:
        st.error(plain.markdown(exc.message(lang)))
    except PermissionError as exc:
        st.error(plain.markdown(exc))
    return None


def report() -> None:
    check = rules.report(eng, roles.Scope("community", community_id=cid), lang=lang)
    table = check.grids[["code", "name", "grid_type", "households", "residents", "within", "parts"]]
    st.dataframe(table.assign(grid_type=[t(f"grid_type.{g}") for g in table["grid_type"]]).rename(columns={
        "code": t("field.code"), "name": t("field.name"), "grid_type": t("gridplan.col_type"),
        "households": t("field.households"), "residents": t("field.residents"),
        "within": t("gridplan.col_within"), "parts": t("gridplan.col_parts")}), hide_index=True, width="stretch")
    if check.findings.empty:
        st.success(t("gridplan.all_ok"))
    else:
        st.markdown(f"**{t('gridplan.findings')}**")
    for f in check.findings.itertuples():
        (st.error if f.severity == "refuse" else st.warning)(plain.markdown(f.message))
    with st.expander(t("gridplan.bounds_table")):
        st.dataframe(pd.DataFrame([{
            t("gridplan.col_type"): t(f"grid_type.{b.grid_type}"),
            t("gridplan.col_hh_bounds"): f"{b.households[0]}–{b.households[1]}",
            t("gridplan.col_pp_bounds"): f"{b.people[0]}–{b.people[1]}",
            t("gridplan.col_measure"): t(f"gridplan.measure_{b.measure}"), t("gridplan.col_source"): b.source}
            for b in rules.BOUNDS.values()]), hide_index=True, width="stretch")
    st_folium(boundaries_map.proposal_map(base["grids"], base["roads"], lang=lang), height=480,
              use_container_width=True, returned_objects=[], key=f"{K}report_map_{lang}")


def clicks(shape: str, chosen: list[str]) -> list[tuple[float, float]]:
    """The sketch so far: each click on the map adds a point (undo and clear beside it)."""
    points = st.session_state.setdefault(K + "points", [])
    st.caption(t(f"gridplan.{'split' if shape == 'line' else 'new'}_hint"))
    out = st_folium(boundaries_map.sketch_map(base, points, shape=shape, chosen=chosen, lang=lang), height=520,
                    use_container_width=True, returned_objects=["last_clicked"], key=f"{K}sketch_{lang}")
    spot = (out or {}).get("last_clicked")
    if spot and spot != st.session_state.get(K + "seen"):
        st.session_state[K + "seen"] = spot
        points.append((round(spot["lng"], 7), round(spot["lat"], 7)))
        st.rerun()
    c1, c2, c3 = st.columns([2, 1, 1])
    c1.caption(t("gridplan.points").format(n=len(points)))
    if c2.button(t("gridplan.undo"), key=K + "undo", disabled=not points):
        points.pop()
        st.rerun()
    if c3.button(t("gridplan.clear"), key=K + "clear", disabled=not points):
        points.clear()
        st.rerun()
    return points


def edit() -> None:
    action = st.radio(t("gridplan.action"), ["split", "merge", "new", "retire"], horizontal=True, key=K + "action",
                      format_func=lambda a: t(f"gridplan.action_{a}"))
    renumber = st.checkbox(t("gridplan.renumber"), key=K + "renumber")
    if action == "split":
        code = st.selectbox(t("gridplan.grid"), codes, key=K + "split_code")
        points = clicks("line", [code])
        ask = ("split", code, tuple(points), renumber)
        make = lambda: edits.split(eng, user, code, _line(points), renumber=renumber)  # noqa: E731
    elif action == "new":
        kind = st.selectbox(t("gridplan.grid_type"), list(rules.GRID_TYPES), key=K + "new_type",
                            format_func=lambda g: t(f"grid_type.{g}"))
        name = st.text_input(t("gridplan.name"), max_chars=32, key=K + "new_name")
        points = clicks("polygon", [])
        ask = ("new", kind, name, tuple(points), renumber)
        make = lambda: edits.create(eng, user, _polygon(points), grid_type=kind, name=name or None,  # noqa: E731
                                    renumber=renumber)
    elif action == "merge":
        chosen = st.multiselect(t("gridplan.grids"), codes, key=K + "merge_codes")
        keep = st.selectbox(t("gridplan.keep"), chosen, key=K + "merge_keep") if chosen else None
        _static_map(chosen)
        ask = ("merge", tuple(chosen), keep, renumber)
        make = lambda: edits.merge(eng, user, chosen, keep=keep, renumber=renumber)  # noqa: E731
    else:
        code = st.selectbox(t("gridplan.grid"), codes, key=K + "retire_code")
        into = st.selectbox(t("gridplan.into"), [""] + [c for c in codes if c != code], key=K + "retire_into",
                            format_func=lambda c: c or t("gridplan.into_share"))
        _static_map([code])
        ask = ("retire", code, into, renumber)
        make = lambda: edits.retire(eng, user, code, into=into or None, renumber=renumber)  # noqa: E731
    if st.button(t("gridplan.preview"), type="primary", key=K + "preview"):
        st.session_state[K + "asked"] = ask
    if st.session_state.get(K + "asked") == ask and (plan := plan_or_error(make)) is not None:
        st.divider()
        plan_panel.show(plan, user, key=K + "plan_", on_done=done(action))


def _static_map(chosen: list[str]) -> None:
    st_folium(boundaries_map.sketch_map(base, [], chosen=chosen, lang=lang), height=460,
              use_container_width=True, returned_objects=[], key=f"{K}static_{lang}")


def _line(points):
    return shapely.LineString(points) if len(points) >= 2 else None


def _polygon(points):
    return shapely.Polygon(points) if len(points) >= 3 else None


def cut() -> None:
    chosen = st.multiselect(t("gridplan.cut_grids"), codes, key=K + "cut_codes")
    kind = st.selectbox(t("gridplan.cut_type"), list(rules.GRID_TYPES), key=K + "cut_type",
                        format_func=lambda g: f"{t(f'grid_type.{g}')}（{rules.bounds_for(g).households[0]}–"
                                              f"{rules.bounds_for(g).households[1]} {t('gridplan.hh_unit')}）")
    ask = (cid, tuple(chosen), kind)
    if st.button(t("gridplan.cut_run"), type="primary", key=K + "cut_run"):
        proposal = plan_or_error(lambda: autocut.propose(eng, cid, codes=chosen or None, grid_type=kind))
        plan = proposal and plan_or_error(lambda: autocut.plan_cut(eng, user, cid, proposal, codes=chosen or None,
                                                                  renumber=not chosen))
        st.session_state[K + "cut"] = (ask, proposal, plan) if plan is not None else None
    held = st.session_state.get(K + "cut")
    if not held or held[0] != ask:
        return
    _, proposal, plan = held
    lo, hi = proposal.bounds
    if "counts" in proposal.notes:
        st.warning(t("gridplan.cut_counts").format(hh=int(proposal.grids["households"].sum()), lo=lo, hi=hi))
    now_n = len(chosen) or len(codes)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("gridplan.cut_n"), len(proposal.grids), len(proposal.grids) - now_n)
    c2.metric(t("gridplan.cut_within"), f"{proposal.within:.0%}")
    c3.metric(t("gridplan.cut_people"), f"{plan.people_moving:,}")
    left, right = st.columns(2)
    current = base["grids"][base["grids"]["code"].isin(chosen)] if chosen else base["grids"]
    with left:
        st.markdown(f"**{t('gridplan.cut_current')}**")
        st_folium(boundaries_map.proposal_map(current, base["roads"], lang=lang), height=420,
                  use_container_width=True, returned_objects=[], key=f"{K}cut_now_{lang}")
    shown = proposal.grids.assign(code=[f"{i + 1:03d}" for i in range(len(proposal.grids))],
                                  within=proposal.grids["households"].between(lo, hi))
    with right:
        st.markdown(f"**{t('gridplan.cut_proposed')}**")
        st_folium(boundaries_map.proposal_map(shown, base["roads"], lang=lang), height=420,
                  use_container_width=True, returned_objects=[], key=f"{K}cut_new_{lang}")
    st.caption(t("gridplan.cut_table"))
    st.dataframe(shown[["code", "households", "residents", "buildings"]].rename(columns={
        "code": "#", "households": t("field.households"), "residents": t("field.residents"),
        "buildings": t("layer.buildings")}), hide_index=True, width="stretch")
    st.divider()
    plan_panel.show(plan, user, key=K + "cut_", on_done=done("autocut"))


{"report": report, "edit": edit, "autocut": cut}[mode]()
