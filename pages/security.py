"""账号安全 (street leaders): sign-in waits to lift, the wall displays' token, and the walls' sessions.

Everything here is audited in the core (geo.access.throttle.unlock, geo.access.kiosk.rotate / disable / end_walls).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.access import kiosk, throttle
from geo.errors import ValidationError
from pages import common

user = common.require("security")
t = common.t
engine, now, lang = common.engine(), common.now(), common.lang()
K = "security_"


def flash(message: str) -> None:
    """Say ``message`` after the rerun that redraws the tables."""
    st.session_state[K + "flash"] = message
    st.rerun()


def when(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%m-%d %H:%M:%S")


st.title(t("security.title"))
st.caption(t("security.caption"))
if message := st.session_state.pop(K + "flash", None):
    st.success(message)

# --------------------------------------------------------------------------- sign-in waits
st.subheader(t("security.waits"))
st.caption(t("security.waits_help"))
st.text(t("security.your_address").format(address=throttle.address_label(common.client_address(), lang)))
rows = throttle.listing(engine, scope=user.scope, now=now)
if rows.empty:
    st.success(t("security.no_waits"))
else:
    i = 0 if lang == "zh" else 1

    def table(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            t("security.col_kind"): part["kind"].map(lambda k: throttle.KIND_NAMES[k][i]),
            t("security.col_name"): part["username"].replace("", "*"),
            t("security.col_address"): [throttle.address_label(a, lang) if k != "name" else "*"
                                        for k, a in zip(part["kind"], part["address"])],
            t("security.col_failures"): part["failures"],
            t("security.col_refused"): part["refused"],
            t("security.col_until"): [when(u) if w else "" for u, w in zip(part["blocked_until"], part["waiting"])],
            t("security.col_last"): part["last_at"].map(when),
        })

    waiting = rows[rows["waiting"]]
    if waiting.empty:
        st.success(t("security.no_waits"))
    else:
        st.dataframe(table(waiting), hide_index=True, width="stretch")
    if len(waiting) < len(rows):
        with st.expander(t("security.streaks").format(n=len(rows) - len(waiting))):
            st.dataframe(table(rows[~rows["waiting"]]), hide_index=True, width="stretch")
    keys = {n: (r.kind, r.username, r.address) for n, r in rows.iterrows()}
    chosen = st.multiselect(t("security.pick"), list(keys), format_func=lambda n: throttle.key_label(keys[n], lang),
                            default=list(waiting.index), placeholder=t("security.choose"), key=K + "pick", select_all=False)
    if st.button(t("security.unlock"), key=K + "unlock", type="primary", disabled=not chosen):
        try:
            lifted = throttle.unlock(engine, [keys[n] for n in chosen], by=user, now=common.now())
        except (ValidationError, PermissionError) as exc:
            st.error(str(exc))
        else:
            flash(t("security.unlocked").format(n=lifted))

# --------------------------------------------------------------------------- the wall token
st.subheader(t("security.kiosk"))
st.caption(t("security.kiosk_help"))
if fresh := st.session_state.pop(K + "new_token", None):  # shown this once, never stored in clear
    st.warning(t("security.kiosk_new"))
    st.code(kiosk.wall_url(st.context.url, fresh), language=None, wrap_lines=True)
current = kiosk.current(engine)
if current is None:
    st.info(t("security.kiosk_off"))
else:
    st.text(t("security.kiosk_on").format(id=current["id"], at=when(current["created_at"]), by=current["created_by"]))
made = st.session_state.get(K + "made", 0)  # a new box after each new token: it must be ticked again
confirm = st.checkbox(t("security.kiosk_confirm"), key=f"{K}confirm_{made}")
left, right = st.columns(2)
if left.button(t("security.kiosk_rotate"), key=K + "rotate", disabled=not confirm, type="primary"):
    st.session_state[K + "new_token"] = kiosk.rotate(engine, by=user, now=common.now())
    st.session_state[K + "made"] = made + 1
    st.rerun()
if right.button(t("security.kiosk_disable"), key=K + "disable", disabled=not confirm or current is None):
    ended = kiosk.disable(engine, by=user, now=common.now())
    flash(t("security.kiosk_disabled").format(n=ended))

# --------------------------------------------------------------------------- walls' sessions
st.subheader(t("security.walls"))
walls = kiosk.walls(engine, now=now)
if walls.empty:
    st.info(t("security.no_walls"))
else:
    via = [t("security.via_password") if pd.isna(k) else
           t("security.via_token").format(id=int(k)) + ("" if pd.isna(r) else t("security.via_replaced"))
           for k, r in zip(walls["kiosk_token_id"], walls["token_retired"])]
    st.dataframe(pd.DataFrame({
        t("security.col_session"): walls["id"], t("security.col_user"): walls["username"],
        t("security.col_address"): walls["address"].fillna("").map(lambda a: throttle.address_label(a, lang)),
        t("security.col_started"): walls["created_at"].map(when), t("security.col_seen"): walls["last_seen_at"].map(when),
        t("security.col_via"): via,
    }), hide_index=True, width="stretch")
    ids = [int(n) for n in walls["id"]]
    pick = st.multiselect(t("security.pick_walls"), ids, format_func=lambda n: f"#{n}",
                          placeholder=t("security.choose"), key=K + "walls", select_all=False)
    left, right = st.columns(2)
    if left.button(t("security.end"), key=K + "end", disabled=not pick):
        flash(t("security.ended").format(n=kiosk.end_walls(engine, pick, by=user, now=common.now())))
    if right.button(t("security.end_all"), key=K + "end_all"):
        flash(t("security.ended").format(n=kiosk.end_walls(engine, ids, by=user, now=common.now())))
