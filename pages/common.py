"""What every page shares: language, the database engine, cached loaders.

Caching lives here, at the UI edge (geo/ stays free of Streamlit). Loaders
are keyed by the database URL and language so two deployments or two
languages never see each other's cached data, and by the database's change
marks (``data_version``: geo.access.audit.data_version, read once per run by
app.py) so a change made through any app server on the same database is seen
by every other server at its next run: a cache cleared in one process is not
cleared in the others, a key that moved is.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import datetime

import streamlit as st
from sqlalchemy import Engine

from geo import i18n, settings
from geo.access import audit, auth, kiosk, roles, sessions, throttle, users
from geo.demo import generator
from geo.maps import layers, offline
from geo.db import store

log = logging.getLogger(__name__)


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
    """The database, built from the demo town on first start with visible progress.

    A database that says no (a data folder it may not write, a lock held elsewhere,
    a full disk, a server out of reach) or a first-start build that fails is told in
    words and the page stops; no traceback (see storage_errors).
    """
    url = settings.database_url()
    with storage_errors():
        _folder_checked(url)
        eng = _engine(url)
        if store.is_built(eng):
            _first_start_accounts(url)
            return eng
        with _build_lock():  # two first visitors must not build the town twice
            if not store.is_built(eng):
                bar = st.progress(0.0, text=t("db.building"))
                try:
                    # The core's stage labels (table names) are for logs; people see a percentage.
                    generator.ensure_database(url, progress=lambda f, _label: bar.progress(
                        min(f, 1.0), text=f"{t('db.building')} {min(f, 1.0):.0%}"))
                except Exception as exc:
                    if store.storage_problem(exc) is not None:
                        raise
                    log.exception("first start: building the demo town failed")
                    raise store.StorageError("build") from exc
                finally:
                    bar.empty()
                _engine.clear()
        _first_start_accounts(url)
        return _engine(url)


@st.cache_resource(show_spinner=False)
def _folder_checked(url: str) -> bool:
    """The data folder may be written (once per server; a refusal is not cached, so it is told each run)."""
    store.check_folder(url)
    return True


@contextlib.contextmanager
def storage_errors(*, quiet: bool = False) -> Iterator[None]:
    """Run a block; a database error that is about the storage (geo.db.store.storage_problem:
    locked, read-only, full, unreachable) becomes a Chinese message and stops the page
    (``quiet``: housekeeping that simply tries again later; the block is left, the page
    goes on). Anything else (a bug) is raised as it is."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - only storage problems are answered here
        problem = store.storage_problem(exc)
        if problem is None:
            raise
        log.warning("database problem%s: %s (%s)", "" if quiet else " shown to the user", problem.key,
                    type(exc).__name__)
        if not quiet:
            st.error(problem.message(lang()))
            st.stop()


@contextlib.contextmanager
def unexpected_errors() -> Iterator[None]:
    """Run a page; a bug in it becomes a Chinese message (the traceback goes to the server log only).

    The last line of defence behind every specific message: no traceback, server path or
    "Ask Google" link reaches a user (issue 13). .streamlit/config.toml sets
    ``client.showErrorDetails = "none"`` as well, for what runs outside this block (widget
    callbacks, a fragment's own rerun): Streamlit then shows its generic notice without details.
    st.stop and st.rerun pass through (they are not Exceptions).
    """
    try:
        yield
    except Exception:  # noqa: BLE001 - the point of this block
        log.exception("unexpected error on a page")
        st.error(t("app.unexpected"), icon="⚠️")


