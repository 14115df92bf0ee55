"""AdaIN decoder training: batches, data split, a 2-step smoke run, export, and the CLI end to end."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import write_noise_images

from painterly.cli.common import ArgumentParser
from painterly.methods.adain import load_adain_stylizer
from painterly.nets.adain import AdainDecoder, AdainDecoderConfig
from painterly.train.adain import AdainBatches, AdainTask, AdainTrainConfig, build_adain_training, split_data

TINY = AdainDecoderConfig(width=1 / 16, input_scale=1.0)  # unscaled: a random decoder reacts visibly to its input


@pytest.fixture
def data(tmp_path):
    content = write_noise_images(tmp_path / "content", [f"photo{i}" for i in range(5)] + ["skimage_coffee"],
                                 suffix=".jpg")
    styles = write_noise_images(tmp_path / "styles", ["a", "b", "c", "munch_the_scream"], seed=1, suffix=".jpg")
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


def test_precomputed_batches_are_deterministic_windows():
    from painterly.train.adain import PrecomputedAdainBatches

    g = torch.Generator().manual_seed(0)
    maps = [[torch.randn(512, 5, 7, generator=g).half(), torch.randn(512, 6, 9, generator=g).half()] for _ in range(3)]
    vectors = [torch.rand(4, 1920, generator=g) for _ in range(2)]
    batches = PrecomputedAdainBatches(maps, vectors, batch_size=3, cells=4, seed=1)
    a, b = batches.batch(2), batches.batch(2)
    assert a["content_feat"].shape == (3, 512, 4, 4) and a["style_vector"].shape == (3, 1920)
    assert torch.equal(a["content_feat"], b["content_feat"]) and torch.equal(a["style_vector"], b["style_vector"])
    assert not torch.equal(a["content_feat"], batches.batch(3)["content_feat"])
    # every window is a real 4 x 4 window of one of the maps, every vector a measured one
    for window in a["content_feat"]:
        assert any(torch.equal(window.half(), m[:, t:t + 4, l:l + 4]) for ms in maps for m in ms
                   for t in range(m.shape[1] - 3) for l in range(m.shape[2] - 3))
    for vector in a["style_vector"]:
        assert any(torch.equal(vector, row) for v in vectors for row in v)
    from painterly.errors import PainterlyError
    with pytest.raises(PainterlyError, match="smaller than"):
        PrecomputedAdainBatches(maps, vectors, batch_size=1, cells=6)


def test_precomputed_targets_match_the_image_path():
    """Whole-image windows: the precomputed AdaIN target and style statistics equal the ones computed from pixels."""
    from painterly.stylespace.vectors import window_vectors
    from painterly.train.adain import encode_content

    torch.manual_seed(0)
    task = AdainTask(AdainTrainConfig(crop=32), decoder=AdainDecoder(TINY))
    photo = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    painting = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8)
    ((fmap,),), pixels = encode_content(task.encoder, [photo], scales=(1.0,), crop=32)
    assert pixels is None
    assert fmap.shape == (512, 4, 4) and fmap.dtype == torch.float16
    vector = window_vectors(task.encoder, painting.float().div(255)[None], [(0.0, 0.0, 1.0, 1.0)])
    pre_target, pre_stats = task._targets({"content_feat": fmap[None].float(), "style_vector": vector})
    img_target, img_stats = task._targets({"content": photo.float().div(255)[None],
                                           "style": painting.float().div(255)[None]})
    assert torch.allclose(pre_target, img_target, rtol=2e-3, atol=2e-2 * float(img_target.abs().mean()))
    for layer, (mean, std) in img_stats.items():
        assert torch.allclose(pre_stats[layer][0], mean, rtol=1e-4, atol=1e-4)
        assert torch.allclose(pre_stats[layer][1], std, rtol=1e-4, atol=1e-4)


def test_cli_precompute_and_init_decoder(data, tmp_path):
    from painterly.errors import PainterlyError

    content, styles = data
    common = ["--content", str(content), "--styles", str(styles), "--iterations", "2", "--batch-size", "2",
              "--crop", "32", "--content-size", "40", "--style-size", "48", "--holdout-photos", "1",
              "--no-tensorboard", "--quiet", "--device", "cpu", "--precompute", "--style-windows", "3"]
    first = tmp_path / "first.safetensors"
    args = _train_parser().parse_args(["train", "adain", "-o", str(first), "--width", "0.0625",
                                       "--identity-fraction", "0.5", "--identity-weight", "1",
                                       "--run-dir", str(tmp_path / "r1"), *common])
    assert args.func(args) == 0
    meta = load_adain_stylizer(first).meta["training"]["task"]
    assert meta["precompute"] is True and meta["style_windows"] == 3 and meta["identity_fraction"] == 0.5
    # fine-tuning starts from the given decoder: Adam moves each weight by about lr per step, so after
    # two steps at lr 1e-12 the weights are the initial ones to ~1e-12 (a fresh decoder differs by ~0.1)
    second = tmp_path / "second.safetensors"
    args = _train_parser().parse_args(["train", "adain", "-o", str(second), "--width", "0.0625", "--lr", "1e-12",
                                       "--init-decoder", str(first), "--run-dir", str(tmp_path / "r2"), *common])
    assert args.func(args) == 0
    a, b = load_adain_stylizer(first).decoder.state_dict(), load_adain_stylizer(second).decoder.state_dict()
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-9) for k in a)
    args = _train_parser().parse_args(["train", "adain", "-o", str(tmp_path / "x.safetensors"), "--width", "0.125",
                                       "--init-decoder", str(first), "--run-dir", str(tmp_path / "r3"), *common])
    with pytest.raises(PainterlyError, match="width"):
        args.func(args)
    args = _train_parser().parse_args(["train", "adain", "-o", str(tmp_path / "y.safetensors"),
                                       "--identity-fraction", "2", "--run-dir", str(tmp_path / "r4"), *common])
    with pytest.raises(PainterlyError, match="identity-fraction"):
        args.func(args)


def test_precomputed_pixel_crops_lie_under_their_windows():
    from painterly.train.adain import PrecomputedAdainBatches

    maps, photos = [], []
    for h, w in ((5, 7), (6, 9)):
        fmap = torch.zeros(512, h, w)
        fmap[0] = torch.arange(h)[:, None] * 100.0 + torch.arange(w)[None, :]
        maps.append(fmap.half())
        ys, xs = torch.meshgrid(torch.arange(8 * h), torch.arange(8 * w), indexing="ij")
        photos.append(torch.stack([ys // 8, xs // 8, torch.full_like(ys, h)]).to(torch.uint8))
    batches = PrecomputedAdainBatches([maps], [torch.rand(3, 1920)], batch_size=6, cells=4, seed=3, photos=[photos])
    batch = batches.batch(0)
    assert batch["content"].shape == (6, 3, 32, 32)
    for window, crop in zip(batch["content_feat"], batch["content"] * 255):
        top, left = divmod(int(window[0, 0, 0]), 100)
        assert int(crop[0, 0, 0].round()) == top and int(crop[1, 0, 0].round()) == left
        assert window.shape[-1] == 4 and int(crop[2, 0, 0].round()) in (5, 6)   # the same scale's photo
        assert torch.equal((crop[0, ::8, 0].round() - top), torch.arange(4.0))  # 8 px per cell


def test_identity_samples_reconstruct_the_photo():
    """identity_fraction 1: no style loss, the target is the photo's relu4_1, the pixel term is the MSE to the photo."""
    torch.manual_seed(0)
    cfg = AdainTrainConfig(crop=32, identity_fraction=1.0, identity_weight=2.0)
    task = AdainTask(cfg, decoder=AdainDecoder(TINY))
    batch = AdainBatches(_uint8(2), _uint8(2, seed=1), batch_size=2, crop=32).batch(0)
    losses = task.losses(batch, 0)
    assert float(losses["style"]) == 0.0
    with torch.no_grad():
        out = task.decoder(task.encoder(batch["content"])["relu4_1"])
        expected = ((out - batch["content"]) * 255).square().mean()
        content = (task.encoder(out)["relu4_1"] - task.encoder(batch["content"])["relu4_1"]).square().mean()
    assert torch.allclose(losses["identity"], expected, rtol=1e-4)
    assert torch.allclose(losses["content"], content, rtol=1e-4)
    assert torch.allclose(losses["total"], content + 2.0 * expected, rtol=1e-4)
    # half the batch: the second sample is styled (style loss > 0), the first is an identity sample
    task.cfg.identity_fraction = 0.5
    half = task.losses(batch, 0)
    assert float(half["style"]) > 0 and task.identity_count(2) == 1
    task.cfg.identity_fraction = 1.5
    from painterly.errors import PainterlyError
    with pytest.raises(PainterlyError, match="identity fraction"):
        task.losses(batch, 0)


