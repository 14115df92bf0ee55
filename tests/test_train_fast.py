"""Per-style and multi-style trainers: smoke tests on the real VGG19, exact add-style freezing,
calibration maths, and the ``painterly train`` command end to end (tiny sizes throughout)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from painterly.cli import main
from painterly.cli.train_fast import prepare_data
from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.io.model_file import load_model_file, save_model_file
from painterly.nets.transformer import TransformerConfig, TransformerNet
from painterly.losses import content_loss
from painterly.train.data import FolderBatches, PairedFolderBatches, center_square, find_images, pair_with_teachers
from painterly.train.fast import (BUILTIN_STYLE_LAYERS, IMAGE_STYLE_LAYERS, FastTask, FastTrainConfig,
                                  build_fast_task, calibrated_pixel_weight, calibrated_weights)
from painterly.train.loop import TrainerConfig, train
from painterly.train.multistyle import (MultiStyleTask, MultiStyleTrainConfig, build_multistyle_task,
                                        earlier_stages, styles_for_step, with_stages)

from conftest import make_painting, make_photo


class FakeFeatures(nn.Module):
    """A fixed random 'VGG': each requested layer is a pooled ReLU conv of the image."""

    def __init__(self, layers):
        super().__init__()
        self.layers = tuple(layers)
        gen = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen))
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=gen))   # the same 'VGG' every time
        self.requires_grad_(False)

    def forward(self, x):
        f = torch.relu(self.conv(x))
        return {name: nn.functional.avg_pool2d(f, 2 ** min(i, 2)) for i, name in enumerate(self.layers)}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(np.roll(make_photo(48, 56), 7 * i, axis=1)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def style_files(tmp_path) -> list[Path]:
    paths = []
    for i in range(3):
        path = tmp_path / f"style{i}.png"
        Image.fromarray(np.rot90(make_painting(40, 40), i).copy()).save(path)
        paths.append(path)
    return paths


def tiny(**kw) -> dict:
    return dict(crop=32, width=4, depth=1, style_size=40, calibration_batches=1, **kw)


def trainer(tmp_path, **kw) -> TrainerConfig:
    base = dict(out_dir=str(tmp_path / "run"), iterations=2, batch_size=2, lr=1e-2, checkpoint_every=10,
                sample_every=10, tensorboard=False, sample_gif=False)
    base.update(kw)
    return TrainerConfig(**base)


def snapshot(net) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# --------------------------------------------------------------------------- pure maths


def test_calibrated_weights_hit_the_stated_ratios():
    style_w, tv_w = calibrated_weights(content0=200.0, style0=5e6, tv0=0.01, content_weight=2.0, style_ratio=4.0,
                                       tv_ratio=0.01)
    assert style_w * 5e6 == pytest.approx(4.0 * 2.0 * 200.0)
    assert tv_w * 0.01 == pytest.approx(0.01 * 2.0 * 200.0)


def test_calibrated_pixel_weight_hits_the_stated_ratio():
    assert calibrated_pixel_weight(300.0, 0.25, 2.0, 0.5) * 0.25 == pytest.approx(0.5 * 2.0 * 300.0)
    with pytest.raises(PainterlyError, match="give --pixel-weight"):
        calibrated_pixel_weight(300.0, 0.0, 1.0, 1.0)


def make_teachers(data_dir: Path, folder: Path, stems, transform=lambda image: image) -> Path:
    """Teacher images for the photos ``stems`` of ``data_dir``: each photo at 2/3 size through ``transform``."""
    folder.mkdir(exist_ok=True)
    for stem in stems:
        with Image.open(data_dir / f"{stem}.png") as photo:
            small = photo.convert("RGB").resize((photo.width * 2 // 3, photo.height * 2 // 3), Image.BILINEAR,
                                                reducing_gap=2.0)
        transform(small).save(folder / f"{stem}.jpg" if stem == "p0" else folder / f"{stem}.png", quality=100)
    return folder


def test_pair_with_teachers_matches_relative_stems_and_checks_the_shape(tmp_path, data_dir):
    teachers = make_teachers(data_dir, tmp_path / "teach", ["p0", "p3"])
    (teachers / "extra.png").write_bytes((teachers / "p3.png").read_bytes())   # no such photo: ignored
    paired, targets, spare = pair_with_teachers(find_images(data_dir), data_dir, teachers)
    assert [p.name for p in paired] == ["p0.png", "p3.png"]
    assert [t.name for t in targets] == ["p0.jpg", "p3.png"]
    assert [p.name for p in spare] == ["p1.png", "p2.png", "p4.png"]
    Image.new("RGB", (30, 30)).save(teachers / "p1.png")   # square teacher of a 56 x 48 photo
    with pytest.raises(PainterlyError, match="p1.png: 30x30 does not have the shape of its photo p1.png"):
        pair_with_teachers(find_images(data_dir), data_dir, teachers)
    empty = tmp_path / "others"
    empty.mkdir()
    Image.new("RGB", (30, 30)).save(empty / "q.png")
    with pytest.raises(PainterlyError, match="no teacher image matches a training photo"):
        pair_with_teachers(find_images(data_dir), data_dir, empty)
    (teachers / "p1.png").unlink()
    (teachers / "p3.jpg").write_bytes((teachers / "p0.jpg").read_bytes())   # p3.png and p3.jpg: which one?
    with pytest.raises(PainterlyError, match="two teacher images for the photo p3: p3.(png|jpg) and p3.(png|jpg)"):
        pair_with_teachers(find_images(data_dir), data_dir, teachers)


def test_paired_batches_crop_photo_and_teacher_alike(tmp_path, data_dir):
    stems = ["p0", "p1", "p2", "p3", "p4"]
    paths = [data_dir / f"{s}.png" for s in stems]
    same = make_teachers(data_dir, tmp_path / "same", stems[1:])   # the photo itself at 2/3 size, lossless
    with PairedFolderBatches(paths[1:], sorted(same.iterdir()), crop=24, batch_size=3, seed=5) as batches:
        first, again = batches.batch(2), batches.batch(2)
        assert first["content"].shape == first["target"].shape == (3, 3, 24, 24)
        torch.testing.assert_close(first["content"], first["target"])   # same box, same flip
        torch.testing.assert_close(first["target"], again["target"])
        assert not torch.equal(first["content"], batches.batch(3)["content"])
    negative = make_teachers(data_dir, tmp_path / "neg", stems[1:], lambda image: Image.eval(image, lambda v: 255 - v))
    with PairedFolderBatches(paths[1:], sorted(negative.iterdir()), crop=24, batch_size=3, seed=5) as batches:
        torch.testing.assert_close(batches.batch(2)["target"], 1 - first["content"], atol=1 / 255 + 1e-6, rtol=0)
    with pytest.raises(PainterlyError, match="2 photos but 1 teacher images"):
        PairedFolderBatches(paths[:2], paths[:1], crop=24, batch_size=1)


def test_distillation_terms_compare_with_the_teacher(tmp_path, data_dir):
    teachers = make_teachers(data_dir, tmp_path / "teach", ["p0", "p1", "p2"],
                             lambda image: Image.eval(image, lambda v: 255 - v))
    paired, targets, _ = pair_with_teachers(find_images(data_dir), data_dir, teachers)
    with PairedFolderBatches(paired, targets, crop=32, batch_size=2, seed=0) as batches:
        task = build_fast_task(FastTrainConfig(style=str(style_path(tmp_path)), teacher=str(teachers), pixel_ratio=3.0,
                                               loss_margin=0, **tiny()), batches, features=FakeFeatures)
        batch = batches.batch(0)
    ref = task.reference_losses
    assert task.cfg.pixel_weight * ref["pixel"] == pytest.approx(3.0 * ref["content"])
    with torch.no_grad():
        terms = task.terms(batch)
        out = task.net(batch["content"])
        vgg = FakeFeatures(task.cfg.content_layers)
        expected_content = content_loss(vgg(out)["relu2_2"], vgg(batch["target"])["relu2_2"])
        photo_content = content_loss(vgg(out)["relu2_2"], vgg(batch["content"])["relu2_2"])
    assert float(terms["content"]) == pytest.approx(float(expected_content), rel=1e-5)
    assert float(terms["content"]) != pytest.approx(float(photo_content), rel=1e-2)
    assert float(terms["pixel"]) == pytest.approx(float((out - batch["target"]).abs().mean()), rel=1e-5)
    losses = {k: v.detach() for k, v in task.losses(batch, 0).items()}
    assert set(losses) == {"content", "style", "tv", "pixel", "total"}
    assert float(losses["total"]) == pytest.approx(sum(float(v) for k, v in losses.items() if k != "total"), rel=1e-5)
    assert "pixel" not in FastTask(FastTrainConfig(style=str(style_path(tmp_path)), **tiny()),
                                   features=FakeFeatures).weights()
    with pytest.raises(PainterlyError, match="needs batches with a 'target'"):
        task.terms({"content": batch["content"]})


def style_path(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    if not path.exists():
        Image.fromarray(make_painting(40, 40)).save(path)
    return path


def test_styles_for_step_is_balanced_and_deterministic():
    picks = [s for step in range(6) for s in styles_for_step(step, 2, [3, 4, 5], seed=1)]
    for cycle in range(4):
        assert sorted(picks[3 * cycle: 3 * cycle + 3]) == [3, 4, 5]
    assert styles_for_step(4, 2, [3, 4, 5], seed=1) == picks[8:10]


def test_default_style_layers_depend_on_the_style_source(style_files):
    image_task = FastTask(FastTrainConfig(style=str(style_files[0]), **tiny()), features=FakeFeatures)
    assert image_task.cfg.style_layers == IMAGE_STYLE_LAYERS
    builtin_task = FastTask(FastTrainConfig(style="udnie", **tiny()), features=FakeFeatures)
    assert builtin_task.cfg.style_layers == BUILTIN_STYLE_LAYERS
    assert builtin_task.style.info["artist"] == "Francis Picabia"


# --------------------------------------------------------------------------- loss margin


def test_features_with_margin_crop_back_to_the_image():
    """Reflection-pad, run, crop by margin / stride: for layers that only look at their own
    position (identity, 2x2 average pooling) the result is exactly the unpadded features."""
    from painterly.train.fast import features_with_margin

    def features(x):
        return {"full": x * 2, "half": torch.nn.functional.avg_pool2d(x, 2), "eighth": torch.nn.functional.avg_pool2d(x, 8)}

    images = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    plain = features(images)
    for margin in (0, 8, 16):
        got = features_with_margin(features, images, margin)
        for layer, value in plain.items():
            assert torch.equal(got[layer], value), (margin, layer)


def test_features_with_margin_on_vgg_keep_shapes_and_change_only_the_border():
    from painterly.features import VGG19Features
    from painterly.train.fast import features_with_margin

    vgg = VGG19Features(("relu1_2", "relu4_3"))
    images = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain, padded = vgg(images), features_with_margin(vgg, images, 16)
    for layer in plain:
        assert padded[layer].shape == plain[layer].shape
    centre = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    assert torch.allclose(padded["relu1_2"][centre], plain["relu1_2"][centre], atol=1e-3)    # 3x3 convs: local
    assert not torch.allclose(padded["relu1_2"][..., 0, :], plain["relu1_2"][..., 0, :])    # the edge row differs


@pytest.mark.parametrize("margin", [-8, 4, 32])
def test_loss_margin_is_checked(margin):
    with pytest.raises(PainterlyError, match="loss margin"):
        FastTrainConfig(style="x.png", loss_margin=margin, crop=32).validate()
    with pytest.raises(PainterlyError, match="loss margin"):
        MultiStyleTrainConfig(styles=("a.png", "b.png"), loss_margin=margin, crop=32).validate()


# --------------------------------------------------------------------------- real VGG smoke tests


def test_fast_trainer_smoke_on_real_vgg(tmp_path, data_dir, style_files):
    with FolderBatches(find_images(data_dir), crop=32, batch_size=2, seed=0) as batches:
        task = build_fast_task(FastTrainConfig(style=str(style_files[0]), loss_margin=8, **tiny()), batches)
        assert task.cfg.style_weight > 0 and task.cfg.tv_weight > 0
        before = snapshot(task.net)
        result = train(task, batches, trainer(tmp_path), export_path=tmp_path / "m.safetensors",
                       task_config=task.config_dict())
    assert all(math.isfinite(v) for v in result.losses.values())
    assert any(not torch.equal(before[k], v) for k, v in snapshot(task.net).items())
    model = load_model_file(result.model_path, expected_kind="fast")
    assert model.meta["architecture"] == {"width": 4, "depth": 1, "n_styles": 1, "fast_variant": False}
    assert model.style_names == ["style0"]
    assert model.meta["training"]["task"]["style_weight"] == task.cfg.style_weight
    net = TransformerNet(TransformerConfig(**model.architecture))
    net.load_state_dict(model.state)
    assert net(torch.rand(1, 3, 20, 28)).shape == (1, 3, 20, 28)


def test_multistyle_smoke_on_real_vgg_and_add_style_keeps_old_styles(tmp_path, data_dir, style_files):
    with FolderBatches(find_images(data_dir), crop=32, batch_size=2, seed=0) as batches:
        cfg = MultiStyleTrainConfig(styles=tuple(map(str, style_files[:2])), loss_margin=8, **tiny())
        task = build_multistyle_task(cfg, batches)
        assert len(task.cfg.style_weights) == 2
        before = snapshot(task.net)
        result = train(task, batches, trainer(tmp_path / "a"), export_path=tmp_path / "multi.safetensors")
        assert all(math.isfinite(v) for v in result.losses.values())
        assert any(not torch.equal(before[k], v) for k, v in snapshot(task.net).items())

        grown = build_multistyle_task(MultiStyleTrainConfig(styles=(str(style_files[2]),),
                                                            base_model=str(result.model_path), **tiny()),
                                      batches, features=FakeFeatures)
        old = snapshot(grown.net)
        train(grown, batches, trainer(tmp_path / "b", lr=0.1), export_path=tmp_path / "grown.safetensors")
    new = snapshot(grown.net)
    changed = False
    for key, value in new.items():
        if key.endswith(("inner.weight", "inner.bias")):
            assert torch.equal(value[:2], old[key][:2]), key          # old styles bit-identical
            changed |= not torch.equal(value[2], old[key][2])
        else:
            assert torch.equal(value, old[key]), key                   # shared convolutions frozen
    assert changed
    model = load_model_file(tmp_path / "grown.safetensors", expected_kind="multistyle")
    assert model.architecture["n_styles"] == 3 and model.style_names == ["style0", "style1", "style2"]
    base = load_model_file(tmp_path / "multi.safetensors")
    for key, value in base.state.items():
        grown_value = model.state[key]
        assert torch.equal(grown_value[:2] if key.endswith(("inner.weight", "inner.bias")) else grown_value, value)
    stages = model.meta["training"]["earlier_stages"]          # the old styles' training stays on record
    assert [stage["source"] for stage in stages] == ["multi.safetensors"]
    assert stages[0]["steps"] == base.meta["training"]["steps"]
    assert model.meta["training"]["all_stages"]["steps"] == base.meta["training"]["steps"] + model.meta["training"]["steps"]


def test_multistyle_init_starts_from_the_model_and_keeps_its_weights_unless_given(tmp_path, data_dir, style_files):
    styles = tuple(map(str, style_files[:2]))
    with FolderBatches(find_images(data_dir), crop=32, batch_size=2, seed=0) as batches:
        first = build_multistyle_task(MultiStyleTrainConfig(styles=styles, **tiny()), batches, features=FakeFeatures)
        result = train(first, batches, trainer(tmp_path / "a"), export_path=tmp_path / "multi.safetensors")
        trained = snapshot(first.net)
        tuned = build_multistyle_task(MultiStyleTrainConfig(styles=styles, init_model=str(result.model_path),
                                                            tv_weight=5.0, seed=3, **tiny()),
                                      batches, features=FakeFeatures)
        start = snapshot(tuned.net)
        for key, value in trained.items():     # the saved fp16 weights, not a fresh initialisation
            assert torch.allclose(start[key].float(), value.float(), atol=2e-3, rtol=1e-2), key
        assert tuned.cfg.style_weights == pytest.approx(first.cfg.style_weights)   # kept, not recalibrated
        assert tuned.cfg.tv_weight == 5.0                                           # given: replaces
        train(tuned, batches, trainer(tmp_path / "b"), export_path=tmp_path / "tuned.safetensors")
        assert any(not torch.equal(start[k], v) for k, v in snapshot(tuned.net).items())
        meta = load_model_file(tmp_path / "tuned.safetensors").meta
        assert meta["training"]["task"]["init_model"] == str(result.model_path)
        assert meta["training"]["task"]["style_weights"] == pytest.approx(list(first.cfg.style_weights))
        (stage,) = meta["training"]["earlier_stages"]                 # the init model's run is on record
        first_meta = load_model_file(result.model_path).meta["training"]
        assert stage["source"] == "multi.safetensors" and stage["task"] == first_meta["task"]
        assert meta["training"]["all_stages"]["steps"] == first_meta["steps"] + meta["training"]["steps"]
        with pytest.raises(PainterlyError, match="same styles in the same order"):
            MultiStyleTask(MultiStyleTrainConfig(styles=styles[::-1], init_model=str(result.model_path), **tiny()),
                           features=FakeFeatures)
        with pytest.raises(PainterlyError, match="architecture"):
            MultiStyleTask(MultiStyleTrainConfig(styles=styles, init_model=str(result.model_path),
                                                 **{**tiny(), "width": 8}), features=FakeFeatures)


def test_fast_init_starts_from_a_multistyle_slot_or_a_fast_model(tmp_path, data_dir, style_files):
    styles = tuple(map(str, style_files[:2]))
    with FolderBatches(find_images(data_dir), crop=32, batch_size=2, seed=0) as batches:
        multi = build_multistyle_task(MultiStyleTrainConfig(styles=styles, **tiny()), batches, features=FakeFeatures)
        train(multi, batches, trainer(tmp_path / "m", iterations=3), export_path=tmp_path / "multi.safetensors")
        saved = load_model_file(tmp_path / "multi.safetensors")
        slot_net = TransformerNet(TransformerConfig(**saved.architecture))
        slot_net.load_state_dict(saved.state)
        # the slot of style1: the multistyle network's architecture (not the config's width 8), its output for
        # style index 1, and the weights it was trained with
        cfg = FastTrainConfig(style=styles[1], init_model=str(tmp_path / "multi.safetensors"),
                              **{**tiny(), "width": 8})
        task = build_fast_task(cfg, batches, features=FakeFeatures)
        assert task.cfg.width == 4 and task.net.n_styles == 1
        photos = batches.batch(0)["content"]
        torch.testing.assert_close(task.net(photos), slot_net(photos, 1), atol=1e-6, rtol=1e-5)
        assert task.cfg.style_weight == pytest.approx(multi.cfg.style_weights[1])
        assert task.cfg.tv_weight == pytest.approx(multi.cfg.tv_weight)
        start = snapshot(task.net)
        train(task, batches, trainer(tmp_path / "f", iterations=2), export_path=tmp_path / "fast.safetensors")
        assert any(not torch.equal(start[k], v) for k, v in snapshot(task.net).items())
        model = load_model_file(tmp_path / "fast.safetensors", expected_kind="fast")
        assert model.style_names == ["style1"] and model.architecture["n_styles"] == 1
        training = model.meta["training"]
        assert [s["source"] for s in training["earlier_stages"]] == ["multi.safetensors"]
        assert training["all_stages"]["steps"] == 3 + 2

        # from the fast model: its weights and its weights' record, a given TV weight replacing its own
        again = FastTask(FastTrainConfig(style=styles[1], init_model=str(tmp_path / "fast.safetensors"),
                                         tv_weight=3.0, **tiny()), features=FakeFeatures)
        for key, value in snapshot(task.net).items():     # fp16 in the file
            torch.testing.assert_close(snapshot(again.net)[key], value, atol=2e-3, rtol=1e-2)
        assert again.cfg.style_weight == pytest.approx(task.cfg.style_weight) and again.cfg.tv_weight == 3.0
        assert [s["source"] for s in again.earlier_stages] == ["multi.safetensors", "fast.safetensors"]

        with pytest.raises(StyleNotFoundError, match="holds no style 'style2'.*its styles: style0, style1"):
            FastTask(FastTrainConfig(style=str(style_files[2]), init_model=str(tmp_path / "multi.safetensors"),
                                     **tiny()), features=FakeFeatures)
        plain = save_model_file(tmp_path / "plain.safetensors", "fast", TransformerNet(
            TransformerConfig(4, 1)).state_dict(), {"architecture": TransformerConfig(4, 1).to_dict()})
        # no recorded weights: calibrated by the rule, on a fresh network of the architecture (as from scratch)
        no_weights = build_fast_task(FastTrainConfig(style=styles[0], init_model=str(plain), **tiny()), batches,
                                     features=FakeFeatures)
        scratch = build_fast_task(FastTrainConfig(style=styles[0], **tiny()), batches, features=FakeFeatures)
        assert no_weights.reference_losses == pytest.approx(scratch.reference_losses)
        assert (no_weights.cfg.style_weight, no_weights.cfg.tv_weight) == \
            pytest.approx((scratch.cfg.style_weight, scratch.cfg.tv_weight))
        # another style target than the slot was trained on (other layers): its style weight is calibrated, its
        # TV weight kept
        other = build_fast_task(FastTrainConfig(style=styles[1], init_model=str(tmp_path / "multi.safetensors"),
                                                style_layers=("relu1_1", "relu2_1"), **tiny()), batches,
                                features=FakeFeatures)
        fresh = build_fast_task(FastTrainConfig(style=styles[1], style_layers=("relu1_1", "relu2_1"), **tiny()),
                                batches, features=FakeFeatures)
        assert other.cfg.style_weight == pytest.approx(fresh.cfg.style_weight)
        assert other.cfg.style_weight != pytest.approx(multi.cfg.style_weights[1])
        assert other.cfg.tv_weight == pytest.approx(multi.cfg.tv_weight)


def test_stage_records_chain_through_fine_tunes():
    one = {"steps": 30, "seconds": 10.0, "task": {"lr": 1}}
    two = with_stages({"steps": 5, "seconds": 2.5, "task": {"lr": 2}}, earlier_stages(one, "one.safetensors"))
    three = with_stages({"steps": 7, "seconds": 1.0, "task": {"lr": 3}}, earlier_stages(two, "two.safetensors"))
    assert [s["source"] for s in three["earlier_stages"]] == ["one.safetensors", "two.safetensors"]
    assert [s["task"]["lr"] for s in three["earlier_stages"]] == [1, 2]
    assert "earlier_stages" not in three["earlier_stages"][1]          # each stage recorded once
    assert three["all_stages"] == {"stages": 3, "steps": 42, "seconds": 13.5}
    assert with_stages(one, []) == one


# --------------------------------------------------------------------------- command line


def common_flags(tmp_path, data_dir) -> list[str]:
    return ["--data", str(data_dir), "--iterations", "2", "--batch-size", "2", "--crop", "32", "--width", "4",
            "--depth", "1", "--style-size", "40", "--sample-every", "1", "--checkpoint-every", "1", "--device",
            "cpu", "--quiet", "--holdout", "1", "--no-tensorboard"]


def test_cli_train_fast_and_multistyle_end_to_end(tmp_path, data_dir, style_files, capsys):
    out = tmp_path / "fast.safetensors"
    assert main(["train", "fast", "--style", str(style_files[0]), "-o", str(out), "--name", "stripes",
                 "--artist", "test", *common_flags(tmp_path, data_dir)]) == 0
    model = load_model_file(out, expected_kind="fast")
    assert model.style_names == ["stripes"] and model.meta["styles"][0]["artist"] == "test"
    run = tmp_path / "fast_run"
    assert sorted(p.name for p in (run / "samples").iterdir()) == \
        ["step_000000.png", "step_000001.png", "step_000002.png"]
    with Image.open(run / "samples.gif") as gif:
        assert gif.n_frames == 3
    assert out.with_suffix(".json").is_file()
    # resume with more iterations continues from step 2; --average-last 2 exports the mean of steps 2 and 3
    assert main(["train", "fast", "--style", str(style_files[0]), "-o", str(out), "--resume",
                 *common_flags(tmp_path, data_dir)[:-1], "--no-tensorboard", "--iterations", "3",
                 "--average-last", "2"]) == 0
    training = load_model_file(out).meta["training"]
    assert training["steps"] == 3 and training["averaged_checkpoints"] == [2, 3]

    multi = tmp_path / "multi.safetensors"
    assert main(["train", "multistyle", "--styles", str(style_files[0]), str(style_files[1]), "-o", str(multi),
                 *common_flags(tmp_path, data_dir)]) == 0
    grown = tmp_path / "grown.safetensors"
    assert main(["train", "multistyle", "--add-style", str(multi), "--styles", str(style_files[2]), "-o",
                 str(grown), *common_flags(tmp_path, data_dir)]) == 0
    assert load_model_file(grown).architecture["n_styles"] == 3
    tuned = tmp_path / "tuned.safetensors"
    assert main(["train", "multistyle", "--init", str(multi), "--styles", str(style_files[0]), str(style_files[1]),
                 "--tv-weight", "2", "-o", str(tuned), *common_flags(tmp_path, data_dir)]) == 0
    task = load_model_file(tuned).meta["training"]["task"]
    assert task["init_model"] == str(multi) and task["tv_weight"] == 2.0


def test_cli_train_fast_from_teacher_images(tmp_path, data_dir, style_files):
    teachers = make_teachers(data_dir, tmp_path / "teach", ["p0", "p1", "p2"],
                             lambda image: Image.eval(image, lambda v: 255 - v))
    out = tmp_path / "distilled.safetensors"
    assert main(["train", "fast", "--style", str(style_files[0]), "-o", str(out), "--teacher", str(teachers),
                 "--pixel-ratio", "2", *common_flags(tmp_path, data_dir)]) == 0
    task = load_model_file(out).meta["training"]["task"]
    assert task["teacher"] == str(teachers) and task["pixel_ratio"] == 2.0 and task["pixel_weight"] > 0
    assert task["reference_losses"]["pixel"] > 0
    # the samples come from photos without a teacher; the trained photos are the paired ones
    args = argparse.Namespace(data=str(data_dir), validation=None, holdout=2, seed=0, sample_size=None, batch_size=2)
    batches, validation = prepare_data(args, 32, str(teachers))
    with batches:
        assert [p.name for p in batches.cache.paths] == ["p0.png", "p1.png", "p2.png"]
    spare = torch.cat([center_square(Image.open(data_dir / f"p{i}.png").convert("RGB"), 32) for i in (3, 4)])
    torch.testing.assert_close(validation, spare)


@pytest.mark.parametrize("case", ["empty_data", "unknown_style", "unreadable_model", "wrong_kind", "bad_output",
                                  "init_without_the_style", "teacher_folder_missing", "teacher_wrong_shape"])
def test_cli_train_errors_exit_2_with_one_line(case, tmp_path, data_dir, style_files, capsys):
    flags = common_flags(tmp_path, data_dir)
    if case == "empty_data":
        (tmp_path / "empty").mkdir()
        argv = ["train", "fast", "--style", str(style_files[0]), "-o", str(tmp_path / "m.safetensors"),
                *flags, "--data", str(tmp_path / "empty")]
        expected = "no training images"
    elif case == "unknown_style":
        argv = ["train", "fast", "--style", "starry_nigth", "-o", str(tmp_path / "m.safetensors"), *flags]
        expected = "did you mean starry_night"
    elif case == "unreadable_model":
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"garbage")
        argv = ["train", "multistyle", "--add-style", str(bad), "--styles", str(style_files[0]), "-o",
                str(tmp_path / "m.safetensors"), *flags]
        expected = "not a readable model file"
    elif case == "wrong_kind":

        fast = save_model_file(tmp_path / "fast.safetensors", "fast", {"x": torch.zeros(1)})
        argv = ["train", "multistyle", "--add-style", str(fast), "--styles", str(style_files[0]), "-o",
                str(tmp_path / "m.safetensors"), *flags]
        expected = "expected 'multistyle'"
    elif case == "init_without_the_style":
        argv = ["train", "fast", "--init", "zoo", "--style", str(style_files[0]), "-o", str(tmp_path / "m.safetensors"),
                *flags]
        expected = "holds no style 'style0'"
    elif case == "teacher_folder_missing":
        argv = ["train", "fast", "--style", str(style_files[0]), "-o", str(tmp_path / "m.safetensors"), *flags,
                "--teacher", str(tmp_path / "nowhere")]
        expected = "nowhere: no such folder"
    elif case == "teacher_wrong_shape":
        (tmp_path / "teach").mkdir()
        Image.new("RGB", (30, 30)).save(tmp_path / "teach" / "p2.png")
        argv = ["train", "fast", "--style", str(style_files[0]), "-o", str(tmp_path / "m.safetensors"), *flags,
                "--teacher", str(tmp_path / "teach")]
        expected = "does not have the shape of its photo p2.png"
    else:
        argv = ["train", "fast", "--style", str(style_files[0]), "-o", str(tmp_path / "m.pt"), *flags]
        expected = "must end in .safetensors"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expected in err[0], err
    assert not (tmp_path / "m.safetensors").exists()
