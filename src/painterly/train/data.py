"""Training photos: an image folder, random crops, and a deterministic per-step batch source.

``FolderBatches.batch(k)`` builds the batch of step ``k`` from ``(seed, k)`` alone: sample
``j = k * batch_size + i`` is photo ``perm_e[j mod N]`` of epoch ``e = j // N``, where
``perm_e`` is a permutation seeded by ``(seed, e)``, and its crop and flip come from a
generator seeded by ``(seed, k, i)``. A resumed run therefore sees exactly the batches an
uninterrupted one would, without saving any loader state, and each process of a distributed
run builds only its own samples of the same global batch (``batch_part``).

Decoding a JPEG costs more than a small training step on a 2-core machine, so decoded photos
are kept in memory downscaled (shorter side ``cache_scale`` x crop), in a bounded LRU cache,
and the next step's batch is prepared on a background thread (PIL releases the GIL).
Unreadable files are skipped with one warning each, never a crash.

``PairedFolderBatches`` adds a teacher image to every photo (distillation: a network learns to
reproduce another method's results): ``batch(k)`` -> ``{"content": photos, "target": teachers}``,
the same crop box and flip applied to both, the photo first resized to its teacher's size.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ImageError, PainterlyError
from ..io.formats import IMAGE_SUFFIXES
from ..io.image import image_size, open_image, pil_to_tensor

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (*IMAGE_SUFFIXES, ".gif")   # a GIF trains on its first frame


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden files skipped); an error if there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise PainterlyError(f"{folder}: no such folder")
    if folder.is_file():
        return [folder]
    paths = sorted(p for p in folder.rglob("*")
                   if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not paths:
        raise PainterlyError(f"{folder}: no training images in it ({', '.join(IMAGE_EXTENSIONS)})")
    return paths


def split_holdout(paths: Sequence[Path], count: int, seed: int = 0) -> tuple[list[Path], list[Path]]:
    """``(train, held_out)``: ``count`` photos chosen by ``seed`` are kept out of training."""
    if count <= 0:
        return list(paths), []
    if count >= len(paths):
        raise PainterlyError(f"cannot hold out {count} of {len(paths)} photos for validation")
    chosen = set(np.random.default_rng([seed, 7]).choice(len(paths), size=count, replace=False).tolist())
    return ([p for i, p in enumerate(paths) if i not in chosen], [p for i, p in enumerate(paths) if i in chosen])


def shrink_to_min_side(image: Image.Image, side: int) -> Image.Image:
    """Downscale (never upscale) so the shorter side is ``side`` px."""
    scale = side / min(image.size)
    if scale >= 1:
        return image
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image.resize(size, Image.BILINEAR, reducing_gap=2.0)


def random_crop_box(width: int, height: int, rng: np.random.Generator, min_fraction: float) -> tuple[int, int, int, int]:
    """A random square box covering ``min_fraction``..1 of the shorter side (PIL box: l, t, r, b)."""
    short = min(width, height)
    side = max(1, int(round(short * rng.uniform(min_fraction, 1.0))))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    return left, top, left + side, top + side


def crop_to_tensor(image: Image.Image, box: tuple[int, int, int, int], crop: int, flip: bool) -> torch.Tensor:
    """``box`` of ``image`` resized to ``crop`` x ``crop``, optionally flipped left-right: 3 x crop x crop."""
    out = image.resize((crop, crop), Image.BILINEAR, box=box, reducing_gap=2.0)
    if flip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return pil_to_tensor(out)[0]


def random_resized_crop(image: Image.Image, crop: int, rng: np.random.Generator, min_fraction: float = 0.6,
                        flip: bool = True) -> torch.Tensor:
    """A random square crop resized to ``crop`` px, flipped left-right half of the time: 3 x crop x crop."""
    box = random_crop_box(image.width, image.height, rng, min_fraction)
    return crop_to_tensor(image, box, crop, flip and rng.random() < 0.5)


def pair_with_teachers(photos: Sequence[Path], root: str | os.PathLike, teachers: str | os.PathLike,
                       aspect_tolerance: float = 0.02) -> tuple[list[Path], list[Path], list[Path]]:
    """``(paired photos, their teacher images, photos without one)``.

    A photo's teacher is the image under ``teachers`` with the photo's path relative to ``root``
    and stem, of any image type (``root/a/cat.jpg`` -> ``teachers/a/cat.png``). A teacher must show
    the whole photo: an aspect ratio more than ``aspect_tolerance`` off the photo's is an error, and
    so are two teacher images for one photo (``cat.png`` and ``cat.jpg``).
    """
    by_stem: dict[Path, Path] = {}
    for image in find_images(teachers):
        key = image.relative_to(teachers).with_suffix("")
        if key in by_stem:
            raise PainterlyError(f"{teachers}: two teacher images for the photo {key}: {by_stem[key].name} and "
                                 f"{image.name}; keep one")
        by_stem[key] = image
    paired, targets, unpaired = [], [], []
    base = Path(root) if Path(root).is_dir() else Path(root).parent
    for photo in photos:
        target = by_stem.get(photo.relative_to(base).with_suffix(""))
        if target is None:
            unpaired.append(photo)
            continue
        try:
            (pw, ph), (tw, th) = image_size(photo), image_size(target)
        except ImageError as exc:
            logger.warning("skipping a training pair: %s", exc)
            continue
        if abs((pw / ph) / (tw / th) - 1) > aspect_tolerance:
            raise PainterlyError(f"{target}: {tw}x{th} does not have the shape of its photo {photo.name} ({pw}x{ph}); "
                                 "a teacher image must show the whole photo")
        paired.append(photo)
        targets.append(target)
    if not paired:
        raise PainterlyError(f"{teachers}: no teacher image matches a training photo (same relative path and stem)")
    return paired, targets, unpaired


def center_square(image: Image.Image, size: int) -> torch.Tensor:
    """The central square of ``image`` resized to ``size``: 1 x 3 x size x size."""
    short = min(image.size)
    left, top = (image.width - short) // 2, (image.height - short) // 2
    return pil_to_tensor(image.resize((size, size), Image.BILINEAR, box=(left, top, left + short, top + short),
                                      reducing_gap=2.0))


def load_photos(sources: Sequence[str | os.PathLike], size: int) -> torch.Tensor:
    """Validation photos (files or folders) as an N x 3 x size x size batch of centre squares."""
    paths: list[Path] = []
    for source in sources:
        paths += find_images(source)
    return torch.cat([center_square(open_image(p), size) for p in paths])


class PhotoCache:
    """Decoded, downscaled photos in a bounded LRU cache; thread-safe; bad files remembered."""

    def __init__(self, paths: Sequence[Path], min_side: int, capacity: int = 2048):
        self.paths = list(paths)
        self.min_side = min_side
        self.capacity = capacity
        self.bad: set[int] = set()
        self._images: OrderedDict[int, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, index: int) -> Image.Image | None:
        """The photo at ``index``, or None when it cannot be read (warned about once)."""
        with self._lock:
            if index in self.bad:
                return None
            if index in self._images:
                self._images.move_to_end(index)
                return self._images[index]
        try:
            image = shrink_to_min_side(open_image(self.paths[index]), self.min_side)
        except (ImageError, OSError) as exc:
            with self._lock:
                if index not in self.bad:
                    self.bad.add(index)
                    logger.warning("skipping unreadable training image: %s", exc)
            return None
        with self._lock:
            self._images[index] = image
            while len(self._images) > self.capacity:
                self._images.popitem(last=False)
        return image


class FolderBatches:
    """Deterministic batches of random crops from a list of photos (see the module docstring).

    ``batch(step)`` -> ``{"content": B x 3 x crop x crop}`` in [0, 1]; ``batch_part(step, part)``
    -> the samples at positions ``part`` (a slice of ``range(B)``) of the same batch. With
    ``prefetch`` the same part of the batch of ``step + 1`` is built on a background thread
    while ``step`` trains.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], crop: int, batch_size: int, seed: int = 0,
                 cache_scale: float = 1.25, cache_size: int = 2048, min_fraction: float = 0.6,
                 prefetch: bool = True):
        if not paths:
            raise PainterlyError("no training images")
        if crop < 16:
            raise PainterlyError(f"crop must be at least 16 px, not {crop}")
        self.crop, self.batch_size, self.seed = crop, batch_size, seed
        self.min_fraction = min_fraction
        self.cache = PhotoCache([Path(p) for p in paths], math.ceil(cache_scale * crop), cache_size)
        self._perms: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="painterly-batches") if prefetch else None
        self._pending: tuple[int, Future] | None = None

    def __len__(self) -> int:
        return len(self.cache.paths)

    def _permutation(self, epoch: int) -> np.ndarray:
        with self._lock:  # the prefetch thread and the caller may both be building batches
            perm = self._perms.get(epoch)
            if perm is None:
                perm = self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self))
                while len(self._perms) > 4:
                    self._perms.popitem(last=False)
            return perm

    def photo_index(self, sample: int) -> int:
        """Which photo global sample number ``sample`` uses."""
        epoch, position = divmod(sample, len(self))
        return int(self._permutation(epoch)[position])

    unreadable = "none of the training images can be read"

    def _load(self, index: int):
        """What a sample of photo ``index`` is cut from (its image), or None if a file cannot be read."""
        return self.cache.get(index)

    def _first_readable(self, sample: int):
        """:meth:`_load` of the photo of ``sample``, or of the next readable one in the epoch order."""
        for offset in range(len(self)):
            item = self._load(self.photo_index(sample + offset))
            if item is not None:
                return item
        raise PainterlyError(self.unreadable)

    def make_batch(self, step: int, part: slice = slice(None)) -> dict[str, torch.Tensor]:
        crops = []
        for i in range(self.batch_size)[part]:
            rng = np.random.default_rng([self.seed, step, i])
            image = self._first_readable(step * self.batch_size + i)
            crops.append(random_resized_crop(image, self.crop, rng, self.min_fraction))
        return {"content": torch.stack(crops)}

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        return self.batch_part(step, slice(None))

    def batch_part(self, step: int, part: slice) -> dict[str, torch.Tensor]:
        key = (step, part.start, part.stop, part.step)
        pending, self._pending = self._pending, None
        result = pending[1].result() if pending is not None and pending[0] == key else self.make_batch(step, part)
        if self._pool is not None:
            self._pending = ((step + 1, *key[1:]), self._pool.submit(self.make_batch, step + 1, part))
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending = None

    def __enter__(self) -> "FolderBatches":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PairedFolderBatches(FolderBatches):
    """:class:`FolderBatches` of (photo, teacher image) pairs: ``{"content": ..., "target": ...}``, both
    B x 3 x crop x crop, cropped and flipped alike. Crops come from the teacher's pixels (the photo is
    resized to the teacher's size), so ``crop`` should not be much above the teachers' shorter side."""

    def __init__(self, paths: Sequence[str | os.PathLike], targets: Sequence[str | os.PathLike], crop: int,
                 batch_size: int, seed: int = 0, cache_size: int = 2048, min_fraction: float = 0.6,
                 prefetch: bool = True):
        if len(paths) != len(targets):
            raise PainterlyError(f"{len(paths)} photos but {len(targets)} teacher images")
        super().__init__(paths, crop, batch_size, seed, cache_scale=2.0, cache_size=cache_size,
                         min_fraction=min_fraction, prefetch=prefetch)
        self.targets = PhotoCache([Path(p) for p in targets], min_side=1 << 30, capacity=cache_size)

    unreadable = "none of the training photos and teacher images can be read"

    def _load(self, index: int) -> tuple[Image.Image, Image.Image] | None:
        """(photo, teacher) of photo ``index``, or None if either cannot be read."""
        photo, target = self.cache.get(index), self.targets.get(index)
        return None if photo is None or target is None else (photo, target)

    def make_batch(self, step: int, part: slice = slice(None)) -> dict[str, torch.Tensor]:
        photos, targets = [], []
        for i in range(self.batch_size)[part]:
            rng = np.random.default_rng([self.seed, step, i])
            photo, target = self._first_readable(step * self.batch_size + i)
            photo = photo.resize(target.size, Image.BILINEAR, reducing_gap=2.0) if photo.size != target.size else photo
            box = random_crop_box(target.width, target.height, rng, self.min_fraction)
            flip = bool(rng.random() < 0.5)
            photos.append(crop_to_tensor(photo, box, self.crop, flip))
            targets.append(crop_to_tensor(target, box, self.crop, flip))
        return {"content": torch.stack(photos), "target": torch.stack(targets)}


__all__ = ["FolderBatches", "PairedFolderBatches", "PhotoCache", "find_images", "split_holdout", "load_photos",
           "random_resized_crop", "pair_with_teachers", "center_square", "IMAGE_EXTENSIONS"]
