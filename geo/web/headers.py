"""HTTP security headers, and the metrics endpoint closed, for a deployed server (serve.py).

``streamlit run app.py`` (Streamlit 1.67) sends no security headers and
answers ``/_stcore/metrics`` to anyone (sessions, cache sizes); its
configuration has no option for either (checked: ``streamlit config show``
lists none, and the route is always registered). Streamlit's ASGI entry,
``st.App``, does take middleware, so ``serve.py`` runs the same app.py
wrapped in ``SecurityHeaders``, an ASGI middleware with no Streamlit in it:

- every HTTP answer gets ``Content-Security-Policy`` (``csp``),
  ``X-Frame-Options: SAMEORIGIN``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy`` (the wall's address carries its token: other hosts get
  the origin at most), ``Permissions-Policy``, ``Cross-Origin-Opener-Policy``,
  and over https ``Strict-Transport-Security``;
- ``/_stcore/metrics`` answers 404 unless the connection comes from an
  address in SHEQU_METRICS_FROM (a monitoring host). Behind a reverse proxy
  on the same machine every request comes from 127.0.0.1, so the proxy must
  block the path itself (README: deployment, nginx example).

The policy cannot forbid inline scripts: Streamlit's own index.html has one,
folium maps are inline scripts in srcdoc frames, and the session cookie is set
by one (pages.common.sync_cookie). What it does: scripts, styles, frames and
connections only from this server, images only from it and the configured tile
servers, nothing may frame the app from another site.
"""
from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

#: Addresses or networks allowed to read /_stcore/metrics (SHEQU_METRICS_FROM, comma-separated); none by default.
METRICS_FROM: tuple[str, ...] = tuple(
    p.strip() for p in os.environ.get("SHEQU_METRICS_FROM", "").split(",") if p.strip())
CLOSED_PATHS: tuple[str, ...] = ("/_stcore/metrics",)


def tile_hosts() -> list[str]:
    """The origins the configured basemaps load tiles from (CSP img-src / connect-src), subdomains spelled out."""
    from geo.maps import leaflet
    from geo.screen import figures

    urls = [(u, leaflet._SUBDOMAINS.get(b.key, "abc")) for b in leaflet.available_basemaps().values()
            for u in (b.tiles, b.labels) if u]
    if figures.TILES:
        urls.append((figures.TILES, "abc"))
    hosts = set()
    for url, subdomains in urls:
        for s in subdomains if "{s}" in url else "-":
            parts = urlsplit(url.replace("{s}", s))
            if parts.scheme in ("http", "https") and parts.hostname:
                hosts.add(f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else ""))
    if figures.BASEMAP == "carto":
        hosts.add("https://*.cartocdn.com")
    return sorted(hosts)


def csp(hosts: list[str] | None = None) -> str:
    """The Content-Security-Policy for this deployment (tile servers from ``tile_hosts``)."""
    tiles = " ".join(tile_hosts() if hosts is None else hosts)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' blob:",  # Streamlit's bootstrap, folium, the cookie; no eval needed
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {tiles}".strip(),
        "font-src 'self' data:",
        f"connect-src 'self' {tiles}".strip(),  # the WebSocket is 'self'; deck.gl fetches its tiles
        "worker-src 'self' blob:",
        "frame-src 'self' blob: data:",
        "frame-ancestors 'self'",  # Streamlit's components are frames of this same server
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


def security_headers(*, https: bool, policy: str) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": policy,
        "x-frame-options": "SAMEORIGIN",
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
        "permissions-policy": "camera=(), microphone=(), payment=(), usb=(), geolocation=(self)",
        "cross-origin-opener-policy": "same-origin",
    }
    if https:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def _allowed(peer: str | None, allow: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    ip = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip
    for item in allow:
        try:
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer; closed paths answer 404."""

    def __init__(self, app, *, policy: str | None = None, metrics_from: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.policy = policy if policy is not None else csp()
        self.metrics_from = METRICS_FROM if metrics_from is None else metrics_from

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path.endswith(CLOSED_PATHS) and not _allowed((scope.get("client") or (None,))[0], self.metrics_from):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    *security_headers(https=scope.get("scheme") == "https", policy=self.policy)]})
            await send({"type": "http.response.body", "body": b"Not Found"})
            return
        extra = security_headers(https=scope.get("scheme") == "https", policy=self.policy)
        names = {k for k, _ in extra}

        async def with_headers(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)
