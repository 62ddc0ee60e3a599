"""一码通: every building's link to the phone page, and printable sheets of their QR codes (PNG, PDF).

A building's code opens ``<public address>/resident?b=<building id>``: the phone page
already placed at the building's door, in its grid. The public address is
SHEQU_PUBLIC_URL (settings.PUBLIC_URL), else the address of the page making the sheet.

Codes are made by ``segno`` (pure Python, no dependencies, ISO/IEC 18004 with every
error-correction level, writes PNG/SVG/PDF; well kept and ~3× smaller than ``qrcode``
with Pillow): level M, which survives a scuffed sticker on a door. Sheets are laid out
with Pillow (already installed with Streamlit): A4 at 150 dpi, 3 × 4 codes a page, each
with the building's name (estate or grid + number) and grid, multi-page PDF by Pillow's
own writer. Chinese labels need a CJK font (SHEQU_CJK_FONT, else the usual system
fonts); without one the label is the building's number and the page says so.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
from sqlalchemy import Engine

from geo import settings
from geo.intake import address

#: Fonts tried for Chinese labels, in order (Debian/Ubuntu fonts-noto-cjk, WenQuanYi, Windows, macOS).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
#: A4 at 150 dpi, and the grid of codes on it.
PAGE = (1240, 1754)
COLUMNS, ROWS = 3, 4
PAGES_PDF_DPI = 150.0
RESIDENT_PAGE, TRACK_PAGE = "resident", "track"


def base_url(page_url: str | None = None) -> str:
    """SHEQU_PUBLIC_URL, else the app's address taken from the page's own (its page name dropped)."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if not page_url:
        return "http://localhost:8501"
    parts = urlsplit(page_url)
    path = parts.path.rstrip("/")
    path = path.rsplit("/", 1)[0] if "/" in path else ""
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def building_url(base: str, building_id: int) -> str:
    return f"{base.rstrip('/')}/{RESIDENT_PAGE}?b={int(building_id)}"


def track_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/{TRACK_PAGE}?t={quote(token, safe='')}"


def building_links(engine: Engine, grid_id: int, base: str) -> pd.DataFrame:
    """The grid's buildings with their label and link, in the order the sheet prints them."""
    rows = address.buildings(engine, grid_id=grid_id)
    rows["url"] = [building_url(base, i) for i in rows["id"]]
    return rows[["id", "label", "grid", "grid_code", "community", "url"]].reset_index(drop=True)


def code_png(url: str, *, scale: int = 8) -> bytes:
    """One link's QR code as PNG (level M, quiet zone of 4 modules)."""
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def matrix(url: str) -> list[list[bool]]:
    """The code's modules (dark = True), without the quiet zone: what a scanner reads back."""
    import segno

    return [[bool(v) for v in row] for row in segno.make(url, error="m", micro=False).matrix]


@dataclass
class Sheet:
    """The pages of a grid's QR sheet, and whether its labels could be written in Chinese."""

    pages: list  # PIL images
    cjk: bool

    def pdf(self) -> bytes:
        out = io.BytesIO()
        first, *rest = self.pages
        first.save(out, format="PDF", save_all=True, append_images=rest, resolution=PAGES_PDF_DPI)
        return out.getvalue()

    def png(self, n: int = 0) -> bytes:
        out = io.BytesIO()
        self.pages[n].save(out, format="PNG", optimize=True)
        return out.getvalue()


def _font(size: int):
    """(font, writes Chinese): SHEQU_CJK_FONT or the first system CJK font, else Pillow's own."""
    from PIL import ImageFont

    for path in ([settings.CJK_FONT] if settings.CJK_FONT else []) + list(FONT_CANDIDATES):
        if path and Path(path).is_file():
            try:
                return ImageFont.truetype(path, size), True
            except OSError:
                continue
    return ImageFont.load_default(size), False


def sheet(links: pd.DataFrame, *, title: str) -> Sheet:
    """A4 pages of 3 × 4 codes with labels; ``links`` from ``building_links``."""
    from PIL import Image, ImageDraw

    big, cjk = _font(30)
    small, _ = _font(22)
    cell_w, cell_h = PAGE[0] // COLUMNS, (PAGE[1] - 140) // ROWS
    per_page = COLUMNS * ROWS
    pages = []
    for start in range(0, max(len(links), 1), per_page):
        page = Image.new("RGB", PAGE, "white")
        draw = ImageDraw.Draw(page)
        head = title if cjk else title.encode("ascii", "ignore").decode() or "QR"
        draw.text((60, 50), f"{head}  ({start // per_page + 1}/{-(-len(links) // per_page) or 1})", fill="black",
                  font=big)
        for i, row in enumerate(links.iloc[start:start + per_page].itertuples()):
            x0, y0 = (i % COLUMNS) * cell_w, 120 + (i // COLUMNS) * cell_h
            code = Image.open(io.BytesIO(code_png(row.url, scale=8))).convert("RGB")
            side = min(cell_w - 60, cell_h - 110)
            code = code.resize((side, side), Image.Resampling.NEAREST)
            page.paste(code, (x0 + (cell_w - side) // 2, y0 + 10))
            label = row.label if cjk else f"#{row.id}"
            sub = f"{row.grid} · 扫码反映问题" if cjk else f"grid {row.grid_code}"
            for text, font, dy in ((label, big, side + 18), (sub, small, side + 58)):
                w = draw.textlength(text, font=font)
                draw.text((x0 + (cell_w - w) / 2, y0 + dy), text, fill="black", font=font)
            draw.rectangle((x0 + 8, y0, x0 + cell_w - 8, y0 + cell_h - 8), outline=(200, 200, 200), width=2)
        pages.append(page)
    return Sheet(pages, cjk)
