"""我要上报: click the map where the problem is, say what it is, and send it."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.tickets import categories, service as ts
from geo.maps import layers as layers_, leaflet
from geo.io import plain, photos
from geo.errors import OutsideAreaError, ValidationError
from pages import common

user = common.require("report")
lang, t = common.lang(), common.t
engine = common.engine()
now = common.now()

st.title(t("page.report"))
if "report_flash" in st.session_state:
    kind, text = st.session_state.pop("report_flash")
    (st.warning if kind == "warning" else st.success)(plain.markdown(text))

url, minute = settings.database_url(), common.minute_key()
if user.scope.level == "grid":  # a grid head reports in their own patch: the map opens on it
    base = {k: v for k, v in common.grid_layers(url, lang, minute, user.scope).items()
            if k in ("grids", "roads", "buildings")}
else:
    base = {k: v for k, v in common.street_layers(url, lang, minute).items()
            if k in ("street", "communities", "grids", "roads")}
picked = st.session_state.get("report_point")
if picked:
    base["tickets"] = layers_.point_layer(*picked)
st.caption(t("report.map_hint"))
clicked = st_folium(leaflet.street_map(base, lang=lang, frame="grids" if user.scope.level == "grid" else None),
                    height=460, use_container_width=True, returned_objects=["last_clicked", "last_object_clicked"],
                    key="report_map")
for where in ("last_clicked", "last_object_clicked"):  # a click on a grid lands on the grid, not the map
    spot = (clicked or {}).get(where)
    if spot and (spot["lng"], spot["lat"]) != picked and spot != st.session_state.get(f"report_seen_{where}"):
        st.session_state[f"report_seen_{where}"] = spot
        st.session_state["report_point"] = (spot["lng"], spot["lat"])
        st.rerun()

if not picked:
    st.info(t("report.no_location"))
else:
    st.markdown(f"**{t('report.location')}**：{picked[0]:.6f}, {picked[1]:.6f}")

category = st.selectbox(t("tickets.category"), list(categories.CATEGORIES),
                        format_func=lambda k: categories.CATEGORIES[k].name(lang), key="report_category")
if picked:  # only what the user's area holds; of the rest, a count
    near = dict(category=category, lon=picked[0], lat=picked[1], now=now, scope=user.scope)
    dups = ts.duplicates(engine, **near)
    if len(dups):
        st.warning(t("report.duplicates"))
        st.dataframe(dups[["code", "created_at", "description", "distance_m"]], hide_index=True, column_config={
            "code": t("report.dup_code"), "description": t("report.dup_description"),
            "created_at": st.column_config.DatetimeColumn(t("report.dup_created"), format="MM-DD HH:mm"),
            "distance_m": st.column_config.NumberColumn(t("report.dup_distance"), format="%.0f")})
    if elsewhere := ts.duplicates_elsewhere(engine, **near):
        st.caption(t("report.duplicates_elsewhere").format(n=elsewhere))

with st.form("report_form", clear_on_submit=True):
    description = st.text_area(t("report.description"), max_chars=4000, key="report_description")
    urgent = st.checkbox(t("report.urgent"), key="report_urgent")
    photo = st.file_uploader(t("report.photo"), type=list(photos.IMAGE_TYPES), key="report_photo",
                             max_upload_size=photos.MAX_BYTES // (1024 * 1024))  # MB, as uploads checks
    c1, c2 = st.columns(2)
    name = c1.text_input(t("report.name"), key="report_name")
    phone = c2.text_input(t("report.phone"), key="report_phone")
    submitted = st.form_submit_button(t("report.submit"), type="primary", disabled=not picked)

if submitted and picked:
    try:  # the photo stays only if the report is stored
        with photos.staged(photo.getvalue() if photo else None, photo.name if photo else None) as saved:
            ticket = ts.report(engine, category=category, description=description, lon=picked[0], lat=picked[1],
                               now=common.now(), urgent=urgent, reporter_name=name or None,
                               reporter_phone=phone or None, photo=saved, by=common.actor())
    except (OutsideAreaError, ValidationError) as err:
        st.error(plain.markdown(err))
    else:
        grid = layers_.grid_names(engine).get(ticket["grid_id"], "")
        text = t("report.done").format(code=ticket["code"], grid=grid)
        flag = ticket.get("routing_flag")
        st.session_state["report_flash"] = ("warning", f"{text}。{t(f'tickets.routing_flag.{flag}')}") if flag \
            else ("success", text)
        st.session_state["tickets_open_id"] = ticket["id"]
        st.session_state.pop("report_point", None)
        st.rerun()
