"""社区治理一张图 — entry point: page config, language, sign-in, navigation by role.

Run with ``streamlit run app.py``. On first start the demo street is built
into data/shequ.db (or DATABASE_URL) with a progress bar, and the ``admin``
account is made (password from SHEQU_ADMIN_PASSWORD, or printed once to the
server log). Until someone signs in, every page's address shows the sign-in
form, and after signing in that address opens its page if the role may, else
the role's home. ``st.navigation`` lists the pages the user's role may open
(geo.access.roles.PAGE_ACCESS); a page it may not open, asked for by address, is
refused without running, and every page checks again (common.require).
A sign-in survives a reload through a session cookie (geo.access.sessions); a wall
display signs in with ``?kiosk=1&token=…`` (geo.access.kiosk). For deployment, serve.py runs this same
app with security headers (README: deployment).
"""
from __future__ import annotations

import streamlit as st

from geo import i18n, settings
from geo.io import plain
from geo.access import roles
from geo.web import housekeeping
from pages import common

#: Every page: key (geo.access.roles.PAGE_ACCESS, i18n "nav.<key>", URL path), file, icon.
#: A page is registered only once its file exists, so work in progress never breaks the app.
PAGES: list[tuple[str, str, str]] = [
    ("my_area", "pages/my_area.py", "📍"),
    ("party", "pages/party.py", "🙋"),
    ("contact_point", "pages/contact_point.py", "🚩"),
    ("map", "pages/map.py", "🗺️"),
    ("tickets", "pages/tickets.py", "📋"),
    ("report", "pages/report.py", "📝"),
    ("indicators", "pages/indicators.py", "📊"),
    ("volunteers", "pages/volunteers.py", "🤝"),
    ("patrols", "pages/patrols.py", "⭐"),
    ("estates", "pages/estates.py", "🏘️"),
    ("councils", "pages/councils.py", "🗳️"),
    ("coverage", "pages/coverage.py", "🧭"),
    ("screen", "pages/screen.py", "📺"),
    ("audit", "pages/audit.py", "🔍"),
    ("boundaries", "pages/boundaries.py", "✂️"),
    ("gridplan", "pages/gridplan.py", "🧩"),
    ("load", "pages/load.py", "📥"),
    ("security", "pages/security.py", "🛡️"),
    ("doors", "pages/doors.py", "📮"),
]

#: The only pages anyone may open without signing in (issue 16): the resident's phone page (群众点单, also what
#: a building's QR code opens) and their tracking page. Neither shows anything but the resident's own report.
PUBLIC_PAGES: list[tuple[str, str, str]] = [
    ("resident", "pages/resident.py", "📣"),
    ("track", "pages/track.py", "🔎"),
]

kiosk = st.query_params.get("kiosk") == "1"
st.set_page_config(page_title="社区治理一张图", page_icon="🗺️", layout="wide",
                   initial_sidebar_state="collapsed" if kiosk else "auto")  # auto: folded on a phone

common.install_assets()
lang = common.lang()  # seeds st.session_state["lang"], which the selectbox then owns
# The page list is drawn by app.py itself (client.showSidebarNavigation = false): until the first
# st.navigation call of a fresh server, Streamlit would list every file of pages/ by its raw name.
menu = st.sidebar.container()
with st.sidebar:
    st.markdown(f"### {i18n.t('app.title', lang)}")
    lang = st.selectbox(i18n.t("lang.label", lang), list(i18n.LANGS), format_func=i18n.LANGS.get,
                        key="lang")

common.chrome_in_chinese(lang)
common.engine()  # builds the demo town on first start, before any page draws
st.session_state[common.ENTERED_KEY] = True
with common.storage_errors():  # a locked or read-only database is said in words, never a traceback
    user = common.current_user()  # this tab's session, a reload's cookie, or a wall's token; re-checked every run
    common.data_version(fresh=True)  # the cache keys of this run: a change on any server is seen now
with st.sidebar:
    common.sync_cookie()
pages_here = [(key, path, icon) for key, path, icon in PAGES if (settings.ROOT / path).exists()]
public = [st.Page(path, title=i18n.t(f"nav.{key}", lang), icon=icon, url_path=key, visibility="hidden")
          for key, path, icon in PUBLIC_PAGES if (settings.ROOT / path).exists()]

