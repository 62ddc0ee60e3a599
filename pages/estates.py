"""小区物业: who manages each estate — 三无小区 and 无主管楼院 on the map and in a list with their tickets,
红色物业, and recording 三无 → 三有 with its date. Classification and changes are geo.people.estates.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.errors import NotFoundError, ValidationError
from geo.io import plain
from geo.maps import leaflet, people_map
from geo.people import estates
from pages import common

user = common.require("estates")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
url, minute = settings.database_url(), common.minute_key()
K = "estate_"
ERRORS = (ValidationError, NotFoundError, PermissionError)

st.title(t("nav.estates"))
if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))
table = estates.estates(engine, scope=user.scope)
counts = estates.figures(table)
with st.container(horizontal=True, gap="small", key=K + "figures"):
    for key in estates.STATUSES:
        st.metric(estates.status_label(key, lang), f"{counts[key]:,}", border=True)
st.caption(t("estate.caption").format(n=counts["unmanaged_households"]))

base = common.street_layers(url, lang, minute)
layers = {k: base[k] for k in ("street", "communities", "grids") if k in base}
if user.scope.level != "street":  # framed on the user's own community or grid
    mine = layers["grids"]
    layers["grids"] = mine[mine["community_id"] == user.community_id] if user.scope.level == "community" \
        else mine[mine["id"] == user.grid_id]
m = leaflet.street_map(layers, lang=lang, frame="grids" if user.scope.level != "street" else None)
people_map.add_estates(m, table, lang=lang)
st_folium(people_map.finish(m), height=440, use_container_width=True, returned_objects=[], key=f"{K}map_{lang}")
chips = " ".join(f"<span style='display:inline-block;margin:2px 8px'><span style='display:inline-block;width:12px;"
                 f"height:12px;background:{c};opacity:.7;vertical-align:middle'></span> {plain.html(zh if lang == 'zh' else en)}"
                 "</span>" for zh, en, c in estates.STATUSES.values())
st.markdown(chips, unsafe_allow_html=True)

labels = {k: estates.status_label(k, lang) for k in estates.STATUSES}
show = st.multiselect(t("estate.show"), list(labels), default=["three_none", "no_supervisor"], format_func=labels.get,
                      key=K + "show", placeholder=t("common.choose_many"))
listed = table[table["status"].isin(show)] if show else table
shown = pd.DataFrame({
    t("field.name"): listed["name"], t("estate.col_status"): listed["status"].map(labels),
    t("field.grid"): listed["grid"], t("estate.col_company"): listed["property_company"].fillna("—"),
    t("estate.col_committee"): listed["owners_committee"].map({True: "有", False: "无"}),
    t("estate.col_unit"): listed["supervising_unit"].fillna("—"), t("field.households"): listed["households"],
    t("estate.col_three_have"): listed["three_have_on"].astype(str).replace({"None": "", "NaT": ""}),
    t("estate.col_tickets"): listed["open_tickets"], t("estate.col_codes"): listed["ticket_codes"]})
st.dataframe(shown, hide_index=True, width="stretch", height=300)

if user.may("edit_estates") and len(table):
    names = dict(zip(table["id"], table["name"] + "（" + table["status"].map(labels) + "）"))
    pick = st.selectbox(t("estate.pick"), list(names), format_func=names.get, key=K + "pick")
    row = table[table["id"] == pick].iloc[0]
    with st.form(f"{K}edit_{pick}"):
        st.markdown(f"**{t('estate.edit')}**")
        company = st.text_input(t("estate.col_company"), value=row["property_company"] or "", key=f"{K}company_{pick}")
        committee = st.checkbox(t("estate.col_committee"), value=bool(row["owners_committee"]), key=f"{K}committee_{pick}")
        unit = st.text_input(t("estate.col_unit"), value=row["supervising_unit"] or "", key=f"{K}unit_{pick}")
        red = st.checkbox(t("estate.red"), value=bool(row["red_property"]), key=f"{K}red_{pick}")
        if st.form_submit_button(t("estate.save"), width="stretch"):
            try:
                now_is = estates.update_management(engine, user, int(pick), property_company=company,
                                                   owners_committee=committee, supervising_unit=unit,
                                                   red_property=red, now=common.now())
            except ERRORS as exc:
                st.error(plain.markdown(exc))
            else:
                st.session_state[K + "flash"] = t("estate.saved").format(name=row["name"], s=labels[now_is])
                st.rerun()
    if row["status"] in ("three_none", "no_supervisor"):
        with st.form(f"{K}three_{pick}"):
            st.markdown(f"**{t('estate.three_have')}**")
            day = st.date_input(t("estate.three_have_on"), value=now.date(), max_value=now.date(), key=f"{K}day_{pick}")
            note = st.text_area(t("estate.three_have_note"), key=f"{K}note_{pick}", height=70,
                                placeholder=t("estate.three_have_hint"))
            if st.form_submit_button(t("estate.three_have_do"), type="primary", width="stretch"):
                try:
                    estates.record_three_have(engine, user, int(pick), on=day, note=note, now=common.now())
                except ERRORS as exc:
                    st.error(plain.markdown(exc))
                else:
                    st.session_state[K + "flash"] = t("estate.three_have_done").format(name=row["name"])
                    st.rerun()
    elif row["status"] == "three_have":
        st.caption(plain.markdown(t("estate.was_three_none").format(on=row["three_have_on"],
                                                                     note=row["three_have_note"] or "")))
