"""网格调整: download the area's grids, upload edited outlines, preview what moves, confirm.

Every rule is in geo.grids.boundaries (checks, moves, the transaction and its audit
rows); this page reads the file and hands the plan to pages/plan_panel.py.
An upload can also split (empty codes on the new parts), merge or retire (``retire`` = 1).
"""
from __future__ import annotations

import streamlit as st

from geo.grids import boundaries
from geo.io import plain
from pages import common, plan_panel

K = "boundaries_"
user = common.require("boundaries")
lang, t = common.lang(), common.t
eng = common.engine()

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


def done(changes) -> None:
    st.session_state[K + "round"] = st.session_state.get(K + "round", 0) + 1
    st.session_state[K + "done"] = t("boundaries.applied").format(n=len(changes), b=int(changes["buildings_in"].sum()))


plan_panel.show(plan, user, key=K, on_done=done)