def safe_callback(fn):
    """A widget callback whose bug is logged and told in Chinese on the next draw, not shown as a trace."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - see unexpected_errors
            log.exception("unexpected error in a widget callback")
            st.session_state[UNEXPECTED_KEY] = True
    return run


UNEXPECTED_KEY = "app_unexpected"  # a callback failed: app.py says so once


def tell_unexpected() -> None:
    """The Chinese notice for a callback that failed (see safe_callback), once."""
    if st.session_state.pop(UNEXPECTED_KEY, False):
        st.error(t("app.unexpected"), icon="⚠️")


@st.cache_resource(show_spinner=False)
def _first_start_accounts(url: str) -> bool:
    """The admin account (password from SHEQU_ADMIN_PASSWORD or printed once to the log)."""
    auth.ensure_admin(_engine(url), now=now())
    return True


def now() -> datetime:
    """Local time of the street (geo.settings.TIMEZONE), whatever the server's zone."""
    return settings.now()


VERSION_KEY = "data_version"  # this run's geo.access.audit.DataVersion (app.py reads it first thing)


def data_version(*, fresh: bool = False) -> audit.DataVersion:
    """The database's change marks for cache keys: one indexed query per run.

    app.py asks ``fresh`` at the top of every run, and the page then reuses it; a page run
    without app.py (AppTest) or a fragment's own rerun (the wall) asks again itself.
    """
    if fresh or not st.session_state.get(ENTERED_KEY) or VERSION_KEY not in st.session_state:
        st.session_state[VERSION_KEY] = audit.data_version(engine())
    return st.session_state[VERSION_KEY]


def layout_version() -> str:
    """The mark that moves only when the street's layout changes (a load, a boundary cut):
    the key of the heavy caches (walking plan, coverage, basemaps)."""
    return data_version().layout


def street_layers(url: str, lang_: str, minute: str, area=None, street_id: int | None = None,
                  around: float | None = None) -> dict:
    """Map layers of one street (default: the user's), refreshed every minute and after any change;
    tickets only within ``area`` (default: the user's scope); ``around``: a community's or grid's map
    reads only its area and that many metres around it (geo.maps.layers.street_layers)."""
    area = area if area is not None else scope()
    return _street_layers(url, lang_, minute, area, street_id if street_id is not None else my_street(url),
                          around, data_version().data)


@st.cache_data(ttl=60, show_spinner=False)
def _street_layers(url: str, lang_: str, minute: str, area, street_id: int | None,
                   around: float | None, version: str) -> dict:
    """Cached per scope and street: both are in the key, so no area sees another's tickets."""
    return layers.street_layers(_engine(url), datetime.fromisoformat(minute), lang_, scope=area,
                                street_id=street_id, around=around)


def headline(url: str, minute: str, area, street_id: int | None) -> dict[str, int]:
    """The map page's figures: the street's size, the tickets of ``area``."""
    return _headline(url, minute, area, street_id, data_version().data)


@st.cache_data(ttl=60, show_spinner=False)
def _headline(url: str, minute: str, area, street_id: int | None, version: str) -> dict[str, int]:
    return layers.headline(_engine(url), datetime.fromisoformat(minute), scope=area, street_id=street_id)


def streets(url: str) -> dict[int, str]:
    return _streets(url, layout_version())


@st.cache_data(ttl=600, show_spinner=False)
def _streets(url: str, layout: str) -> dict[int, str]:
    return layers.streets(_engine(url))


def my_street(url: str) -> int | None:
    """The signed-in user's street (a district-wide account gets the first one)."""
    return scope().street_id or next(iter(streets(url)), None)


def minute_key() -> str:
    return now().replace(second=0, microsecond=0).isoformat()


def scope():
    """The signed-in user's area; nothing at all when nobody is signed in."""
    from geo.access.roles import Scope

    user = st.session_state.get(USER_KEY)
    return user.scope if user is not None else Scope("grid", grid_id=-1)  # matches no row


def actor():
    """Who acts on tickets: the signed-in user in their workflow role."""
    from geo.tickets import rules

    user = st.session_state.get(USER_KEY)
    if user is None:
        return rules.Actor("", "")  # no role: every move is refused
    return rules.actor_for(user)


# --------------------------------------------------------------------------- who is signed in

