"""街道数据: a street's own files in (checked, previewed, one transaction), the stored data checked, every layer out.

Every rule is in geo.load (reading, mapping, coordinates, the report, the plan, the writer, the
export); this page gathers the files and the person's choices, shows what geo.load says, and applies.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.db import migrate
from geo.errors import ValidationError
from geo.io import plain
from geo.load import apply as applying, bundle, checks, export, mapping, plan, position, preview_map, sources, stored
from geo.load.fields import LAYERS
from pages import common

K = "load_"
user = common.require("load")
lang, t = common.lang(), common.t
eng = common.engine()

st.title(t("load.title"))
st.caption(t("load.subtitle"))
if K + "done" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "done")))
# a radio, not st.tabs: a Leaflet map drawn inside a tab is sized before the tab is and lands off-centre
section = st.radio(t("load.title"), ["import", "stored", "export"], horizontal=True, label_visibility="collapsed",
                   format_func=lambda s: t(f"load.tab_{s}"), key=K + "section")


def findings_view(found: list[checks.Finding], key: str) -> None:
    """The report: a table, the Excel download (both in the page's language)."""
    st.subheader(t("load.report"))
    if not found:
        st.caption(t("load.no_findings"))
        return
    st.dataframe(checks.table(found, lang), hide_index=True, width="stretch")
    st.download_button(t("load.download_report"), checks.excel(found, lang), file_name="数据检查.xlsx",
                       key=K + key + "_xlsx")


@st.cache_data(show_spinner=False, max_entries=20)
def guessed(name: str, data: bytes, street: str) -> list[tuple[str | None, str | None, dict, list[str]]]:
    """(layer in file, our layer, mapping, the file's columns) per layer of one file (cached by content)."""
    src = sources.Source(name, data)
    out = []
    for layer in sources.layers(src):
        frame = sources.read(src, None if src.is_table else layer.name)
        cols = sources.columns(frame)
        target = mapping.guess_layer(layer.name, cols, layer.geometry_type) or mapping.guess_layer(
            name, cols, layer.geometry_type)
        known = mapping.remembered(eng, street, target) if target else None
        chosen = {k: v for k, v in (known or {}).items() if v in cols} or (mapping.guess(cols, target) if target else {})
        out.append((None if src.is_table else layer.name, target, chosen, cols))
    return out


if section == "import":
    state = plan.state_of(eng)
    if state == "demo":
        st.info(t("load.demo_state"))
    files = st.file_uploader(t("load.upload"), accept_multiple_files=True, key=f"{K}files_{st.session_state.get(K + 'round', 0)}",
                             type=["gpkg", "geojson", "json", "zip", "kml", "kmz", "pbf", "csv", "xlsx"])
    if not files:
        st.info(t("load.how"))
    street_code = stored.read(eng, register=False)["street"]["code"].iloc[0] if state == "real" else ""
    parts: list[bundle.Part] = []
    targets = ["skip", *LAYERS]
    for i, up in enumerate(files or []):
        try:
            found = guessed(up.name, up.getvalue(), street_code)
        except ValidationError as exc:
            st.error(plain.markdown(exc.message(lang) if hasattr(exc, "message") else exc))
            continue
        for j, (layer, target, chosen, cols) in enumerate(found):
            now = st.session_state.get(f"{K}t{i}_{j}", target or "skip")  # the label follows the choice below
            with st.expander(t("load.part").format(file=up.name, layer=f" · {layer}" if layer else "",
                                                   target=t(f"load.layer_{now}")), expanded=target is None):
                a, b = st.columns(2)
                target = a.selectbox(t("load.target"), targets, index=targets.index(target or "skip"),
                                     format_func=lambda k: t(f"load.layer_{k}"), key=f"{K}t{i}_{j}")
                choice = b.selectbox(t("load.coords"), position.CHOICES, format_func=lambda c: t(f"load.datum_{c}"),
                                     key=f"{K}c{i}_{j}")
                if target == "skip":
                    continue
                spec = LAYERS[target]
                table = pd.DataFrame({t("load.our_field"): [f.label(lang) for f in spec.fields],
                                      t("load.file_column"): [chosen.get(f.key, "") for f in spec.fields]})
                edited = st.data_editor(table, hide_index=True, disabled=[t("load.our_field")], key=f"{K}m{i}_{j}_{target}",
                                        column_config={t("load.file_column"): st.column_config.SelectboxColumn(
                                            options=["", *cols])})
                columns = {f.key: c for f, c in zip(spec.fields, edited[t("load.file_column")]) if c}
                parts.append(bundle.Part(sources.Source(up.name, up.getvalue()), target, columns, layer, choice))
    c1, c2 = st.columns(2)
    repair = c1.checkbox(t("load.repair"), key=K + "repair")
    sync = c2.checkbox(t("load.sync"), key=K + "sync") if state == "real" else False
    name = st.text_input(t("load.street_name"), key=K + "street") if parts and not any(
        p.target == "street" for p in parts) else None
    if parts and st.button(t("load.check"), type="primary", key=K + "check"):
        try:
            ref = stored.read(eng, register=False)["street"] if state == "real" else None
            st.session_state[K + "plan"] = plan.make(eng, bundle.prepare(parts, reference=ref, repair=repair),
                                                     sync=sync, street_name=name or None)
        except ValidationError as exc:
            st.session_state.pop(K + "plan", None)
            st.error(plain.markdown(exc.message(lang) if hasattr(exc, "message") else exc))
    made: plan.Plan | None = st.session_state.get(K + "plan")
    if made is not None and parts:
        st.subheader(t("load.summary"))
        summary = made.summary().rename(index=lambda k: t(f"load.layer_{k}"),
                                        columns=lambda c: t(f"load.col_{c}"))
        st.dataframe(summary, width="stretch")
        findings_view(made.findings, "plan")
        centre, zoom = preview_map.view(made.after) or (None, None)
        st_folium(preview_map.preview(made.after, made.findings, lang=lang), height=520, use_container_width=True,
                  center=centre, zoom=zoom, returned_objects=[], key=f"{K}map")
        if not made.ok:
            st.warning(t("load.blocked"))
        else:
            replace = st.checkbox(t("load.replace_demo"), key=K + "replace") if made.state == "demo" else False
            if st.button(t("load.apply"), type="primary", key=K + "apply"):
                try:
                    with common.storage_errors():
                        done = applying.apply(eng, made, username=user.username, role=user.role, now=common.now(),
                                              replace_demo=replace)
                except applying.LoadRefused as exc:
                    st.error(plain.markdown(exc.message(lang)))
                    st.stop()
                st.cache_data.clear()  # every map, figure and coverage plan reads the new street
                st.session_state.pop(K + "plan", None)
                st.session_state[K + "round"] = st.session_state.get(K + "round", 0) + 1
                st.session_state[K + "done"] = t("load.done").format(summary="；".join(
                    f"{t(f'load.layer_{k}')} +{v['added']} ~{v['changed']} −{v['removed']}" for k, v in done.items()))
                st.rerun()

if section == "stored":
    if migrate.kind(eng) and st.button(t("load.stored_check"), key=K + "stored"):
        frames = stored.read(eng)
        b = frames["building"]
        b["door_lon"], b["door_lat"] = b["entrance_lon"], b["entrance_lat"]
        checks.locate(frames)
        findings_view(checks.run(frames), "stored")

if section == "export":
    fmt = st.selectbox(t("load.export_format"), export.FORMATS, key=K + "fmt",
                       format_func=lambda f: {"gpkg": "GeoPackage (.gpkg)", "geojson": "GeoJSON (.zip)",
                                              "shapefile": "Shapefile (.zip)", "xlsx": "Excel (.xlsx)"}[f])
    st.caption(t("load.export_note"))
    suffix = {"gpkg": "gpkg", "geojson": "geojson.zip", "shapefile": "shp.zip", "xlsx": "xlsx"}[fmt]
    st.download_button(t("load.export_go"), lambda: export.export(eng, fmt), file_name=f"street.{suffix}",
                       key=K + "export")
