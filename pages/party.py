"""党员接单: a party member's phone page — the tickets offered to them, a claim, arrival within 30 minutes,
then "done" or a hand-back. Laid out as cards with full-width buttons for a 390 px screen.

Every action is a callback calling geo.people.orders (which checks the member, the reach and the
state under a row lock); a claim someone else won first is told, with who took it, and the lists redraw.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.errors import ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError
from geo.io import plain
from geo.maps import layers
from geo.people import orders
from geo.tickets import categories
from pages import common

user = common.require("party")
lang, t = common.lang(), common.t
engine, now = common.engine(), common.now()
K = "party_"
ERRORS = (ConcurrentEditError, IllegalTransitionError, NotFoundError, ValidationError, PermissionError)

st.title(t("nav.party"))
try:
    me = orders.member(engine, user)
except PermissionError as exc:
    st.warning(plain.markdown(exc))
    st.stop()


def flash(kind: str, text: str) -> None:
    st.session_state[K + "flash"] = (kind, text)


def act(what: str, ticket_id: int, code: str) -> None:
    """One action on a ticket, in a callback: its outcome is shown at the top of the next run."""
    try:
        if what == "claim":
            orders.claim(engine, user, ticket_id, now=common.now())
            flash("success", t("party.claimed").format(code=code, n=orders.limit_minutes()))
        elif what == "arrive":
            orders.arrive(engine, user, ticket_id, now=common.now())
            flash("success", t("party.arrived").format(code=code))
        elif what == "finish":
            orders.finish(engine, user, ticket_id, note=st.session_state.get(f"{K}note_{ticket_id}", ""),
                          now=common.now())
            flash("success", t("party.finished").format(code=code))
        elif what == "hand_back":
            orders.hand_back(engine, user, ticket_id, reason=st.session_state.get(f"{K}reason_{ticket_id}", ""),
                             now=common.now())
            flash("success", t("party.handed_back").format(code=code))
    except ERRORS as exc:
        flash("error", str(exc))


def set_available() -> None:
    orders.set_available(engine, user, bool(st.session_state[K + "available"]), now=common.now())


def category(key: str) -> str:
    return categories.CATEGORIES[key].name(lang)


grid_name = layers.grid_names(engine, scope=user.scope).get(me["grid_id"], "")
st.caption(plain.markdown(f"{me['name']} · {grid_name} · {t('party.promise').format(n=orders.limit_minutes())}"))
if K + "flash" in st.session_state:
    kind, text = st.session_state.pop(K + "flash")
    (st.error if kind == "error" else st.success)(plain.markdown(text))
st.toggle(t("party.available"), value=bool(me["available"]), key=K + "available", on_change=set_available,
          help=t("party.available_help"))

mine = orders.my_tickets(engine, user, now=now)
st.subheader(t("party.mine").format(n=len(mine)))
if mine.empty:
    st.caption(t("party.mine_none"))
for r in mine.itertuples():
    with st.container(border=True, key=f"{K}mine_{r.id}"):
        st.markdown(f"**{plain.markdown(category(r.category))}** · {plain.markdown(r.grid)} · `{r.code}`")
        st.text(r.description)  # the resident's words, as typed
        if pd.notna(r.minutes_left):
            by = pd.Timestamp(r.arrive_by).strftime("%H:%M")
            if r.minutes_left >= 0:
                st.info(t("party.arrive_by").format(at=by, n=int(r.minutes_left)))
            else:
                st.warning(t("party.late").format(at=by, n=int(-r.minutes_left)))
            st.button(t("party.arrive"), key=f"{K}arrive_{r.id}", type="primary", width="stretch",
                      on_click=act, args=("arrive", int(r.id), r.code))
        elif r.state == "in_progress":
            if pd.notna(r.arrived_at):
                st.caption(t("party.on_site_since").format(at=pd.Timestamp(r.arrived_at).strftime("%m-%d %H:%M")))
            st.text_input(t("party.note"), key=f"{K}note_{r.id}", placeholder=t("party.note_hint"))
            st.button(t("party.finish"), key=f"{K}finish_{r.id}", type="primary", width="stretch",
                      on_click=act, args=("finish", int(r.id), r.code))
            with st.expander(t("party.hand_back")):
                st.text_input(t("party.reason"), key=f"{K}reason_{r.id}")
                st.button(t("party.hand_back_do"), key=f"{K}back_{r.id}", width="stretch",
                          on_click=act, args=("hand_back", int(r.id), r.code))
        else:
            st.caption(t("party.waiting_rating"))

offers = orders.offers(engine, user, now=now)
st.subheader(t("party.offers").format(n=len(offers)))
st.caption(t("party.rule").format(n=orders.limit_minutes(), m=int(orders.OFFER_NEAR_M)))
if not me["available"]:
    st.info(t("party.unavailable"))
elif offers.empty:
    st.success(t("party.offers_none"))
for r in offers.itertuples():
    with st.container(border=True, key=f"{K}offer_{r.id}"):
        urgent = f" · :red[{t('party.urgent')}]" if r.urgent else ""
        st.markdown(f"**{plain.markdown(category(r.category))}**{urgent} · {plain.markdown(r.grid)}")
        st.text(r.description)
        where = t("party.own_grid") if r.own_grid else t("party.near_grid")
        far = "" if pd.isna(r.distance_m) else " · " + t("party.distance").format(m=int(r.distance_m))
        st.caption(f"{t('party.reported')} {pd.Timestamp(r.created_at):%m-%d %H:%M} · {where}{far} · {r.code}")
        st.button(t("party.claim").format(n=orders.limit_minutes()), key=f"{K}claim_{r.id}", type="primary",
                  width="stretch", on_click=act, args=("claim", int(r.id), r.code))
st.button(t("party.refresh"), key=K + "refresh", width="stretch")
