"""我要上报: click the map where the problem is, say what it is, and send it."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import categories, layers as layers_, maps, settings, ticket_service as ts, uploads
from geo.errors import OutsideAreaError, ValidationError
from pages import common

lang, t = common.lang(), common.t
engine = common.engine()
now = common.now()

st.title(t("page.report"))
if "report_flash" in st.session_state:
    kind, text = st.session_state.pop("report_flash")
    (st.warning if kind == "warning" else st.success)(text)

layers = common.street_layers(settings.database_url(), lang, common.minute_key())
base = {k: layers[k] for k in ("street", "communities", "grids", "roads")}
picked = st.session_state.get("report_point")
if picked:
    base["tickets"] = layers_.point_layer(*picked)
st.caption(t("report.map_hint"))
clicked = st_folium(maps.street_map(base, lang=lang), height=460, use_container_width=True,
                    returned_objects=["last_clicked"], key="report_map")
if clicked and clicked.get("last_clicked"):
    point = (clicked["last_clicked"]["lng"], clicked["last_clicked"]["lat"])
    if point != picked:
        st.session_state["report_point"] = point
        st.rerun()

if not picked:
    st.info(t("report.no_location"))
else:
    st.markdown(f"**{t('report.location')}**：{picked[0]:.6f}, {picked[1]:.6f}")

category = st.selectbox(t("tickets.category"), list(categories.CATEGORIES),
                        format_func=lambda k: categories.CATEGORIES[k].name(lang), key="report_category")
if picked:
    dups = ts.duplicates(engine, category=category, lon=picked[0], lat=picked[1], now=now)
    if len(dups):
        st.warning(t("report.duplicates"))
        st.dataframe(dups[["code", "created_at", "description", "distance_m"]], hide_index=True)

with st.form("report_form", clear_on_submit=True):
    description = st.text_area(t("report.description"), max_chars=4000, key="report_description")
    urgent = st.checkbox(t("report.urgent"), key="report_urgent")
    photo = st.file_uploader(t("report.photo"), type=list(uploads.IMAGE_TYPES), key="report_photo")
    c1, c2 = st.columns(2)
    name = c1.text_input(t("report.name"), key="report_name")
    phone = c2.text_input(t("report.phone"), key="report_phone")
    submitted = st.form_submit_button(t("report.submit"), type="primary", disabled=not picked)

if submitted and picked:
    try:
        saved = uploads.save_photo(photo.getvalue(), photo.name) if photo else None
        ticket = ts.report(engine, category=category, description=description, lon=picked[0], lat=picked[1],
                           now=common.now(), urgent=urgent, reporter_name=name or None,
                           reporter_phone=phone or None, photo=saved)
    except (OutsideAreaError, ValidationError) as err:
        st.error(str(err))
    else:
        grid = layers_.grid_names(engine).get(ticket["grid_id"], "")
        text = t("report.done").format(code=ticket["code"], grid=grid)
        flag = ticket.get("routing_flag")
        st.session_state["report_flash"] = ("warning", f"{text}。{t(f'tickets.routing_flag.{flag}')}") if flag \
            else ("success", text)
        st.session_state["tickets_open_id"] = ticket["id"]
        st.session_state.pop("report_point", None)
        st.rerun()
