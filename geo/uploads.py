"""Photos attached to reports: checked to be real images, stored whole or not at all.

A broken or disguised upload gets a clear message and leaves nothing behind;
a good one is written under a temporary name and renamed into place.
"""
from __future__ import annotations

import io
import os
import uuid
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
