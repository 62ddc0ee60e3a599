"""Photos attached to reports: checked to be real images, stored whole or not at all.

A broken or disguised upload gets a clear message and leaves nothing behind;
a good one is written under a temporary name and renamed into place. A photo
whose report is then refused (outside the street, no description) is removed
again (``staged``), so no file is left that no ticket points to.
"""
from __future__ import annotations

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
UPLOAD_DIR = settings.DATA_DIR / "uploads"


def save_photo(data: bytes, filename: str, *, directory: Path | None = None) -> str:
    """Store an uploaded photo; returns its file name under ``directory`` (data/uploads)."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with Streamlit

    ext = Path(filename).suffix.lower().lstrip(".")
    if ext not in IMAGE_TYPES:
        raise ValidationError(f"只接受 {', '.join(IMAGE_TYPES)} 格式的照片 / photos must be {', '.join(IMAGE_TYPES)}")
    if not data or len(data) > MAX_BYTES:
        raise ValidationError("照片为空或超过 10 MB / the photo is empty or larger than 10 MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            kind = img.format
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValidationError("照片文件已损坏或不是图片，请重新选择 / the file is not a readable image") from err
    if kind != IMAGE_TYPES[ext]:
        raise ValidationError(f"文件内容是 {kind}，与扩展名 .{ext} 不符 / content does not match the extension")
    directory = directory or UPLOAD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.{ext}"
    tmp = directory / f".{name}.part"
    tmp.write_bytes(data)
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
