"""Gallery thumbnails that painterly renders itself (no painting ships with the package).

A thumbnail is a bundled sample photo (scikit-image's ``chelsea``, public domain) rendered in
the style: with the style's own network when one exists (a fraction of a second), else by a
short optimisation from the stored statistics. Built-in styles ship pre-rendered thumbnails
(``scripts/render_style_thumbnails.py``); others are rendered once on first request and
cached under the data directory.
"""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path

from PIL import Image

from ..catalog import CatalogEntry

THUMBNAIL_SIZE = 160
OPTIMIZE_ITERATIONS = 80


def shipped_thumbnail_dir() -> Path:
    return Path(str(importlib.resources.files("painterly") / "data" / "thumbnails"))


def sample_photo(size: int = THUMBNAIL_SIZE) -> Image.Image:
    """The thumbnail photo: a square centre crop of scikit-image's cat, ``size`` px."""
    import skimage.data

    photo = Image.fromarray(skimage.data.chelsea())
    width, height = photo.size
    side = min(width, height)
    left = (width - side) // 2
    return photo.crop((left, 0, left + side, side)).resize((size, size), Image.LANCZOS)


def render_thumbnail(entry: CatalogEntry, size: int = THUMBNAIL_SIZE, model_dir: str | None = None,
                     iterations: int = OPTIMIZE_ITERATIONS) -> Image.Image:
    """The sample photo in ``entry``'s style (its network, or artist-level model, if it has one, else
    optimisation)."""
    photo = sample_photo(size)
    networks = [m for m in ("fast", "multistyle", "adaptive") if m in entry.methods]
    if networks:
        from ..methods.stylize import stylize

        return stylize(photo, style=entry.name, method=networks[0], model_dir=model_dir)
    from ..methods.optimize import optimize

    return optimize(photo, style=entry.name, size=size, iterations=iterations, seed=0)


class ThumbnailStore:
    """Shipped thumbnails first, then the cache folder, else render (once per style: a request
    for a style being rendered waits for that render, other styles are not held up)."""

    def __init__(self, cache_dir: Path, shipped_dir: Path | None = None, model_dir: str | None = None):
        self.cache_dir = cache_dir
        self.shipped_dir = shipped_dir or shipped_thumbnail_dir()
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._style_locks: dict[str, threading.Lock] = {}

    def path(self, entry: CatalogEntry) -> Path:
        shipped = self.shipped_dir / f"{entry.name}.jpg"
        if shipped.is_file() and self.model_dir is None:
            return shipped
        cached = self.cache_dir / f"{entry.name}.jpg"
        with self._lock:
            style_lock = self._style_locks.setdefault(entry.name, threading.Lock())
        with style_lock:
            if not cached.is_file():
                from ..io.image import save_image

                self.cache_dir.mkdir(parents=True, exist_ok=True)
                save_image(render_thumbnail(entry, model_dir=self.model_dir), cached, quality=88)
        return cached


__all__ = ["ThumbnailStore", "render_thumbnail", "sample_photo", "shipped_thumbnail_dir", "THUMBNAIL_SIZE"]
