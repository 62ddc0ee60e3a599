"""Shared fixtures: both database backends, the Streamlit app, headless Chromium.

Backends that a laptop may lack (PostGIS, Chromium) make their tests SKIP with
a reason saying how to enable them. With SHEQU_REQUIRE_ALL=1 (set by .ci/run)
they FAIL instead, so CI can never pass by quietly skipping them.

Environment:
    TEST_DATABASE_URL  postgresql+psycopg://user@host:port/db with PostGIS
                       (`source .ci/postgis.sh` starts one and sets it)
    SHEQU_REQUIRE_ALL  1 = a missing PostGIS/Chromium is a failure, not a skip
    SHEQU_CHROMIUM     Chromium executable (default /usr/bin/chromium)
"""
from __future__ import annotations

import contextlib
from datetime import datetime
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

POSTGIS_HINT = (
    "PostGIS: set TEST_DATABASE_URL=postgresql+psycopg://… (see .ci/run; "
    "`source .ci/postgis.sh` starts a throwaway server) to run these tests"
)

#: Hosts the browser may talk to; anything else is aborted and recorded.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No outside host resolves: nothing can leave the machine even by mistake.
    # (A Playwright route("**/*") would do the same, but any route at all stops
    # Streamlit's frontend from rendering, so blocking is done by the resolver
    # and watching by request events.)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def require_all() -> bool:
    return os.environ.get("SHEQU_REQUIRE_ALL", "").strip() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip for want of an optional backend; fail instead under SHEQU_REQUIRE_ALL=1."""
    if require_all():
        pytest.fail(f"SHEQU_REQUIRE_ALL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# Collection / reporting


def pytest_report_header(config):
    url = os.environ.get("TEST_DATABASE_URL")
    return [
        f"PostGIS: {_hide_password(url) if url else 'TEST_DATABASE_URL not set (postgis tests skip)'}",
        f"Chromium: {_chromium_candidate() or 'not found (browser tests skip)'}",
        f"SHEQU_REQUIRE_ALL={'1' if require_all() else '0'}",
    ]


def pytest_collection_modifyitems(config, items):
    # Tag by fixture use, so `-m "not browser"` etc. work without every test
    # remembering its markers.
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "chromium_path" in names:
            item.add_marker(pytest.mark.browser)
        if "postgis_url" in names:
            item.add_marker(pytest.mark.postgis)
        if "streamlit_server" in names:
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------------------
# Databases


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _postgis_base_url():
    """TEST_DATABASE_URL as a SQLAlchemy URL using psycopg 3."""
    from sqlalchemy.engine import make_url

    raw = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not raw:
        unavailable(POSTGIS_HINT)
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


@contextlib.contextmanager
def _fresh_postgis_schema():
    """Yield a URL on TEST_DATABASE_URL whose search_path is a new, empty schema."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    base = _postgis_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # server down, wrong URL, …
        admin.dispose()
        pytest.fail(
            f"TEST_DATABASE_URL={_hide_password(str(base))} is set but unusable: {exc}",
            pytrace=False,
        )

    # public stays on the path: the PostGIS functions and types live there.
    # application_name lets teardown find (and end) connections the test left open.
    url = base.update_query_dict(
        {"options": f"-csearch_path={schema},public", "application_name": schema}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :app AND pid <> pg_backend_pid()"
                ),
                {"app": schema},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgis", id="postgis", marks=pytest.mark.postgis),
    ]
)
def database_url(request, tmp_path):
    """A SQLAlchemy URL to an empty database; the test runs once per backend.

    sqlite:  sqlite:///<tmp_path>/t.db, a new file.
    postgis: TEST_DATABASE_URL plus ?options=-csearch_path=t_<hex>,public —
             a fresh schema that is dropped (CASCADE) after the test, so tables
             created through the URL never leak between tests.
    request.param ("sqlite"/"postgis") tells the test which one it got.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/t.db"
    else:
        with _fresh_postgis_schema() as url:
            yield url


@pytest.fixture
def postgis_url():
    """Like database_url's postgis case, for tests that only make sense on PostGIS."""
    with _fresh_postgis_schema() as url:
        yield url


# ---------------------------------------------------------------------------
# Chromium / Playwright


