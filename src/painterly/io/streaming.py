"""Animations written one frame at a time, holding no frame in memory.

:func:`painterly.io.animation.write_animation` takes the whole sequence at once (Pillow's
and imageio's GIF writers keep every frame until the file is closed). For long runs (10,000
re-encoding passes) :class:`AnimationStream` appends each frame to the file as it comes:

* **GIF**: each frame gets its own 256-colour palette (fast octree, Floyd-Steinberg
  dithering; median cut looks a little better but takes 0.25 s a 256 px frame against 1 ms)
  written as a local colour table, so the file grows frame by frame; the header has no
  global table and a NETSCAPE loop block.
* **MP4 / WebM / MKV / MOV**: frames go straight to an ffmpeg process (imageio-ffmpeg, the
  ``video`` extra), sides cropped to even numbers.

The file is written under a temporary name beside the target and renamed on :meth:`close`;
an error (or :meth:`abort`) removes it, so no partial animation is left behind.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import PainterlyError
from .atomic import publish
from .image import tensor_to_pil

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov")
STREAM_EXTENSIONS = (".gif",) + VIDEO_EXTENSIONS


def _gif_header(width: int, height: int, loop: bool) -> bytes:
    """GIF89a, a logical screen without a global colour table, and the NETSCAPE2.0 loop block."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x70, 0, 0)
    if loop:
        header += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"
    return header


def gif_frame_bytes(image: Image.Image, duration_ms: int) -> bytes:
    """One GIF frame: a graphics control block (the delay), the image descriptor with a local
    colour table, and the LZW data, cut out of a one-frame GIF that Pillow encodes."""
    buffer = io.BytesIO()
    image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, format="GIF")
    data = buffer.getvalue()
    flags = data[10]
    table_end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    table, pos = data[13:table_end], table_end
    while data[pos:pos + 1] == b"!":  # skip extensions: label, then sub-blocks up to a 0 length
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    if data[pos:pos + 1] != b"," or not table:
        raise PainterlyError("unexpected GIF layout from Pillow")
    descriptor = bytearray(data[pos:pos + 10])
    descriptor[9] = (descriptor[9] & 0x60) | 0x80 | (flags & 7)  # local colour table of the global table's size
    delay = struct.pack("<BBBBHBB", 0x21, 0xF9, 4, 0, round(duration_ms / 10), 0, 0)
    end = len(data) - 1 if data.endswith(b";") else len(data)
    return delay + bytes(descriptor) + table + data[pos + 10:end]


class AnimationStream:
    """Append frames (PIL images or [0, 1] tensors) to a GIF or video file as they are made.

    Use as a context manager: the file appears at ``path`` when the block ends without an
    error. Every frame must have the first frame's size.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10.0, loop: bool = True):
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in STREAM_EXTENSIONS:
            raise PainterlyError(f"{self.path}: unknown animation type {self.suffix!r} "
                                 f"(use {', '.join(STREAM_EXTENSIONS)})")
        if fps <= 0:
            raise PainterlyError(f"fps must be positive, got {fps}")
        if self.path.is_dir():
            raise PainterlyError(f"{self.path}: is a folder; give a file name ending in {self.suffix}")
        if self.suffix in VIDEO_EXTENSIONS:
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise PainterlyError(f"{self.path}: writing {self.suffix} needs ffmpeg: "
                                     f"pip install 'painterly[video]'") from None
        self.fps, self.loop = float(fps), loop
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.suffix, dir=self.path.parent)
        os.close(handle)
        self._file = open(self.tmp, "wb") if self.suffix == ".gif" else None
        self._video = None
        self._closed = False

    # -- writing
    def append(self, frame: Image.Image | torch.Tensor) -> None:
        if self._closed:
            raise PainterlyError(f"{self.path}: animation already closed")
        image = tensor_to_pil(frame) if isinstance(frame, torch.Tensor) else frame.convert("RGB")
        if self.size is None:
            self.size = image.size
            self._start()
        elif image.size != self.size:
            image = image.resize(self.size, Image.LANCZOS)
        if self._file is not None:
            self._file.write(gif_frame_bytes(image, round(1000.0 / self.fps)))
            self._file.flush()
        else:
            width, height = self._video_size()
            self._video.append_data(np.asarray(image)[:height, :width])
        self.frames += 1

    def _video_size(self) -> tuple[int, int]:
        width, height = self.size
        return max(2, width // 2 * 2), max(2, height // 2 * 2)

    def _start(self) -> None:
        if self._file is not None:
            self._file.write(_gif_header(*self.size, self.loop))
            return
        import imageio.v2 as imageio_v2

        self._video = imageio_v2.get_writer(self.tmp, format="FFMPEG", fps=self.fps, codec="libx264", quality=8,
                                            macro_block_size=1)

    # -- finishing
    def close(self) -> Path:
        """Finish the file and move it to ``path``; an animation without frames is an error."""
        if self._closed:
            return self.path
        if self.frames == 0:
            self.abort()
            raise PainterlyError(f"{self.path}: no frames to write")
        try:
            if self._file is not None:
                self._file.write(b";")
                self._file.close()
            else:
                self._video.close()
            publish(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; nothing appears at ``path``."""
        self._closed = True
        try:
            if self._file is not None and not self._file.closed:
                self._file.close()
            if self._video is not None:
                self._video.close()
        except Exception:  # the half-written file is removed anyway
            pass
        Path(self.tmp).unlink(missing_ok=True)

    def __enter__(self) -> "AnimationStream":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


__all__ = ["AnimationStream", "STREAM_EXTENSIONS", "VIDEO_EXTENSIONS", "gif_frame_bytes"]
