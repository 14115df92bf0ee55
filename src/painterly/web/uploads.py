"""Uploaded images: size-capped reading, content sniffing, safe names.

Nothing about an upload is trusted: its bytes are read up to a limit, decoded by Pillow
(whatever the extension or the declared content type says) with painterly's own checks
(pixel limit before decoding, truncation, tiny images, odd modes, EXIF rotation), and stored
re-encoded as PNG under a name made from the job id alone. The client's filename is kept
only as display text, reduced to a safe download name.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import ImageError
from ..io.image import open_image, save_image

CHUNK = 1 << 20
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLarge(Exception):
    """More bytes than the server accepts (HTTP 413)."""


def display_name(filename: str | None, fallback: str = "image") -> str:
    """The last path component of a client's filename, reduced to ``[A-Za-z0-9._-]``, ≤ 80 chars."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = SAFE_NAME.sub("_", Path(base).stem).strip("._")[:80]
    return stem or fallback


async def read_limited(upload, limit: int) -> bytes:
    """All bytes of a Starlette ``UploadFile``, refusing more than ``limit``."""
    chunks, total = [], 0
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge(f"{upload.filename or 'upload'}: larger than the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def store_image(data: bytes, field: str, destination: Path, max_pixels: int) -> tuple[int, int]:
    """Validate ``data`` as an image and store it re-encoded as PNG at ``destination``.

    Raises :class:`ImageError` naming the form ``field`` (never a server path).
    """
    if not data:
        raise ImageError(f"{field}: empty file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            image = open_image(tmp, max_pixels=max_pixels)
        except ImageError as exc:
            raise ImageError(str(exc).replace(tmp, field)) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    save_image(image, destination)
    return image.size


__all__ = ["UploadTooLarge", "display_name", "read_limited", "store_image"]