def _chromium_candidate() -> str | None:
    for cand in (os.environ.get("SHEQU_CHROMIUM"), "/usr/bin/chromium"):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of a system Chromium usable by Playwright, or skip (fail in CI)."""
    path = _chromium_candidate()
    if path is None:
        unavailable(
            "browser: /usr/bin/chromium not found (apt-get install chromium, "
            "or set SHEQU_CHROMIUM=/path/to/chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        unavailable(f"browser: the playwright package does not import ({exc}); "
                    "pip install -r requirements-dev.txt")
    return path


class _OutsideGuard:
    """Request listener: records every request to a host other than this machine."""

    def __init__(self) -> None:
        self.outside_requests: list[str] = []

    def __call__(self, request) -> None:
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("data", "blob", "about", "chrome") and host not in LOCAL_HOSTS:
            self.outside_requests.append(request.url)


@pytest.fixture(scope="module")
def _browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(_browser):
    """A fresh Playwright page (1600×1000, zh-CN) that cannot reach the internet.

    Every request to a host other than 127.0.0.1/localhost fails in the browser's
    resolver (see CHROMIUM_ARGS) and its URL is appended to ``page.outside_requests``.
    Uncaught page JavaScript errors are collected in ``page.page_errors``.
    """
    guard = _OutsideGuard()
    context = _browser.new_context(
        viewport={"width": 1600, "height": 1000},
        locale="zh-CN",
        service_workers="block",  # so every request is seen by the listener
    )
    context.on("request", guard)
    page = context.new_page()
    page.outside_requests = guard.outside_requests
    page.page_errors = []
    page.on("pageerror", lambda err: page.page_errors.append(str(err)))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def phone(_browser):
    """A 390×844 phone page (touch, mobile layout, zh-CN) that cannot reach the internet, like ``browser_page``:
    outside requests in ``page.outside_requests``, uncaught JavaScript errors in ``page.page_errors``."""
    guard = _OutsideGuard()
    context = _browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                   has_touch=True, device_scale_factor=2, service_workers="block")
    context.on("request", guard)
    page = context.new_page()
    page.outside_requests = guard.outside_requests
    page.page_errors = []
    page.on("pageerror", lambda err: page.page_errors.append(str(err)))
    try:
        yield page
    finally:
        context.close()


def shot_dir(tmp_path: Path) -> Path:
    """Where a browser test writes its screenshots: $SHEQU_SCREENSHOTS (to look at them), else the test's tmp."""
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------
# The Streamlit app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no output>"


class AppServer(str):
    """The app's base URL (a str, as tests use it) that can also say where the server itself reached out to."""

    log: Path

    def outbound(self) -> list[str]:
        """Every connection or name lookup the server made to a host other than this machine (tests/netwatch.py)."""
        try:
            return self.log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []


@contextlib.contextmanager
def run_app(tmp: Path, *, wait_s: float = 120, script: str = "app.py", as_shipped: bool = False,
            database_url: str | None = None, **env_extra: str):
    """`streamlit run app.py` (or ``script``: serve.py) on a free port here, on its own database in ``tmp``.

    Yields the base URL once /_stcore/health answers ok (the first start builds the
    demo town, so it may take a while on a loaded machine); ``env_extra`` sets
    environment variables (a wall token, a refresh interval). The server and
    everything it started are stopped afterwards, whatever happened.

    The server runs under tests/netwatch.py: every connection or lookup it makes to a host
    other than this machine is recorded (``.outbound()``) and fails the test at the end,
    whatever the test looked at. ``as_shipped``: only the port on the command line, the rest
    from .streamlit/config.toml as a fresh install runs it (no --server.address, which
    would hide Streamlit's external-address lookup at start; it listens on every interface).
    ``database_url``: serve that database instead of ``tmp``'s own SQLite file (two servers on one PostGIS).
    """
    app = ROOT / script
    if not app.is_file():
        pytest.fail(f"{app} does not exist", pytrace=False)
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=database_url or f"sqlite:///{tmp}/app.db", PYTHONUNBUFFERED="1",
               **env_extra)
    if not as_shipped:
        env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    out_log, err_log, net_log = tmp / "stdout.log", tmp / "stderr.log", tmp / "outbound.log"
    net_log.unlink(missing_ok=True)
    cmd = [sys.executable, str(ROOT / "tests" / "netwatch.py"), str(net_log), "-m", "streamlit", "run", script,
           "--server.port", str(port)]
    if not as_shipped:
        cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(out_log, "wb") as out, open(err_log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
    base = AppServer(f"http://127.0.0.1:{port}")
    base.log = net_log
    try:
        problem = _wait_healthy(proc, base, wait_s)
        if problem is not None:
            pytest.fail(f"Streamlit app did not start: {problem}\n--- stderr (tail) ---\n{_tail(err_log)}\n"
                        f"--- stdout (tail) ---\n{_tail(out_log, 20)}", pytrace=False)
        yield base
    finally:  # also on Ctrl-C while waiting: leave no server behind
        _stop_group(proc)
    if base.outbound():
        pytest.fail("the app's server reached for hosts other than this machine:\n" + "\n".join(base.outbound()),
                    pytrace=False)


def _wait_healthy(proc: subprocess.Popen, base: str, wait_s: float) -> str | None:
    """None once the server says ok; otherwise what went wrong."""
    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            return f"streamlit exited with code {proc.returncode}"
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return None
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            return f"no ok from /_stcore/health within {wait_s:.0f} s"
        time.sleep(0.5)


@contextlib.contextmanager
def run_api(tmp: Path, database_url: str, *, wait_s: float = 120, **env_extra: str):
    """`uvicorn api:app` on a free loopback port over ``database_url``; yields its base URL once it answers.

    The Open311 door (api.py) as a deployment runs it: a real server, real HTTP. Stopped
    afterwards (its whole process group), whatever happened.
    """
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **env_extra)
    out_log, err_log = tmp / "api-stdout.log", tmp / "api-stderr.log"
    cmd = [sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    with open(out_log, "wb") as out, open(err_log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api.py exited with {proc.returncode}\n{_tail(err_log)}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{base}/openapi.json", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api.py did not answer within {wait_s:.0f} s\n{_tail(err_log)}", pytrace=False)
            time.sleep(0.3)
        yield base
    finally:
        _stop_group(proc)


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory) -> str:
    """The app on a free port and its own database (data/shequ.db is never touched); yields its URL.

    Started as shipped (only the port given): the configuration a fresh install runs, under the
    outbound watch (run_app)."""
    with run_app(tmp_path_factory.mktemp("streamlit"), as_shipped=True) as base:
        yield base


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------------------
# Small demo towns shared by the tests

