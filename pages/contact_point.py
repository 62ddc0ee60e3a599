"""领导联系点: a street leader's home — their contact point's open tickets and figures, their visits — and the
street's contact points on the map, with the forms that set a point and record a visit.

Reads through geo.people.leaders (the point's own scope for tickets and figures); changes are audited there.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.errors import NotFoundError, OutsideAreaError, ValidationError
from geo.io import plain
from geo.maps import layers as map_layers, leaflet, people_map
from geo.people import leaders
from geo.tickets import categories, indicators, service as ts, workflow
from pages import common

user = common.require("contact_point")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
url, minute = settings.database_url(), common.minute_key()
K = "contact_"
ERRORS = (ValidationError, NotFoundError, PermissionError, OutsideAreaError)

st.title(t("nav.contact_point"))
if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))
points = leaders.contact_points(engine, scope=user.scope, today=now.date())
mine = leaders.my_point(engine, user, today=now.date())


def visit_form(person_id: int, key: str) -> None:
    """Record a visit (note, and optionally a ticket for what was found), for ``person_id``."""
    with st.form(K + key, clear_on_submit=True):
        day = st.date_input(t("contact.day"), value=now.date(), max_value=now.date(), key=f"{K}{key}_day")
        note = st.text_area(t("contact.note"), key=f"{K}{key}_note", height=70)
        cat = st.selectbox(t("contact.ticket"), [None, *categories.CATEGORIES], key=f"{K}{key}_cat",
                           format_func=lambda k: t("contact.no_ticket") if k is None else categories.CATEGORIES[k].name(lang))
        if st.form_submit_button(t("contact.save"), type="primary", width="stretch"):
            try:
                v = leaders.record_visit(engine, user, int(person_id), visited_on=day, now=common.now(), note=note,
                                         ticket={"category": cat, "description": note} if cat else None)
            except ERRORS as exc:
                st.error(plain.markdown(exc))
            else:
                st.session_state[K + "flash"] = t("contact.saved") + (
                    t("area.visit_ticket_made").format(code=v["ticket_code"]) if v.get("ticket_code") else "")
                st.rerun()


if mine is not None:
    here = leaders.point_scope(mine)
    st.subheader(plain.markdown(t("contact.mine").format(point=mine["point"])))
    open_t = ts.query(engine, now=now, scope=here, open_only=True)
    values = indicators.for_area(engine, now, scope=here)
    last = "—" if pd.isna(mine["last_visit"]) else f"{pd.Timestamp(mine['last_visit']):%Y-%m-%d}"
    with st.container(horizontal=True, gap="small", key=K + "figures"):
        st.metric(t("area.open_tickets"), f"{len(open_t):,}", border=True)
        st.metric(t("area.overdue"), f"{int(open_t['overdue'].sum()) if len(open_t) else 0:,}", border=True)
        st.metric(indicators.label("on_time_rate", lang), indicators.shown("on_time_rate", values["on_time_rate"]),
                  border=True)
        st.metric(indicators.label("satisfaction_rate", lang),
                  indicators.shown("satisfaction_rate", values["satisfaction_rate"]), border=True)
        st.metric(t("contact.last_visit"), last, border=True)
    if mine["due"]:
        st.warning(t("contact.due_warn"))
    if len(open_t):
        shown = pd.DataFrame({t("field.code"): open_t["code"],
                              t("field.category"): open_t["category"].map(lambda k: categories.CATEGORIES[k].name(lang)),
                              t("field.state"): open_t["state"].map(lambda k: workflow.STATES[k].name(lang)),
                              t("field.due"): pd.to_datetime(open_t["due_at"]).dt.strftime("%m-%d %H:%M"),
                              t("field.overdue"): open_t["overdue"].astype(bool)})
        st.dataframe(shown, hide_index=True, width="stretch", height=240)
    else:
        st.success(t("area.no_tickets"))
    with st.expander(t("contact.all_figures")):
        st.dataframe(indicators.table(values, lang), hide_index=True, width="stretch")
    st.markdown(f"**{t('contact.record')}**")
    visit_form(mine["person_id"], "mine")
    st.markdown(f"**{t('contact.my_visits')}**")
    own = leaders.visits(engine, scope=user.scope, person_id=int(mine["person_id"]))
    st.dataframe(own[["visited_on", "point", "note", "ticket"]].rename(columns={
        "visited_on": t("contact.day"), "point": t("contact.point"), "note": t("contact.note"),
        "ticket": t("col.ticket")}), hide_index=True, width="stretch")
elif user.role == "street_leader":
    st.info(t("contact.none_set"))

st.subheader(t("contact.all"))
base = common.street_layers(url, lang, minute)
m = leaflet.street_map({k: base[k] for k in ("street", "communities", "grids") if k in base}, lang=lang)
people_map.add_contact_points(m, points, lang=lang)
st_folium(people_map.finish(m), height=420, use_container_width=True, returned_objects=[], key=f"{K}map_{lang}")
table = points.assign(level=points["level"].map({"grid": t("contact.level_grid"), "community": t("contact.level_community")})
                      .fillna("—"), due=points["due"].map({True: t("contact.due"), False: ""}),
                      last_visit=points["last_visit"].astype(str).replace({"None": "—", "NaT": "—", "nan": "—"}))
cols = {"leader": "contact.leader", "point": "contact.point", "level": "contact.level", "last_visit": "contact.last_visit",
        "visits_quarter": "contact.visits_quarter", "due": "contact.due_col", "open_tickets": "area.open_tickets"}
st.dataframe(pd.DataFrame(table[list(cols)]).rename(columns={k: t(v) for k, v in cols.items()}), hide_index=True,
             width="stretch")

if user.may("manage_contact_points") and len(points):
    people = dict(zip(points["person_id"], points["leader"]))
    with st.expander(t("contact.set")):
        who = st.selectbox(t("contact.leader"), list(people), format_func=people.get, key=K + "set_who")
        comms = map_layers.community_names(engine, user.scope)
        community = st.selectbox(t("field.community"), list(comms), format_func=comms.get, key=K + "set_community")
        grids = map_layers.grid_names(engine, community, user.scope)
        grid = st.selectbox(t("contact.level_grid"), [None, *grids], key=K + "set_grid",
                            format_func=lambda g: t("contact.whole_community") if g is None else grids[g])
        if st.button(t("contact.set_do"), key=K + "set_do"):
            try:
                leaders.set_contact_point(engine, user, int(who), grid_id=grid,
                                          community_id=None if grid is not None else community, now=common.now())
            except ERRORS as exc:
                st.error(plain.markdown(exc))
            else:
                st.session_state[K + "flash"] = t("contact.set_done").format(name=people[who])
                st.rerun()
    if user.role != "street_leader":  # staff record a leader's visit on their behalf
        with st.expander(t("contact.record_for")):
            who = st.selectbox(t("contact.leader"), list(people), format_func=people.get, key=K + "for_who")
            visit_form(who, "for")
