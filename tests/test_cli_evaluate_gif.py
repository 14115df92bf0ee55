"""`painterly evaluate` and `painterly gif`, driven through main([...]) with tmp paths."""

from __future__ import annotations

import json
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from painterly.cli import main

KEYS = {"content_loss", "style_loss", "ssim", "color_distance"}


def save(array: np.ndarray, path):
    Image.fromarray(array).save(path)
    return path


def smooth(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width]).reshape(2, 1, 1)
    return (np.stack([x, y, 1 - x], axis=-1) * 255).round().astype(np.uint8)


def busy(height: int = 48, width: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_single_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.fixture
def images(tmp_path):
    return {"photo": save(smooth(), tmp_path / "photo.png"), "painting": save(busy(), tmp_path / "painting.png")}


# ---------------------------------------------------------------- evaluate

def test_evaluate_json(images, capsys):
    code = main(["evaluate", str(images["photo"]), "--content", str(images["photo"]),
                 "--style", str(images["painting"]), "--size", "64", "--json", "--device", "cpu"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == KEYS
    assert result["content_loss"] == 0.0 and result["ssim"] == pytest.approx(1.0)
    assert result["style_loss"] > 0 and result["color_distance"] > 0


def test_evaluate_table(images, capsys):
    code = main(["evaluate", str(images["painting"]), "--content", str(images["photo"]),
                 "--style", str(images["painting"]), "--size", "64", "--device", "cpu"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == ["content loss", "style loss", "SSIM",
                                                               "colour distance"]
    assert lines[1].split()[2] == "0"  # output is the style: style loss 0


def test_evaluate_builtin_style_has_no_colour_distance(images, capsys):
    argv = ["evaluate", str(images["photo"]), "--content", str(images["photo"]), "--style", "udnie",
            "--size", "64", "--device", "cpu"]
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["color_distance"] is None and result["style_loss"] > 0
    assert main(argv) == 0
    assert "n/a" in capsys.readouterr().out.splitlines()[3]


@pytest.mark.parametrize("case", ["missing output", "not an image", "unknown style", "missing style file",
                                  "no --content"])
def test_evaluate_errors(images, tmp_path, capsys, case):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    photo, painting = str(images["photo"]), str(images["painting"])
    argv = {
        "missing output": [str(tmp_path / "nope.png"), "--content", photo, "--style", painting],
        "not an image": [str(text), "--content", photo, "--style", painting],
        "unknown style": [photo, "--content", photo, "--style", "starry_nigth"],
        "missing style file": [photo, "--content", photo, "--style", str(tmp_path / "nope.jpg")],
        "no --content": [photo, "--style", painting],
    }[case]
    line = assert_single_error(capsys, main(["evaluate", *argv, "--size", "64", "--device", "cpu"]))
    expected = {"missing output": "no such file", "not an image": "not a readable image",
                "unknown style": "did you mean starry_night", "missing style file": "no such file",
                "no --content": "--content"}[case]
    assert expected in line


# ---------------------------------------------------------------- gif

@pytest.fixture
def frames(tmp_path):
    """Five distinct 40 x 30 frames named like a frame writer names them."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        save(np.full((30, 40, 3), 40 * i + 20, dtype=np.uint8), folder / f"{i * 10:06d}.png")
    return folder


def durations(path) -> list[int]:
    with Image.open(path) as gif:
        out = []
        for i in range(gif.n_frames):
            gif.seek(i)
            out.append(gif.info["duration"])
    return out


def test_gif_writes_every_frame_in_name_order(frames, tmp_path):
    out = tmp_path / "run.gif"
    assert main(["gif", str(frames), "-o", str(out), "--fps", "10"]) == 0
    video = iio.imread(out, index=None)
    assert video.shape == (5, 30, 40, 3)
    assert list(video[:, 0, 0, 0]) == [20, 60, 100, 140, 180]
    assert durations(out) == [100] * 5


@pytest.mark.parametrize("every, expected", [(2, [20, 100, 180]), (3, [20, 140, 180]), (10, [20, 180])])
def test_gif_every_keeps_the_last_frame(frames, tmp_path, every, expected):
    out = tmp_path / "run.gif"
    assert main(["gif", str(frames), "-o", str(out), "--every", str(every)]) == 0
    assert list(iio.imread(out, index=None)[:, 0, 0, 0]) == expected


def test_gif_size_sets_the_longer_side(frames, tmp_path):
    out = tmp_path / "small.gif"
    assert main(["gif", str(frames), "-o", str(out), "--size", "20"]) == 0
    assert iio.imread(out, index=None).shape == (5, 15, 20, 3)


def test_gif_hold_last_shows_the_last_frame_longer(frames, tmp_path):
    out = tmp_path / "held.gif"
    assert main(["gif", str(frames), "-o", str(out), "--fps", "10", "--hold-last", "0.5"]) == 0
    # GIF merges repeated identical frames into one frame with the summed duration
    assert durations(out) == [100, 100, 100, 100, 600]


def test_gif_mp4(frames, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "run.mp4"
    assert main(["gif", str(frames), "-o", str(out), "--fps", "10", "--hold-last", "0.2"]) == 0
    assert iio.imread(out, index=None).shape == (7, 30, 40, 3)


def test_gif_mp4_without_ffmpeg_is_a_clear_error(frames, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes it unimportable
    out = tmp_path / "run.mp4"
    line = assert_single_error(capsys, main(["gif", str(frames), "-o", str(out)]))
    assert "ffmpeg" in line and "painterly[video]" in line
    assert not out.exists()


def test_gif_refuses_to_overwrite_a_frame(frames, capsys):
    frame = frames / "000000.png"
    before = frame.read_bytes()
    assert_single_error(capsys, main(["gif", str(frames), "-o", str(frame)]))
    assert frame.read_bytes() == before


@pytest.mark.parametrize("case", ["empty folder", "missing folder", "a file", "bad frame", "bad fps"])
def test_gif_errors_leave_no_output(frames, tmp_path, capsys, case):
    empty = tmp_path / "empty"
    empty.mkdir()
    if case == "bad frame":
        (frames / "000099.png").write_text("not an image")
    source = {"empty folder": empty, "missing folder": tmp_path / "nope", "a file": frames / "000000.png",
              "bad frame": frames, "bad fps": frames}[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    extra = ["--fps", "0"] if case == "bad fps" else []
    assert_single_error(capsys, main(["gif", str(source), "-o", str(out_dir / "run.gif"), *extra]))
    assert list(out_dir.iterdir()) == []