USER_KEY = "user"  # st.session_state key of the signed-in geo.access.users.User
TOKEN_KEY = "auth_token"  # this tab's session token (geo.access.sessions), also kept in the browser's cookie
JUST_SIGNED_IN = "auth_just_signed_in"  # app.py then opens the asked page, or the role's home page
ENDED_KEY = "auth_ended"  # the session ended under the user (deactivated, role changed, expired)
DEAD_KEY = "auth_dead_cookie"  # a cookie that signs nobody in any more: not tried again in this tab
DEAD_TOKEN_KEY = "auth_dead_kiosk_token"  # a wall token that was refused: not tried again in this tab
KIOSK_REFUSED_KEY = "auth_kiosk_refused"  # the sign-in page says why the wall is not signed in
ENTERED_KEY = "app_entered"  # app.py has run in this tab (see enter)
ASKED_KEY = "app_asked_page"  # the page a visit asked for before app.py had run
_KEEP = ("lang", DEAD_KEY, DEAD_TOKEN_KEY, KIOSK_REFUSED_KEY, ENTERED_KEY, ASKED_KEY)  # what survives a sign-in or sign-out in this tab


def current_user() -> users.User | None:
    """The signed-in user, re-read from the database on every run; None when nobody is (any longer).

    In order: this tab's session (its user re-checked: a deactivated user or a
    changed role ends it at once); else the session cookie of an earlier sign-in
    in this browser (a reload, a server restart); else a wall display's
    ``?kiosk=1&token=…`` (geo.access.kiosk). The token stays in the address, so a
    wall whose cookie is refused or whose session was cleared signs in again; a
    token refused as wrong is not tried again in this tab (each try is counted).
    """
    eng, when = engine(), now()
    user = st.session_state.get(USER_KEY)
    if user is not None:
        token = st.session_state.get(TOKEN_KEY)
        fresh = sessions.resume(eng, token, now=when) if token else users.recheck(eng, user)
        if fresh is not None:
            st.session_state[USER_KEY] = fresh
            return fresh
        _clear_state()
        st.session_state[DEAD_KEY] = token
        st.session_state[ENDED_KEY] = True
    cookie = _cookie()
    if cookie and cookie != st.session_state.get(DEAD_KEY):
        fresh = sessions.resume(eng, cookie, now=when)
        if fresh is not None:
            st.session_state[USER_KEY], st.session_state[TOKEN_KEY] = fresh, cookie
            st.session_state.pop(ENDED_KEY, None)
            return fresh
        st.session_state[DEAD_KEY] = cookie
    token = st.query_params.get("token")
    if token and token != st.session_state.get(DEAD_TOKEN_KEY):
        try:
            wall = kiosk.login(eng, token, now=when, address=client_address())
        except users.LockedOutError as exc:
            st.session_state[KIOSK_REFUSED_KEY] = str(exc)
            return None
        if wall is None:
            st.session_state[DEAD_TOKEN_KEY] = token
            st.session_state[KIOSK_REFUSED_KEY] = t("kiosk.refused")
            return None
        st.session_state.pop(KIOSK_REFUSED_KEY, None)
        sign_in(wall.user, kiosk_token_id=wall.token_id)
        return wall.user
    return None


def client_address() -> str:
    """This visitor's address for sign-in throttling ("" when local or unknown; geo.access.throttle.client_address).

    X-Forwarded-For counts only from a proxy listed in SHEQU_TRUSTED_PROXIES.
    """
    try:
        peer = st.context.ip_address
        forwarded = st.context.headers.get_all("X-Forwarded-For")
    except Exception:  # noqa: BLE001 - no client (a bare script run, AppTest): not known
        return ""
    return throttle.client_address(peer, forwarded or (), trusted=settings.TRUSTED_PROXIES)


def _cookie() -> str | None:
    """The session cookie the browser sent when this tab connected (None outside a browser)."""
    try:
        value = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # noqa: BLE001 - no client (a bare script run): no cookie
        return None
    return value if isinstance(value, str) and value else None


