"""我要上报: find the place (click the map, or search an address as a hotline operator does), say
what it is and where it came from, and send it. No category or source is preselected: a wrong
default would be sent without anyone choosing it."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.tickets import categories, rules, service as ts
from geo.maps import addresses, layers as layers_, leaflet
from geo.io import plain, photos
from geo.errors import OutsideAreaError, ValidationError
from pages import common

user = common.require("report")
lang, t = common.lang(), common.t
engine = common.engine()
now = common.now()

st.title(t("page.report"))
if st.session_state.pop("report_reset", False):  # the last report was stored: an empty form for the next
    st.session_state.update(report_description="", report_name="", report_phone="", report_urgent=False,
                            report_source=None, report_category=None)
    st.session_state["report_photo_n"] = st.session_state.get("report_photo_n", 0) + 1  # an uploader is
    # emptied by a new key only
flash = st.session_state.pop("report_flash", None)  # shown where the user is: by the submit button (below)
if flash:
    st.toast(plain.markdown(flash[1]), icon="✅", duration="long")  # and over the page, wherever it is scrolled

def find_place() -> None:
    """A hotline operator types the address they hear; the chosen place becomes the report's point."""
    query = st.text_input(t("report.find"), key="report_find", placeholder=t("report.find_hint"))
    if not addresses.words(query):
        return
    found = addresses.search(engine, query, scope=user.scope)
    if found.empty:
        st.caption(t("report.find_none").format(q=plain.markdown(query.strip())))
        return
    labels = {i: f"{r.label}（{t('report.find_kind.' + r.kind)}）" for i, r in found.iterrows()}
    choice = st.selectbox(t("report.find_pick"), list(labels), index=None, format_func=labels.get,
                          placeholder=t("report.find_pick"), key=f"report_found_{hash(query) & 0xffff}")
    if choice is not None:
        spot = (float(found.at[choice, "lon"]), float(found.at[choice, "lat"]))
        if spot != st.session_state.get("report_point"):
            st.session_state["report_point"] = spot
            st.session_state["report_zoom"] = True  # the map closes in on it
            st.rerun()


url, minute = settings.database_url(), common.minute_key()
find_place()
if user.scope.level == "grid":  # a grid head reports in their own patch: the map opens on it
    base = {k: v for k, v in common.grid_layers(url, lang, minute, user.scope).items()
            if k in ("grids", "roads", "buildings")}
else:
    base = {k: v for k, v in common.street_layers(url, lang, minute).items()
            if k in ("street", "communities", "grids", "roads")}
picked = st.session_state.get("report_point")
if picked:
    base["tickets"] = layers_.point_layer(*picked)
    if "buildings" not in base:  # the street's map: the buildings around the spot, numbered
        base["buildings"] = layers_.buildings_near(engine, *picked)
st.caption(t("report.map_hint"))
close_in = picked and st.session_state.get("report_zoom")
clicked = st_folium(leaflet.street_map(base, lang=lang, frame="grids" if user.scope.level == "grid" else None,
                                       center=(picked[1], picked[0]) if close_in else None,
                                       zoom=18 if close_in else None),
                    height=460, use_container_width=True, returned_objects=["last_clicked", "last_object_clicked"],
                    key=f"report_map_{picked if close_in else ''}")
for where in ("last_clicked", "last_object_clicked"):  # a click on a grid lands on the grid, not the map
    spot = (clicked or {}).get(where)
    if spot and (spot["lng"], spot["lat"]) != picked and spot != st.session_state.get(f"report_seen_{where}"):
        st.session_state[f"report_seen_{where}"] = spot
        st.session_state["report_point"] = (spot["lng"], spot["lat"])
        st.session_state.pop("report_zoom", None)
        st.rerun()

if not picked:
    st.info(t("report.no_location"))
else:
    st.markdown(f"**{t('report.location')}**：{picked[0]:.6f}, {picked[1]:.6f}")
    if user.scope.level != "grid":
        st.caption(t("report.near_buildings"))

category = st.selectbox(t("tickets.category"), list(categories.CATEGORIES), index=None,
                        placeholder=t("report.category_pick"),
                        format_func=lambda k: categories.CATEGORIES[k].name(lang), key="report_category")
if picked and category:  # only what the user's area holds; of the rest, a count
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

with st.form("report_form", enter_to_submit=False):  # emptied only once the report is stored: a refusal keeps what was typed
    source = st.radio(t("report.source"), list(rules.SOURCES), index=None, horizontal=True,
                      format_func=lambda k: rules.source_label(k, lang), key="report_source")
    description = st.text_area(t("report.description"), max_chars=4000, key="report_description")
    urgent = st.checkbox(t("report.urgent"), key="report_urgent")
    photo = st.file_uploader(t("report.photo"), type=list(photos.IMAGE_TYPES),
                             key=f"report_photo_{st.session_state.get('report_photo_n', 0)}",
                             max_upload_size=photos.MAX_BYTES // (1024 * 1024))  # MB, as uploads checks
    c1, c2 = st.columns(2)
    name = c1.text_input(t("report.name"), key="report_name")
    phone = c2.text_input(t("report.phone"), key="report_phone")
    submitted = st.form_submit_button(t("report.submit"), type="primary", disabled=not picked)
if flash:  # on a phone the form's end is where the thumb was: the confirmation lands in view
    (st.warning if flash[0] == "warning" else st.success)(plain.markdown(flash[1]))

if submitted and picked and not category:
    st.error(t("report.need_category"))
elif submitted and picked and not source:
    st.error(t("report.need_source"))
elif submitted and picked:
    try:  # the photo stays only if the report is stored
        with photos.staged(photo.getvalue() if photo else None, photo.name if photo else None) as saved:
            ticket = ts.report(engine, category=category, description=description, lon=picked[0], lat=picked[1],
                               now=common.now(), urgent=urgent, reporter_name=name or None,
                               reporter_phone=phone or None, photo=saved, source=source, by=common.actor())
    except (OutsideAreaError, ValidationError) as err:
        st.error(plain.markdown(err))
    else:
        grid = layers_.grid_names(engine).get(ticket["grid_id"], "")
        text = t("report.done").format(code=ticket["code"], grid=grid)
        flag = ticket.get("routing_flag")
        st.session_state["report_flash"] = ("warning", f"{text}。{t(f'tickets.routing_flag.{flag}')}") if flag \
            else ("success", text)
        st.session_state["tickets_open_id"] = ticket["id"]
        for key in ("report_point", "report_zoom"):
            st.session_state.pop(key, None)
        st.session_state["report_reset"] = True
        st.rerun()
