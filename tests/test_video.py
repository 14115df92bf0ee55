"""Video I/O, temporal consistency, the flicker metric and ``painterly video``.

Clips are 32 x 48, a dozen frames, made in tmp with imageio (and one with an audio track
made with the ffmpeg binary); models are random TransformerNets of width 4, depth 1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("imageio_ffmpeg")
pytest.importorskip("cv2")

from painterly.cli import main  # noqa: E402
from painterly.errors import PainterlyError  # noqa: E402
from painterly.io.model_file import save_model_file  # noqa: E402
from painterly.io.video import (VideoError, VideoWriter, audio_streams, ffmpeg_exe, probe_video,  # noqa: E402
                                read_frames)
from painterly.nets.transformer import TransformerConfig, TransformerNet  # noqa: E402
from painterly.temporal import (FlickerMeter, TemporalBlender, TemporalConfig, VideoConfig,  # noqa: E402
                                blend, consistency_mask, detail_preserving_blend, flicker, frame_change, frame_size, relative_flicker,
                                sharpness, stylize_frames, warp, warping_error)

FPS = 10
H, W = 32, 48


def moving_frame(t: float, height: int = H, width: int = W) -> np.ndarray:
    """A smooth colour texture panning right by one pixel per frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x = x - t
    rgb = np.stack([0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0), 0.5 + 0.3 * np.sin((x + y) / 9.0),
                    0.5 + 0.2 * np.cos(x / 3.0 + y / 11.0)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def write_clip(path: Path, frames: int = 12) -> Path:
    import imageio.v2 as imageio

    imageio.mimwrite(path, [moving_frame(t) for t in range(frames)], fps=FPS, macro_block_size=1, quality=9)
    return path


def save_tiny_model(path: Path, n_styles: int = 1, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net = TransformerNet(TransformerConfig(width=4, depth=1, n_styles=n_styles))
    names = ["tiny"] if n_styles == 1 else [f"s{i}" for i in range(n_styles)]
    return save_model_file(path, "fast" if n_styles == 1 else "multistyle", net.state_dict(),
                           {"architecture": net.config.to_dict(), "styles": [{"name": n} for n in names]})


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4")


@pytest.fixture
def clip_with_audio(tmp_path) -> Path:
    """1.2 s of a 48 x 32 test pattern at 10 fps with a 440 Hz tone (AAC)."""
    path = tmp_path / "talk.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate={FPS}",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-t", "1.2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return save_tiny_model(tmp_path / "tiny.safetensors")


@pytest.fixture
def multi_model(tmp_path) -> Path:
    return save_tiny_model(tmp_path / "multi.safetensors", n_styles=3)


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- io.video


def test_probe_and_stream_frames(clip):
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.has_audio) == (W, H, FPS, False)
    frames = read_frames(clip, max_frames=5)
    first = next(frames)  # a generator: frames come one at a time
    assert first.shape == (H, W, 3) and first.dtype == np.uint8 and first.flags.writeable
    assert len(list(frames)) == 4
    assert len(list(read_frames(clip))) == 12


@pytest.mark.parametrize("content", [b"", b"this is not a video\n"])
def test_unreadable_video_is_one_line_error(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError) as info:
        probe_video(path)
    assert "broken.mp4" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "missing.mp4")


def test_writer_is_atomic(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, fps=FPS) as writer:
            writer.write(moving_frame(0))
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(out, fps=FPS) as writer:
        for t in range(3):
            writer.write(moving_frame(t, 31, 47))  # odd sides are cropped to even
    assert list(tmp_path.iterdir()) == [out]
    assert (probe_video(out).width, probe_video(out).height) == (46, 30)


def test_writer_copies_audio_and_frame_rate(tmp_path, clip_with_audio):
    out = tmp_path / "out.mkv"
    with VideoWriter(out, fps=probe_video(clip_with_audio).fps, audio_from=clip_with_audio) as writer:
        for frame in read_frames(clip_with_audio):
            writer.write(255 - frame)
    assert audio_streams(out) and audio_streams(out)[0].startswith("aac")
    info = probe_video(out)
    assert info.fps == FPS and info.has_audio and abs(info.duration - 1.2) < 0.15


# --------------------------------------------------------------------------- flicker metric


