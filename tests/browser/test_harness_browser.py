"""The browser harness: headless Chromium runs, and cannot reach outside hosts."""
from __future__ import annotations

import http.server
import threading

import pytest

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>harness</title></head><body><h1 id="t">社区治理一张图</h1>
<img src="http://example.com/tile.png" alt="">
</body></html>""".encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):  # keep pytest output quiet
        pass


@pytest.fixture
def local_site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_local_page_loads_and_outside_requests_are_blocked(browser_page, local_site):
    page = browser_page
    page.goto(local_site)
    assert page.locator("#t").inner_text() == "社区治理一张图"

    # Script-initiated request to an outside host: must fail inside the browser.
    result = page.evaluate(
        """async () => {
            try { await fetch('http://example.com/probe'); return 'reached'; }
            catch (e) { return 'blocked'; }
        }"""
    )
    assert result == "blocked"
    assert "http://example.com/probe" in page.outside_requests
    assert "http://example.com/tile.png" in page.outside_requests  # the <img>
    # Nothing local was counted as outside.
    assert not any("127.0.0.1" in u for u in page.outside_requests)


def test_data_url_outside_request_blocked(browser_page):
    page = browser_page
    page.goto("data:text/html;charset=utf-8,<p id=p>ok</p>")
    assert page.locator("#p").inner_text() == "ok"
    page.evaluate("() => fetch('https://example.com/x').catch(() => null)")
    page.wait_for_timeout(200)
    assert page.outside_requests == ["https://example.com/x"]
