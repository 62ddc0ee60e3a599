"""议事协商: council matters through 一征三议两公开 — raise one (with the tickets behind it), collect opinions,
move it step by step, and see what residents will read (the public list for the residents' phone page).
Stages, checks and the public list are geo.people.councils; this page gathers and draws.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.errors import ConcurrentEditError, NotFoundError, ValidationError
from geo.io import plain
from geo.maps import layers as map_layers
from geo.people import councils
from geo.tickets import categories, service as ts, workflow
from pages import common, council_cards

user = common.require("councils")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
K = "council_"
ERRORS = (ValidationError, NotFoundError, PermissionError, ConcurrentEditError)

st.title(t("nav.councils"))
st.caption(t("council.caption"))
if K + "flash" in st.session_state:
    st.success(plain.markdown(st.session_state.pop(K + "flash")))


def saved(text: str) -> None:
    st.session_state[K + "flash"] = text
    st.rerun()


def stage_name(key: str) -> str:
    return councils.stage_label(key, lang)


listed = councils.matters(engine, scope=user.scope)
with st.container(horizontal=True, gap="small", key=K + "figures"):
    for key in councils.ORDER:
        st.metric(stage_name(key), f"{int((listed['stage'] == key).sum()):,}", border=True)
shown = pd.DataFrame({t("council.title"): listed["title"], t("council.council"): listed["council"],
                      t("council.stage"): listed["stage"].map(stage_name), t("council.raised"): listed["raised_on"],
                      t("council.opinions"): listed["opinions"].astype(str) + "（" + t("council.for_short")
                      + listed["opinions_for"].astype(str) + "）", t("council.tickets"): listed["tickets"]})
st.dataframe(shown, hide_index=True, width="stretch", height=260)

tabs = st.tabs([t("council.tab_matter"), t("council.tab_new"), t("council.tab_public")], key=K + "tab",
               on_change="rerun")

with tabs[0]:
    titles = dict(zip(listed["id"], listed["title"] + " · " + listed["council"]))
    pick = st.selectbox(t("council.pick"), list(titles), format_func=titles.get, key=K + "pick") if titles else None
    if pick is not None:
        m = councils.matter(engine, int(pick), scope=user.scope)
        st.markdown(f"**{plain.markdown(m['title'])}** · {stage_name(m['stage'])}")
        if m["summary"]:
            st.text(m["summary"])
        steps = [(councils.STAGES[k].name(lang), m.get(f)) for k in councils.ORDER[1:] for f in councils.STAGES[k].fields
                 if m.get(f) is not None]
        for label, value in steps:
            st.caption(f"{label}：")
            st.text(str(value))
        ops = m["opinions"].assign(stance=m["opinions"]["stance"].map(lambda k: councils.STANCES[k][0 if lang == "zh" else 1]),
                                   channel=m["opinions"]["channel"].map(lambda k: councils.CHANNELS[k][0 if lang == "zh" else 1]))
        st.markdown(f"**{t('council.opinions')}**")
        st.dataframe(ops.rename(columns={"collected_on": t("council.day"), "channel": t("council.channel"),
                                         "stance": t("council.stance"), "text": t("council.text")}),
                     hide_index=True, width="stretch")
        if len(m["tickets"]):
            tk = m["tickets"]
            st.markdown(f"**{t('council.tickets')}**")
            st.dataframe(pd.DataFrame({t("field.code"): tk["code"],
                                       t("field.category"): tk["category"].map(lambda k: categories.CATEGORIES[k].name(lang)),
                                       t("field.state"): tk["state"].map(lambda k: workflow.STATES[k].name(lang))}),
                         hide_index=True, width="stretch")
        writable = user.may("manage_councils") and (user.scope.level != "grid" or m["grid_id"] == user.grid_id)
        if writable and m["stage"] == "collecting":
            with st.form(f"{K}opinion_{pick}", clear_on_submit=True):
                st.markdown(f"**{t('council.add_opinion')}**")
                stance = st.radio(t("council.stance"), list(councils.STANCES), horizontal=True, key=f"{K}stance_{pick}",
                                  format_func=lambda k: councils.STANCES[k][0 if lang == "zh" else 1])
                channel = st.selectbox(t("council.channel"), list(councils.CHANNELS), key=f"{K}channel_{pick}",
                                       format_func=lambda k: councils.CHANNELS[k][0 if lang == "zh" else 1])
                text = st.text_area(t("council.text"), key=f"{K}text_{pick}", height=70)
                if st.form_submit_button(t("council.add_opinion"), width="stretch"):
                    try:
                        councils.add_opinion(engine, user, int(pick), stance=stance, text=text, channel=channel,
                                             collected_on=now.date(), now=common.now())
                    except ERRORS as exc:
                        st.error(plain.markdown(exc))
                    else:
                        saved(t("council.opinion_saved"))
        i = councils.ORDER.index(m["stage"])
        if writable and i + 1 < len(councils.ORDER):
            nxt = councils.STAGES[councils.ORDER[i + 1]]
            with st.form(f"{K}advance_{pick}_{m['version']}"):
                st.markdown(f"**{t('council.next').format(s=nxt.name(lang))}**")
                values = {}
                for f in nxt.fields:
                    label = t(f"council.f_{f}")
                    if f.startswith("votes_"):
                        values[f] = int(st.number_input(label, 0, 100000, 0, key=f"{K}{f}_{pick}"))
                    elif f.endswith("_on"):
                        values[f] = st.date_input(label, value=now.date(), max_value=now.date(), key=f"{K}{f}_{pick}")
                    else:
                        values[f] = st.text_area(label, key=f"{K}{f}_{pick}", height=70)
                if st.form_submit_button(t("council.advance"), type="primary", width="stretch"):
                    try:
                        councils.advance(engine, user, int(pick), expected_version=int(m["version"]), now=common.now(),
                                         **values)
                    except ERRORS as exc:
                        st.error(plain.markdown(exc))
                    else:
                        saved(t("council.advanced").format(s=nxt.name(lang)))

with tabs[1]:
    if not user.may("manage_councils"):
        st.info(t("council.read_only"))
    else:
        grids = map_layers.grid_names(engine, user.community_id, user.scope) if user.scope.level == "community" else {}
        open_t = ts.query(engine, now=now, scope=user.scope, open_only=True, limit=300)
        codes = dict(zip(open_t["id"], open_t["code"] + " " + open_t["category"].map(
            lambda k: categories.CATEGORIES[k].name(lang))))
        with st.form(K + "new", clear_on_submit=True):
            title = st.text_input(t("council.title"), key=K + "new_title")
            summary = st.text_area(t("council.summary"), key=K + "new_summary", height=70)
            grid = st.selectbox(t("council.council"), [None, *grids], key=K + "new_grid",
                                format_func=lambda g: t("council.community_council") if g is None else grids[g]) \
                if grids else None
            linked = st.multiselect(t("council.link"), list(codes), format_func=codes.get, key=K + "new_tickets",
                                    placeholder=t("common.choose_many"))
            if st.form_submit_button(t("council.raise"), type="primary", width="stretch"):
                try:
                    councils.raise_matter(engine, user, title=title, summary=summary, grid_id=grid,
                                          ticket_ids=[int(x) for x in linked], now=common.now())
                except ERRORS as exc:
                    st.error(plain.markdown(exc))
                else:
                    saved(t("council.raised_done").format(title=title))

with tabs[2]:
    st.caption(t("council.public_caption"))
    community = user.community_id
    if community is None:
        comms = map_layers.community_names(engine, user.scope)
        community = st.selectbox(t("field.community"), list(comms), format_func=comms.get, key=K + "public_c")
    public = councils.public_list(engine, community_id=int(community), grid_id=user.grid_id, lang=lang)
    if public.empty:
        st.info(t("council.public_none"))
    council_cards.show(public, t)
