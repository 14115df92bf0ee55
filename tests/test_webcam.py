"""``painterly webcam`` with a video file as the camera, headless."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("imageio_ffmpeg")

from painterly.cli.webcam import FpsMeter, draw_overlay, key_action  # noqa: E402
from painterly.io.video import probe_video, read_frames  # noqa: E402
from test_video import H, W, run_cli, save_tiny_model, write_clip  # noqa: E402


@pytest.fixture
def camera_file(tmp_path):
    return write_clip(tmp_path / "camera.mp4", frames=10)


@pytest.fixture
def multi_model(tmp_path):
    return save_tiny_model(tmp_path / "multi.safetensors", n_styles=3)


def test_key_action():
    assert key_action(ord("n"), 0, 3) == 1
    assert key_action(ord("n"), 2, 3) == 0
    assert key_action(ord("p"), 0, 3) == 2
    assert key_action(ord("2"), 0, 3) == 1
    assert key_action(ord("9"), 1, 3) == 1          # no 9th style: stay
    assert key_action(-1, 1, 3) == 1                # no key pressed
    assert key_action(ord("q"), 1, 3) is None
    assert key_action(27, 1, 3) is None              # Esc


def test_fps_meter_and_overlay():
    meter = FpsMeter(smoothing=0.0)
    meter.tick(0.0)
    assert meter.tick(0.25) == pytest.approx(4.0)
    frame = np.zeros((48, 64, 3), np.uint8)
    draw_overlay(frame, ["12.0 fps"])
    assert frame[:10, :30].max() > 0 and frame[-5:, -5:].max() == 0   # text top-left only


def test_headless_file_camera_writes_n_frames(tmp_path, camera_file, multi_model, capsys):
    out = tmp_path / "live.mp4"
    code, stdout, err = run_cli(["webcam", "--model", multi_model, "--style", "s0", "--style", "s1", "--camera",
                                 camera_file, "--headless", "--frames", "6", "--switch-every", "2", "--size", "40",
                                 "-o", out, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] == 6 and summary["styles_shown"] == ["s0", "s1", "s0"]
    frames = list(read_frames(out))
    assert len(frames) == 6 and frames[0].shape == (26, 40, 3)
    assert probe_video(out).fps == probe_video(camera_file).fps
    assert frames[0][:4, :12].mean() < 60            # the dark fps box in the corner


def test_webcam_prefers_the_speed_network_of_a_style_and_says_which_ran(tmp_path, camera_file, capsys):
    """starry_night ships a full-architecture and a CPU-speed network: live video takes the fast one."""
    argv = ["webcam", "--style", "starry_night", "--camera", camera_file, "--headless", "--frames", "2", "--size",
            "32", "--json"]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert json.loads(stdout)["models"] == ["starry_night_fast"]
    code, stdout, err = run_cli([*argv, "--prefer", "quality"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["models"] == ["starry_night"]
    code, _, err = run_cli([*argv, "--prefer", "fastest"], capsys)
    assert code == 2 and "invalid choice: 'fastest'" in err


def test_webcam_runs_the_compact_adain_model_in_bf16_with_detail_and_refuses_fp16_on_a_cpu(camera_file, capsys):
    argv = ["webcam", "--method", "adain", "--model", "adain_compact", "--style", "udnie", "--style", "the_scream",
            "--camera", camera_file, "--headless", "--frames", "3", "--size", "32", "--json", "--detail", "1"]
    code, stdout, err = run_cli([*argv, "--precision", "bf16"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] == 3 and summary["models"] == ["adain_compact", "adain_compact"]
    code, _, err = run_cli([*argv, "--precision", "fp16"], capsys)
    assert code == 2 and err.startswith("error: ") and "fp16 needs a CUDA device" in err


def test_headless_stops_at_end_of_file(tmp_path, camera_file, multi_model, capsys):
    code, stdout, _ = run_cli(["webcam", "--model", multi_model, "--style", "s2", "--camera", camera_file,
                               "--headless", "--frames", "50", "--size", str(W), "--json", "--mirror",
                               "--temporal", "0.5"], capsys)
    assert code == 0 and json.loads(stdout)["frames"] == 10
    assert H < W


@pytest.mark.parametrize("camera", ["7", "no_such_video.mp4"])
def test_missing_camera_exits_2(tmp_path, multi_model, capsys, camera):
    out = tmp_path / "live.mp4"
    code, _, err = run_cli(["webcam", "--model", multi_model, "--style", "s0", "--camera", camera, "--headless",
                            "--frames", "2", "-o", out], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and camera in lines[0]
    assert not out.exists()


def test_window_without_display_is_an_error(camera_file, multi_model, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = run_cli(["webcam", "--model", multi_model, "--style", "s0", "--camera", camera_file], capsys)
    assert code == 2 and "--headless" in err and len(err.strip().splitlines()) == 1
