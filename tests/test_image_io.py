"""painterly.io.image: loading every kind of file, refusing bad ones, atomic saving."""

from __future__ import annotations

import os
import re
import resource
import time

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.errors import ImageError, PainterlyError
from painterly.io import image as image_io
from painterly.io.image import (as_pil, check_output_path, image_size, load_image, open_image, pil_to_tensor,
                                resize_to, save_image, tensor_to_pil)

from conftest import BAD_IMAGE_FIXTURES, make_photo, png_header_bomb


def pixel(tensor: torch.Tensor, y: int, x: int) -> list[int]:
    """RGB of one pixel of a 1 x 3 x H x W tensor, as 0..255 ints."""
    return [round(v) for v in (tensor[0, :, y, x] * 255).tolist()]


# --------------------------------------------------------------------------- refusing bad files


@pytest.mark.parametrize("fixture, words", [
    ("text_as_jpg", "not a readable image"),
    ("truncated_jpg", "cannot decode"),
    ("empty_file", "empty file"),
    ("tiny_png", "too small"),
    ("huge_header_png", "too large|over the limit"),
])
def test_bad_files_raise_one_line_image_error(request, fixture, words):
    path = request.getfixturevalue(fixture)
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert re.search(words, message), message
    assert str(path) in message
    assert "\n" not in message
    assert isinstance(info.value, PainterlyError)
    assert info.value.__cause__ is None  # `from None`: no chained traceback to show


def test_bad_files_list_matches_conftest():
    assert set(BAD_IMAGE_FIXTURES) == {"text_as_jpg", "truncated_jpg", "empty_file", "tiny_png", "huge_header_png"}


def test_huge_header_is_refused_without_allocating(huge_header_png):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large|over the limit"):
        open_image(huge_header_png)
    assert time.perf_counter() - start < 2.0
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100  # decoding would need 900 Mpx x 3-4 bytes, i.e. gigabytes


def test_pixel_budget_is_our_own(tmp_path):
    """Over ``max_pixels`` (but under PIL's own guard) is refused with the sizes in the message."""
    path = png_header_bomb(tmp_path / "big.png", 5000, 5000)  # 25 Mpx, below PIL's 89 Mpx warning
    with pytest.raises(ImageError, match=r"5000x5000 is 25,000,000 pixels, over the limit of 1,000,000"):
        open_image(path, max_pixels=1_000_000)


def test_raising_max_pixels_lifts_the_limit(tmp_path, monkeypatch):
    # Shrink PIL's guard so a small real image stands in for a > 89 Mpx panorama.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "panorama.png"
    Image.fromarray(make_photo(40, 40)).save(path)  # 1600 px: over PIL's (patched) guard
    image = open_image(path, max_pixels=10_000)     # but within the budget we asked for
    assert image.size == (40, 40)


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 2), np.uint8), np.zeros((2, 8, 8, 3), np.uint8), 42, [1, 2, 3]])
def test_bad_in_memory_inputs(bad):
    with pytest.raises(ImageError):
        load_image(bad)


# --------------------------------------------------------------------------- modes


def test_rgb_png_round_trip(content_png):
    tensor = load_image(content_png)
    assert tensor.shape == (1, 3, 32, 48) and tensor.dtype == torch.float32
    expected = torch.from_numpy(make_photo(32, 48)).permute(2, 0, 1).float().div(255)
    torch.testing.assert_close(tensor[0], expected)


def test_cmyk_jpeg(cmyk_jpg):
    assert Image.open(cmyk_jpg).mode == "CMYK"
    tensor = load_image(cmyk_jpg)
    assert tensor.shape == (1, 3, 16, 16)
    r, g, b = pixel(tensor, 8, 8)
    assert r <= 3 and g >= 252 and b >= 252  # cyan


def test_palette_png_with_transparency_is_flattened_on_white(palette_png):
    assert Image.open(palette_png).mode == "P"
    tensor = load_image(palette_png)
    assert pixel(tensor, 3, 2) == [255, 255, 255]  # transparent red -> white
    assert pixel(tensor, 3, 12) == [0, 0, 255]     # opaque blue stays blue


def test_la_png(la_png):
    tensor = load_image(la_png)
    assert pixel(tensor, 0, 0) == [255, 255, 255]  # transparent black -> white
    assert pixel(tensor, 0, 15) == [0, 0, 0]


def test_rgba_png_flattened_on_white(rgba_png):
    tensor = load_image(rgba_png)
    assert pixel(tensor, 0, 0) == [255, 255, 255]  # fully transparent -> white
    assert pixel(tensor, 5, 5) == [255, 0, 0]      # opaque red
    r, g, b = pixel(tensor, 0, 15)                 # half transparent red over white
    assert r == 255 and 125 <= g <= 129 and g == b


def test_16_bit_greyscale_is_scaled_to_8_bit(gray16_png):
    assert Image.open(gray16_png).mode == "I;16"
    tensor = load_image(gray16_png)
    assert tensor.shape == (1, 3, 16, 16)
    assert pixel(tensor, 0, 0) == [0, 0, 0]
    assert pixel(tensor, 7, 0) == [128, 128, 128]   # 32896 / 65535 * 255 = 128.0
    assert pixel(tensor, 12, 0) == [255, 255, 255]


def test_dark_16_bit_greyscale_stays_dark(tmp_path):
    path = tmp_path / "dark16.png"
    array = np.full((16, 16), 200, dtype=np.uint16)  # 200 / 65535: nearly black
    Image.fromarray(array).save(path)
    assert pixel(load_image(path), 0, 0) == [1, 1, 1]  # round(200 / 65535 * 255) = 1


