"""社区治理一张图 — entry point: page config, language, sign-in, navigation by role.

Run with ``streamlit run app.py``. On first start the demo street is built
into data/shequ.db (or DATABASE_URL) with a progress bar, and the ``admin``
account is made (password from SHEQU_ADMIN_PASSWORD, or printed once to the
server log). Until someone signs in, the sign-in page is the only page; after
that ``st.navigation`` lists the pages the user's role may open
(geo.roles.PAGE_ACCESS), and every page checks again (common.require).
A wall display signs in with ``?kiosk=1&token=…`` (SHEQU_SCREEN_TOKEN).
"""
from __future__ import annotations

import streamlit as st

from geo import i18n, roles, settings, ticket_service
from pages import common

#: Every page: key (geo.roles.PAGE_ACCESS, i18n "nav.<key>", URL path), file, icon.
#: A page is registered only once its file exists, so work in progress never breaks the app.
PAGES: list[tuple[str, str, str]] = [
    ("my_area", "pages/my_area.py", "📍"),
    ("map", "pages/map.py", "🗺️"),
    ("tickets", "pages/tickets.py", "📋"),
    ("report", "pages/report.py", "📝"),
    ("indicators", "pages/indicators.py", "📊"),
    ("coverage", "pages/coverage.py", "🧭"),
    ("screen", "pages/screen.py", "📺"),
    ("audit", "pages/audit.py", "🔍"),
]

kiosk = st.query_params.get("kiosk") == "1"
st.set_page_config(page_title="社区治理一张图", page_icon="🗺️", layout="wide",
                   initial_sidebar_state="collapsed" if kiosk else "auto")  # auto: folded on a phone

common.install_assets()
lang = common.lang()  # seeds st.session_state["lang"], which the selectbox then owns
with st.sidebar:
    st.markdown(f"### {i18n.t('app.title', lang)}")
    lang = st.selectbox(i18n.t("lang.label", lang), list(i18n.LANGS), format_func=i18n.LANGS.get,
                        key="lang")

common.engine()  # builds the demo town on first start, before any page draws
user = common.current_user()

if user is None:
    login = st.Page("pages/login.py", title=i18n.t("nav.login", lang), icon="🔑", url_path="login", default=True)
    st.navigation([login], position="hidden").run()
else:
    with st.sidebar:
        st.caption(f"{i18n.t('login.signed_in_as', lang)}：**{user.display_name}**（{user.username}）  \n"
                   f"{user.role_name(lang)} · {i18n.t('login.scope', lang)}：{i18n.t(f'scope.{user.scope.level}', lang)}")
        if st.button(i18n.t("login.logout", lang), key="logout"):
            common.sign_out()
            st.rerun()
    available = {key for key, path, _ in PAGES if (settings.ROOT / path).exists() and user.may_see(key)}
    home = roles.home_page(user.role, available)
    pages = {key: st.Page(path, title=i18n.t(f"nav.{key}", lang), icon=icon, url_path=key, default=key == home)
             for key, path, icon in PAGES if key in available}
    if st.session_state.get("clock_minute") != common.minute_key():  # ticket escalations that fell due,
        st.session_state["clock_minute"] = common.minute_key()  # whole street, whichever page loads
        ticket_service.escalate_due(common.engine(), common.now())
    nav = st.navigation(list(pages.values()))
    if st.session_state.pop(common.JUST_SIGNED_IN, False) and nav.url_path != home:
        st.switch_page(pages[home])  # from the sign-in page straight to the role's home page
    nav.run()
