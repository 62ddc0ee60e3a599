"""Hostile and personal photos: decompression bombs, EXIF with a resident's GPS position and phone model,
oversized pictures, and a photo URL that answered anyone who had it.

Before the fix a PNG header claiming 50,000 × 50,000 pixels raised Pillow's DecompressionBombError
straight into the page (a traceback), a real 70-megapixel image was stored as uploaded, a JPEG's
EXIF (GPS, make, model) was stored and served as it came, and the ticket desk's ``st.image(path)``
published the file under a /media/ URL that a browser without any cookie could fetch.
"""
from __future__ import annotations

import io
import os
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from geo.io import photos
from geo.errors import ValidationError

from conftest import run_app
from ui_flows import home_grid, prepared_town, report_at, sign_in

DEVICE = "ShequTestPhone"


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's opening)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def jpeg_with_gps(size=(400, 200), orientation: int = 6) -> bytes:
    """A JPEG carrying what a phone writes: GPS position, make and model, orientation, a comment."""
    exif = Image.Exif()
    exif[0x010F] = DEVICE  # Make
    exif[0x0110] = "Model-X1"  # Model
    exif[0x0112] = orientation  # rotate 90° clockwise to view
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 59.0, 24.5), 3: "E", 4: (103.0, 56.0, 12.25)})
    img = Image.new("RGB", size, (200, 40, 40))
    img.paste((40, 40, 200), (0, 0, size[0] // 2, size[1]))  # left half blue: shows where the top went
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes(), comment=b"home of Zhang San")
    return out.getvalue()


def stored(name: str, directory: Path) -> Image.Image:
    img = Image.open(directory / name)
    img.load()
    return img


# --------------------------------------------------------------------------- the store

def test_a_png_header_claiming_50000_by_50000_pixels_is_refused_with_a_message(tmp_path):
    with pytest.raises(ValidationError, match="像素过多"):
        photos.save_photo(png_header(50_000, 50_000), "炸弹.png", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_real_image_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    buf = io.BytesIO()
    Image.new("1", (10_000, 7_000)).save(buf, format="PNG")  # 70 MP, a few KB on disk
    assert len(buf.getvalue()) < photos.MAX_BYTES
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    with pytest.raises(ValidationError, match="10000×7000"):
        photos.save_photo(buf.getvalue(), "大图.png", directory=tmp_path)
    assert decoded == [] and list(tmp_path.iterdir()) == []


def test_gps_device_and_every_other_metadata_are_gone_and_the_photo_stands_upright(tmp_path):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the upload does carry GPS
    name = photos.save_photo(original, "现场.jpg", directory=tmp_path)
    raw = (tmp_path / name).read_bytes()
    img = stored(name, tmp_path)
    assert img.format == "JPEG" and not img.getexif() and not img.getexif().get_ifd(0x8825)
    assert set(img.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}  # no exif, icc, comment
    assert DEVICE.encode() not in raw and b"Zhang" not in raw and b"Exif" not in raw
    assert img.size == (200, 400)  # orientation 6 applied: the 400×200 picture is stored upright
    top = img.getpixel((100, 20))
    assert top[2] > top[0]  # the blue (left) half is now at the top


@pytest.mark.parametrize("fmt, ext, mode", [("JPEG", "jpg", "RGB"), ("PNG", "png", "RGBA"), ("WEBP", "webp", "RGB")])
def test_a_big_photo_is_stored_as_a_bounded_jpeg(tmp_path, fmt, ext, mode):
    buf = io.BytesIO()
    Image.new(mode, (4000, 3000), (10, 120, 60, 0) if mode == "RGBA" else (10, 120, 60)).save(buf, format=fmt)
    name = photos.save_photo(buf.getvalue(), f"照片.{ext}", directory=tmp_path)
    img = stored(name, tmp_path)
    assert name.endswith(".jpg") and img.format == "JPEG" and img.size == (photos.MAX_SIDE, 1536)
    if mode == "RGBA":  # transparent becomes white, not black
        assert min(img.getpixel((10, 10))) > 240


def test_content_that_is_not_the_declared_type_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="JPEG"):
        photos.save_photo(png_header(10, 10), "假的.jpg", directory=tmp_path)
    with pytest.raises(ValidationError):
        photos.save_photo(b"<svg onload=alert(1)>", "x.png", directory=tmp_path)


def test_a_photo_stored_before_cleaning_is_cleaned_on_the_way_out(tmp_path):
    (tmp_path / "old.jpg").write_bytes(jpeg_with_gps())
    uri = photos.data_uri("old.jpg", directory=tmp_path)
    import base64

    shown = base64.b64decode(uri.removeprefix("data:image/jpeg;base64,"))
    assert DEVICE.encode() not in shown and not Image.open(io.BytesIO(shown)).getexif()
    assert photos.data_uri("gone.jpg", directory=tmp_path) is None
    assert photos.data_uri("../app.db", directory=tmp_path) is None


# --------------------------------------------------------------------------- the page, in Chromium

def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("SHEQU_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def fetch_without_cookies(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_photo_is_shown_only_inside_the_signed_in_page(tmp_path, browser_page):
    url = prepared_town(tmp_path)
    upload_dir = tmp_path / "uploads"
    photo = tmp_path / "路灯.jpg"
    photo.write_bytes(jpeg_with_gps((1200, 800)))
    grid = home_grid(url)
    page, media = browser_page, []
    page.on("request", lambda r: media.append(r.url) if "/media/" in r.url else None)
    with run_app(tmp_path, SHEQU_UPLOAD_DIR=str(upload_dir)) as base:
        page.goto(base, wait_until="domcontentloaded")
        sign_in(page, "gridhead1")
        page.get_by_role("tab", name="走访").wait_for(timeout=120_000)
        code = report_at(page, grid["lon"], grid["lat"], "路灯杆倾斜，随时可能倒下", photo=photo)
        page.get_by_role("link", name="工单台").click()
        page.get_by_role("heading", name=code).wait_for(timeout=60_000)
        shown = page.get_by_test_id("stImage").locator("img").first
        shown.wait_for(timeout=60_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle(),
                               timeout=30_000)
        src = shown.get_attribute("src")
        in_dom = page.evaluate("[...document.querySelectorAll('[src],[href]')].map(e => e.src || e.href)"
                               ".filter(u => u.includes('/media/'))")
        answers = {u: fetch_without_cookies(u) for u in {*media, *in_dom}}
        page.screenshot(path=str(shots(tmp_path) / "desk_photo.png"), full_page=True)
    served = {u: status for u, (status, body) in answers.items() if status == 200 and body[:3] == b"\xff\xd8\xff"}
    assert served == {}, f"the photo was served without a session at {served}"
    files = [p for p in upload_dir.iterdir()] if upload_dir.is_dir() else []
    assert len(files) == 1 and files[0].suffix == ".jpg"
    kept = files[0].read_bytes()
    assert DEVICE.encode() not in kept and not Image.open(io.BytesIO(kept)).getexif()
    assert src.startswith("data:image/jpeg;base64,")  # inline, after the page checked the ticket's scope
    assert page.outside_requests == [] and page.page_errors == []