def test_channel_scales_normalise_every_channel_mean_to_one():
    """The normalised VGG of the paper: after scaling, each channel's mean activation over the images is 1."""
    from painterly.features import VGG19Features
    from painterly.train.adain import channel_scales

    encoder = VGG19Features(("relu1_1", "relu4_1"))
    images = [t.float() / 255 for t in _uint8(3, h=48, w=40)]
    scales = channel_scales(encoder, images, encoder.layers, floor=0.05)
    with torch.no_grad():
        for layer in encoder.layers:
            means = torch.stack([encoder(im[None])[layer].mean(dim=(0, 2, 3)) for im in images]).mean(0)
            normalised = means * scales[layer]
            kept = means >= 0.05 * means.median()
            assert scales[layer].shape == (means.numel(),) and bool((scales[layer] > 0).all())
            assert torch.allclose(normalised[kept], torch.ones(int(kept.sum())), rtol=1e-4)
            # a nearly silent channel takes the floor instead of a huge factor
            # (to float rounding: the test averages the means in another order than channel_scales)
            floor = torch.full((int((~kept).sum()),), 1 / (0.05 * float(means.median())))
            assert torch.allclose(scales[layer][~kept], floor, rtol=1e-5, atol=0)
    with pytest.raises(Exception, match="at least one image"):
        channel_scales(encoder, [], encoder.layers)


