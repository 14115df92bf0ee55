"""Layer reconstructions (analysis/layers.py) and `painterly visualize`, on tiny images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.analysis.layers import (FrameCollector, LayerObjective, ReconstructConfig, build_features, choice_name,
                                       features_at, labelled_grid, layer_groups, reconstruct, run_reconstruction,
                                       white_noise)
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.features import UnknownLayerError, VGG19Features
from painterly.io.image import load_image

SIZE = 40


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    from skimage import data

    return load_image(data.astronaut(), size=SIZE)


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return build_features([("relu2_1",)], pooling="avg")


def tiny_config(what: str, iterations: int = 8, seed: int = 3, **kw) -> ReconstructConfig:
    return ReconstructConfig(what=what, size=SIZE, iterations=iterations, seed=seed, **kw)


# ----------------------------------------------------------------------------- reconstruction

@pytest.mark.parametrize("what, layers", [("content", ("relu2_1",)), ("style", ("relu1_1", "relu2_1"))])
def test_reconstruction_lowers_its_objective(photo, vgg, what, layers):
    cfg = tiny_config(what)
    result = run_reconstruction(photo, layers, cfg, features=vgg)
    assert result.final_loss < result.initial_loss
    assert result.losses["total"] < 1.0  # normalised: the noise scores exactly 1
    # checked independently of the run's own bookkeeping
    objective = LayerObjective(vgg, photo, result.layers, what)
    noise = white_noise(photo.shape, cfg.seed)
    with torch.no_grad():
        assert float(objective.raw(result.image)) < float(objective.raw(noise))


def test_content_reconstruction_at_relu1_1_approaches_the_image(photo, vgg):
    image = reconstruct(photo, ("relu1_1",), tiny_config("content", iterations=10), features=vgg)
    noise = white_noise(photo.shape, 3)
    before = torch.mean((noise - photo) ** 2)
    after = torch.mean((image - photo) ** 2)
    assert after < 0.5 * before


def test_reconstruction_is_seeded_and_in_range(photo, vgg):
    cfg = tiny_config("style", iterations=3)
    a = reconstruct(photo, ("relu1_1",), cfg, features=vgg)
    b = reconstruct(photo, ("relu1_1",), cfg, features=vgg)
    assert a.shape == photo.shape and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    other = reconstruct(photo, ("relu1_1",), tiny_config("style", iterations=3, seed=4) and
                        ReconstructConfig(what="style", size=SIZE, iterations=3, seed=4), features=vgg)
    assert not torch.equal(a, other)


def test_reconstruction_resizes_to_config_size(photo, vgg):
    image = reconstruct(photo, ("relu1_1",), ReconstructConfig(what="content", size=24, iterations=1), features=vgg)
    assert max(image.shape[-2:]) == 24


def test_reconstruction_accepts_a_plus_joined_string(photo, vgg):
    cfg = ReconstructConfig(what="style", size=24, iterations=1)
    assert run_reconstruction(photo, "relu2_1+0", cfg, features=vgg).layers == ("relu1_1", "relu2_1")
    with pytest.raises(UnknownLayerError):
        run_reconstruction(photo, "relu2_1+relu9", cfg, features=vgg)


def test_adam_and_tv_weight_work(photo, vgg):
    cfg = tiny_config("content", iterations=5, optimizer="adam", tv_weight=0.1)
    result = run_reconstruction(photo, ("relu1_1",), cfg, features=vgg)
    assert set(result.losses) == {"content", "tv", "total"}
    assert result.final_loss < result.initial_loss


def test_progress_reports_every_step_from_the_noise(photo, vgg):
    events = []
    frames = FrameCollector(every=2)
    run_reconstruction(photo, ("relu1_1",), tiny_config("content", iterations=5), [events.append, frames],
                       features=vgg)
    assert [e.step for e in events] == [0, 1, 2, 3, 4, 5]
    assert all(e.total == 5 and e.image is not None for e in events)
    assert events[0].losses["content"] == 1.0
    assert torch.equal(events[0].image, white_noise(photo.shape, 3))
    assert len(frames.frames) == 4  # steps 0, 2, 4 and the last
    assert frames.frames[0].size == (photo.shape[-1], photo.shape[-2])


def test_features_at_matches_the_full_extractor(photo, vgg):
    full = VGG19Features(("relu1_1", "relu2_1"), pooling="avg")(photo)
    partial = features_at(vgg, photo, ("relu1_1",))
    assert set(partial) == {"relu1_1"}
    assert torch.allclose(partial["relu1_1"], full["relu1_1"])
    with pytest.raises(ValueError, match="relu5_1"):
        features_at(vgg, photo, ("relu5_1",))


def test_build_features_reaches_the_deepest_layer():
    vgg = build_features([("relu1_1",), ("conv3_2", "relu1_2")])
    assert vgg.names[-1] == "conv3_2"


def test_config_validation():
    for bad in ({"what": "texture"}, {"optimizer": "sgd"}, {"size": 8}, {"iterations": -1}, {"lr": 0.0},
                {"tv_weight": -1.0}, {"pooling": "min"}, {"frame_every": 0}):
        with pytest.raises(PainterlyError):
            ReconstructConfig(**bad).validate()
    assert ReconstructConfig(iterations=200).frame_interval == 5
    assert ReconstructConfig(iterations=3).frame_interval == 1


# ----------------------------------------------------------------------------- layer choices

def test_layer_groups_one_choice_per_argument_with_plus_joins():
    assert layer_groups("style", ["relu1_1", "relu1_1+relu2_1", "relu2_2"]) == [
        ("relu1_1",), ("relu1_1", "relu2_1"), ("relu2_2",)]
    # network order, duplicates dropped, index shorthand and case accepted
    assert layer_groups("content", ["relu2_1+RELU1_1+relu1_1", "3", "0+1"]) == [
        ("relu1_1", "relu2_1"), ("relu4_1",)]


def test_layer_groups_cumulative():
    assert layer_groups("style", ["relu1_1", "relu2_1", "relu3_1+relu3_2"], cumulative=True) == [
        ("relu1_1",), ("relu1_1", "relu2_1"), ("relu1_1", "relu2_1", "relu3_1", "relu3_2")]


def test_layer_groups_defaults():
    assert layer_groups("content") == [("conv1_2",), ("conv2_2",), ("conv3_2",), ("conv4_2",), ("conv5_2",)]
    style = layer_groups("style")
    assert style[0] == ("relu1_1",)
    assert style[-1] == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert len(style) == 5


@pytest.mark.parametrize("arg", [["relu1_1", "relu9_9"], ["relu1_1+"], ["conv3_5+relu1_1"], ["7"], []])
def test_layer_groups_bad_names_raise(arg):
    with pytest.raises(UnknownLayerError) as info:
        layer_groups("style", arg)
    assert isinstance(info.value, ValueError)


def test_unknown_layer_suggests_close_names():
    with pytest.raises(UnknownLayerError, match="relu4_2"):
        layer_groups("content", ["relu4_22"])


def test_layer_groups_rejects_unknown_kind():
    with pytest.raises(PainterlyError):
        layer_groups("texture", ["relu1_1"])


def test_choice_names_are_file_safe():
    assert choice_name(("relu1_1", "relu2_1")) == "relu1_1+relu2_1"
    from painterly.features import LAYER_NAMES

    long = choice_name(LAYER_NAMES)
    assert len(long) < 100 and "/" not in long and long.startswith("conv1_1..pool5")
    assert long != choice_name(LAYER_NAMES[:-1])


def test_labelled_grid_wraps_long_labels():
    cell = Image.new("RGB", (40, 30), (200, 10, 10))
    short = labelled_grid([(cell, "original"), (cell, "relu1_1")])
    long = labelled_grid([(cell, "original"), (cell, "relu1_1+relu2_1+relu3_1+relu4_1+relu5_1")])
    assert short.width == long.width == 8 + 2 * 48
    assert long.height > short.height
    many = labelled_grid([(cell, str(i)) for i in range(8)], columns=6)
    assert many.height > short.height  # two rows


# ----------------------------------------------------------------------------- command line

@pytest.fixture()
def photo_file(tmp_path, photo):
    from painterly.io.image import save_image

    return str(save_image(photo, tmp_path / "photo.png"))


def test_cli_writes_reconstructions_gifs_and_grid(tmp_path, photo_file, capsys):
    out = tmp_path / "out"
    code = main(["visualize", photo_file, "--what", "style", "--layers", "relu1_1", "relu2_1", "--cumulative",
                 "-o", str(out), "--size", "32", "--iterations", "3", "--device", "cpu", "--quiet", "--json"])
    assert code == 0
    import imageio.v3 as iio

    names = ["relu1_1", "relu1_1+relu2_1"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.png" for n in names] + [f"{n}.gif" for n in names]
                                                          + ["grid.png"])
    for name in names:
        assert Image.open(out / f"{name}.png").size == (32, 32)
        frames = iio.imread(out / f"{name}.gif", index=None)
        assert frames.ndim == 4 and frames.shape[0] > 1 and frames.shape[1:3] == (32, 32)
    grid = Image.open(out / "grid.png")
    assert grid.width > 3 * 32 and grid.height > 32
    summary = json.loads(capsys.readouterr().out)
    assert [r["layers"] for r in summary["results"]] == [["relu1_1"], ["relu1_1", "relu2_1"]]
    assert summary["settings"]["what"] == "style"


def test_cli_content_default_size_and_frames(tmp_path, photo_file):
    out = tmp_path / "out"
    code = main(["visualize", photo_file, "--what", "content", "--layers", "relu1_1", "-o", str(out), "--size", "24",
                 "--iterations", "4", "--frame-every", "2", "--device", "cpu", "--quiet"])
    assert code == 0
    import imageio.v3 as iio

    frames = iio.imread(out / "relu1_1.gif", index=None)
    assert frames.shape[0] in (3, 4)  # noise, step 2, step 4 (+ the final result, merged if identical)
    # the reconstruction is closer to the photo than the first frame (the noise)
    target = np.asarray(Image.open(out / "relu1_1.png"), dtype=np.float64)
    original = np.asarray(Image.open(photo_file).resize(target.shape[1::-1], Image.LANCZOS), dtype=np.float64)
    assert np.mean((target - original) ** 2) < np.mean((frames[0].astype(np.float64) - original) ** 2)


@pytest.mark.parametrize("args", [["--what", "content", "--layers", "relu1_1", "relu4_22"],
                                  ["--what", "style", "--layers", "relu1_1+"]])
def test_cli_unknown_layer_is_one_error_line_and_no_files(tmp_path, photo_file, capsys, args):
    out = tmp_path / "out"
    code = main(["visualize", photo_file, *args, "-o", str(out), "--size", "32", "--iterations", "2",
                 "--device", "cpu", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert not out.exists()


def test_cli_unknown_layer_suggests(tmp_path, photo_file, capsys):
    main(["visualize", photo_file, "--what", "content", "--layers", "relu4_22", "-o", str(tmp_path / "o")])
    assert "relu4_2" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_cli_bad_image_is_one_error_line_and_no_files(tmp_path, capsys, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    out = tmp_path / "out"
    code = main(["visualize", str(bad), "--what", "style", "-o", str(out), "--size", "32", "--iterations", "2",
                 "--device", "cpu", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bad.png" in err[0]
    assert not out.exists()


def test_cli_refuses_to_overwrite_the_input(tmp_path, photo, capsys):
    from painterly.io.image import save_image

    source = save_image(photo, tmp_path / "relu1_1.png")
    code = main(["visualize", str(source), "--what", "content", "--layers", "relu1_1", "-o", str(tmp_path),
                 "--iterations", "1", "--device", "cpu", "--quiet"])
    assert code == 2 and "overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relu1_1.png"]


def test_cli_output_that_is_a_file(tmp_path, photo_file, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code = main(["visualize", photo_file, "--what", "content", "--layers", "relu1_1", "-o", str(target),
                 "--iterations", "1", "--device", "cpu", "--quiet"])
    assert code == 2 and "not a folder" in capsys.readouterr().err