def _clear_state() -> None:
    for key in [k for k in st.session_state if k not in _KEEP]:
        del st.session_state[key]  # nothing of a previous user's pages survives


def sign_in(user: users.User, *, kiosk_token_id: int | None = None) -> None:
    """Start a session for ``user`` in this tab (and, through sync_cookie, in this browser)."""
    _clear_state()
    st.session_state[USER_KEY] = user
    st.session_state[TOKEN_KEY] = sessions.start(engine(), user, now=now(), address=client_address(),
                                                 kiosk_token_id=kiosk_token_id)
    st.session_state[JUST_SIGNED_IN] = True


def sign_out() -> None:
    """Logout: the session ends on the server, so a reload (or a copied cookie) asks to sign in again."""
    user, token = st.session_state.get(USER_KEY), st.session_state.get(TOKEN_KEY)
    if user is not None:
        auth.logout(engine(), user, now=now())
    sessions.end(engine(), token, now=now())
    _clear_state()
    st.session_state[DEAD_KEY] = token or _cookie()


def sync_cookie() -> None:
    """Make the browser's cookie match this tab: set it while signed in, drop a dead one.

    Streamlit reads cookies (st.context.cookies) but cannot set them, so a
    one-line script does: path /, SameSite=Strict, Secure when served over
    https. Written by script, it cannot be HttpOnly (Streamlit's own HttpOnly
    cookie belongs to st.login, which needs an OpenID provider); the token is
    random, only its hash is on the server, the server decides whether it still
    signs anyone in (the cookie's age is only a bound), and serve.py's
    Content-Security-Policy keeps other sites' scripts out (README: deployment).
    """
    token = st.session_state.get(TOKEN_KEY)
    if token:
        value, age = token, int(sessions.MAX_HOURS * 3600)
    elif _cookie() or st.session_state.get(DEAD_KEY):
        value, age = "", 0
    else:
        return
    st.html(f"""<script>document.cookie = "{sessions.COOKIE}={value}; Path=/; Max-Age={age}; SameSite=Strict"
            + (location.protocol === "https:" ? "; Secure" : "");</script>""", unsafe_allow_javascript=True)


#: Below this width Streamlit lays the sidebar over the page (its mobile layout).
PHONE_MAX_PX = 768


def fold_menu_on_phones() -> None:
    """On a phone the sidebar lies over the page: fold it once a page is chosen from app.py's menu.

    Streamlit folds its own page list on a phone, not a list of st.page_link (app.py draws the
    menu itself, see client.showSidebarNavigation); without this the menu stayed open over the
    chosen page (issue 13). A click on a link in the sidebar clicks the sidebar's own fold button
    when the window is phone-sized; widgets in the sidebar (the desk's filters) leave it open.
    """
    st.html(f"""<script>(function () {{
  if (window.__sqFoldMenu) return;
  window.__sqFoldMenu = true;
  document.addEventListener("click", function (e) {{
    var link = e.target.closest && e.target.closest('[data-testid="stSidebar"] a[data-testid="stPageLink-NavLink"]');
    if (!link || window.innerWidth >= {PHONE_MAX_PX}) return;
    setTimeout(function () {{
      var fold = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (fold) fold.click();
    }}, 50);
  }}, true);
}})();</script>""", unsafe_allow_javascript=True)


#: Streamlit's own words that it offers no way to translate (issue 13, item 9), in Chinese through CSS:
#: the file uploader's "Upload" button and its "… per file • PNG" line, and the "Press Enter to apply /
#: submit form" hint under a one-line input (forms that must not send on Enter say enter_to_submit=False;
#: the sign-in form keeps Enter, which people expect). Data-testids are Streamlit's public hooks for
#: styling (its own tests use them); if one is renamed the English comes back, nothing breaks.
#: Multiselects say select_all=False (no "Select all" entry).
CHROME_ZH = """<style>
[data-testid="stFileUploaderDropzone"] button p { display: none; }
[data-testid="stFileUploaderDropzone"] button::after { content: "选择文件"; }
[data-testid="stFileUploaderDropzoneInstructions"] > * { display: none; }
[data-testid="stFileUploaderDropzoneInstructions"]::after { content: "可拖入文件，或点击“选择文件”"; font-size: 14px;
  color: rgba(49, 51, 63, .6); }
[data-testid="stTextInput"] [data-testid="InputInstructions"] { display: none; }
</style>"""