def test_greyscale_8_bit(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((10, 12), 77, np.uint8), "L").save(path)
    assert pixel(load_image(path), 4, 4) == [77, 77, 77]


def test_exif_orientation_is_applied(exif_rotated_jpg):
    with Image.open(exif_rotated_jpg) as raw:
        assert raw.size == (40, 20) and raw.getexif()[0x0112] == 6
    tensor = load_image(exif_rotated_jpg)
    assert tensor.shape == (1, 3, 40, 20)  # shown upright: 20 wide, 40 tall
    assert open_image(exif_rotated_jpg).size == (20, 40)


def test_image_size_reads_the_header_with_exif_rotation(exif_rotated_jpg, tmp_path):
    assert image_size(exif_rotated_jpg) == open_image(exif_rotated_jpg).size == (20, 40)
    plain = tmp_path / "plain.png"
    Image.fromarray(make_photo(20, 40)).save(plain)
    assert image_size(plain) == (40, 20)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="bad.png: not a readable image"):
        image_size(bad)


def test_exif_orientation_of_pil_input(exif_rotated_jpg):
    with Image.open(exif_rotated_jpg) as raw:
        assert as_pil(raw).size == (20, 40)


def test_size_resizes_the_longer_side(content_png):
    assert load_image(content_png, size=24).shape == (1, 3, 16, 24)
    assert load_image(content_png, size=96).shape == (1, 3, 64, 96)
    assert resize_to(Image.new("RGB", (30, 10)), None).size == (30, 10)


# --------------------------------------------------------------------------- in-memory inputs


def test_uint8_array():
    array = make_photo(16, 20)
    tensor = load_image(array)
    assert tensor.shape == (1, 3, 16, 20)
    torch.testing.assert_close(tensor[0], torch.from_numpy(array).permute(2, 0, 1).float() / 255)


def test_float_arrays_in_0_1_and_0_255():
    array = make_photo(16, 20)
    expected = load_image(array)
    torch.testing.assert_close(load_image(array.astype(np.float32) / 255), expected)
    torch.testing.assert_close(load_image(array.astype(np.float64)), expected)


def test_greyscale_and_rgba_arrays():
    grey = load_image(np.full((9, 9), 100, np.uint8))
    assert grey.shape == (1, 3, 9, 9) and pixel(grey, 0, 0) == [100, 100, 100]
    rgba = np.zeros((9, 9, 4), np.uint8)
    rgba[..., 3] = 0
    assert pixel(load_image(rgba), 4, 4) == [255, 255, 255]


def test_pil_inputs():
    array = make_photo(12, 14)
    torch.testing.assert_close(load_image(Image.fromarray(array)), load_image(array))
    grey = load_image(Image.new("L", (10, 10), 50))
    assert grey.shape == (1, 3, 10, 10) and pixel(grey, 1, 1) == [50, 50, 50]


def test_tensor_pil_round_trip():
    tensor = torch.from_numpy(make_photo(10, 12)).permute(2, 0, 1).float().div(255).unsqueeze(0)
    image = tensor_to_pil(tensor)
    assert image.mode == "RGB" and image.size == (12, 10)
    torch.testing.assert_close(pil_to_tensor(image), tensor)
    assert tensor_to_pil(tensor[0]).size == (12, 10)
    torch.testing.assert_close(load_image(tensor), tensor)
    clipped = tensor_to_pil(torch.full((1, 3, 2, 2), 1.5))  # out of range is clamped
    assert clipped.getpixel((0, 0)) == (255, 255, 255)


# --------------------------------------------------------------------------- saving


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith(".")]


@pytest.mark.parametrize("name, fmt", [("out.png", "PNG"), ("out.jpg", "JPEG"), ("out.JPEG", "JPEG"),
                                       ("out.webp", "WEBP"), ("out.bmp", "BMP")])
def test_save_image_format_follows_extension(tmp_path, name, fmt):
    tensor = load_image(make_photo(16, 16))
    path = save_image(tensor, tmp_path / name)
    assert path == tmp_path / name
    with Image.open(path) as saved:
        assert saved.format == fmt and saved.size == (16, 16)
    assert _leftovers(tmp_path) == []


def test_save_image_png_is_lossless_and_makes_folders(tmp_path):
    tensor = load_image(make_photo(16, 16))
    path = save_image(tensor_to_pil(tensor), tmp_path / "a" / "b" / "out.png")
    torch.testing.assert_close(load_image(path), tensor)


def test_save_image_unknown_extension(tmp_path):
    with pytest.raises(ImageError, match="unknown image extension"):
        save_image(torch.zeros(1, 3, 8, 8), tmp_path / "out.xyz")
    assert list(tmp_path.iterdir()) == []


def test_save_image_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_image(torch.zeros(1, 3, 8, 8), target)
    original = target.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(image_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.ones(1, 3, 8, 8), target)
    assert target.read_bytes() == original  # old file intact
    assert _leftovers(tmp_path) == []       # no .part file left behind


def test_check_output_path(tmp_path, content_png):
    with pytest.raises(ImageError, match="refusing to overwrite"):
        check_output_path(content_png, [content_png])
    # the same file spelled differently
    with pytest.raises(ImageError, match="refusing to overwrite"):
        check_output_path(str(content_png.parent / "." / content_png.name), [str(content_png)])
    with pytest.raises(ImageError, match="unknown image extension"):
        check_output_path(tmp_path / "out.txt", [content_png])
    assert check_output_path(tmp_path / "out.png", [content_png, Image.new("RGB", (8, 8))]) == tmp_path / "out.png"
    assert not (tmp_path / "out.png").exists()
    assert os.path.getsize(content_png) > 0