def test_normalised_losses_are_the_losses_of_scaled_features():
    from painterly.losses import calc_mean_std

    torch.manual_seed(0)
    cfg = AdainTrainConfig(crop=32)
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    channels = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512}
    scales = {layer: torch.rand(c) + 0.01 for layer, c in channels.items()}
    task = AdainTask(cfg, feature_scales=scales)
    # a new decoder reads relu4_1 in the same normalised units
    assert task.decoder.config.channel_scaled and torch.equal(task.decoder.channel_scale, scales["relu4_1"])
    batch = AdainBatches(_uint8(2), _uint8(2, seed=1), batch_size=2, crop=32).batch(0)
    losses = task.losses(batch, 0)
    with torch.no_grad():
        s = {k: v.view(1, -1, 1, 1) for k, v in scales.items()}
        content_feat = task.encoder(batch["content"])["relu4_1"]
        style_feats = task.encoder(batch["style"])
        mean_c, std_c = calc_mean_std(content_feat)
        mean_s, std_s = calc_mean_std(style_feats["relu4_1"])
        target = (content_feat - mean_c) / std_c * std_s + mean_s
        out_feats = task.encoder(task.decoder(target))
        content = ((out_feats["relu4_1"] - target) * s["relu4_1"]).square().mean()
        style = 0.0
        for layer in layers:
            m, sd = calc_mean_std(out_feats[layer] * s[layer])
            tm, tsd = calc_mean_std(style_feats[layer])
            style += (m - tm * s[layer]).square().mean() + (sd - tsd * s[layer]).square().mean()
    assert torch.allclose(losses["content"], content, rtol=1e-3)
    assert torch.allclose(losses["style"], torch.as_tensor(style), rtol=1e-3)
    assert torch.allclose(losses["total"], content + cfg.style_weight * style, rtol=1e-3)
    with pytest.raises(ValueError, match="lack layers"):
        AdainTask(cfg, feature_scales={"relu1_1": scales["relu1_1"]})


def test_channel_scaled_decoder_round_trips_and_checks_its_scales(tmp_path):
    from painterly.io.model_file import load_model_file, save_model_file
    from painterly.methods.adain import decoder_from_state

    torch.manual_seed(0)
    config = AdainDecoderConfig(width=1 / 16, input_scale=1.0, channel_scaled=True)
    decoder = AdainDecoder(config)
    scale = torch.rand(512) + 0.1
    decoder.set_channel_scale(scale)
    plain = AdainDecoder(AdainDecoderConfig(width=1 / 16, input_scale=1.0))
    plain.load_state_dict({k: v for k, v in decoder.state_dict().items() if k != "channel_scale"})
    features = torch.rand(1, 512, 4, 4)
    assert torch.allclose(decoder(features), plain(features * scale.view(1, -1, 1, 1)), atol=1e-6)
    path = save_model_file(tmp_path / "d.safetensors", "adain", decoder.state_dict(),
                           {"architecture": {"decoder": config.to_dict()}})
    loaded = load_model_file(path, expected_kind="adain")
    again = decoder_from_state({k: v.float() for k, v in loaded.state.items()}, loaded.architecture)
    assert torch.allclose(again.channel_scale, scale, rtol=1e-3)
    for bad in (torch.ones(511), -torch.ones(512)):
        with pytest.raises(ValueError, match="positive channel scales"):
            decoder.set_channel_scale(bad)
    with pytest.raises(ValueError, match="one input scale"):
        plain.set_channel_scale(scale)
