"""Sign-in: one form; a wrong password and an unknown user get the same answer."""
from __future__ import annotations

import streamlit as st

from geo import auth, store
from pages import common

t = common.t
engine = common.engine()

st.title(t("app.title"))
st.subheader(t("login.title"))
with st.form("login_form"):
    username = st.text_input(t("login.username"), key="login_username", autocomplete="username")
    password = st.text_input(t("login.password"), type="password", key="login_password",
                             autocomplete="current-password")
    submitted = st.form_submit_button(t("login.submit"), type="primary")
if submitted:
    try:
        user = auth.authenticate(engine, username, password, now=common.now())
    except auth.LoginError as exc:
        st.error(str(exc))
    else:
        common.sign_in(user)
        st.rerun()
if store.meta(engine).get("built") == "demo":
    st.caption(t("login.hint"))