#: The clock of the small test town: a Monday morning.
TOWN_NOW = datetime(2026, 11, 23, 9)


@pytest.fixture(scope="session")
def small_town():
    """Two communities (~17 grids, ~18,000 residents) and 300 tickets ending at TOWN_NOW."""
    from geo.demo import generator

    return generator.generate(now=TOWN_NOW, communities=2, tickets_per_street=300)


@pytest.fixture
def engine(database_url, small_town):
    """The small town loaded into a fresh database of each backend."""
    from geo.db import store

    eng = store.make_engine(database_url)
    store.load_town(eng, small_town)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def town_url(tmp_path_factory):
    """The small town in its own SQLite file, tickets ending now (for pages), one per test module."""
    from geo.demo import generator

    return _sqlite_town(tmp_path_factory, generator.generate(communities=2, tickets_per_street=300))


def _sqlite_town(tmp_path_factory, town) -> str:
    """``town`` loaded into a fresh SQLite file; its URL."""
    from geo.db import store

    path = tmp_path_factory.mktemp("town") / "town.db"
    eng = store.make_engine(f"sqlite:///{path}")
    store.load_town(eng, town)
    eng.dispose()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def any_town_url(request, tmp_path_factory):
    """Like town_url, once per backend: the small town (tickets ending now) in SQLite, then in PostGIS.

    For page tests that must hold on both backends (who may open what, what each sees).
    """
    from geo.demo import generator
    from geo.db import store

    town = generator.generate(communities=2, tickets_per_street=300)
    if request.param == "sqlite":
        yield _sqlite_town(tmp_path_factory, town)
        return
    with _fresh_postgis_schema() as url:
        eng = store.make_engine(url)
        store.load_town(eng, town)
        eng.dispose()
        yield url


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """File name → bytes maker of every st.download_button an AppTest run draws (deferred or not)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    made, real, real_add = {}, MediaFileManager.add_deferred, MediaFileManager.add

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        made[file_name] = data_callable
        return real(self, data_callable, mimetype, coordinates, file_name, **kw)

    def keep_bytes(self, path_or_data, mimetype, coordinates, file_name=None, **kw):
        if file_name:
            made[file_name] = lambda: path_or_data
        return real_add(self, path_or_data, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    monkeypatch.setattr(MediaFileManager, "add", keep_bytes)
    return made


# ---------------------------------------------------------------------------
# Page tests through app.py: addresses, and a server past its first visitor


def open_address(at, url_path: str):
    """Run an AppTest of app.py as a browser opening /<url_path> (a bookmark, a reload, a typed address).

    AppTest has no URL bar; a browser asks Streamlit for the page whose hash is
    its url_path's (streamlit.navigation.page: calc_hash(url_path)), so does this.
    """
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    return at.run()


def steady_server(monkeypatch) -> None:
    """Keep AppTest in a running server's steady state (see the ``steady`` fixture)."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def after_the_first_visit(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", after_the_first_visit)


@pytest.fixture
def steady(monkeypatch):
    """AppTest as on a server that has had its first visitor.

    AppTest starts every run like a server that has just started: in Streamlit's
    old pages/ mode, where /tickets runs pages/tickets.py without app.py. A real
    server leaves that mode for good once app.py has called st.navigation; tests
    that follow addresses and clicks through app.py model every later visitor.
    """
    steady_server(monkeypatch)
