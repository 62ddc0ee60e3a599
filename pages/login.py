"""Sign-in: one form; a wrong password and an unknown user get the same answer.

Shown at every page's address while nobody is signed in (app.py); signing in
reruns the same address, which then opens the page asked for.
"""
from __future__ import annotations

import streamlit as st

from geo.access import auth, users
from geo.db import store
from pages import common

common.enter("login")  # a reload of /login on a just-started server: through app.py like every page
t = common.t
engine = common.engine()

st.title(t("app.title"))
st.subheader(t("login.title"))
if st.session_state.get(common.ENDED_KEY):
    st.info(t("login.ended"))
if refused := st.session_state.get(common.KIOSK_REFUSED_KEY):
    st.warning(refused)  # a wall whose address carries a wrong, replaced or throttled token
with st.form("login_form"):
    username = st.text_input(t("login.username"), key="login_username", autocomplete="username")
    password = st.text_input(t("login.password"), type="password", key="login_password",
                             autocomplete="current-password")
    submitted = st.form_submit_button(t("login.submit"), type="primary")
if submitted:
    try:
        user = auth.authenticate(engine, username, password, now=common.now(), address=common.client_address())
    except users.LoginError as exc:  # wrong or unknown (one message), a wait running, or busy
        st.error(str(exc))
    else:
        common.sign_in(user)
        st.rerun()
if store.meta(engine).get("built") == "demo":
    st.caption(t("login.hint"))
