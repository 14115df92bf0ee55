"""Shared fixtures: tiny synthetic images in memory and on disk, including broken ones.

Everything here is deterministic (no unseeded randomness) and small (8-64 px), so the
suite runs in seconds on a 2-core CPU.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP
# spin-waiting makes every op 10x slower. PAINTERLY_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("PAINTERLY_TEST_THREADS", "1")))


# --------------------------------------------------------------------------- arrays


def make_photo(height: int = 32, width: int = 48) -> np.ndarray:
    """A smooth 'photo': colour gradients plus a bright disc; uint8 H x W x 3, values well inside 0..255."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width]).reshape(2, 1, 1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05).astype(float)
    rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.5 - 0.3 * x + 0.3 * disc], axis=-1)
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def make_painting(height: int = 32, width: int = 32) -> np.ndarray:
    """A busy 'painting': seeded coloured diagonal stripes with noise; uint8 H x W x 3."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    stripes = np.sin((x + y) / 2.0)[..., None] * np.array([0.4, -0.3, 0.2])
    rgb = 0.5 + stripes + 0.15 * rng.standard_normal((height, width, 3))
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def array_to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 -> float 1 x 3 x H x W in [0, 1] (contiguous)."""
    return torch.from_numpy(array).float().div(255).permute(2, 0, 1).unsqueeze(0).contiguous()


def png_header_bomb(path: Path, width: int, height: int) -> Path:
    """A valid tiny PNG whose IHDR claims ``width`` x ``height`` (CRC fixed up), so only
    the header lies: decoding it would need a huge buffer."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- in memory


@pytest.fixture
def photo() -> np.ndarray:
    return make_photo()


@pytest.fixture
def painting() -> np.ndarray:
    return make_painting()


@pytest.fixture
def content_tensor() -> torch.Tensor:
    """1 x 3 x 32 x 32 smooth photo."""
    return array_to_tensor(make_photo(32, 32))


@pytest.fixture
def style_tensor() -> torch.Tensor:
    """1 x 3 x 32 x 32 striped painting."""
    return array_to_tensor(make_painting(32, 32))


# --------------------------------------------------------------------------- good files


@pytest.fixture
def content_png(tmp_path) -> Path:
    """48 x 32 (W x H) RGB PNG."""
    path = tmp_path / "content.png"
    Image.fromarray(make_photo(32, 48)).save(path)
    return path


@pytest.fixture
def style_png(tmp_path) -> Path:
    """32 x 32 RGB PNG of the striped painting."""
    path = tmp_path / "style.png"
    Image.fromarray(make_painting(32, 32)).save(path)
    return path


@pytest.fixture
def cmyk_jpg(tmp_path) -> Path:
    """16 x 16 CMYK JPEG, pure cyan (-> RGB 0, 255, 255)."""
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path, quality=100)
    return path


@pytest.fixture
def palette_png(tmp_path) -> Path:
    """16 x 16 palette PNG: left half index 0 (red, fully transparent), right half index 1 (blue)."""
    path = tmp_path / "palette.png"
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(1, (8, 0, 16, 16))
    image.save(path, transparency=0)
    return path


@pytest.fixture
def la_png(tmp_path) -> Path:
    """16 x 16 greyscale+alpha: black everywhere, left half fully transparent."""
    path = tmp_path / "la.png"
    array = np.zeros((16, 16, 2), dtype=np.uint8)
    array[:, 8:, 1] = 255
    Image.fromarray(array, "LA").save(path)
    return path


@pytest.fixture
def rgba_png(tmp_path) -> Path:
    """16 x 16 RGBA: red; top-left pixel fully transparent, top-right half transparent."""
    path = tmp_path / "rgba.png"
    array = np.zeros((16, 16, 4), dtype=np.uint8)
    array[..., 0] = 255
    array[..., 3] = 255
    array[0, 0, 3] = 0
    array[0, 15, 3] = 128
    Image.fromarray(array, "RGBA").save(path)
    return path


@pytest.fixture
def gray16_png(tmp_path) -> Path:
    """16 x 16 16-bit greyscale PNG (mode I;16): rows of 0, 32896 (=128*257) and 65535."""
    path = tmp_path / "gray16.png"
    array = np.zeros((16, 16), dtype=np.uint16)
    array[5:10] = 32896
    array[10:] = 65535
    image = Image.fromarray(array)
    assert image.mode == "I;16"
    image.save(path)
    return path


@pytest.fixture
def exif_rotated_jpg(tmp_path) -> Path:
    """Stored 40 x 20 (W x H) with EXIF Orientation 6 (rotate 90 CW to view): shows as 20 x 40."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(make_photo(20, 40)).save(path, exif=exif.tobytes(), quality=95)
    return path


# --------------------------------------------------------------------------- bad files


@pytest.fixture
def text_as_jpg(tmp_path) -> Path:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    return path


@pytest.fixture
def truncated_jpg(tmp_path) -> Path:
    """A real 32 x 32 JPEG cut to half its length."""
    buffer = io.BytesIO()
    Image.fromarray(make_painting(32, 32)).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def empty_file(tmp_path) -> Path:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return path


@pytest.fixture
def tiny_png(tmp_path) -> Path:
    """A 1 x 1 image: valid but too small to use."""
    path = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(path)
    return path


@pytest.fixture
def huge_header_png(tmp_path) -> Path:
    """A ~100-byte PNG whose header says 30000 x 30000 (900 Mpx)."""
    return png_header_bomb(tmp_path / "huge.png", 30000, 30000)


BAD_IMAGE_FIXTURES = ("text_as_jpg", "truncated_jpg", "empty_file", "tiny_png", "huge_header_png")
