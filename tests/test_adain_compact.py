"""The compact (distilled) AdaIN model: shapes, the distillation losses, export/load, the CLI and its errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import write_noise_images

from painterly.cli.common import ArgumentParser
from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.features import VGG19Features, layer_channels
from painterly.io.image import load_image
from painterly.losses import gram
from painterly.methods.adain import builtin_decoder_path, load_adain_stylizer
from painterly.nets.adain_compact import LEVELS, CompactAdainConfig, CompactDecoder, CompactEncoder
from painterly.ops import adain, channel_mean_std, resize_longer_side
from painterly.styles import StyleRegistry, StyleStats
from painterly.train.adain import AdainBatches
from painterly.train.adain_compact import (CompactAdainTask, CompactAdainTrainConfig, build_compact_training,
                                           init_student, load_teacher_decoder, mix, strengths, tap_channels)
from painterly.train.loop import save_checkpoint

TINY = (4, 8, 8, 16)


def _uint8(n, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


def _task(styles_dir: str = "", builtin_size: int = 32, **settings) -> CompactAdainTask:
    cfg = CompactAdainTrainConfig(widths=TINY, crop=32, styles_dir=styles_dir, builtin_style_size=builtin_size,
                                  **settings)
    scales = {level: torch.full((layer_channels(level),), 0.01) for level in LEVELS}
    return CompactAdainTask(cfg, load_teacher_decoder(None), scales)


def test_encoder_levels_and_decoder_shapes():
    config = CompactAdainConfig(TINY)
    feats = CompactEncoder(config)(torch.rand(2, 3, 48, 64), LEVELS)
    assert [tuple(feats[level].shape) for level in LEVELS] == [
        (2, 4, 48, 64), (2, 8, 24, 32), (2, 8, 12, 16), (2, 16, 6, 8)]
    assert set(CompactEncoder(config)(torch.rand(1, 3, 16, 16))) == {"relu4_1"}
    assert CompactDecoder(config)(feats["relu4_1"]).shape == (2, 3, 48, 64)
    with pytest.raises(ValueError, match="unknown levels"):
        CompactEncoder(config)(torch.rand(1, 3, 16, 16), ("relu5_1",))
    with pytest.raises(ValueError, match="16 x h x w"):
        CompactDecoder(config)(torch.rand(1, 8, 2, 2))
    with pytest.raises(ValueError, match="four positive widths"):
        CompactAdainConfig((4, 8, 0, 16))
    assert CompactAdainConfig.from_dict(config.to_dict()) == config


def test_strengths_are_deterministic_with_the_full_share_first():
    a = strengths(8, 0.5, seed=3, step=11)
    assert torch.equal(a, strengths(8, 0.5, seed=3, step=11))
    assert not torch.equal(a, strengths(8, 0.5, seed=3, step=12))
    assert a.shape == (8, 1, 1, 1)
    assert torch.all(a[:4] == 1) and torch.all((a[4:] >= 0) & (a[4:] < 1))
    assert torch.all(strengths(3, 0.0, 0, 0) < 1)


def test_mix_is_the_papers_interpolation():
    content, style = torch.rand(3, 5, 4, 6) * 3, torch.rand(3, 5, 7, 2) * 2 + 1
    a = torch.tensor([1.0, 0.0, 0.3]).view(-1, 1, 1, 1)
    # AdaIN by hand: (x - mu(x)) / sigma(x) * sigma(y) + mu(y), population std over each channel
    mu_c, mu_s = content.mean((2, 3), keepdim=True), style.mean((2, 3), keepdim=True)
    sd_c = (content.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    sd_s = (style.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    by_hand = (content - mu_c) / sd_c * sd_s + mu_s
    out = mix(content, style, a)
    torch.testing.assert_close(out[0], by_hand[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[1], content[1])
    torch.testing.assert_close(out[2], 0.3 * by_hand[2] + 0.7 * content[2], rtol=1e-4, atol=1e-4)


def test_losses_train_the_encoder_on_features_and_the_decoder_on_the_teachers_image():
    torch.manual_seed(0)
    task = _task()
    batch = AdainBatches(_uint8(3), _uint8(2, seed=1), batch_size=2, crop=32).batch(0)
    losses = task.losses(batch, step=0)
    assert set(losses) == {"total", "features", "pixels", "decoder_features"}
    assert all(math.isfinite(float(v.detach())) for v in losses.values())
    # without end_to_end the decoder's losses reach only the decoder (student features detached)
    task.cfg.feature_weight, task.cfg.end_to_end = 0.0, False
    task.losses(batch, step=0)["total"].backward()
    assert all(p.grad is None or not p.grad.any() for p in task.encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.decoder.parameters())
    # end to end (the default) they train the encoder too, through AdaIN
    task.cfg.end_to_end = True
    task.encoder.zero_grad()
    task.losses(batch, step=0)["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.encoder.parameters())
    # the teacher's target is VGG19 + the built-in decoder on the same mix
    vgg = VGG19Features(("relu4_1",))
    a = strengths(2, task.cfg.full_strength_fraction, task.cfg.seed, 0)
    with torch.no_grad():
        fc, fs = vgg(batch["content"])["relu4_1"], vgg(batch["style"])["relu4_1"]
        expected = task.teacher_decoder(mix(fc, fs, a)).clamp(0, 1)
        teacher = task.teacher(torch.cat([batch["content"], batch["style"]]), 2, a)
        wanted, taps = teacher.image, teacher.taps
    torch.testing.assert_close(wanted, expected, rtol=1e-4, atol=1e-4)
    assert [t.shape[1:] for t in taps] == [(128, 4, 4), (64, 8, 8), (32, 16, 16)]   # the decoder at 1/8, 1/4, 1/2


def test_decoder_taps_are_the_activations_entering_each_upsampling():
    decoder = CompactDecoder(CompactAdainConfig(TINY)).eval()
    features = torch.rand(2, 16, 3, 5)
    image, taps = decoder(features, taps=True)
    torch.testing.assert_close(image, decoder(features))
    assert [tuple(t.shape) for t in taps] == [(2, 8, 3, 5), (2, 8, 6, 10), (2, 4, 12, 20)]
    assert tap_channels(decoder.net) == [8, 8, 4]
    # the first tap is the first block's output: conv + ReLU of the features
    torch.testing.assert_close(taps[0], decoder.net[0](features))
    assert tap_channels(load_teacher_decoder(None).net) == [128, 64, 32]


def test_a_few_steps_lower_both_losses_on_a_fixed_batch():
    torch.manual_seed(0)
    task = _task()
    batch = AdainBatches(_uint8(2), _uint8(2, seed=1), batch_size=2, crop=32).batch(0)
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        losses = task.losses(batch, step=0)
        first = first or {k: float(v.detach()) for k, v in losses.items()}
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in task.losses(batch, step=0).items()}
    assert last["features"] < 0.8 * first["features"]
    assert last["pixels"] < 0.8 * first["pixels"]


def _hand_mean_std(x):
    flat = x.flatten(2)
    return flat.mean(2), (flat.var(2, unbiased=False) + 1e-5).sqrt()


def test_perceptual_losses_are_the_adain_papers_in_normalised_units():
    torch.manual_seed(0)
    task = _task(content_weight=1.0, style_weight=2.0, full_strength_fraction=0.5)
    task.feature_scales = {level: torch.rand(1, layer_channels(level), 1, 1) + 0.5 for level in LEVELS}
    batch = AdainBatches(_uint8(4), _uint8(4, seed=1), batch_size=4, crop=32).batch(0)
    a = strengths(4, 0.5, task.cfg.seed, 0)
    assert a.flatten().tolist()[:2] == [1.0, 1.0] and max(a.flatten().tolist()[2:]) < 1
    with torch.no_grad():
        losses = task.losses(batch, step=0)
        # by hand: the student's image, VGG19 of it, the mixed AdaIN target, the paintings' statistics
        feats = task.encoder(torch.cat([batch["content"], batch["style"]]))["relu4_1"]
        out = task.decoder(mix(feats[:4], feats[4:], a))
        vgg = VGG19Features(LEVELS)
        got, photo, painting = vgg(out), vgg(batch["content"]), vgg(batch["style"])
        s = task.feature_scales
        target = s["relu4_1"] * (a * adain(photo["relu4_1"], painting["relu4_1"]) + (1 - a) * photo["relu4_1"])
        content = ((s["relu4_1"] * got["relu4_1"] - target) ** 2).mean()
        style = 0.0
        for level in LEVELS:   # only the two full-strength samples are held to the painting
            m, sd = _hand_mean_std(s[level] * got[level][:2])
            tm, tsd = _hand_mean_std(s[level] * painting[level][:2])
            style += ((m - tm) ** 2).mean() + ((sd - tsd) ** 2).mean()
    torch.testing.assert_close(losses["content"], content, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(losses["style"], style, rtol=1e-3, atol=1e-5)
    expected_total = (losses["features"] + losses["pixels"] + losses["decoder_features"]
                      + losses["content"] + 2.0 * losses["style"])
    torch.testing.assert_close(losses["total"], expected_total, rtol=1e-4, atol=1e-5)
    # the Gram term: raw VGG19 Gram matrices of the full-strength samples, each layer relative to the painting's
    task.cfg = replace(task.cfg, gram_weight=5.0)
    with torch.no_grad():
        losses = task.losses(batch, step=0)
    gram_by_hand = 0.0
    for level in LEVELS:
        for i in range(2):
            g, t = gram(got[level][i:i + 1])[0], gram(painting[level][i:i + 1])[0]
            gram_by_hand += float(((g - t) ** 2).sum() / (t ** 2).sum()) / 2
    assert float(losses["gram"]) == pytest.approx(gram_by_hand, rel=1e-3)
    torch.testing.assert_close(losses["total"], expected_total + 5.0 * losses["gram"], rtol=1e-4, atol=1e-5)
    # per-layer Gram weights scale each layer's relative distance
    weights = (0.5, 0.0, 2.0, 4.0)
    task.cfg = replace(task.cfg, gram_layer_weights=weights)
    with torch.no_grad():
        weighted = task.losses(batch, step=0)
    weighted_by_hand = 0.0
    for w, level in zip(weights, LEVELS):
        for i in range(2):
            g, t = gram(got[level][i:i + 1])[0], gram(painting[level][i:i + 1])[0]
            weighted_by_hand += w * float(((g - t) ** 2).sum() / (t ** 2).sum()) / 2
    assert float(weighted["gram"]) == pytest.approx(weighted_by_hand, rel=1e-3)
    assert weighted_by_hand != pytest.approx(gram_by_hand, rel=1e-2)
    # off by default: no VGG19 pass on the student's image, no such entries
    assert not {"style", "gram"} & set(_task().losses(batch, step=0))
    # the style loss alone trains the decoder and, end to end, the encoder
    task = _task(style_weight=1.0, feature_weight=0.0, pixel_weight=0.0, decoder_feature_weight=0.0)
    task.losses(batch, step=0)["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in [*task.decoder.parameters(), *task.encoder.parameters()])
    # no full-strength sample: the style loss is zero, the content loss still counts
    task = _task(content_weight=1.0, style_weight=1.0, full_strength_fraction=0.0)
    losses = task.losses(batch, step=0)
    assert float(losses["style"]) == 0.0 and float(losses["content"]) > 0


def test_init_starts_the_student_from_a_compact_model(tmp_path):
    torch.manual_seed(0)
    source = _task()
    path = source.export(tmp_path / "compact.safetensors", {"training": {"steps": 0}})
    task = _task()
    assert not torch.equal(task.decoder.net[0][1].weight, source.decoder.net[0][1].weight)
    init_student(task, path)
    for mine, theirs in [(task.encoder, source.encoder), (task.decoder, source.decoder)]:
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)   # stored in float16
    with pytest.raises(PainterlyError, match="differ from this run"):
        init_student(CompactAdainTask(CompactAdainTrainConfig(widths=(4, 8, 8, 8), crop=32), load_teacher_decoder(None),
                                      {level: torch.ones(layer_channels(level)) for level in LEVELS}), path)
    with pytest.raises(PainterlyError, match="needs a compact AdaIN model"):
        init_student(_task(), builtin_decoder_path())


def test_init_from_a_checkpoint_carries_the_embeddings_too(tmp_path):
    torch.manual_seed(0)
    source = _task()
    for p in source.parameters():
        p.data.normal_()
    save_checkpoint(tmp_path, 7, {"modules": {name: m.state_dict() for name, m in source.modules().items()}}, keep=1)
    task = _task()
    init_student(task, tmp_path / "step_000007.pt")
    for name, module in task.modules().items():
        for a, b in zip(module.state_dict().values(), source.modules()[name].state_dict().values()):
            assert torch.equal(a, b), name
    torch.save({"modules": {"generator": {}}}, tmp_path / "other.pt")
    with pytest.raises(PainterlyError, match="not a checkpoint of a compact AdaIN run"):
        init_student(_task(), tmp_path / "other.pt")
    small = CompactAdainTask(CompactAdainTrainConfig(widths=(4, 8, 8, 8), crop=32), load_teacher_decoder(None),
                             {level: torch.ones(layer_channels(level)) for level in LEVELS})
    with pytest.raises(PainterlyError, match="does not match this run's networks"):
        init_student(small, tmp_path / "step_000007.pt")
    with pytest.raises(PainterlyError, match="no such model or checkpoint file"):
        CompactAdainTrainConfig(init=str(tmp_path / "missing.safetensors")).validate()


def test_export_loads_as_an_adain_stylizer_with_its_own_builtin_statistics(tmp_path):
    torch.manual_seed(0)
    styles = write_noise_images(tmp_path / "styles", ["van_gogh_starry_night"], size=(64, 48), suffix=".jpg")
    task = _task(str(styles), builtin_size=32)
    path = task.export(tmp_path / "compact.safetensors", {"training": {"steps": 0}})
    stylizer = load_adain_stylizer(path, style_size=32)
    assert stylizer.kind == "adain" and stylizer.style_names == ["starry_night"]
    # the stored statistics are the student's relu4_1 mean/std of the painting at builtin_style_size
    painting = resize_longer_side(load_image(styles / "van_gogh_starry_night.jpg"), 32)
    with torch.no_grad():
        mean, std = channel_mean_std(task.encoder.eval()(painting)["relu4_1"])
    stored = stylizer.registry.stats("starry_night")
    stored_mean, stored_std = stored.means["relu4_1"], stored.stds["relu4_1"]
    torch.testing.assert_close(stored_mean, mean.flatten(), rtol=1e-3, atol=1e-4)   # stored in float16
    torch.testing.assert_close(stored_std, std.flatten(), rtol=1e-3, atol=1e-4)
    # the stylizer is the trained encoder -> AdaIN -> decoder
    photo, style = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        expected = task.decoder.eval()(adain(task.encoder(photo)["relu4_1"], task.encoder(style)["relu4_1"]))
    torch.testing.assert_close(stylizer(photo, style), expected.clamp(0, 1), rtol=0, atol=5e-3)
    assert stylizer(photo, "starry_night").shape == photo.shape
    with pytest.raises(StyleNotFoundError, match="stores no statistics for the built-in style 'udnie'"):
        stylizer(photo, "udnie")
    with pytest.raises(StyleNotFoundError, match="did you mean starry_night"):
        stylizer(photo, "starry_nite")
    stats = StyleStats(means={"relu4_1": torch.zeros(512)}, stds={"relu4_1": torch.ones(512)})
    with pytest.raises(PainterlyError, match="VGG19 AdaIN decoder"):
        stylizer(photo, stats)


def _train_parser():
    from painterly.cli import train_adain_compact

    parser = ArgumentParser(prog="painterly")
    sub = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    train = sub.add_parser("train")
    train_adain_compact.add_parser(train.add_subparsers(dest="trainer", parser_class=ArgumentParser))
    return parser


@pytest.fixture
def data(tmp_path):
    content = write_noise_images(tmp_path / "content", [f"photo{i}" for i in range(4)] + ["skimage_coffee"],
                                 suffix=".jpg")
    styles = write_noise_images(tmp_path / "styles", ["a", "b", "munch_the_scream", "van_gogh_starry_night"],
                                seed=1, suffix=".jpg")
    return content, styles


def _argv(content, styles, out, run, *extra):
    return ["train", "adain-compact", "--content", str(content), "--styles", str(styles), "-o", str(out),
            "--iterations", "2", "--batch-size", "2", "--crop", "32", "--content-size", "40", "--style-size", "40",
            "--widths", *map(str, TINY), "--holdout-photos", "1", "--checkpoint-every", "1", "--sample-every", "1",
            "--no-tensorboard", "--quiet", "--device", "cpu", "--run-dir", str(run), *extra]


def test_cli_train_end_to_end_and_resume_is_exact(data, tmp_path):
    content, styles = data
    out = tmp_path / "compact.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, out, tmp_path / "run"))
    assert args.func(args) == 0
    stylizer = load_adain_stylizer(out, style_size=32)
    assert stylizer.meta["training"]["steps"] == 2
    assert stylizer.meta["training"]["task"]["held_out_styles"] == ["munch_the_scream.jpg"]
    assert "starry_night" in stylizer.style_names     # its painting was in --styles
    assert list((tmp_path / "run" / "samples").glob("*.png"))
    # drop the last checkpoint and resume from step 1: the same weights as the straight run
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert [p.name for p in checkpoints] == ["step_000001.pt", "step_000002.pt"]
    checkpoints[-1].unlink()
    out2 = tmp_path / "resumed.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, out2, tmp_path / "run", "--resume"))
    assert args.func(args) == 0
    resumed = load_adain_stylizer(out2)
    for a, b in zip(stylizer.decoder.state_dict().values(), resumed.decoder.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("extra, message", [
    (["--crop", "36"], "multiple of 8"),
    (["--full-strength-fraction", "1.5"], r"\[0, 1\]"),
    (["--slope", "-0.1"], "negative slope"),
])
def test_cli_rejects_bad_settings(data, tmp_path, extra, message):
    content, styles = data
    args = _train_parser().parse_args(_argv(content, styles, tmp_path / "m.safetensors", tmp_path / "run", *extra))
    with pytest.raises(PainterlyError, match=message):
        args.func(args)


def test_gram_layer_weights_are_checked(data, tmp_path):
    with pytest.raises(PainterlyError, match="4 non-negative weights"):
        CompactAdainTrainConfig(gram_layer_weights=(1.0, 1.0, 1.0)).validate()
    with pytest.raises(PainterlyError, match="4 non-negative weights"):
        CompactAdainTrainConfig(gram_layer_weights=(1.0, -1.0, 1.0, 1.0)).validate()
    content, styles = data
    with pytest.raises(PainterlyError, match="--gram-layer-weights: must be >= 0"):
        _train_parser().parse_args(_argv(content, styles, tmp_path / "m.safetensors", tmp_path / "run",
                                         "--gram-layer-weights", "1", "1", "-1", "1"))


def test_cli_fine_tunes_from_init_with_the_perceptual_losses(data, tmp_path):
    content, styles = data
    first = tmp_path / "compact.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, first, tmp_path / "run"))
    assert args.func(args) == 0
    tuned = tmp_path / "tuned.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, tuned, tmp_path / "run2", "--init", str(first),
                                            "--style-weight", "3", "--content-weight", "1"))
    assert args.func(args) == 0
    meta = load_adain_stylizer(tuned).meta["training"]["task"]
    assert (meta["init"], meta["style_weight"], meta["content_weight"]) == (str(first), 3.0, 1.0)
    # from the first run's last checkpoint, with the Gram loss
    checkpoint = tmp_path / "run" / "checkpoints" / "step_000002.pt"
    again = tmp_path / "again.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, again, tmp_path / "run4", "--init", str(checkpoint),
                                            "--style-weight", "1", "--gram-weight", "2",
                                            "--gram-layer-weights", "1", "1", "1", "4"))
    assert args.func(args) == 0
    meta = load_adain_stylizer(again).meta["training"]["task"]
    assert (meta["init"], meta["gram_weight"], meta["gram_layer_weights"]) == (str(checkpoint), 2.0, [1, 1, 1, 4])
    args = _train_parser().parse_args(_argv(content, styles, tmp_path / "x.safetensors", tmp_path / "run3",
                                            "--init", str(tmp_path / "missing.safetensors")))
    with pytest.raises(PainterlyError, match="no such model or checkpoint file"):
        args.func(args)


def test_cli_rejects_a_teacher_that_is_not_a_vgg_adain_model(data, tmp_path):
    content, styles = data
    first = tmp_path / "compact.safetensors"
    args = _train_parser().parse_args(_argv(content, styles, first, tmp_path / "run"))
    assert args.func(args) == 0
    args = _train_parser().parse_args(_argv(content, styles, tmp_path / "m.safetensors", tmp_path / "run2",
                                            "--teacher", str(first)))
    with pytest.raises(PainterlyError, match="VGG19 encoder"):
        args.func(args)


def test_build_compact_training_holds_out_and_samples(data):
    content, styles = data
    cfg = CompactAdainTrainConfig(content_dir=str(content), styles_dir=str(styles), widths=TINY, crop=32,
                                  content_size=40, style_size=40, holdout_photos=1)
    task, batches, info = build_compact_training(cfg, batch_size=2)
    assert info["val_styles"] == ["munch_the_scream.jpg"]
    assert info["validation"].shape[1:] == (3, 32, 32)
    assert task.samples(info["validation"]).shape == info["validation"].shape



def test_stylize_cli_with_a_compact_model_file(tmp_path, capsys):
    from PIL import Image

    from painterly.cli import main

    torch.manual_seed(0)
    styles = write_noise_images(tmp_path / "styles", ["van_gogh_starry_night"], size=(64, 48), suffix=".jpg")
    photo = write_noise_images(tmp_path / "photos", ["p"], size=(40, 32)) / "p.png"
    model = _task(str(styles)).export(tmp_path / "compact.safetensors", {"training": {"steps": 0}})
    out = tmp_path / "out.png"
    assert main(["stylize", str(photo), "--method", "adain", "--model", str(model), "--style", "starry_night",
                 "-o", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (40, 32)
    painting = tmp_path / "styles" / "van_gogh_starry_night.jpg"
    out2 = tmp_path / "out2.png"
    assert main(["stylize", str(photo), "--model", str(model), "--style", str(painting), "--strength", "0.5",
                 "-o", str(out2)]) == 0
    assert out2.is_file()
    capsys.readouterr()
    assert main(["stylize", str(photo), "--model", str(model), "--style", "udnie", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no statistics for the built-in style 'udnie'" in err
    assert not (tmp_path / "x.png").exists()


def test_add_builtin_styles_adds_what_export_would_have_stored_and_keeps_the_rest(tmp_path):
    from safetensors.torch import load_file

    from painterly.train.adain_compact import add_builtin_styles

    torch.manual_seed(0)
    styles = write_noise_images(tmp_path / "styles", ["van_gogh_starry_night", "picabia_udnie"], size=(64, 48),
                                suffix=".jpg")
    first = tmp_path / "first"
    first.mkdir()
    (first / "van_gogh_starry_night.jpg").write_bytes((styles / "van_gogh_starry_night.jpg").read_bytes())
    task = _task(str(first))
    model = task.export(tmp_path / "compact.safetensors", {"training": {"steps": 0}})   # knows starry_night only
    before = load_file(str(model))
    assert "styles.udnie.mean" not in before and "styles.starry_night.mean" in before
    registry = StyleRegistry()
    with pytest.raises(PainterlyError, match="no painting .* udnie"):
        add_builtin_styles(model, first, registry)                 # the other built-in paintings are missing
    assert load_file(str(model)).keys() == before.keys()          # and nothing was written

    only = [n for n in registry.names() if n in ("starry_night", "udnie")]
    small = StyleRegistry(tmp_path / "registry")
    small.folder.mkdir()
    for name in only:
        for suffix in (".json", ".stats.safetensors"):
            (small.folder / f"{name}{suffix}").write_bytes((registry.folder / f"{name}{suffix}").read_bytes())
    assert add_builtin_styles(model, styles, small) == ["udnie"]
    after = load_file(str(model))
    assert all(torch.equal(after[k], v) for k, v in before.items())          # weights and old styles unchanged
    task.cfg = replace(task.cfg, styles_dir=str(styles))
    expected = task.builtin_stats(small)                   # what the training run's export computes with all paintings
    task_stats = {k: v.half() for k, v in expected.items()}
    assert torch.allclose(after["styles.udnie.mean"].float(), task_stats["styles.udnie.mean"].float(), atol=2e-3)
    assert torch.allclose(after["styles.udnie.std"].float(), task_stats["styles.udnie.std"].float(), atol=2e-3)
    assert json.loads(model.with_suffix(".json").read_text())["builtin_styles_added_after_training"] == ["udnie"]
    assert add_builtin_styles(model, styles, small) == []                   # nothing left to add
    assert "udnie" in load_adain_stylizer(model).style_names


def test_the_shipped_compact_model_loads_by_name_knows_every_builtin_style_and_records_its_training():
    stylizer = load_adain_stylizer("adain_compact")
    assert stylizer.meta["architecture"]["encoder"] == "compact"
    assert set(stylizer.style_names) == set(StyleRegistry().names())
    training = stylizer.meta["training"]
    assert [p["steps"] > 0 and p["seconds"] > 0 for p in training["phases"]] == [True] * len(training["phases"])
    assert training["total_steps"] == sum(p["steps"] for p in training["phases"]) and training["hardware"]["device"]
    photo = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    scream, starry = stylizer(photo, "the_scream"), stylizer(photo, "starry_night", strength=1.0)
    assert scream.shape == photo.shape and 0.0 <= float(scream.min()) and float(scream.max()) <= 1.0
    assert (scream - starry).abs().mean() > 0.02   # the style changes the picture


# --------------------------------------------------------------------------- onnxruntime and precision


def _tiny_compact_model(tmp_path):
    torch.manual_seed(0)
    styles = write_noise_images(tmp_path / "styles", ["van_gogh_starry_night"], size=(64, 48), suffix=".jpg")
    return _task(str(styles), builtin_size=32).export(tmp_path / "compact.safetensors", {"training": {"steps": 0}})


def test_compact_model_exports_to_two_onnx_graphs_that_run_it(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from painterly.cli import main
    from painterly.io.model_file import ModelFileError
    from painterly.methods.onnx_runtime import OnnxGraph

    path = _tiny_compact_model(tmp_path)
    torch_stylizer = load_adain_stylizer(path, style_size=32)
    assert not isinstance(torch_stylizer.decoder, OnnxGraph)           # nothing exported yet: PyTorch
    with pytest.raises(ModelFileError, match="painterly export"):
        load_adain_stylizer(path, runtime="onnx")
    code = main(["export", str(path), "-o", str(tmp_path / "compact.onnx"), "--size", "32", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and [Path(f["output"]).name for f in summary["files"]] == \
        ["compact.encoder.onnx", "compact.decoder.onnx"]
    assert all(f["max_abs_diff"] < 1e-4 for f in summary["files"])
    onnx_stylizer = load_adain_stylizer(path, style_size=32)              # runtime auto: the graphs beside it
    assert isinstance(onnx_stylizer.encoder, OnnxGraph) and isinstance(onnx_stylizer.decoder, OnnxGraph)
    assert not isinstance(load_adain_stylizer(path, runtime="torch").decoder, OnnxGraph)
    photo, style = torch.rand(1, 3, 30, 44), torch.rand(1, 3, 24, 32)
    for kwargs in ({}, {"strength": 0.5}, {"preserve_color": True}):
        torch.testing.assert_close(onnx_stylizer(photo, style, **kwargs), torch_stylizer(photo, style, **kwargs),
                                   rtol=0, atol=1e-4)
    torch.testing.assert_close(onnx_stylizer(photo, "starry_night"), torch_stylizer(photo, "starry_night"),
                               rtol=0, atol=1e-4)


def test_export_refuses_the_vgg19_decoder_in_one_line(tmp_path, capsys):
    pytest.importorskip("onnx")
    from painterly.cli import main

    out = tmp_path / "vgg.onnx"
    code = main(["export", "adain_decoder", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "only compact AdaIN models" in err
    assert not list(tmp_path.iterdir())


def test_bf16_precision_stays_within_a_few_levels_of_float32(tmp_path):
    path = _tiny_compact_model(tmp_path)
    fp32 = load_adain_stylizer(path, style_size=32, runtime="torch")
    bf16 = load_adain_stylizer(path, style_size=32, precision="bf16")
    assert bf16.dtype == torch.bfloat16 and next(bf16.decoder.parameters()).dtype == torch.bfloat16
    photo, style = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 24, 32)
    a, b = fp32(photo, style), bf16(photo, style)
    assert b.dtype == torch.float32 and b.shape == a.shape
    assert (a - b).abs().max().item() < 0.05 and (a - b).abs().mean().item() < 0.01
    with pytest.raises(PainterlyError, match="fp16 needs a CUDA device"):
        load_adain_stylizer(path, precision="fp16")
    with pytest.raises(PainterlyError, match="onnx runtime computes in float32"):
        load_adain_stylizer(path, precision="bf16", runtime="onnx")


def test_the_shipped_compact_models_onnx_graphs_agree_with_it():
    pytest.importorskip("onnxruntime")
    from painterly.methods.onnx_runtime import OnnxGraph

    onnx_stylizer, torch_stylizer = load_adain_stylizer("adain_compact"), load_adain_stylizer("adain_compact",
                                                                                              runtime="torch")
    assert isinstance(onnx_stylizer.decoder, OnnxGraph)
    photo = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(onnx_stylizer(photo, "udnie"), torch_stylizer(photo, "udnie"), rtol=0, atol=1e-3)
