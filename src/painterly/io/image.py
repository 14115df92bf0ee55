"""Image loading, validation and atomic saving.

Everything painterly computes on is a float tensor in [0, 1], 1 x 3 x H x W, RGB. Loading
handles EXIF orientation, palette/CMYK/greyscale/16-bit/alpha inputs, and refuses
files that are not images, truncated, tiny, or larger than a pixel budget (decompression
bombs) with a one-line :class:`ImageError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import ImageError
from .atomic import publish

DEFAULT_MAX_PIXELS = 64_000_000
MIN_SIDE = 8
_PIL_LIMIT_LOCK = threading.Lock()
ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]


@contextlib.contextmanager
def _own_pixel_limit():
    """Switch off PIL's global bomb guard while we open a file: ``max_pixels`` (checked from
    the header, before decoding) is the limit the user controls."""
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite any transparency onto white (what a viewer shows for a painting)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB, keeping the look (16-bit scaled, alpha flattened)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray((array / top * 255.0).clip(0, 255).round().astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if array.max() <= 1.0 else 255.0
        return Image.fromarray((array / top * 255.0).clip(0, 255).round().astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return _flatten_alpha(image)
    return image.convert("RGB")


def open_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open, validate and fully decode an image file as 8-bit RGB, upright per EXIF."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        with _own_pixel_limit():
            with Image.open(path) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise ImageError(f"{path}: {width}x{height} is {width * height:,} pixels, over the limit of "
                                     f"{max_pixels:,} (raise it with --max-pixels)")
                probe.load()
                image = ImageOps.exif_transpose(probe)
                image = to_rgb(image)
                image.load()
    except ImageError:
        raise
    except Exception as exc:  # PIL raises many types for bad files
        reason = "not a readable image" if "cannot identify" in str(exc) else f"cannot decode image ({exc})"
        raise ImageError(f"{path}: {reason}") from None
    if min(image.size) < MIN_SIDE:
        raise ImageError(f"{path}: {image.size[0]}x{image.size[1]} is too small (need at least {MIN_SIDE} px a side)")
    return image


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as :func:`open_image` would give it (EXIF rotation applied), from
    its header alone."""
    try:
        with Image.open(path) as probe:
            width, height = probe.size
            orientation = probe.getexif().get(0x0112, 1)
    except Exception as exc:  # PIL raises many types for bad files
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def as_pil(image: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Accept a path, PIL image, HxWx3 uint8 array or [0,1] tensor; return 8-bit RGB PIL."""
    if isinstance(image, (str, os.PathLike)):
        return open_image(image, max_pixels)
    if isinstance(image, Image.Image):
        return to_rgb(ImageOps.exif_transpose(image))
    if isinstance(image, torch.Tensor):
        return tensor_to_pil(image)
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ImageError(f"expected an H x W x 3 array, got shape {array.shape}")
        if array.dtype != np.uint8:
            scale = 255.0 if array.max() <= 1.0 else 1.0
            array = (array.astype(np.float64) * scale).clip(0, 255).round().astype(np.uint8)
        return to_rgb(Image.fromarray(array))
    raise ImageError(f"cannot use {type(image).__name__} as an image")


def resize_to(image: Image.Image, size: int | None) -> Image.Image:
    """Resize so the longer side is ``size`` px (no-op for None), Lanczos."""
    if size is None:
        return image
    width, height = image.size
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image if new == image.size else image.resize(new, Image.LANCZOS)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """8-bit RGB PIL -> float 1 x 3 x H x W in [0, 1]."""
    array = np.asarray(to_rgb(image), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """[0, 1] tensor (3 x H x W or 1 x 3 x H x W) -> 8-bit RGB PIL."""
    if tensor.ndim == 4:
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def load_image(image: ImageLike, size: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Any accepted image input -> 1 x 3 x H x W float tensor, longer side ``size``."""
    return pil_to_tensor(resize_to(as_pil(image, max_pixels), size))


def atomic_write_bytes(path: str | os.PathLike, data: bytes, tmp_dir: str | os.PathLike | None = None) -> Path:
    """Write bytes to ``path`` via a temporary file (in ``tmp_dir``, default the same folder; it
    must be on the same file system) and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=tmp_dir or path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_image(image: Image.Image | torch.Tensor, path: str | os.PathLike, quality: int = 95) -> Path:
    """Save atomically; the format follows the extension (PNG, JPEG, WebP, ...)."""
    if isinstance(image, torch.Tensor):
        image = tensor_to_pil(image)
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unknown image extension {path.suffix!r} (use .png, .jpg, .webp ...)")
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image.save(buffer, format=fmt, **options)
    return atomic_write_bytes(path, buffer.getvalue())


def check_output_path(output: str | os.PathLike, inputs: list[str | os.PathLike]) -> Path:
    """Refuse an output path that is one of the inputs (never overwrite an input)."""
    out = Path(output).resolve()
    for item in inputs:
        if isinstance(item, (str, os.PathLike)) and Path(item).exists() and Path(item).resolve() == out:
            raise ImageError(f"{output}: refusing to overwrite an input file")
    if Image.registered_extensions().get(out.suffix.lower()) is None:
        raise ImageError(f"{output}: unknown image extension {out.suffix!r} (use .png, .jpg, .webp ...)")
    return Path(output)
