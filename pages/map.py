"""一张图: the street with its communities, grids, open tickets, cameras and facilities."""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.maps import layers as layers_, leaflet, people_map
from geo.io import plain
from geo.tickets import workflow
from pages import common

user = common.require("map")
engine = common.engine()
lang = common.lang()
t = common.t
url, minute = settings.database_url(), common.minute_key()
street_id = common.my_street(url)
all_streets = common.streets(url)
if user.scope.level == "street" and user.scope.street_id is None and len(all_streets) > 1:
    street_id = st.selectbox(t("map.street"), list(all_streets), format_func=all_streets.get,
                             key="map_street")  # a district-wide account: one street at a time
# a community's or grid's map: its area and the neighbours in view, not the whole street (issue 15)
layers = common.street_layers(url, lang, minute, street_id=street_id, around=layers_.AROUND_M)
figures = common.headline(url, minute, user.scope, street_id)
street_name = all_streets.get(street_id, "")

st.title(f"{plain.markdown(street_name)} · {t('app.title')}")
level = user.scope.level
area = {"community": lambda: layers_.community_names(engine, user.scope).get(user.scope.community_id, ""),
        "grid": lambda: layers_.grid_names(engine, scope=user.scope).get(user.scope.grid_id, "")}
st.caption(t("map.subtitle") if level == "street" else  # the figures are the user's area's, and say so
           t("map.area_figures").format(area=plain.markdown(area[level]()), m=layers_.AROUND_M))

# the area's figures in one wrapping row: seven across on a laptop, small and two by two on a phone
# (st.columns would stack them one per row and push the map off the first screen); a grid head's or a
# community's staff's figures are of their area only (layers.headline)
cards = [(t("metric.communities"), figures["communities"]) if level == "street" else None,
         (t("metric.grids"), figures["grids"]) if level != "grid" else None,
         (t("metric.residents"), f"{figures['residents']:,}"), (t("metric.households"), f"{figures['households']:,}"),
         (t("metric.open_tickets"), figures["open_tickets"]), (t("metric.overdue"), figures["overdue"]),
         (t("metric.cameras_online"), f"{figures['cameras_online']}/{figures['cameras']}")]
st.html("""<style>@media (max-width: 640px) {
  h1 { font-size: 1.6rem !important; padding-top: 0.5rem !important; }
  .st-key-map_figures { gap: 0.4rem !important; }
  .st-key-map_figures > .stElementContainer { flex: 1 1 calc(33% - 0.4rem) !important; min-width: 0 !important;
    max-width: calc(33.4% - 0.3rem) !important; }
  .st-key-map_figures [data-testid="stMetric"] { padding: 0.35rem 0.5rem !important; }
  .st-key-map_figures [data-testid="stMetricValue"] { font-size: 1.15rem; }
  .st-key-map_figures [data-testid="stMetricLabel"] p { font-size: 0.75rem; } }</style>""")
with st.container(horizontal=True, gap="small", key="map_figures"):
    for label, value in filter(None, cards):
        st.metric(label, value, border=True)

basemap = st.session_state.get("map_basemap", "offline")  # the control is under the map (a phone sees the map first)
m = leaflet.street_map(layers, basemap=basemap, lang=lang, frame="area" if "area" in layers else None)
people_map.add_contact_points(m, common.contact_points(url, minute, street_id), lang=lang)  # 领导联系点
st_folium(people_map.finish(m), height=560, use_container_width=True, returned_objects=[],
          key=f"map_{basemap}_{lang}")

labels = leaflet.basemap_labels(lang)
st.radio(t("basemap.label"), list(labels), format_func=labels.get, horizontal=True, key="map_basemap")
if basemap == "offline":
    st.caption(t("map.offline_note"))
elif leaflet.available_basemaps()[basemap].datum == "gcj02":
    st.caption(t("map.gcj02_note"))

chips = " ".join(
    f"<span style='display:inline-block;margin:2px 6px;'><span style='display:inline-block;width:12px;"
    f"height:12px;border-radius:6px;background:{s.color};vertical-align:middle'></span> {s.name(lang)}</span>"
    for s in workflow.STATES.values() if s.is_open)
st.markdown(f"**{t('map.legend')}**：{chips} · {t('map.overdue_ring')}", unsafe_allow_html=True)
st.markdown(f"**{t('map.facility_legend')}**：{leaflet.facility_legend_html(lang)}", unsafe_allow_html=True)
