"""Frames of a run on disk, and GIF/MP4 files made from them (imageio; MP4 needs ffmpeg)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageError, PainterlyError
from ..progress import Progress
from .image import open_image, save_image, tensor_to_pil
from .atomic import publish

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
ANIMATION_EXTENSIONS = (".gif", ".mp4", ".webm", ".mkv", ".mov")


class FrameWriter:
    """Progress callback that saves the current image every ``every`` steps as NNNNNN.png."""

    def __init__(self, folder: str | os.PathLike, every: int):
        if every < 1:
            raise PainterlyError("frames must be saved every 1 or more steps")
        self.folder = Path(folder)
        self.every = every
        self.paths: list[Path] = []
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: Progress) -> None:
        if event.image is not None and (event.step % self.every == 0 or event.step == 1):
            path = self.folder / f"{event.step:06d}.png"
            save_image(tensor_to_pil(event.image), path)
            self.paths.append(path)


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files in ``folder`` in name order (how frame writers number them)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS and not p.name.startswith("."))
    if not frames:
        raise ImageError(f"{folder}: no image frames (.png, .jpg, ...) in it")
    return frames


def _uniform_frames(images: Iterable[Image.Image], size: tuple[int, int] | None) -> Iterable[np.ndarray]:
    for image in images:
        if size is None:
            size = image.size
        if image.size != size:
            image = image.resize(size, Image.LANCZOS)
        yield np.asarray(image.convert("RGB"))


def write_animation(images: Sequence[Image.Image | str | os.PathLike], path: str | os.PathLike, fps: float = 10.0,
                    size: tuple[int, int] | None = None, loop: bool = True) -> Path:
    """Write images (PIL or paths) as an animated GIF or a video, atomically.

    Frames of other sizes (coarse-to-fine scales) are resized to ``size`` or to the last
    frame's size, so the animation shows the whole run at one size.
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_EXTENSIONS:
        raise PainterlyError(f"{path}: unknown animation type {suffix!r} (use {', '.join(ANIMATION_EXTENSIONS)})")
    if fps <= 0:
        raise PainterlyError(f"fps must be positive, got {fps}")
    if path.is_dir():
        raise PainterlyError(f"{path}: is a folder; give a file name ending in {suffix}")
    loaded = [open_image(item) if not isinstance(item, Image.Image) else item for item in images]
    if not loaded:
        raise PainterlyError("no frames to write")
    if size is None:
        size = loaded[-1].size
    if suffix != ".gif":
        size = (size[0] // 2 * 2, size[1] // 2 * 2)  # most codecs need even sizes
    frames = list(_uniform_frames(loaded, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        if suffix == ".gif":
            iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0 if loop else 1)
        else:
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise PainterlyError(f"{path}: writing {suffix} needs ffmpeg: pip install 'painterly[video]'") from None
            import imageio.v2 as imageio_v2

            with imageio_v2.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                       macro_block_size=1) as writer:
                for frame in frames:
                    writer.append_data(frame)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