def test_flicker_metric_hand_computed():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255                       # 3 of 12 values change by 1.0 -> 0.25
    c = b.copy()
    c[1, 1] = 51                        # 3 of 12 values change by 0.2 -> 0.05
    assert frame_change(a, b) == pytest.approx(0.25)
    assert flicker([a, b, c]) == pytest.approx((0.25 + 0.05) / 2)
    assert flicker([a]) == 0.0
    # float frames are taken as [0, 1]; output changing twice as much as the input -> 2.0
    inputs = [np.full((4, 4, 3), v, np.float32) for v in (0.0, 0.1, 0.2)]
    outputs = [np.full((4, 4, 3), v, np.float32) for v in (0.5, 0.3, 0.5)]
    assert relative_flicker(outputs, inputs) == pytest.approx(2.0)
    meter = FlickerMeter()
    for frame in (a, b, c):
        meter.add(frame)
    assert meter.value == pytest.approx(0.15) and meter.pairs == 2


# --------------------------------------------------------------------------- temporal


def test_warp_with_constant_flow_shifts():
    image = np.arange(5 * 6, dtype=np.float32).reshape(5, 6)
    flow = np.zeros((5, 6, 2), np.float32)
    flow[..., 0] = 1.0                  # sample one pixel to the right
    np.testing.assert_allclose(warp(image, flow)[:, :-1], image[:, 1:])


def test_consistency_mask():
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0] = 2.0
    assert consistency_mask(flow, -flow).min() == 1.0     # forward undoes backward
    assert consistency_mask(flow, flow).max() == 0.0      # both point the same way: occlusion


def test_blender_on_a_still_scene_follows_the_formula():
    frame = moving_frame(0)
    first, second = np.full((H, W, 3), 0.2, np.float32), np.full((H, W, 3), 0.6, np.float32)
    blender = TemporalBlender(TemporalConfig(weight=0.5, feather=0))
    np.testing.assert_array_equal(blender(frame, first), first)   # nothing to blend with yet
    np.testing.assert_allclose(blender(frame, second), 0.6 + 0.5 * (0.2 - 0.6), atol=1e-6)
    blender.reset()
    np.testing.assert_array_equal(blender(frame, second), second)


def test_detail_preserving_blend_keeps_texture_contrast():
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(0.3, 0.7, (48, 48, 3)).astype(np.float32) for _ in range(2))  # unrelated textures
    ones = np.ones((48, 48), np.float32)
    plain = blend(a, b, ones, 0.5)
    kept = detail_preserving_blend(a, b, ones, 0.5)
    assert plain.std() == pytest.approx(a.std() / np.sqrt(2), rel=0.1)    # averaging flattens
    assert kept.std() == pytest.approx(a.std(), rel=0.15)                 # contrast restored
    assert kept.mean() == pytest.approx(plain.mean(), abs=0.01)
    np.testing.assert_allclose(detail_preserving_blend(a, a, ones, 0.5), a, atol=1e-5)  # agreeing frames: no change


def test_temporal_option_lowers_flicker():
    frames = [moving_frame(t) for t in range(10)]
    generator = torch.Generator().manual_seed(0)

    def flickery(images):               # a stylizer whose strokes jitter from frame to frame
        return (images * 0.5 + 0.25 + 0.1 * torch.randn(images.shape, generator=generator)).clamp(0, 1)

    results = {(w, mode): list(stylize_frames(frames, flickery,
                                              VideoConfig(temporal=TemporalConfig(weight=w, blend=mode))))
               for w, mode in ((0.0, "mean"), (0.7, "mean"), (0.7, "detail"))}
    inputs = [r.input for r in results[0.0, "mean"]]
    plain = {name: f([r.output for r in results[0.0, "mean"]]) for name, f in
             (("flicker", flicker), ("warp", lambda out: warping_error(inputs, out)))}
    for key in ((0.7, "mean"), (0.7, "detail")):
        outputs = [r.output for r in results[key]]
        assert warping_error(inputs, outputs) < 0.4 * plain["warp"], key
    # the plain frame difference also counts texture that moves with the picture, so it
    # drops only when the blend also smooths the texture away
    assert flicker([r.output for r in results[0.7, "mean"]]) < 0.7 * plain["flicker"]
    assert results[0.7, "detail"][0].output.shape == (H, W, 3)


