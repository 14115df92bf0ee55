"""The artist-level method: losses against their formulas, networks, the training step's
alternation, training + exact resume + inference end to end on tiny images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from helpers import write_noise_images
from painterly.cli import main
from painterly.features import VGG19Features
from painterly.losses import relative_gram_loss
from painterly.methods.adaptive import load_adaptive_stylizer
from painterly.nets.adaptive import AdaptiveConfig, AdaptiveGenerator, MultiScaleDiscriminator, pad_to_multiple
from painterly.methods.stylize import StyleRequest, choose_model
from painterly.train.adaptive import (AdaptiveTask, AdaptiveTrainConfig, collection_gram_targets, lsgan_loss,
                                      patch_accuracy, style_aware_content_loss, transformed_image_loss)

TINY = AdaptiveConfig(width=4, depth=1, disc_width=4, disc_layers=3)


# ------------------------------------------------------------------ losses (paper formulas)

def test_transformed_image_loss_is_mse_of_box_filtered_images():
    torch.manual_seed(0)
    x, y = torch.rand(1, 3, 14, 13), torch.rand(1, 3, 14, 13)
    k = 10
    expected = 0.0
    count = 0
    for c in range(3):
        for i in range(14 - k + 1):
            for j in range(13 - k + 1):
                bx = x[0, c, i:i + k, j:j + k].mean()
                by = y[0, c, i:i + k, j:j + k].mean()
                expected += float((bx - by) ** 2)
                count += 1
    assert transformed_image_loss(x, y, k).item() == pytest.approx(expected / count, rel=1e-5)
    assert transformed_image_loss(x, x, k).item() == 0.0


def test_transformed_image_loss_ignores_what_the_pool_removes():
    # a checkerboard of period 2 averages out in a 10x10 box: T(x + checker) == T(x) away from borders
    x = torch.rand(1, 3, 20, 20)
    checker = ((torch.arange(20)[:, None] + torch.arange(20)[None, :]) % 2).float() * 0.2 - 0.1
    assert transformed_image_loss(x, x + checker, 10).item() < 1e-12


def test_content_and_gan_losses():
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 8.0]])
    assert style_aware_content_loss(a, b).item() == pytest.approx((4 + 16) / 4)
    logits = [torch.tensor([0.0, 1.0]), torch.tensor([[0.5]])]
    assert lsgan_loss(logits, 1.0).item() == pytest.approx(((1 + 0) / 2 + 0.25) / 2)
    assert lsgan_loss(logits, 0.0).item() == pytest.approx(((0 + 1) / 2 + 0.25) / 2)
    assert patch_accuracy([torch.tensor([0.2, 0.9, 0.7, 0.1])], real=True).item() == 0.5
    assert patch_accuracy([torch.tensor([0.2, 0.9, 0.7, 0.1])], real=False).item() == 0.5


def test_gradchecks():
    x = torch.rand(1, 2, 12, 12, dtype=torch.float64)
    y = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: transformed_image_loss(x, t, 5), (y,))
    f = torch.rand(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    g = torch.rand(2, 3, 2, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: style_aware_content_loss(g, t), (f,))
    assert torch.autograd.gradcheck(lambda t: lsgan_loss([t, t * 2], 1.0), (f,))


# ------------------------------------------------------------------ networks

@pytest.mark.parametrize("size", [(32, 32), (37, 50), (16, 80)])
def test_generator_any_size_in_unit_range(size):
    generator = AdaptiveGenerator(TINY)
    x = torch.rand(2, 3, *size)
    y = generator(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    padded, original = pad_to_multiple(x)
    assert original == size and padded.shape[-1] % 16 == 0 and padded.shape[-2] % 16 == 0
    assert generator.encode(padded).shape[1:] == (8 * TINY.width, padded.shape[-2] // 16, padded.shape[-1] // 16)


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_downsampling_sets_the_bottleneck(stages):
    config = AdaptiveConfig(width=4, depth=1, disc_width=4, disc_layers=3, downsampling=stages)
    generator = AdaptiveGenerator(config)
    z = generator.encode(torch.rand(1, 3, 48, 64))
    assert z.shape[1:] == ([4, 4, 8, 16, 32][stages], 48 // 2**stages, 64 // 2**stages)
    assert generator(torch.rand(1, 3, 37, 50)).shape == (1, 3, 37, 50)
    assert AdaptiveConfig.from_dict({**config.to_dict(), "extra": 1}) == config


def test_downsampling_defaults_to_the_papers_for_files_that_do_not_record_it():
    old = {"width": 4, "depth": 1, "disc_width": 4, "disc_layers": 3}       # written before the option existed
    assert AdaptiveConfig.from_dict(old).downsampling == 4
    with pytest.raises(ValueError, match="downsampling"):
        AdaptiveConfig(downsampling=5)
    with pytest.raises(Exception, match="downsampling"):
        AdaptiveTrainConfig(downsampling=0).validate()


def test_discriminator_is_multi_scale():
    disc = MultiScaleDiscriminator(AdaptiveConfig(width=4, depth=1, disc_width=4, disc_layers=6))
    outputs = disc(torch.rand(1, 3, 128, 128))
    assert [o.shape[-1] for o in outputs] == [64, 32, 8, 2]   # heads after layers 1, 2, 4, 6
    assert len(disc(torch.rand(1, 3, 16, 16))) < len(outputs)  # small inputs: the scales that exist


# ------------------------------------------------------------------ the training step

def _task(win_rate=0.8) -> AdaptiveTask:
    return AdaptiveTask(AdaptiveTrainConfig(crop=32, width=4, depth=1, disc_width=4, disc_layers=3,
                                            win_rate=win_rate))


def _grads(module):
    return [p.grad for p in module.parameters()]


def test_discriminator_trains_while_it_loses_then_the_generator():
    task = _task()
    batch = {"content": torch.rand(2, 3, 32, 32), "art": torch.rand(2, 3, 32, 32)}
    task.gate.accuracy.fill_(0.0)
    losses = task.losses(batch, 0)
    assert losses["trains_discriminator"].item() == 1.0 and "content" not in losses
    losses["total"].backward()
    assert all(g is not None for g in _grads(task.discriminator))
    assert all(g is None for g in _grads(task.generator))        # Adam leaves G alone this step
    task.generator.zero_grad(set_to_none=True)
    task.discriminator.zero_grad(set_to_none=True)
    task.gate.accuracy.fill_(0.95)
    losses = task.losses(batch, 1)
    assert losses["trains_discriminator"].item() == 0.0
    assert set(losses) >= {"adversarial", "content", "transform", "total"}
    total = losses["adversarial"] + losses["content"] + losses["transform"]
    assert losses["total"].item() == pytest.approx(total.item())
    losses["total"].backward()
    assert all(g is None for g in _grads(task.discriminator))    # G's adversarial loss does not move D
    assert any(g is not None and g.abs().sum() > 0 for g in _grads(task.generator))


def test_running_accuracy_is_an_exponential_average():
    task = _task()
    batch = {"content": torch.rand(1, 3, 32, 32), "art": torch.rand(1, 3, 32, 32)}
    task.gate.accuracy.fill_(0.5)
    losses = task.losses(batch, 0)
    assert task.gate.accuracy.item() == pytest.approx(0.95 * 0.5 + 0.05 * losses["d_accuracy"].item())
    assert "gate" in task.modules() and "accuracy" in task.modules()["gate"].state_dict()


def test_collection_gram_targets_count_every_work_once_whatever_its_size():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)     # channels (1, 2) and (3, 4), 2 positions
    b = torch.tensor([2.0, 0.0]).reshape(1, 2, 1, 1)                    # one position
    targets = collection_gram_targets([a, b], vgg=lambda image: {"x": image})
    # gram(a) = [[5, 11], [11, 25]] / 2, gram(b) = [[4, 0], [0, 0]]; their mean:
    assert torch.allclose(targets["x"], torch.tensor([[[3.25, 2.75], [2.75, 6.25]]]))
    with pytest.raises(ValueError):
        collection_gram_targets([], vgg=lambda image: {"x": image})


def _gram_task(weight: float) -> tuple[AdaptiveTask, VGG19Features, dict]:
    vgg = VGG19Features(["relu1_1", "relu2_1"])
    targets = collection_gram_targets([torch.rand(1, 3, 40, 48), torch.rand(1, 3, 32, 32)], vgg)
    cfg = AdaptiveTrainConfig(crop=32, width=4, depth=1, disc_width=4, disc_layers=3, gram_weight=weight)
    return AdaptiveTask(cfg, gram_targets=targets, vgg=vgg), vgg, targets


def test_gram_term_joins_the_generator_step_only():
    task, vgg, targets = _gram_task(3.0)
    batch = {"content": torch.rand(2, 3, 32, 32), "art": torch.rand(2, 3, 32, 32)}
    task.gate.accuracy.fill_(0.0)
    assert "gram" not in task.losses(batch, 0)                  # a discriminator step
    task.gate.accuracy.fill_(0.99)
    losses = task.losses(batch, 1)
    with torch.no_grad():
        expected = 3.0 * relative_gram_loss(vgg(task.generator(batch["content"])), targets)
    assert losses["gram"].item() == pytest.approx(expected.item(), rel=1e-5)
    parts = losses["adversarial"] + losses["content"] + losses["transform"] + losses["gram"]
    assert losses["total"].item() == pytest.approx(parts.item(), rel=1e-6)
    task.generator.zero_grad(set_to_none=True)
    losses["gram"].backward()
    assert all(g is not None for g in _grads(task.generator.decoder))
    assert all(p.grad is None for p in vgg.parameters())        # VGG19 stays frozen


def test_gram_weight_needs_targets():
    cfg = AdaptiveTrainConfig(crop=32, width=4, depth=1, disc_width=4, disc_layers=3, gram_weight=1.0)
    with pytest.raises(Exception, match="Gram targets"):
        AdaptiveTask(cfg)
    with pytest.raises(Exception, match="gram weight"):
        AdaptiveTrainConfig(gram_weight=-1.0).validate()


def test_config_is_checked():
    with pytest.raises(Exception, match="multiple of 16"):
        AdaptiveTrainConfig(crop=40).validate()
    with pytest.raises(Exception, match="win rate"):
        AdaptiveTrainConfig(win_rate=1.5).validate()


# ------------------------------------------------------------------ end to end

def _images(folder: Path, count: int, seed: int, size=(48, 56)) -> Path:
    return write_noise_images(folder, [str(i) for i in range(count)], size=(size[1], size[0]), seed=seed)


def _train(tmp_path, out: Path, *extra) -> int:
    return main(["train", "adaptive", "--artworks", str(tmp_path / "art"), "--content", str(tmp_path / "photos"),
                 "-o", str(out), "--artist", "Tester", "--crop", "32", "--width", "4", "--depth", "1",
                 "--disc-width", "4", "--disc-layers", "3", "--iterations", "6", "--batch-size", "2",
                 "--holdout", "1", "--checkpoint-every", "3", "--sample-every", "3", "--quiet", "--no-tensorboard",
                 "--device", "cpu", *extra])


@pytest.fixture()
def folders(tmp_path):
    _images(tmp_path / "art", 3, 1)
    _images(tmp_path / "photos", 5, 2)
    return tmp_path


def test_train_resume_and_stylize(folders, capsys):
    tmp_path = folders
    model = tmp_path / "artist.safetensors"
    assert _train(tmp_path, model) == 0
    run = tmp_path / "artist_run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000003.pt", "step_000006.pt"]
    assert (run / "samples" / "step_000003.png").is_file()
    first = load_file(str(model))
    # resume from step 3: the same model, bit for bit
    (run / "checkpoints" / "step_000006.pt").unlink()
    model.unlink()
    assert _train(tmp_path, model, "--resume") == 0
    again = load_file(str(model))
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)

    stylizer = load_adaptive_stylizer(model)
    assert stylizer.kind == "adaptive" and stylizer.style_names == ["artist"]
    assert stylizer.meta["styles"][0]["artist"] == "Tester"
    assert stylizer.meta["styles"][0]["title"] == "artist-level model of 3 works"
    assert stylizer.embed(torch.rand(1, 3, 40, 40)).shape == (1, 64)
    photo = tmp_path / "photos" / "0.png"
    out = tmp_path / "out.png"
    capsys.readouterr()
    assert main(["stylize", str(photo), "-o", str(out), "--model", str(model), "--device", "cpu"]) == 0
    assert Image.open(out).size == (56, 48)
    # the style name alone finds the artist-level model, under auto as under --method adaptive
    request = StyleRequest((("artist", 1.0),), (), ("artist",))
    for method in ("auto", "adaptive"):
        assert choose_model(request, method, None, tmp_path) == ("adaptive", str(model))


def test_train_with_the_collection_gram_loss_records_it(folders):
    model = folders / "gram.safetensors"
    assert _train(folders, model, "--gram-weight", "2") == 0
    meta = load_adaptive_stylizer(model).meta
    assert meta["training"]["task"]["gram_weight"] == 2.0
    assert meta["training"]["final_losses"].keys() >= {"total"}


def test_bad_inputs(folders, capsys):
    tmp_path = folders
    single = _images(tmp_path / "one", 1, 3)
    code = main(["train", "adaptive", "--artworks", str(single), "--content", str(tmp_path / "photos"),
                 "-o", str(tmp_path / "m.safetensors"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "at least 2 works" in err and err.count("\n") == 1
    code = _train(tmp_path, tmp_path / "m.safetensors", "--crop", "40")
    assert code == 2 and "multiple of 16" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
    code = main(["stylize", str(tmp_path / "photos" / "0.png"), "-o", str(tmp_path / "x.png"), "--method",
                 "adaptive", "--model", "wheat_field"])
    assert code == 2 and "expected 'adaptive'" in capsys.readouterr().err



def test_no_model_given_and_none_shipped_is_one_clear_error(monkeypatch):
    import painterly.methods.adaptive as adaptive

    monkeypatch.setattr(adaptive, "available_models", lambda folder=None: [])
    with pytest.raises(Exception, match="no artist-level model ships"):
        load_adaptive_stylizer(None)


def test_pretraining_reproduces_the_photo_and_trains_both():
    task = AdaptiveTask(AdaptiveTrainConfig(crop=32, width=4, depth=1, disc_width=4, disc_layers=3,
                                            pretrain_steps=2))
    batch = {"content": torch.rand(2, 3, 32, 32), "art": torch.rand(2, 3, 32, 32)}
    task.gate.accuracy.fill_(0.99)       # the gate would train G only; pretraining trains both
    losses = task.losses(batch, 1)
    assert "reconstruction" in losses and "adversarial" not in losses
    losses["total"].backward()
    assert all(g is not None for g in _grads(task.discriminator))
    assert all(g is not None for g in _grads(task.generator))
    assert "adversarial" in task.losses(batch, 2)   # step 2: the adversarial phase


def test_the_shipped_artist_model_serves_its_name_and_records_its_training():
    from painterly.catalog import list_styles
    from painterly.methods.feedforward import available_models
    from painterly.methods.stylize import parse_style

    (model,) = [m for m in available_models() if m.kind == "adaptive"]
    assert model.styles == ("van_gogh",) and model.meta["styles"][0]["artist"] == "Vincent van Gogh"
    assert len(model.meta["styles"][0]["artworks"]) >= 10           # a collection, not one painting
    training = model.meta["training"]
    assert training["steps"] > 0 and training["seconds"] > 0 and training["hardware"]["device"]
    assert training["task"]["gram_weight"] > 0 and training["task"]["downsampling"] == 2
    assert choose_model(parse_style("van_gogh"), "auto", None) == ("adaptive", str(model.path))
    entry = next(e for e in list_styles() if e.name == "van_gogh")
    assert entry.methods == ("adaptive",) and entry.artist == "Vincent van Gogh"
    stylizer = load_adaptive_stylizer(None)                          # no --model: the shipped one
    assert stylizer.name == "van_gogh" and load_adaptive_stylizer("van_gogh").name == "van_gogh"
    photo = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    out = stylizer(photo)
    assert out.shape == photo.shape and 0 <= out.min() and out.max() <= 1
    assert (out - photo).abs().mean() > 0.02                         # it paints, it does not copy
    assert stylizer.embed(photo).shape == (1, 2 * 2 * model.meta["architecture"]["width"])