def chrome_in_chinese(lang_: str) -> None:
    """Streamlit's untranslatable button and hint texts in Chinese when the user reads Chinese."""
    if lang_ == "zh":
        st.html(CHROME_ZH)


def require(page: str) -> users.User:
    """The signed-in user, if their role may open ``page``; otherwise the page stops here.

    app.py only lists allowed pages (and refuses the others by address); this is
    the second lock on each page's door. Call it first thing in every page.
    """
    enter(page)
    user = current_user()
    if user is None or not roles.may_see(user.role, page):
        st.error(t("access.denied"))
        st.stop()
    tell_unexpected()
    return user


def enter(page: str) -> None:
    """A page opened before app.py ever ran in this tab goes to app.py, which then opens it.

    Until the entry point has called st.navigation once, a fresh server runs
    files in pages/ directly (Streamlit's old multipage mode): a reload of
    /tickets right after a restart would skip app.py, its sign-in, its cookie
    and its page config. Such a visit goes to app.py with the page it asked
    for (and its query, e.g. a wall's ?kiosk=1&token=…), and app.py opens it.
    Where app.py is not a page (a page run on its own in tests) nothing moves.
    """
    from streamlit.errors import StreamlitAPIException

    if st.session_state.get(ENTERED_KEY):
        return
    st.session_state[ASKED_KEY] = page
    try:
        st.switch_page("app.py", query_params=st.query_params.to_dict())
    except StreamlitAPIException:
        st.session_state.pop(ASKED_KEY, None)


def open_asked_page(pages: dict) -> None:
    """Open the page a visit asked for before app.py had run (see enter), keeping its query."""
    asked = st.session_state.pop(ASKED_KEY, None)
    if asked in pages:
        st.switch_page(pages[asked], query_params=st.query_params.to_dict())


def contact_points(url: str, minute: str, street_id: int | None):
    """Leaders' contact points of a street (public: they are posted), for the map's layer."""
    return _contact_points(url, minute, street_id, data_version().data)


@st.cache_data(ttl=300, show_spinner=False)
def _contact_points(url: str, minute: str, street_id: int | None, version: str):
    from geo.access.roles import Scope
    from geo.people import leaders

    return leaders.contact_points(_engine(url), scope=Scope("street", street_id=street_id),
                                  today=datetime.fromisoformat(minute).date())


def grid_layers(url: str, lang_: str, minute: str, area) -> dict:
    """One grid's map layers (geo.maps.area), keyed by its (already checked) grid scope."""
    return _grid_layers(url, lang_, minute, area, data_version().data)


@st.cache_data(ttl=60, show_spinner=False)
def _grid_layers(url: str, lang_: str, minute: str, area, version: str) -> dict:
    from geo.maps import area as area_

    return area_.grid_layers(_engine(url), scope=area, grid_id=area.grid_id,
                             now=datetime.fromisoformat(minute), lang=lang_)


def walking_plan(url: str, scope):
    """The walking network of ``scope`` (a geo.access.roles.Scope: its buildings and the roads and facilities
    within a walk of it) with doors and facilities snapped (about 1 s a street), once an hour per area and
    again after a change of the layout: the wall's 15-minute circle and the monthly report's are then one
    computation on one plan."""
    return _walking_plan(url, scope, layout_version())


@st.cache_resource(ttl=3600, show_spinner=False, max_entries=8)
def _walking_plan(url: str, scope, layout: str):
    from geo.screen import figures

    return figures.walking_plan(_engine(url), scope)
