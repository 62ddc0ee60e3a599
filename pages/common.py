"""What every page shares: language, the database engine, cached loaders.

Caching lives here, at the UI edge (geo/ stays free of Streamlit). Loaders
are keyed by the database URL and language so two deployments or two
languages never see each other's cached data.
"""
from __future__ import annotations

import threading
from datetime import datetime

import streamlit as st
from sqlalchemy import Engine

from geo import auth, i18n, layers, offline, roles, settings, store


def lang() -> str:
    """The interface language: ?lang=en in the URL, else the sidebar choice, else Chinese."""
    if "lang" not in st.session_state:
        wanted = st.query_params.get("lang", settings.DEFAULT_LANG)
        st.session_state["lang"] = wanted if wanted in i18n.LANGS else "zh"
    return st.session_state["lang"]


def t(key: str) -> str:
    return i18n.t(key, lang())


@st.cache_resource(show_spinner=False)
def _build_lock() -> threading.Lock:
    return threading.Lock()


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return store.make_engine(url)


@st.cache_resource(show_spinner=False)
def install_assets() -> str:
    """Copy Leaflet & co. into static/ once per server process."""
    return str(offline.install_vendor_assets())


def engine() -> Engine:
    """The database, built from the demo town on first start with visible progress."""
    url = settings.database_url()
    eng = _engine(url)
    if store.is_built(eng):
        _first_start_accounts(url)
        return eng
    with _build_lock():  # two first visitors must not build the town twice
        if not store.is_built(eng):
            bar = st.progress(0.0, text=t("db.building"))
            store.ensure_database(url, progress=lambda f, label: bar.progress(
                min(f, 1.0), text=f"{t('db.building')} {label}"))
            bar.empty()
            _engine.clear()
    _first_start_accounts(url)
    return _engine(url)


@st.cache_resource(show_spinner=False)
def _first_start_accounts(url: str) -> bool:
    """The admin account (password from SHEQU_ADMIN_PASSWORD or printed once to the log)."""
    auth.ensure_admin(_engine(url), now=now())
    return True


def now() -> datetime:
    """Local time of the street (geo.settings.TIMEZONE), whatever the server's zone."""
    return settings.now()


def street_layers(url: str, lang_: str, minute: str, area=None, street_id: int | None = None) -> dict:
    """Map layers of one street (default: the user's), refreshed every minute; tickets only
    within ``area`` (default: the user's scope)."""
    area = area if area is not None else scope()
    return _street_layers(url, lang_, minute, area, street_id if street_id is not None else my_street(url))


@st.cache_data(ttl=60, show_spinner=False)
def _street_layers(url: str, lang_: str, minute: str, area, street_id: int | None) -> dict:
    """Cached per scope and street: both are in the key, so no area sees another's tickets."""
    return layers.street_layers(_engine(url), datetime.fromisoformat(minute), lang_, scope=area,
                                street_id=street_id)


@st.cache_data(ttl=60, show_spinner=False)
def headline(url: str, minute: str, area, street_id: int | None) -> dict[str, int]:
    """The map page's figures: the street's size, the tickets of ``area`` (part of the key)."""
    return layers.headline(_engine(url), datetime.fromisoformat(minute), scope=area, street_id=street_id)


@st.cache_data(ttl=600, show_spinner=False)
def streets(url: str) -> dict[int, str]:
    return layers.streets(_engine(url))


def my_street(url: str) -> int | None:
    """The signed-in user's street (a district-wide account gets the first one)."""
    return scope().street_id or next(iter(streets(url)), None)


def minute_key() -> str:
    return now().replace(second=0, microsecond=0).isoformat()


def scope():
    """The signed-in user's area; nothing at all when nobody is signed in."""
    from geo.roles import Scope

    user = st.session_state.get(USER_KEY)
    return user.scope if user is not None else Scope("grid", grid_id=-1)  # matches no row


def actor():
    """Who acts on tickets: the signed-in user in their workflow role."""
    from geo import tickets

    user = st.session_state.get(USER_KEY)
    if user is None:
        return tickets.Actor("", "")  # no role: every move is refused
    return tickets.Actor(user.name, roles.workflow_role(user.role) or "", getattr(user, "person_id", None), user.username)


# --------------------------------------------------------------------------- who is signed in

USER_KEY = "user"  # st.session_state key of the signed-in geo.auth.User
JUST_SIGNED_IN = "auth_just_signed_in"  # app.py then opens the role's home page


def current_user() -> auth.User | None:
    """The signed-in user, or None. A wall display signs in with ?kiosk=1&token=… (SHEQU_SCREEN_TOKEN)."""
    user = st.session_state.get(USER_KEY)
    if user is None and st.query_params.get("token"):
        user = auth.kiosk_login(engine(), st.query_params.get("token"), now=now())
        del st.query_params["token"]  # the token does not stay in the address bar
        if user is not None:
            sign_in(user)
    return user


def sign_in(user: auth.User) -> None:
    for key in [k for k in st.session_state if k != "lang"]:
        del st.session_state[key]  # nothing of a previous user's pages survives
    st.session_state[USER_KEY] = user
    st.session_state[JUST_SIGNED_IN] = True


def sign_out() -> None:
    user = st.session_state.get(USER_KEY)
    if user is not None:
        auth.logout(engine(), user, now=now())
    for key in [k for k in st.session_state if k != "lang"]:
        del st.session_state[key]


def require(page: str) -> auth.User:
    """The signed-in user, if their role may open ``page``; otherwise the page stops here.

    app.py only lists allowed pages, this is the second lock on each page's door.
    """
    user = current_user()
    if user is None:
        _through_the_front_door()
    if user is None or not roles.may_see(user.role, page):
        st.error(t("access.denied"))
        st.stop()
    return user


def _through_the_front_door() -> None:
    """A page opened before app.py ever ran goes to app.py (sign-in) instead.

    On a fresh server Streamlit still runs files in pages/ directly until the
    entry point has called st.navigation once (its old multipage mode), so a
    bookmarked /tickets would skip app.py. Sending such a visit to app.py
    closes that door; where app.py is not a page (v2 navigation, tests) the
    caller shows "access denied" instead.
    """
    from streamlit.errors import StreamlitAPIException

    try:
        st.switch_page("app.py")
    except StreamlitAPIException:
        return


@st.cache_data(ttl=60, show_spinner=False)
def grid_layers(url: str, lang_: str, minute: str, area) -> dict:
    """One grid's map layers (geo.area), keyed by its (already checked) grid scope."""
    from geo import area as area_

    return area_.grid_layers(_engine(url), scope=area, grid_id=area.grid_id,
                             now=datetime.fromisoformat(minute), lang=lang_)
