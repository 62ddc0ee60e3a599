"""进度查询: the resident follows their report with its tracking link, and rates the fix when it is done.

Public (app.py), like the phone page: the token in the link is the only key (geo.intake.doors).
It shows the steps so far, never a member of staff's name or another resident's data.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.errors import ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError
from geo.intake import doors
from geo.io import plain
from pages import common

common.enter("track")
lang, t = common.lang(), common.t
engine = common.engine()
K = "track_"
st.html("""<style>[data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"], [data-testid="stSidebar"] { display: none; }
.st-key-track_send button { width: 100%; min-height: 3rem; font-size: 1.15rem; }</style>""")
st.title(t("track.title"))
token = st.query_params.get("t", "")
if said := st.session_state.pop(K + "flash", None):
    st.success(said)
try:
    ticket = doors.ticket_for_token(engine, token)
except NotFoundError:
    st.error(t("track.invalid"))
    st.stop()
view = doors.public_view(engine, ticket, lang)


def when(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


st.markdown(f"### {plain.markdown(view['code'])} · {plain.markdown(view['category'])}")
st.caption(t("track.place").format(community=view["community"], grid=view["grid"]))
st.metric(t("track.state"), view["state_name"])
st.markdown(f"> {plain.markdown(view['description'][:500])}")
facts = [(t("track.reported"), when(view["created_at"])), (t("track.due"), when(view["due_at"]) if view["is_open"]
                                                           else "")]
if view["department"]:
    facts.append((t("track.department"), view["department"]))
st.markdown("  \n".join(f"**{k}**：{plain.markdown(v)}" for k, v in facts if v))

st.subheader(t("track.steps"))
st.markdown("\n".join(f"- {when(r.at)} · **{plain.markdown(r.step)}** → {plain.markdown(r.state)}"
                      + (f"：{plain.markdown(r.note)}" if r.note else "") for r in view["steps"].itertuples()))


def rating_form(title: str, help_: str, stars_allowed: tuple[int, ...]) -> None:
    st.subheader(title)
    st.caption(help_)
    picked = st.feedback("stars", key=K + "stars")
    comment = st.text_input(t("track.comment"), max_chars=500, key=K + "comment")
    if st.button(t("track.send_rating"), type="primary", key=K + "send"):
        stars = None if picked is None else picked + 1
        if stars is None or stars not in stars_allowed:
            st.error(t("track.pick_stars") if stars is None else t("track.reopen_help"))
            return
        try:
            after = doors.rate(engine, token, stars, now=common.now(), note=comment or None)
        except ConcurrentEditError:
            st.warning(t("track.changed"))
        except (IllegalTransitionError, ValidationError) as err:
            st.error(plain.markdown(err))
        else:
            st.session_state[K + "flash"] = t("track.rated_closed" if after["state"] == "closed" else
                                               "track.rated_reopened")
            st.rerun()


if view["may_rate"]:
    rating_form(t("track.rate"), t("track.rate_help"), (1, 2, 3, 4, 5))
elif view["may_reopen"]:
    with st.expander(t("track.reopen")):
        rating_form(t("track.reopen"), t("track.reopen_help"), (1, 2))
