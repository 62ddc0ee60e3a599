"""Photos attached to reports: checked, cleaned and bounded before they are stored, shown only inline.

An uploaded photo is hostile until proven otherwise, and personal even when it is not:

- It is opened only with the decoder of the format its name declares (Pillow's
  ``formats=``), and refused with a clear message when it is not such an image.
- Its pixel count is read from the header and checked *before* anything is decoded:
  a decompression bomb (a few kilobytes claiming 50,000 × 50,000 pixels) is refused
  instead of taking the server's memory (MAX_PIXELS; Pillow's own DecompressionBomb
  error and warning are refusals too).
- What is stored is a new image, not the upload: turned upright by its EXIF
  orientation, colour-converted to sRGB, at most MAX_SIDE pixels on its longest side,
  re-encoded as JPEG (quality JPEG_QUALITY) from the pixels alone, so no metadata
  survives — no GPS position of a resident's home, no phone model, no comment.
- It is written under a temporary name and renamed into place, and removed again
  when its report is refused (``staged``), so no file is left that no ticket points to.
- It is never served as a file: Streamlit's ``st.image(path)`` publishes a file under
  a ``/media/`` URL that answers anyone with the link, signed in or not. A page shows a
  photo with ``data_uri`` after it has read the ticket in the viewer's scope
  (ticket_service.get), so the photo travels only inside that viewer's own page.
"""
from __future__ import annotations

import base64
import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from geo import settings
from geo.errors import ValidationError

IMAGE_TYPES = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
MAX_BYTES = 10 * 1024 * 1024
#: Decoded size limit, checked from the header before decoding. A 50-megapixel phone photo
#: (8160 × 6144) passes; anything larger is no photo of a pothole (Pillow warns at 89 MP).
MAX_PIXELS = 60_000_000
#: The stored copy: longest side in pixels and JPEG quality (sharp on a 4K wall, ~0.3–1 MB).
MAX_SIDE = 2048
JPEG_QUALITY = 85
UPLOAD_DIR = settings.UPLOAD_DIR

_UNREADABLE = "照片文件已损坏，或不是 {kind} 图片（内容须与扩展名 .{ext} 相符），请重新选择 / the file is not a readable " \
              "{kind} image (its content must match the .{ext} extension)"
#: What a stored copy's header may hold (JFIF basics); anything else means it was not made by clean().
_CLEAN_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"}


def clean(data: bytes, filename: str) -> bytes:
    """The copy of an uploaded photo that is stored: checked, upright, bounded, sRGB JPEG without metadata.

    Raises ValidationError, with a message a person can act on, for a wrong type, an empty or
    too large file, a file that is not an image of its declared type, and too many pixels.
    """
    from PIL import Image

    ext = Path(filename).suffix.lower().lstrip(".")
    if ext not in IMAGE_TYPES:
        raise ValidationError(f"只接受 {', '.join(IMAGE_TYPES)} 格式的照片 / photos must be {', '.join(IMAGE_TYPES)}")
    if not data or len(data) > MAX_BYTES:
        raise ValidationError("照片为空或超过 10 MB / the photo is empty or larger than 10 MB")
    kind = IMAGE_TYPES[ext]
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as img:  # the declared format's decoder only
            _check_pixels(img.size)
            if kind == "JPEG":
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode a big JPEG at 1/2, 1/4 or 1/8 scale
            img.load()
            picture = _upright_srgb(img)
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValidationError(_TOO_BIG.format(size="?")) from err
    except Exception as err:  # noqa: BLE001 - a decoder fed hostile bytes may raise anything: all mean "unreadable"
        raise ValidationError(_UNREADABLE.format(kind=kind, ext=ext)) from err
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    bare = Image.frombytes("RGB", picture.size, picture.tobytes())  # pixels only: no EXIF, ICC, XMP, comment
    out = io.BytesIO()
    bare.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


_TOO_BIG = ("照片像素过多（{size}），可能是恶意文件；请上传 6000 万像素以内的照片 / the image has too many pixels ({size}); "
            "upload a photo of at most 60 megapixels")


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise ValidationError(_TOO_BIG.format(size=f"{width}×{height}"))


def _upright_srgb(img):
    """The first frame, turned by its EXIF orientation, in sRGB, on white where it was transparent."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "CMYK"):
        with contextlib.suppress(Exception):  # a broken or exotic profile: plain conversion below
            from PIL import ImageCms

            img = ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def save_photo(data: bytes, filename: str, *, directory: Path | None = None) -> str:
    """Store the cleaned copy of an uploaded photo; returns its file name under ``directory`` (UPLOAD_DIR)."""
    stored = clean(data, filename)
    directory = directory or UPLOAD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.jpg"
    tmp = directory / f".{name}.part"
    tmp.write_bytes(stored)
    os.replace(tmp, directory / name)
    return name


@contextlib.contextmanager
def staged(data: bytes | None, filename: str | None, *, directory: Path | None = None) -> Iterator[str | None]:
    """Save a photo for a report that is about to be stored; remove it if the report fails.

    ``with staged(data, name) as photo: ts.report(..., photo=photo)`` — the
    photo is kept only if the block completes. No data: yields None.
    """
    if not data:
        yield None
        return
    name = save_photo(data, filename or "", directory=directory)
    try:
        yield name
    except BaseException:
        path(name, directory=directory).unlink(missing_ok=True)
        raise


def path(name: str, *, directory: Path | None = None) -> Path:
    """Where a stored photo lives (a bare file name: nothing outside the upload folder)."""
    if Path(name).name != name or name.startswith("."):
        raise ValidationError(f"无效的照片文件名 {name!r} / invalid photo name")
    return (directory or UPLOAD_DIR) / name


def data_uri(name: str, *, directory: Path | None = None) -> str | None:
    """A stored photo as a ``data:image/jpeg`` URI for a page to show inline; None if it is gone or unreadable.

    Call it only after the ticket was read in the viewer's scope: the URI *is* the photo,
    and it reaches no one but the page that asked. A file stored before photos were
    cleaned (metadata, full size, PNG) is cleaned on the way out.
    """
    try:
        file = path(name, directory=directory)
        data = file.read_bytes()
    except (ValidationError, OSError):
        return None
    if not _is_clean(data):
        try:
            data = clean(data, f"photo{file.suffix or '.jpg'}")
        except ValidationError:
            return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _is_clean(data: bytes) -> bool:
    """True for a JPEG that clean() could have made: bounded, and no metadata in its header."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            return max(img.size) <= MAX_SIDE and set(img.info) <= _CLEAN_INFO and not img.getexif()
    except Exception:  # noqa: BLE001 - anything unreadable is not clean
        return False
