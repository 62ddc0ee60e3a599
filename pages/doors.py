"""居民入口 (staff): QR sheets of a grid's buildings, the street's Open311 API keys, 12345 hotline batches.

Every rule is in geo.intake (qr, keys, hotline); each section shows only what the role may do
(geo.access.roles: "manage_api_keys", "import_hotline"); QR sheets cover the grids of the user's area.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo import settings
from geo.access import roles
from geo.errors import NotFoundError, ValidationError
from geo.intake import hotline, keys, qr
from geo.io import plain
from geo.maps import layers
from pages import common

user = common.require("doors")
lang, t = common.lang(), common.t
engine = common.engine()
K = "doors_"
st.title(t("doors.title"))
if said := st.session_state.pop(K + "flash", None):
    st.success(said)


@st.cache_data(ttl=600, show_spinner=False, max_entries=8)
def sheet(url: str, grid_id: int, base: str, title: str, layout: str) -> tuple[bytes, list[bytes], bool, int]:
    links = qr.building_links(common._engine(url), grid_id, base)
    made = qr.sheet(links, title=title)
    return made.pdf(), [made.png(i) for i in range(len(made.pages))], made.cjk, len(links)


# --------------------------------------------------------------------------- 一码通
st.subheader(t("doors.qr"))
st.caption(t("doors.qr_help"))
grids = layers.grid_names(engine, scope=user.scope)
base = qr.base_url(st.context.url)
st.caption(t("doors.base_url" if settings.PUBLIC_URL else "doors.base_url_unset").format(url=base))
grid_id = st.selectbox(t("doors.grid"), list(grids), format_func=grids.get, key=K + "grid") if grids else None
if grid_id is not None:
    pdf, pngs, cjk, n = sheet(settings.database_url(), int(grid_id), base, f"{grids[grid_id]} · 一码通 群众点单",
                             common.layout_version())
    if not cjk:
        st.warning(t("doors.no_font"))
    st.caption(t("doors.buildings").format(n=n, pages=len(pngs)))
    st.download_button(t("doors.download_pdf"), pdf, file_name=f"qr-{grid_id}.pdf", mime="application/pdf",
                       type="primary", key=K + "pdf")
    cols = st.columns(min(len(pngs), 4) or 1)
    for i, png in enumerate(pngs):
        cols[i % len(cols)].download_button(t("doors.download_png").format(n=i + 1), png,
                                            file_name=f"qr-{grid_id}-{i + 1}.png", mime="image/png", key=f"{K}png{i}")
    st.image(pngs[0], width=420)

# --------------------------------------------------------------------------- API keys
if roles.may(user.role, "manage_api_keys"):
    st.subheader(t("doors.keys"))
    st.caption(t("doors.keys_help"))
    if fresh := st.session_state.pop(K + "new_key", None):  # shown this once, never stored in clear
        st.warning(t("doors.key_new"))
        st.code(fresh, language=None)
    with st.form(K + "key_form", clear_on_submit=True):
        left, right = st.columns([3, 1])
        name = left.text_input(t("doors.key_name"), max_chars=64, key=K + "key_name")
        rate = right.number_input(t("doors.key_rate"), 1, keys.MAX_PER_MINUTE, keys.DEFAULT_PER_MINUTE,
                                  key=K + "key_rate")
        if st.form_submit_button(t("doors.key_create"), type="primary"):
            try:
                _, st.session_state[K + "new_key"] = keys.create(engine, name=name, by=user, now=common.now(),
                                                                 per_minute=int(rate))
            except (ValidationError, PermissionError) as err:
                st.error(plain.markdown(err))
            else:
                st.rerun()
    made = keys.listing(engine, by=user)
    if made.empty:
        st.info(t("doors.no_keys"))
    else:
        def when(v) -> str:
            return "" if v is None or pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")

        st.dataframe(pd.DataFrame({
            "ID": made["id"], t("doors.col_name"): made["name"], t("doors.col_prefix"): made["prefix"] + "…",
            t("doors.col_rate"): made["per_minute"], t("doors.col_created"): made["created_at"].map(when),
            t("doors.col_revoked"): made["revoked_at"].map(when)}), hide_index=True, width="stretch")
        live = made[made["revoked_at"].isna()]
        labels = dict(zip(live["id"], live["name"] + " (" + live["prefix"] + "…)"))
        pick = st.selectbox(t("doors.key_pick"), list(labels), format_func=labels.get, index=None,
                            placeholder=t("doors.key_pick"), key=K + "revoke_pick")
        if st.button(t("doors.key_revoke"), disabled=pick is None, key=K + "revoke"):
            try:
                keys.revoke(engine, int(pick), by=user, now=common.now())
            except (ValidationError, NotFoundError, PermissionError) as err:
                st.error(plain.markdown(err))
            else:
                st.session_state[K + "flash"] = t("doors.key_revoked")
                st.rerun()

# --------------------------------------------------------------------------- 12345 hotline
if roles.may(user.role, "import_hotline"):
    st.subheader(t("doors.hotline"))
    st.caption(t("doors.hotline_help"))
    upload = st.file_uploader(t("doors.hotline_file"), type=["csv", "xlsx"], key=K + "hotline_file",
                              max_upload_size=max(1, settings.UPLOAD_MAX_BYTES // (1024 * 1024)))
    datum = st.radio(t("doors.datum"), hotline.DATUMS, horizontal=True, key=K + "datum",
                     format_func={"wgs84": "WGS 84 / CGCS2000", "gcj02": "GCJ-02（高德等）"}.get)
    if upload is not None:
        try:
            batch = hotline.plan(engine, upload.getvalue(), upload.name, now=common.now(),
                                 street_id=user.scope.street_id, datum=datum)
        except ValidationError as err:
            st.error(plain.markdown(err))
        else:
            c = batch.counts()
            st.info(t("doors.hotline_preview").format(ok=c["address"] + c["point"], by_address=c["address"],
                                                      by_point=c["point"], dup=c["seen"], manual=c["manual"]))
            if len(batch.manual):
                st.markdown(f"**{t('doors.hotline_manual')}**")
                st.dataframe(batch.manual[["line", "order_no", "category", "address", "content", "reason"]],
                             hide_index=True, width="stretch")
            n = len(batch.to_import)
            if st.button(t("doors.hotline_import").format(n=n), type="primary", disabled=not n, key=K + "import"):
                try:
                    codes = hotline.commit(engine, batch, by=user, now=common.now(), street_id=user.scope.street_id)
                except (ValidationError, PermissionError) as err:
                    st.error(plain.markdown(err))
                else:
                    st.session_state[K + "flash"] = t("doors.hotline_done").format(n=len(codes))
                    st.rerun()
