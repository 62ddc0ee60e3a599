"""志愿服务: teams and their members, activities on the map, the time bank, the year's figures.

Everything is read and written through geo.people.volunteers with the user's own scope (a grid head: the
teams serving their grid); the place of an activity is clicked on the offline map.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.errors import NotFoundError, OutsideAreaError, ValidationError
from geo.io import plain
from geo.maps import layers as map_layers, leaflet, people_map
from geo.people import volunteers
from pages import common

user = common.require("volunteers")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
url, minute = settings.database_url(), common.minute_key()
K = "vol_"
ERRORS = (ValidationError, NotFoundError, PermissionError, OutsideAreaError)
scope = user.scope

st.title(t("nav.volunteers"))
if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))
year = st.selectbox(t("vol.year"), [now.year - i for i in range(3)], key=K + "year")
teams = volunteers.teams(engine, scope=scope, year=year)
per_team = volunteers.yearly(engine, scope=scope, year=year)
with st.container(horizontal=True, gap="small", key=K + "figures"):
    for label, value in ((t("vol.teams"), len(teams)), (t("vol.volunteers"), int(teams["members"].sum())),
                         (t("vol.activities"), int(per_team["activities"].sum())),
                         (t("vol.person_times"), int(per_team["person_times"].sum())),
                         (t("vol.hours"), f"{per_team['hours'].sum():,.0f}")):
        st.metric(label, f"{value:,}" if isinstance(value, int) else value, border=True)


def saved(text: str) -> None:
    st.session_state[K + "flash"] = text
    st.rerun()


tabs = st.tabs([t("vol.tab_teams"), t("vol.tab_activities"), t("vol.tab_bank"), t("vol.tab_year")],
               key=K + "tab", on_change="rerun")
names = dict(zip(teams["id"], teams["name"]))

with tabs[0]:
    shown = teams.assign(grid=teams["grid"].fillna(t("vol.all_grids")), leader=teams["leader"].fillna("—"))
    cols = {"name": "vol.col_team", "specialty": "vol.col_specialty", "community": "field.community",
            "grid": "vol.col_serves", "leader": "vol.col_leader", "members": "vol.col_members",
            "activities": "vol.activities", "hours": "vol.hours"}
    st.dataframe(shown[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch")
    team_id = st.selectbox(t("vol.pick_team"), list(names), format_func=names.get, key=K + "team") if names else None
    if team_id is not None:
        crew = volunteers.members(engine, scope=scope, team_id=int(team_id))
        crew_shown = crew.assign(leader=crew["leader"].map({True: "★", False: ""}), balance_h=crew["balance_h"].round(1),
                                 earned_h=crew["earned_h"].round(1))
        cols = {"name": "col.name", "leader": "vol.col_leader", "grid": "field.grid", "phone": "col.phone",
                "earned_h": "vol.col_earned", "balance_h": "vol.col_balance"}
        st.dataframe(crew_shown[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                     width="stretch")
    if user.may("manage_volunteers"):
        with st.expander(t("vol.new_team")):
            with st.form(K + "new_team"):
                name = st.text_input(t("vol.col_team"), key=K + "team_name")
                spec = st.selectbox(t("vol.col_specialty"), volunteers.SPECIALTIES, key=K + "team_spec")
                grids = map_layers.grid_names(engine, scope.community_id, scope) if scope.level == "community" else {}
                grid = st.selectbox(t("vol.col_serves"), [None, *grids], key=K + "team_grid",
                                    format_func=lambda g: t("vol.all_grids") if g is None else grids[g]) \
                    if grids else None
                if st.form_submit_button(t("vol.create"), width="stretch"):
                    try:
                        volunteers.create_team(engine, user, name=name, specialty=spec, grid_id=grid, now=common.now(),
                                               community_id=scope.community_id)
                    except ERRORS as exc:
                        st.error(plain.markdown(exc))
                    else:
                        saved(t("vol.created").format(name=name))
        if team_id is not None:
            with st.expander(t("vol.add_member")):
                with st.form(K + "add_member"):
                    who = st.text_input(t("col.name"), key=K + "member_name")
                    phone = st.text_input(t("col.phone"), key=K + "member_phone")
                    if st.form_submit_button(t("vol.add"), width="stretch"):
                        try:
                            volunteers.add_member(engine, user, int(team_id), name=who, phone=phone or None,
                                                  now=common.now())
                        except ERRORS as exc:
                            st.error(plain.markdown(exc))
                        else:
                            saved(t("vol.added").format(name=who))
                people = dict(zip(crew["id"], crew["name"]))
                lead = st.selectbox(t("vol.col_leader"), list(people), format_func=people.get, key=K + "leader")
                if st.button(t("vol.set_leader"), key=K + "set_leader") and lead is not None:
                    try:
                        volunteers.set_leader(engine, user, int(team_id), int(lead), now=common.now())
                    except ERRORS as exc:
                        st.error(plain.markdown(exc))
                    else:
                        saved(t("vol.leader_set").format(name=people[lead]))

with tabs[1]:
    recent = volunteers.activities(engine, scope=scope, since=now - timedelta(days=90))
    base = common.street_layers(url, lang, minute)
    m = leaflet.street_map({k: base[k] for k in ("street", "communities", "grids") if k in base}, lang=lang)
    people_map.add_activities(m, recent, lang=lang)
    st.caption(t("vol.map_caption"))
    clicked = st_folium(people_map.finish(m), height=420, use_container_width=True,
                        returned_objects=["last_clicked"], key=f"{K}map_{lang}")
    spot = (clicked or {}).get("last_clicked")
    cols = {"started_at": "vol.col_when", "team": "vol.col_team", "title": "vol.col_title", "grid": "field.grid",
            "hours": "vol.hours", "person_times": "vol.person_times"}
    st.dataframe(recent[list(cols)].rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch", height=240)
    if user.may("manage_volunteers") and names:
        st.markdown(f"**{t('vol.record')}**")
        team = st.selectbox(t("vol.col_team"), list(names), format_func=names.get, key=K + "act_team")
        with st.form(K + "activity"):
            st.caption(t("vol.place_picked").format(lon=spot["lng"], lat=spot["lat"]) if spot else t("vol.place_hint"))
            title = st.text_input(t("vol.col_title"), key=K + "act_title")
            day = st.date_input(t("vol.col_when"), value=now.date(), max_value=now.date(), key=K + "act_day")
            start = st.time_input(t("vol.start"), value=time(9, 0), key=K + "act_time")
            hours = st.number_input(t("vol.hours"), 0.5, volunteers.MAX_ACTIVITY_HOURS, 2.0, 0.5, key=K + "act_hours")
            crew = volunteers.members(engine, scope=scope, team_id=int(team))
            came = st.multiselect(t("vol.attendees"), crew["id"].tolist(), key=K + "act_came",
                                  format_func=dict(zip(crew["id"], crew["name"])).get, placeholder=t("common.choose_many"))
            if st.form_submit_button(t("vol.save_activity"), type="primary", width="stretch"):
                if not spot:
                    st.error(t("vol.place_hint"))
                else:
                    try:
                        volunteers.record_activity(engine, user, int(team), title=title,
                                                   started_at=datetime.combine(day, start), hours=hours,
                                                   lon=spot["lng"], lat=spot["lat"], attendees=came, now=common.now())
                    except ERRORS as exc:
                        st.error(plain.markdown(exc))
                    else:
                        saved(t("vol.activity_saved").format(title=title, n=len(came)))

with tabs[2]:
    st.caption(t("vol.bank_caption"))
    everyone = pd.concat([volunteers.members(engine, scope=scope, team_id=int(i)).assign(team=names[i])
                          for i in names]) if names else pd.DataFrame(columns=["id", "name", "team", "balance_h"])
    if len(everyone):
        top = everyone.sort_values("balance_h", ascending=False)[["name", "team", "earned_h", "balance_h"]]
        st.dataframe(top.round(1).rename(columns={"name": t("col.name"), "team": t("vol.col_team"),
                                                  "earned_h": t("vol.col_earned"), "balance_h": t("vol.col_balance")}),
                     hide_index=True, width="stretch", height=260)
    if user.may("manage_volunteers") and len(everyone):
        label = {int(r.id): f"{r.name}（{r.team}，{t('vol.col_balance')} {r.balance_h:.1f}）" for r in everyone.itertuples()}
        with st.form(K + "exchange"):
            st.markdown(f"**{t('vol.exchange')}**")
            receiver = st.selectbox(t("vol.receiver"), list(label), format_func=label.get, key=K + "receiver")
            provider = st.selectbox(t("vol.provider"), list(label), format_func=label.get, key=K + "provider")
            hours = st.number_input(t("vol.hours"), 0.5, volunteers.MAX_SERVICE_HOURS, 1.0, 0.5, key=K + "ex_hours")
            note = st.text_input(t("vol.service"), key=K + "ex_note", placeholder=t("vol.service_hint"))
            if st.form_submit_button(t("vol.exchange_do"), type="primary", width="stretch"):
                try:
                    left = volunteers.exchange(engine, user, receiver_id=int(receiver), provider_id=int(provider),
                                               hours=hours, note=note, now=common.now())
                except ERRORS as exc:
                    st.error(plain.markdown(exc))
                else:
                    saved(t("vol.exchanged").format(r=left["receiver"], p=left["provider"]))

with tabs[3]:
    cols = {"team": "vol.col_team", "volunteers": "vol.volunteers", "active": "vol.active",
            "activities": "vol.activities", "person_times": "vol.person_times", "hours": "vol.hours"}
    st.markdown(f"**{t('vol.by_team').format(y=year)}**")
    st.dataframe(per_team[list(cols)].round(1).rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
                 width="stretch")
    per_community = volunteers.yearly(engine, scope=scope, year=year, by="community")
    cols = {"community": "field.community", "volunteers": "vol.volunteers", "active": "vol.active",
            "activities": "vol.activities", "person_times": "vol.person_times", "hours": "vol.hours",
            "exchanged": "vol.exchanged_hours"}
    st.markdown(f"**{t('vol.by_community').format(y=year)}**")
    st.dataframe(per_community[list(cols)].round(1).rename(columns={k: t(v) for k, v in cols.items()}),
                 hide_index=True, width="stretch")