if user is None:
    # Every page's address leads to the sign-in form: a bookmark or a reload of /tickets signs in
    # there (no "Page not found"), and after signing in the same address opens the page itself.
    # (A default page answers at "/" only, so /login needs a door of its own like every other address.)
    login = st.Page("pages/login.py", title=i18n.t("nav.login", lang), icon="🔑", url_path="signin", default=True)
    doors = [st.Page("pages/login.py", title=i18n.t("nav.login", lang), icon="🔑", url_path=key,
                     visibility="hidden") for key, _, _ in [*pages_here, ("login", "", "")]]
    # ... except the residents' own pages, which open as themselves (and no other page does)
    nav = st.navigation([login, *doors, *public], position="hidden")
    common.open_asked_page({"login": login, **{page.url_path: page for page in [*doors, *public]}})
    with common.unexpected_errors(), common.storage_errors():
        nav.run()
else:
    with st.sidebar:
        st.caption(f"{i18n.t('login.signed_in_as', lang)}：**{plain.markdown(user.display_name)}**"
                   f"（{plain.markdown(user.username)}）  \n"
                   f"{user.role_name(lang)} · {i18n.t('login.scope', lang)}：{i18n.t(f'scope.{user.scope.level}', lang)}")
        if st.button(i18n.t("login.logout", lang), key="logout"):
            common.sign_out()
            st.rerun()
    available = {key for key, _, _ in pages_here if user.may_see(key)}
    home = roles.home_page(user.role, available)
    pages = {key: st.Page(path, title=i18n.t(f"nav.{key}", lang), icon=icon, url_path=key)
             for key, path, icon in pages_here if key in available}

    def go_home() -> None:
        """"/" opens the role's home page under its own address: a default page answers at "/"
        only, so /screen on a wall whose home it is would otherwise be "Page not found"."""
        st.switch_page(pages[home], query_params=st.query_params.to_dict())

    def refused() -> None:
        """A page the role may not open, asked for by its address: said so, nothing of it runs."""
        st.error(i18n.t("access.denied", lang))
        st.page_link(pages[home], label=i18n.t("login.go_home", lang), icon="🏠")

    def signed_in_already() -> None:
        st.switch_page(pages[home])

    hidden = [st.Page(refused, title=i18n.t("access.denied", lang), url_path=key, visibility="hidden")
              for key, _, _ in pages_here if key not in available]
    hidden.append(st.Page(signed_in_already, title=i18n.t("nav.login", lang), url_path="login",
                          visibility="hidden"))
    hidden.append(st.Page(go_home, title=i18n.t(f"nav.{home}", lang), url_path="home", default=True,
                          visibility="hidden"))
    if st.session_state.get("clock_minute") != common.minute_key():  # what fell due (escalations, warnings,
        st.session_state["clock_minute"] = common.minute_key()  # reports): once a minute for every server
        moved = None
        with common.storage_errors(quiet=True):  # the database busy: the next minute's run escalates them
            moved = housekeeping.run_minute(common.engine(), common.now())  # None: another session has it
        if moved:  # the desk toasts them
            seen = st.session_state.get("tickets_escalated", [])
            st.session_state["tickets_escalated"] = [*seen, *(tid for tid in moved if tid not in seen)]
    hidden.extend(public)  # a member of staff scanning a building's code sees what residents see
    nav = st.navigation([*pages.values(), *hidden], position="hidden")
    with menu:
        for page in pages.values():
            st.page_link(page)
        common.fold_menu_on_phones()  # a choice on a phone folds the menu away, as Streamlit's own list does
        st.divider()
    common.open_asked_page({**{page.url_path: page for page in hidden}, **pages})
    if st.session_state.pop(common.JUST_SIGNED_IN, False) and not any(nav is p for p in pages.values()):
        # asked for a page the role may not open (or none): the role's home, keeping the query
        st.switch_page(pages[home], query_params=st.query_params.to_dict())
    with common.unexpected_errors(), common.storage_errors():  # no traceback ever reaches a user
        nav.run()