def test_warping_error_ignores_motion_but_not_flicker():
    frames = [moving_frame(t) for t in range(6)]
    assert flicker(frames) > 0.02                          # the pan changes every pixel...
    assert warping_error(frames, frames) < 0.01            # ...but motion-compensated it is steady
    rng = np.random.default_rng(0)
    noisy = [np.clip(f.astype(int) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert warping_error(frames, noisy) > 0.03
    assert sharpness(noisy[0]) > sharpness(frames[0])


def test_video_config_and_frame_size():
    assert frame_size(48, 32, None) == (48, 32)
    assert frame_size(1920, 1080, 512) == (512, 288)
    assert frame_size(33, 21, None) == (32, 20)
    for bad in (VideoConfig(size=4), VideoConfig(temporal=TemporalConfig(weight=2)),
                VideoConfig(temporal=TemporalConfig(flow="magic"))):
        with pytest.raises(PainterlyError):
            bad.validate()


# --------------------------------------------------------------------------- painterly video


def test_video_cli_keeps_audio_and_reports_json(tmp_path, clip_with_audio, tiny_model, capsys):
    out = tmp_path / "styled.mp4"
    code, stdout, _ = run_cli(["video", clip_with_audio, "-o", out, "--model", tiny_model, "--style", "tiny",
                               "--temporal", "0.5", "--json", "--quiet"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["frames"] == 12 and summary["fps_in"] == FPS and summary["audio"] is True
    assert set(summary["flicker"]) >= {"input", "stylized", "output", "relative", "warping_error_output"}
    assert summary["flicker"]["warping_error_output"] <= summary["flicker"]["warping_error_stylized"] + 1e-6
    info = probe_video(out)
    assert info.fps == FPS and info.has_audio and (info.width, info.height) == (W, H)
    assert len(list(read_frames(out))) == 12


def test_video_cli_size_max_frames_and_blend(tmp_path, clip, multi_model, capsys):
    out = tmp_path / "small.webm"
    code, stdout, err = run_cli(["video", clip, "-o", out, "--model", multi_model, "--style", "s0:1",
                                 "--style", "s2:1", "--size", "24", "--max-frames", "4", "--strength", "0.5",
                                 "--detail", "0.5", "--temporal", "0.6", "--flow", "farneback", "--temporal-blend", "mean",
                                 "--json", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert (summary["frames"], summary["width"], summary["height"], summary["audio"]) == (4, 24, 16, False)
    assert (summary["detail"], summary["detail_radius"]) == (0.5, 2.0)
    assert summary["config"]["temporal"] == {**summary["config"]["temporal"], "weight": 0.6, "flow": "farneback",
                                             "blend": "mean"}
    assert len(list(read_frames(out))) == 4


@pytest.mark.parametrize("case", ["unreadable", "unknown_style", "bad_extension", "temporal_range", "detail_range",
                                  "overwrite_input", "no_model"])
def test_video_cli_errors(tmp_path, clip, tiny_model, capsys, case):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    out = tmp_path / "out.mp4"
    argv = {"unreadable": ["video", bad, "-o", out, "--model", tiny_model],
            "unknown_style": ["video", clip, "-o", out, "--model", tiny_model, "--style", "tiny_typo"],
            "bad_extension": ["video", clip, "-o", tmp_path / "out.txt", "--model", tiny_model],
            "temporal_range": ["video", clip, "-o", out, "--model", tiny_model, "--temporal", "1.5"],
            "detail_range": ["video", clip, "-o", out, "--model", tiny_model, "--detail", "5"],
            "overwrite_input": ["video", clip, "-o", clip, "--model", tiny_model],
            "no_model": ["video", clip, "-o", out, "--style", "no_such_style_anywhere"]}[case]
    code, _, err = run_cli(argv + ["--quiet"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists() and not (tmp_path / "out.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_an_adain_painting_is_encoded_once_for_all_frames(tmp_path):
    from PIL import Image

    from painterly.cli.video import make_stylize
    from painterly.io.image import load_image
    from painterly.methods.adain import EncodedStyle
    from painterly.methods.stylize import StylizeConfig, apply_stylizer

    rng = np.random.default_rng(0)
    painting = tmp_path / "painting.png"
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(painting)
    frames = torch.rand(2, 3, 24, 32)
    config = StylizeConfig(method="adain", model="adain_compact", strength=0.8, detail=1.0)
    stylize, prepared = make_stylize([str(painting)], config)
    assert isinstance(prepared.style, EncodedStyle) and not prepared.style.builtin
    expected = apply_stylizer(prepared.stylizer, frames, load_image(painting), 0.8, detail=1.0)
    assert torch.allclose(stylize(frames), expected, atol=1e-6)
    from painterly.methods.stylize import prepare, stylize_tensor

    once = prepare(str(painting), config)   # painterly stylize (one photo or a folder) encodes it once too
    assert isinstance(once.style, EncodedStyle)
    assert torch.allclose(stylize_tensor(frames, once, config), expected, atol=1e-6)
    # preserve_color recolours the painting to each frame: it stays a painting
    _, recolouring = make_stylize([str(painting)], StylizeConfig(method="adain", model="adain_compact",
                                                                 preserve_color=True))
    assert not isinstance(recolouring.style, EncodedStyle)
