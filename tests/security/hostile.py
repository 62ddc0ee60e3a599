"""Hostile files for the upload tests: what an attacker signed in as community staff
would upload, and the server-side things they aim at (a secret file, a copy of the
live database, a local web server that counts every request).

Every marker below is a string that must never reach a message or a return value.
"""
from __future__ import annotations

import http.server
import io
import sqlite3
import threading
import zipfile
from pathlib import Path

FILE_MARKER = "SHEQU-SECRET-FILE-41c7"
DB_MARKER = "SHEQU-SECRET-HASH-9b2e"


def secret_csv(folder: Path) -> Path:
    """A server file with a marker, readable by GDAL's CSV driver (points from x, y)."""
    path = folder / "secret.csv"
    path.write_text(f"code,x,y\n{FILE_MARKER},103.9,30.9\n")
    return path


def secret_db(folder: Path) -> tuple[Path, sqlite3.Connection]:
    """A copy of the live database's shape: WAL mode, an account row with a marker that is
    still only in the -wal file, and an open connection (returned) like the app's."""
    path = folder / "shequ.db"
    con = sqlite3.connect(path, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE app_user (username TEXT, password_hash TEXT)")
    con.execute("INSERT INTO app_user VALUES ('admin', ?)", (f"$argon2id$v=19${DB_MARKER}",))
    con.commit()
    return path, con


def vrt(source: str, *, sql: str | None = None, layer: str | None = None, options: str = "") -> bytes:
    """An OGR VRT XML file whose points come from ``source`` (a path, CSV:path, /vsicurl/ URL)."""
    src_sql = f'<SrcSQL dialect="SQLITE">{sql}</SrcSQL>' if sql else ""
    src_layer = f"<SrcLayer>{layer}</SrcLayer>" if layer else ""
    return (f'<OGRVRTDataSource><OGRVRTLayer name="grids"><SrcDataSource>{source}</SrcDataSource>'
            f'{options}{src_layer}{src_sql}<GeometryType>wkbPoint</GeometryType>'
            f'<GeometryField encoding="PointFromColumns" x="x" y="y"/></OGRVRTLayer></OGRVRTDataSource>'
            ).encode()


def vrt_file(csv: Path) -> bytes:
    return vrt(str(csv), layer="secret")


def vrt_passwd() -> bytes:
    return vrt("CSV:/etc/passwd", sql="SELECT field_1 AS code, 103.9 AS x, 30.9 AS y FROM passwd",
               options='<OpenOptions><OOI key="HEADERS">NO</OOI><OOI key="SEPARATOR">SEMICOLON</OOI></OpenOptions>')


def vrt_db(db: Path) -> bytes:
    return vrt(str(db), sql="SELECT username || ':' || password_hash AS code, 103.9 AS x, 30.9 AS y FROM app_user")


def vrt_url(port: int) -> bytes:
    return vrt(f"/vsicurl/http://127.0.0.1:{port}/secret.csv", layer="secret")


class CountingServer:
    """A web server on 127.0.0.1 that answers every request with a small CSV and counts it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's names
                hits.append(self.path)
                body = f"code,x,y\n{FILE_MARKER},103.9,30.9\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self):  # noqa: N802
                hits.append("HEAD " + self.path)
                self.send_response(200)
                self.send_header("Content-Length", "40")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def zip_of(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    """A zip with ``entries`` (name → bytes) and symbolic links (name → target)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return buf.getvalue()


def zip_bomb(size_mb: int = 400) -> bytes:
    """A zipped 'shapefile' whose .dbf unpacks to ``size_mb`` MB of zeros (~1000× packed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("roads.shp", b"\x00\x00\x27\x0a" + b"\x00" * 96)
        zf.writestr("roads.shx", b"\x00\x00\x27\x0a" + b"\x00" * 96)
        with zf.open("roads.dbf", "w", force_zip64=True) as out:
            block = b"\x00" * (1 << 20)
            for _ in range(size_mb):
                out.write(block)
    return buf.getvalue()
