"""一张图: the street with its communities, grids, open tickets, cameras and facilities."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.maps import leaflet, people_map
from geo.io import plain
from geo.tickets import workflow
from pages import common

user = common.require("map")
lang = common.lang()
t = common.t
url, minute = settings.database_url(), common.minute_key()
street_id = common.my_street(url)
all_streets = common.streets(url)
if user.scope.level == "street" and user.scope.street_id is None and len(all_streets) > 1:
    street_id = st.selectbox(t("map.street"), list(all_streets), format_func=all_streets.get,
                             key="map_street")  # a district-wide account: one street at a time
layers = common.street_layers(url, lang, minute, street_id=street_id)
figures = common.headline(url, minute, user.scope, street_id)
street_name = all_streets.get(street_id, "")

st.title(f"{plain.markdown(street_name)} · {t('app.title')}")
st.caption(t("map.subtitle"))

cols = st.columns(7)
cols[0].metric(t("metric.communities"), figures["communities"])
cols[1].metric(t("metric.grids"), figures["grids"])
cols[2].metric(t("metric.residents"), f"{figures['residents']:,}")
cols[3].metric(t("metric.households"), f"{figures['households']:,}")
in_scope = t("map.tickets_in_scope") if user.scope.level != "street" else None
cols[4].metric(t("metric.open_tickets"), figures["open_tickets"], help=in_scope)
cols[5].metric(t("metric.overdue"), figures["overdue"], help=in_scope)
cols[6].metric(t("metric.cameras_online"), f"{figures['cameras_online']}/{figures['cameras']}")

labels = leaflet.basemap_labels(lang)
basemap = st.radio(t("basemap.label"), list(labels), format_func=labels.get, horizontal=True,
                   key="map_basemap")
if basemap == "offline":
    st.caption(t("map.offline_note"))
elif leaflet.available_basemaps()[basemap].datum == "gcj02":
    st.caption(t("map.gcj02_note"))

m = leaflet.street_map(layers, basemap=basemap, lang=lang)
people_map.add_contact_points(m, common.contact_points(url, minute, street_id), lang=lang)  # 领导联系点
st_folium(people_map.finish(m), height=720, use_container_width=True, returned_objects=[],
          key=f"map_{basemap}_{lang}")

chips = " ".join(
    f"<span style='display:inline-block;margin:2px 6px;'><span style='display:inline-block;width:12px;"
    f"height:12px;border-radius:6px;background:{s.color};vertical-align:middle'></span> {s.name(lang)}</span>"
    for s in workflow.STATES.values() if s.is_open)
st.markdown(f"**{t('map.legend')}**：{chips} · {t('map.overdue_ring')}", unsafe_allow_html=True)
st.markdown(f"**{t('map.facility_legend')}**：{leaflet.facility_legend_html(lang)}", unsafe_allow_html=True)
