"""Sections of 我的网格 (pages/my_area.py) about the people around the grid: who looks after each household and
whom each helper looks after (包保, 联户长, 楼栋长, the grid team, with the forms that change them), and the
party members' 30-minute figures. Not a page of its own: my_area.py calls these inside its tabs.
Every rule, figure and check is in geo.people.bindings / geo.people.orders / geo.tickets.indicators.
"""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from geo.access.roles import Scope
from geo.errors import NotFoundError, ValidationError
from geo.io import plain
from geo.people import bindings, orders
from geo.tickets import indicators
from pages import common

K = "my_area_bind_"
RULE = {"ok": "bind.rule_ok", "few": "bind.rule_few", "none": "bind.rule_none", "full": "bind.rule_full"}


def bindings_tab(engine, user, here: Scope) -> None:
    """Each household's helpers, each helper's households, warnings, and (for grid heads) the forms."""
    lang, t = common.lang(), common.t
    st.caption(bindings.rule_text(lang))
    if K + "flash" in st.session_state:
        kind, text = st.session_state.pop(K + "flash")
        (st.error if kind == "error" else st.success)(plain.markdown(text))
    table = bindings.households_helpers(engine, scope=here, grid_id=here.grid_id)
    cover = bindings.coverage(table)
    st.html(f"""<style>@media (max-width: 640px) {{ .st-key-{K}figures > .stElementContainer,
      .st-key-my_area_party_figures > .stElementContainer {{ flex: 1 1 calc(50% - 0.5rem); }} }}</style>""")
    with st.container(horizontal=True, gap="small", key=K + "figures"):
        for label, key in (("bind.with_party", "party"), ("bind.with_link", "link"), ("bind.nobody", "nobody"),
                           ("bind.vulnerable_without", "vulnerable_without_party")):
            st.metric(t(label), f"{cover[key]:,}", border=True)
    if cover["nobody"]:
        st.warning(t("bind.nobody_warn").format(n=cover["nobody"]))
    if cover["vulnerable_without_party"]:
        st.warning(t("bind.vulnerable_warn").format(n=cover["vulnerable_without_party"]))
    helpers = bindings.helpers_households(engine, scope=here, grid_id=here.grid_id)
    if user.may("bind_people"):
        _bind_form(engine, user, table, helpers)
    st.markdown(f"**{t('bind.by_household')}**")
    shown = table.assign(vulnerable=table["vulnerable"].map({True: "★", False: ""}),
                         **{c: table[c].fillna("") for c in ("party", "link", "building_head")})
    cols = {"address": "col.address", "head": "col.head", "vulnerable": "bind.col_vulnerable", "party": "bind.col_party",
            "link": "bind.col_link", "building_head": "bind.col_building_head"}
    order = shown.sort_values(["nobody", "vulnerable"], ascending=[False, False], kind="stable")
    st.dataframe(order[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch", height=280)
    st.markdown(f"**{t('bind.by_helper')}**")
    helpers = helpers.assign(role=helpers["role"].map(lambda r: bindings.HELPER_ROLES[r][0 if lang == "zh" else 1]),
                             rule=helpers["rule"].map(lambda k: t(RULE[k])))
    cols = {"name": "col.name", "role": "col.role", "phone": "col.phone", "count": "bind.col_count",
            "rule": "bind.col_rule", "households": "bind.col_households"}
    st.dataframe(helpers[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch", height=280)
    _team(engine, user, here)


def _bind_form(engine, user, table: pd.DataFrame, helpers: pd.DataFrame) -> None:
    """Bind or unbind a party member or 联户长 and a household of the grid (the core checks and audits)."""
    t = common.t
    people = helpers[helpers["role"].isin(["party_member", "household_link_head"])]
    who = {int(r.id): t("bind.person_label").format(name=r.name, role=bindings.HELPER_ROLES[r.role][0], n=r.count)
           for r in people.itertuples()}
    homes = {int(r.id): f"{r.address} {r.head}" + (f"（{t('bind.col_party')} {r.party}）" if isinstance(r.party, str)
                                                  else "") for r in table.itertuples()}
    with st.form(K + "form", clear_on_submit=True):  # after a save the picks would show last run's counts
        st.markdown(f"**{t('bind.form')}**")
        person = st.selectbox(t("bind.person"), list(who), format_func=who.get, key=K + "person", index=None,
                              placeholder=t("bind.person_hint"))
        household = st.selectbox(t("bind.household"), list(homes), format_func=homes.get, key=K + "household",
                                 index=None, placeholder=t("bind.household_hint"))
        what = st.radio(t("bind.what"), ["bind", "unbind"], format_func=lambda k: t(f"bind.{k}"), horizontal=True,
                        key=K + "what")
        if not st.form_submit_button(t("bind.save"), type="primary", width="stretch"):
            return
    if person is None or household is None:
        st.error(t("bind.pick_both"))
        return
    try:
        if what == "bind":
            n = bindings.bind_household(engine, user, int(person), int(household), now=common.now())
            text = t("bind.bound").format(home=homes[household].split(" ")[0], name=who[person].split("（")[0], n=n)
        else:
            n = bindings.unbind_household(engine, user, int(person), int(household), now=common.now())
            text = t("bind.unbound").format(home=homes[household].split(" ")[0], name=who[person].split("（")[0], n=n)
    except (ValidationError, NotFoundError, PermissionError) as exc:
        st.error(f"{plain.markdown(exc)}\n\n{t('bind.not_saved')}")
        return
    st.session_state[K + "flash"] = ("success", text)
    st.rerun()


def _team(engine, user, here: Scope) -> None:
    """The grid team (网格长, 网格员, 协管员, 监督员) and, for those who may, adding and removing a member."""
    lang, t = common.lang(), common.t
    team = bindings.team(engine, scope=here, grid_id=here.grid_id)
    st.markdown(f"**{t('bind.team')}**")
    shown = team.assign(role=team["role"].map(lambda r: bindings.TEAM_ROLES[r][0 if lang == "zh" else 1]))
    st.dataframe(shown[["role", "name", "phone"]].rename(columns={"role": t("col.role"), "name": t("col.name"),
                                                                   "phone": t("col.phone")}),
                 hide_index=True, width="stretch")
    if not user.may("bind_people"):
        return
    with st.expander(t("bind.team_edit")):
        roles_ = [r for r in bindings.TEAM_ROLES if r != "grid_head" or user.may("appoint_grid_head")]
        with st.form(K + "team"):
            role = st.selectbox(t("col.role"), roles_, key=K + "team_role",
                                format_func=lambda r: bindings.TEAM_ROLES[r][0 if lang == "zh" else 1])
            name = st.text_input(t("col.name"), key=K + "team_name")
            phone = st.text_input(t("col.phone"), key=K + "team_phone")
            if st.form_submit_button(t("bind.team_add"), width="stretch"):
                try:
                    bindings.add_team_member(engine, user, here.grid_id, role, name=name, phone=phone or None,
                                             now=common.now())
                except (ValidationError, NotFoundError, PermissionError) as exc:
                    st.error(plain.markdown(exc))
                else:
                    st.session_state[K + "flash"] = ("success", t("bind.team_added").format(name=name))
                    st.rerun()
        names = {int(r.id): f"{bindings.TEAM_ROLES[r.role][0]} {r.name}" for r in team.itertuples()}
        gone = st.selectbox(t("bind.team_remove"), list(names), format_func=names.get, index=None,
                            key=K + "team_gone", placeholder=t("bind.person_hint"))
        if st.button(t("bind.team_remove_do"), key=K + "team_remove", disabled=gone is None):
            try:
                bindings.remove_team_member(engine, user, int(gone), now=common.now())
            except (ValidationError, NotFoundError, PermissionError) as exc:
                st.error(plain.markdown(exc))
            else:
                st.session_state[K + "flash"] = ("success", t("bind.team_removed").format(name=names[gone]))
                st.rerun()


def party_figures(engine, here: Scope, now) -> None:
    """The grid's 30-minute figures (last 90 days, by report date) and the members on their way right now."""
    t = common.t
    values = indicators.compute(indicators.load(engine, scope=here), now, start=now - timedelta(days=90), end=now)
    st.markdown(f"**{t('area.party_figures')}**")
    with st.container(horizontal=True, gap="small", key="my_area_party_figures"):
        for key in indicators.ARRIVAL:
            st.metric(indicators.label(key, common.lang()), indicators.shown(key, values[key]), border=True)
    way = orders.on_the_way(engine, scope=here, now=now)
    if len(way):
        shown = pd.DataFrame({
            t("field.code"): way["code"], t("party.member"): way["member"],
            t("area.claimed_at"): pd.to_datetime(way["assigned_at"]).dt.strftime("%H:%M"),
            t("area.minutes_left"): way["minutes_left"].astype(int)})
        st.caption(t("area.on_the_way").format(n=len(way)))
        st.dataframe(shown, hide_index=True, width="stretch")
