"""AdaIN decoder training: batches, data split, a 2-step smoke run, export, and the CLI end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli.common import ArgumentParser
from painterly.methods.adain import load_adain_stylizer
from painterly.nets.adain import AdainDecoder, AdainDecoderConfig
from painterly.train.adain import AdainBatches, AdainTask, AdainTrainConfig, build_adain_training, split_data

TINY = AdainDecoderConfig(width=1 / 16, input_scale=1.0)  # unscaled: a random decoder reacts visibly to its input


def _images(folder, names, size=(48, 40), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{name}.jpg")
    return folder


@pytest.fixture
def data(tmp_path):
    content = _images(tmp_path / "content", [f"photo{i}" for i in range(5)] + ["skimage_coffee"])
    styles = _images(tmp_path / "styles", ["a", "b", "c", "munch_the_scream"], seed=1)
    return content, styles


def _uint8(n, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


def test_batches_are_deterministic_per_step():
    batches = AdainBatches(_uint8(3), _uint8(2, seed=1), batch_size=2, crop=32, jitter=0.25, seed=7)
    a, b = batches.batch(5), batches.batch(5)
    assert a["content"].shape == (2, 3, 32, 32) and a["style"].shape == (2, 3, 32, 32)
    assert torch.equal(a["content"], b["content"]) and torch.equal(a["style"], b["style"])
    assert not torch.equal(a["content"], batches.batch(6)["content"])
    assert 0 <= float(a["content"].min()) and float(a["content"].max()) <= 1


def test_split_holds_out_paintings_and_sample_photos(data):
    content, styles = data
    cfg = AdainTrainConfig(content_dir=str(content), styles_dir=str(styles), holdout_photos=1)
    split = split_data(cfg)
    assert [p.stem for p in split.val_styles] == ["munch_the_scream"]
    assert "munch_the_scream" not in {p.stem for p in split.train_styles}
    assert "skimage_coffee" in {p.stem for p in split.val_content}
    assert not set(split.train_content) & set(split.val_content)
    assert len(split.train_content) == 4


def test_two_training_steps_change_the_decoder_and_export_loads(tmp_path):
    torch.manual_seed(0)
    cfg = AdainTrainConfig(crop=32)
    task = AdainTask(cfg, decoder=AdainDecoder(TINY))
    batches = AdainBatches(_uint8(3), _uint8(2, seed=1), batch_size=2, crop=32)
    before = [p.detach().clone() for p in task.parameters()]
    opt = torch.optim.Adam(task.parameters(), lr=1e-3)
    for step in range(2):
        losses = task.losses(batches.batch(step), step)
        assert set(losses) >= {"total", "content", "style"}
        assert all(math.isfinite(float(v.detach())) for v in losses.values())
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, task.parameters()))
    sample = task.samples(batches.batch(0)["content"])
    assert sample.shape == (2, 3, 32, 32)
    path = task.export(tmp_path / "adain.safetensors", {"training": {"steps": 2}})
    stylizer = load_adain_stylizer(path, style_size=32)
    assert stylizer.kind == "adain"
    assert stylizer.decoder.config == TINY
    assert stylizer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_build_adain_training(data):
    content, styles = data
    cfg = AdainTrainConfig(content_dir=str(content), styles_dir=str(styles), crop=32, content_size=40,
                           style_size=48, holdout_photos=1)
    task, batches, info = build_adain_training(cfg, batch_size=2)
    assert info["val_styles"] == ["munch_the_scream.jpg"]
    assert info["validation"].shape[1:] == (3, 32, 32)
    assert batches.batch(0)["style"].shape == (2, 3, 32, 32)


def _train_parser():
    from painterly.cli import train_adain

    parser = ArgumentParser(prog="painterly")
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    train = sub.add_parser("train")
    train_adain.add_parser(train.add_subparsers(dest="trainer", parser_class=ArgumentParser))
    return parser


def test_cli_train_end_to_end(data, tmp_path):
    content, styles = data
    out = tmp_path / "model.safetensors"
    argv = ["train", "adain", "--content", str(content), "--styles", str(styles), "-o", str(out),
            "--iterations", "2", "--batch-size", "2", "--crop", "32", "--content-size", "40", "--style-size", "48",
            "--width", "0.0625", "--holdout-photos", "1", "--checkpoint-every", "1", "--sample-every", "1",
            "--no-tensorboard", "--quiet", "--device", "cpu", "--run-dir", str(tmp_path / "run")]
    args = _train_parser().parse_args(argv)
    assert args.func(args) == 0
    assert out.is_file() and out.with_suffix(".json").is_file()
    stylizer = load_adain_stylizer(out)
    assert stylizer.meta["training"]["steps"] == 2
    assert stylizer.meta["training"]["task"]["held_out_styles"] == ["munch_the_scream.jpg"]
    assert (tmp_path / "run" / "config.json").is_file()
    assert list((tmp_path / "run" / "samples").glob("*.png"))
    defaults = _train_parser().parse_args(["train", "adain", "--content", "c", "--styles", "s", "-o", "m.safetensors"])
    assert defaults.crop == AdainTrainConfig().crop and defaults.style_weight == AdainTrainConfig().style_weight


def test_cli_errors_are_painterly_errors(data, tmp_path):
    from painterly.errors import PainterlyError

    content, styles = data
    args = _train_parser().parse_args(["train", "adain", "--content", str(content), "--styles", str(tmp_path / "none"),
                                       "-o", str(tmp_path / "m.safetensors"), "--device", "cpu", "--quiet"])
    with pytest.raises(PainterlyError, match="not a folder"):
        args.func(args)
    args = _train_parser().parse_args(["train", "adain", "--content", str(content), "--styles", str(styles),
                                       "-o", str(tmp_path / "m.pt"), "--device", "cpu"])
    with pytest.raises(PainterlyError, match="safetensors"):
        args.func(args)
