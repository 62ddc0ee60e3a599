"""网格调整: download the area's grids, upload edited outlines, preview what moves, confirm.

Every rule is in geo.grids.boundaries (checks, moves, the transaction and its audit
rows); this page reads the file, shows the plan and its refusals, and applies.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from geo import settings
from geo.grids import boundaries, boundaries_map
from geo.io import plain
from geo.errors import ConcurrentEditError
from pages import common

K = "boundaries_"
user = common.require("boundaries")
lang, t = common.lang(), common.t
url, eng = settings.database_url(), common.engine()

st.title(t("boundaries.title"))
st.caption(t("boundaries.subtitle"))
if K + "done" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "done")))

st.download_button(t("boundaries.download"), lambda: boundaries.grids_geojson(eng, user.scope).encode(),
                   file_name="grids.geojson", mime="application/geo+json", key=K + "download")
upload = st.file_uploader(t("boundaries.upload"), type=["geojson", "json", "gpkg"], help=t("boundaries.upload_help"),
                          key=f"{K}file_{st.session_state.get(K + 'round', 0)}")  # a new key empties it after applying
if upload is None:
    st.info(t("boundaries.how"))
    st.stop()

try:
    plan = boundaries.plan_adjustment(eng, user, boundaries.read_upload(upload.getvalue(), upload.name))
except boundaries.BoundaryError as exc:
    st.error(plain.markdown(exc.message(lang)))  # it quotes the file's name and values
    st.stop()
except PermissionError as exc:
    st.error(plain.markdown(exc))
    st.stop()

st.subheader(t("boundaries.changes"))
columns = {"code": t("field.code"), "name": t("field.name")} | {
    c: t(f"boundaries.col_{c.removesuffix('_m2')}") for c in plan.changes.columns if c not in ("id", "code", "name")}
st.dataframe(plan.changes.drop(columns="id").rename(columns=columns).round(1), hide_index=True,
             width="stretch")
if plan.problems:
    st.warning(t("boundaries.refused"))
for problem in plan.problems:
    st.error(plain.markdown(problem.message(lang)))

m = boundaries_map.preview_map(boundaries_map.preview_layers(eng, plan), plan, lang=lang)
st_folium(m, height=560, use_container_width=True, returned_objects=[], key=f"{K}map_{lang}")
st.caption(t("boundaries.legend"))

st.subheader(t("boundaries.moves"))
if len(plan.moves):
    st.dataframe(plan.moves[["name", "from_code", "to_code", "households", "residents"]].rename(columns={
        "name": t("field.name"), "from_code": t("boundaries.col_from"), "to_code": t("boundaries.col_to"),
        "households": t("field.households"), "residents": t("field.residents")}), hide_index=True,
        width="stretch")
else:
    st.caption(t("boundaries.no_moves"))

if plan.problems:
    st.stop()
if st.button(t("boundaries.apply"), type="primary", key=K + "apply"):
    try:
        done = boundaries.apply_adjustment(eng, user, plan, now=common.now())
    except ConcurrentEditError as exc:
        st.error(plain.markdown(exc))
        st.stop()
    st.cache_data.clear()  # layers, figures and coverage are all grouped by grid: none may show the old cut
    st.session_state[K + "round"] = st.session_state.get(K + "round", 0) + 1
    st.session_state[K + "done"] = t("boundaries.applied").format(n=len(done), b=int(done["buildings_in"].sum()))
    st.rerun()
