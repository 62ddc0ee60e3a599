"""Typed defaults for the whole core, in one place (osmnx-style settings).

Each value can be overridden by an environment variable where a deployment
needs to (database, language); the rest are plain module globals a city may
change in code or configuration.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

#: Project root (the folder holding app.py).
ROOT: Path = Path(__file__).resolve().parent.parent

#: Where the embedded SQLite database lives when DATABASE_URL is not set.
DATA_DIR: Path = ROOT / "data"
DEFAULT_SQLITE_PATH: Path = DATA_DIR / "shequ.db"
#: Where reported photos are kept (SHEQU_UPLOAD_DIR; default data/uploads). Never served as files:
#: a page shows a photo inline, after checking the ticket is in the viewer's area (geo.io.photos).
UPLOAD_DIR: Path = Path(os.environ.get("SHEQU_UPLOAD_DIR", "").strip() or DATA_DIR / "uploads")

#: Storage CRS: WGS 84 longitude-latitude (CGCS2000, EPSG:4490, is within
#: centimetres of it, so data in either is stored unchanged).
STORAGE_CRS: str = "EPSG:4326"

#: Metric CRS for distances, areas and buffers when there is no data to choose one
#: from. Coverage measures each plan in the UTM zone of its own data
#: (geo.place.projection.metric_crs_for); UTM 48N (102°E–108°E) holds the demo town
#: (Pengzhou, Sichuan, ~103.9°E).
METRIC_CRS: str = "EPSG:32648"

#: A city's facility reach table (JSON or TOML: type → metres and source), read at
#: start by geo.place.catalogue; unset = the national defaults in the catalogue.
REACH_FILE: str | None = os.environ.get("SHEQU_REACH_FILE", "").strip() or None

#: A city's grid rule (households and people per grid type, digits of the grid number; JSON or
#: TOML), read at start by geo.grids.rules; unset = the seeds' 300–500 households or 1,000–1,500 people.
GRID_RULES_FILE: str | None = os.environ.get("SHEQU_GRID_RULES_FILE", "").strip() or None

#: Interface language by default: Simplified Chinese first.
DEFAULT_LANG: str = os.environ.get("SHEQU_LANG", "zh")

#: The street's own clock. Times are stored as naive local times of this zone
#: (what a grid worker reads off the wall), so "today", working days and the
#: big screen's clock are Beijing time even on a server that runs in UTC.
TIMEZONE: str = os.environ.get("SHEQU_TZ", "Asia/Shanghai")

#: Basemaps beyond offline / OpenStreetMap / Gaode (geo.maps.leaflet.available_basemaps):
#: a Tianditu key (天地图 tk), and a self-hosted tile server for intranets
#: ({z}/{x}/{y} URL, its attribution, and its datum: wgs84, or gcj02 for Gaode-style tiles).
TIANDITU_KEY: str = os.environ.get("SHEQU_TIANDITU_KEY", "").strip()
TILE_URL: str = os.environ.get("SHEQU_TILE_URL", "").strip()
TILE_ATTR: str = os.environ.get("SHEQU_TILE_ATTR", "自建瓦片 / self-hosted tiles")
TILE_DATUM: str = os.environ.get("SHEQU_TILE_DATUM", "wgs84").strip().lower()

#: Seed of the demo town; the same seed always gives the same town.
DEMO_SEED: int = 20261123

#: Vulnerable households (elderly alone, disabled, low income) are visited at
#: least this often, in days (SHEQU_VISIT_DAYS). The 2021 national guidance on
#: visiting elderly people in special difficulty (特殊困难老年人探访关爱服务)
#: asks for about monthly visits; the grid head's page starts from this value.
VISIT_INTERVAL_DAYS: int = int(os.environ.get("SHEQU_VISIT_DAYS", "30"))


#: Uploaded files (geo.io.vector_files): the most bytes, features and vertices one file may
#: hold (a street's grids are a few hundred kB; a district's roads a few MB), and what a
#: zip may unpack to: its entries, their total size and each entry's compression ratio
#: (ordinary GIS files pack 2–20×; a "zip bomb" packs thousands). SHEQU_UPLOAD_MAX_MB.
UPLOAD_MAX_BYTES: int = int(float(os.environ.get("SHEQU_UPLOAD_MAX_MB", "50")) * 1024 * 1024)
UPLOAD_MAX_FEATURES: int = 200_000
UPLOAD_MAX_VERTICES: int = 2_000_000
#: ... and one feature: no real outline (a street, a grid, a building) or road has more; a million-vertex
#: polygon is refused before it is measured (checking it would take minutes).
UPLOAD_MAX_FEATURE_VERTICES: int = 100_000
UPLOAD_MAX_ROWS: int = 200_000
ZIP_MAX_ENTRIES: int = 200
ZIP_MAX_BYTES: int = 4 * UPLOAD_MAX_BYTES
ZIP_MAX_RATIO: int = 200

#: Seconds a write waits for another writer's lock on the embedded SQLite file before
#: it gives up with "database is locked" (shown to the user as a "busy, try again").
SQLITE_BUSY_SECONDS: float = float(os.environ.get("SHEQU_SQLITE_BUSY_SECONDS", "30"))

#: Reverse proxies whose X-Forwarded-For is believed (SHEQU_TRUSTED_PROXIES: addresses or
#: networks, comma-separated, e.g. "127.0.0.1,10.0.0.0/8"). Empty: the header is ignored and
#: the connection's own address counts (geo.access.throttle.client_address; README: deployment).
TRUSTED_PROXIES: tuple[str, ...] = tuple(
    p.strip() for p in os.environ.get("SHEQU_TRUSTED_PROXIES", "").split(",") if p.strip())

#: Password checks running at once in one server process (SHEQU_HASH_SLOTS): each argon2id check
#: of a real account holds 64 MiB, so an anonymous burst must not run them all at once (geo.access.auth).
HASH_SLOTS: int = max(1, int(os.environ.get("SHEQU_HASH_SLOTS", "") or min(4, max(2, os.cpu_count() or 2))))

#: Seconds a sign-in waits for a free slot before it is told "系统繁忙" (SHEQU_HASH_WAIT_S).
HASH_WAIT_S: float = float(os.environ.get("SHEQU_HASH_WAIT_S", "") or 2.0)


#: The address residents reach the dashboard at (SHEQU_PUBLIC_URL, e.g. https://shequ.example.gov.cn): the QR
#: codes printed for buildings and the tracking links residents keep point there (geo.intake.qr). Unset: the
#: address of the page that makes them, which is right only when staff use the same address residents do.
PUBLIC_URL: str = os.environ.get("SHEQU_PUBLIC_URL", "").strip().rstrip("/")
#: A font with Chinese characters for the printed QR sheets (SHEQU_CJK_FONT, a .ttf/.ttc/.otf path); unset: the
#: usual system fonts are tried (Noto Sans CJK, WenQuanYi, Microsoft YaHei, PingFang).
CJK_FONT: str = os.environ.get("SHEQU_CJK_FONT", "").strip()


def database_url() -> str:
    """The database to use: DATABASE_URL if set, else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def now() -> datetime:
    """The local wall-clock time of TIMEZONE, naive (as every stored time is)."""
    return datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)
