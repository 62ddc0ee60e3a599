"""Security headers and a closed /_stcore/metrics (issue 11, item 11).

``streamlit run app.py`` answers /_stcore/metrics to anyone and sends none of these headers, and has
no option for either; ``streamlit run serve.py`` runs the same app with geo.web.headers.SecurityHeaders.
The middleware is tested on its own, then on the real server in headless Chromium: headers on every
answer, metrics 404, the session cookie's attributes, and maps drawn with no CSP violation.
"""
from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from geo.web import headers

from conftest import run_app
from ui_flows import sign_in


def _call(middleware, path: str, *, client: str = "203.0.113.5", scheme: str = "http"):
    """One HTTP request through ``middleware`` over an app answering 200 with its own CSP."""
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html"), (b"content-security-policy", b"theirs")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    scope = {"type": "http", "path": path, "client": (client, 5000), "scheme": scheme, "headers": []}
    asyncio.run(middleware(app)(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, sent[-1]["body"]


def make(**kw):
    return lambda app: headers.SecurityHeaders(app, policy="default-src 'self'", **kw)


def test_every_answer_gets_the_headers_and_ours_replace_the_apps():
    status, got, body = _call(make(), "/")
    assert status == 200 and body == b"ok"
    assert got["content-security-policy"] == "default-src 'self'"  # one policy, not two
    assert got["x-frame-options"] == "SAMEORIGIN" and got["x-content-type-options"] == "nosniff"
    assert got["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in got  # plain http: HSTS would be ignored, and wrong
    assert "max-age=31536000" in _call(make(), "/", scheme="https")[1]["strict-transport-security"]


def test_metrics_answer_404_except_to_the_monitoring_host():
    assert _call(make(metrics_from=()), "/_stcore/metrics")[0] == 404
    assert _call(make(metrics_from=()), "/_stcore/metrics", client="127.0.0.1")[0] == 404
    allowed = make(metrics_from=("192.0.2.10", "10.0.0.0/8"))
    assert _call(allowed, "/_stcore/metrics", client="192.0.2.10")[0] == 200
    assert _call(allowed, "/_stcore/metrics", client="::ffff:10.1.1.1")[0] == 200
    assert _call(allowed, "/_stcore/metrics", client="203.0.113.5")[0] == 404
    assert _call(make(), "/base/_stcore/metrics")[0] == 404  # under server.baseUrlPath too


def test_the_policy_names_the_configured_tile_servers_and_nothing_else_outside():
    policy = headers.csp()
    assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
    assert "https://tile.openstreetmap.org" in policy and "https://webrd01.is.autonavi.com" in policy
    assert "*" not in policy.replace("https://*.cartocdn.com", "")  # no wildcard host


@pytest.fixture(scope="module")
def served(tmp_path_factory, chromium_path):
    with run_app(tmp_path_factory.mktemp("served"), script="serve.py") as base:
        yield base


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


@pytest.mark.slow
def test_the_served_app_sends_the_headers_closes_metrics_and_draws_its_maps_under_the_policy(served, _browser):
    status, got = _get(f"{served}/")
    assert status == 200 and "frame-ancestors 'self'" in got["content-security-policy"]
    assert got["x-frame-options"] == "SAMEORIGIN" and got["x-content-type-options"] == "nosniff"
    assert _get(f"{served}/_stcore/metrics")[0] == 404
    assert _get(f"{served}/_stcore/health")[0] == 200
    context = _browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(f"{served}/map")
        sign_in(page, "leader")  # waits for the first start's demo build, however busy the machine
        leaflet = page.frame_locator("iframe").first.locator(".leaflet-container")
        leaflet.wait_for(timeout=90_000)  # the folium map: inline scripts in a frame, Leaflet from this server
        cookie = next(c for c in context.cookies() if c["name"] == "shequ_session")
        assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert cookie["httpOnly"] is False  # set by script (README: deployment says why, and what guards it)
        page.goto(f"{served}/screen")
        page.locator("canvas").first.wait_for(timeout=90_000)  # deck.gl
        page.wait_for_timeout(2000)
    finally:
        context.close()
    assert refused == []
