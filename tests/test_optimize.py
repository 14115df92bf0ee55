"""painterly.methods.optimize on 32 px images with the real VGG19: the loop, seeds, scales,
time limits, progress, colour preservation, initialisations and config validation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import PainterlyError
from painterly.features import UnknownLayerError
from painterly.io.image import load_image, save_image
from painterly.methods.optimize import (OptimizeConfig, OptimizeResult, load_styles, optimize, optimize_tensor,
                                        run_optimization)
from painterly.ops import rgb_to_yiq
from painterly.progress import Progress

from conftest import array_to_tensor, make_painting

FAST = dict(size=32, optimizer="adam")  # Adam: one VGG pass per step, the cheapest loop


def total(result: OptimizeResult, index: int) -> float:
    return result.history[index]["total"]


def loss_of_image(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor, tmp_path, **settings) -> float:
    """The objective at ``image`` (through a 0-step run that starts from it), independent of the run's history."""
    path = save_image(image, tmp_path / "probe.png")
    result = optimize_tensor(content, style, size=32, iterations=0, init=str(path), **settings)
    assert result.iterations == 0 and result.history == []
    return result.losses["total"]


# --------------------------------------------------------------------------- the loop


@pytest.mark.parametrize("optimizer, init, steps", [
    ("adam", "content", 5),
    ("adam", "noise", 5),
    ("lbfgs", "noise", 8),
    ("lbfgs", "content", 8),
])
def test_a_few_steps_reduce_the_total_loss(content_tensor, style_tensor, tmp_path, optimizer, init, steps):
    result = optimize_tensor(content_tensor, style_tensor, size=32, iterations=steps, optimizer=optimizer, init=init)
    assert result.iterations == steps and len(result.history) == steps
    assert all(math.isfinite(h["total"]) for h in result.history)
    assert set(result.losses) == {"content", "style", "tv", "total"}
    # the image handed back is much better than the start (measured independently of the run's history)
    final = loss_of_image(result.image, content_tensor, style_tensor, tmp_path, optimizer=optimizer)
    assert final < 0.7 * total(result, 0)


def test_result_image_and_bookkeeping(content_tensor, style_tensor):
    result = optimize_tensor(content_tensor, style_tensor, iterations=2, **FAST)
    assert result.image.shape == (1, 3, 32, 32)
    assert result.image.dtype == torch.float32 and result.image.device.type == "cpu"
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert not result.image.requires_grad
    assert result.iterations == 2 and result.seconds > 0
    assert result.config["optimizer"] == "adam" and result.config["size"] == 32
    h = result.history[0]
    assert h["total"] == pytest.approx(h["content"] + h["style"] + h["tv"], rel=1e-5)
    assert h["content"] == pytest.approx(0.0, abs=1e-3)  # content init: no content loss at step 1
    assert not torch.equal(result.image, content_tensor)


def test_final_losses_describe_the_returned_image(content_tensor, style_tensor):
    three = optimize_tensor(content_tensor, style_tensor, iterations=3, **FAST)
    four = optimize_tensor(content_tensor, style_tensor, iterations=4, **FAST)
    torch.testing.assert_close(four.history[:3], three.history)  # same seed, same path
    # step 4 starts from exactly the image the 3-step run returned
    assert three.losses["total"] == pytest.approx(four.history[3]["total"], rel=1e-6)


def test_wide_content_at_small_size_is_a_user_error_not_a_crash(style_tensor):
    wide = array_to_tensor(make_painting(16, 64))
    try:
        result = optimize_tensor(wide, style_tensor, iterations=1, **FAST)  # 32 x 8 px
    except PainterlyError as exc:
        assert "px" in str(exc)
    else:
        assert result.image.shape[-1] == 32


def test_content_size_follows_config(style_tensor):
    content = array_to_tensor(make_painting(40, 64))
    result = optimize_tensor(content, style_tensor, iterations=1, **FAST)
    assert result.image.shape == (1, 3, 20, 32)


# --------------------------------------------------------------------------- seeds


def test_same_seed_gives_identical_results(content_tensor, style_tensor):
    a = optimize_tensor(content_tensor, style_tensor, iterations=2, init="noise", seed=3, **FAST)
    b = optimize_tensor(content_tensor, style_tensor, iterations=2, init="noise", seed=3, **FAST)
    assert torch.equal(a.image, b.image)
    assert a.history == b.history


def test_different_seeds_differ_for_noise_init(content_tensor, style_tensor):
    a = optimize_tensor(content_tensor, style_tensor, iterations=0, init="noise", seed=0, **FAST)
    b = optimize_tensor(content_tensor, style_tensor, iterations=0, init="noise", seed=1, **FAST)
    assert (a.image - b.image).abs().mean() > 0.1
    for image in (a.image, b.image):  # uniform noise in [0, 1]
        assert 0.4 < image.mean() < 0.6 and image.min() >= 0 and image.max() <= 1


def test_lbfgs_is_reproducible(content_tensor, style_tensor):
    a = optimize_tensor(content_tensor, style_tensor, size=32, iterations=2, init="noise", seed=5)
    b = optimize_tensor(content_tensor, style_tensor, size=32, iterations=2, init="noise", seed=5)
    assert torch.equal(a.image, b.image)


# --------------------------------------------------------------------------- scales, time, progress


def test_two_scales_run_both(content_tensor, style_tensor):
    events: list[Progress] = []
    result = optimize_tensor(content_tensor, style_tensor, iterations=2, coarse_iterations=3, scales=2,
                             callbacks=[events.append], **FAST)
    assert len(result.history) == result.iterations == 5
    assert [e.scale for e in events] == [0, 0, 0, 1, 1]
    assert [tuple(e.image.shape[-2:]) for e in events] == [(16, 16)] * 3 + [(32, 32)] * 2
    assert all(e.total == 5 for e in events)
    assert result.image.shape == (1, 3, 32, 32)


def test_coarse_iterations_default_to_iterations(content_tensor, style_tensor):
    result = optimize_tensor(content_tensor, style_tensor, iterations=2, scales=2, **FAST)
    assert result.iterations == 4


def test_time_limit_stops_early(content_tensor, style_tensor):
    result = optimize_tensor(content_tensor, style_tensor, iterations=100_000, time_limit=1.0, **FAST)
    assert 1 <= result.iterations < 100_000
    assert result.seconds < 1.0 + 10.0  # one step past the deadline at most, on a slow machine
    assert len(result.history) == result.iterations


def test_progress_callbacks_receive_increasing_steps(content_tensor, style_tensor):
    events: list[Progress] = []
    seen_by_second: list[int] = []
    optimize_tensor(content_tensor, style_tensor, iterations=4, callbacks=[events.append,
                                                                           lambda e: seen_by_second.append(e.step)],
                    **FAST)
    assert [e.step for e in events] == [1, 2, 3, 4] == seen_by_second
    assert all(e.total == 4 for e in events)
    assert all(a.elapsed <= b.elapsed for a, b in zip(events, events[1:]))
    assert all(set(e.losses) == {"content", "style", "tv", "total"} for e in events)
    assert all(e.image.shape == (1, 3, 32, 32) and not e.image.requires_grad for e in events)


# --------------------------------------------------------------------------- colour


def test_preserve_color_luminance_keeps_content_iq(content_tensor, style_tensor):
    result = optimize_tensor(content_tensor, style_tensor, iterations=2, preserve_color="luminance", **FAST)
    out_yiq, content_yiq = rgb_to_yiq(result.image), rgb_to_yiq(content_tensor)
    inside = ((result.image > 0) & (result.image < 1)).all(dim=1, keepdim=True)  # not clipped by the clamp
    assert inside.float().mean() > 0.9
    iq_error = (out_yiq[:, 1:] - content_yiq[:, 1:]).abs()
    assert iq_error.masked_select(inside.expand_as(iq_error)).max() < 1e-4
    # without it, the stylised colours drift away from the content's
    plain = optimize_tensor(content_tensor, style_tensor, iterations=2, **FAST)
    assert (rgb_to_yiq(plain.image)[:, 1:] - content_yiq[:, 1:]).abs().max() > 1e-3


def test_preserve_color_match_runs(content_tensor, style_tensor):
    result = optimize_tensor(content_tensor, style_tensor, iterations=1, preserve_color="match", **FAST)
    assert result.image.shape == (1, 3, 32, 32) and torch.isfinite(result.image).all()


# --------------------------------------------------------------------------- init


def test_init_style_starts_from_the_resized_style_image(content_tensor):
    style = array_to_tensor(make_painting(24, 40))
    result = optimize_tensor(content_tensor, style, iterations=0, init="style", **FAST)
    expected = F.interpolate(style, size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(result.image, expected)


def test_init_from_a_file(content_tensor, style_tensor, tmp_path):
    path = tmp_path / "start.png"
    Image.fromarray(make_painting(16, 16)[:, ::-1].copy()).save(path)
    result = optimize_tensor(content_tensor, style_tensor, iterations=0, init=str(path), **FAST)
    expected = F.interpolate(load_image(path), size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(result.image, expected)
    assert set(result.losses) == {"content", "style", "tv", "total"}  # measured even with 0 steps
    assert result.losses["content"] > 0


def test_init_style_needs_an_image(content_tensor):
    with pytest.raises(PainterlyError, match="style image"):
        optimize_tensor(content_tensor, "starry_night", iterations=0, init="style", **FAST)


# --------------------------------------------------------------------------- style inputs


def test_builtin_style(content_tensor):
    result = optimize_tensor(content_tensor, "starry_night", iterations=1, **FAST)
    assert result.image.shape == (1, 3, 32, 32) and math.isfinite(result.losses["total"])


def test_style_path_with_weight_and_blends(content_tensor, style_png, tmp_path):
    sources = load_styles([f"{style_png}:0.5", (str(style_png), 2.0), "udnie"])
    assert [s.weight for s in sources] == [0.5, 2.0, 1.0]
    assert sources[0].image.shape == (1, 3, 32, 32) and sources[2].builtin is not None
    result = optimize_tensor(content_tensor, [f"{style_png}:0.5", "udnie:0.5"], iterations=1, **FAST)
    assert torch.isfinite(result.image).all()


def test_missing_style_raises(content_tensor):
    with pytest.raises(PainterlyError, match="nonexistent_style_xyz"):
        optimize_tensor(content_tensor, "nonexistent_style_xyz", iterations=1, **FAST)


def test_optimize_returns_pil(content_png, style_png):
    image = optimize(str(content_png), str(style_png), iterations=1, **FAST)
    assert isinstance(image, Image.Image) and image.size == (32, 21) and image.mode == "RGB"


def test_run_optimization_with_sources(content_tensor, style_tensor):
    cfg = OptimizeConfig(size=32, iterations=1, optimizer="adam", style_layers=("0", "1"), content_layers=("2",))
    result = run_optimization(content_tensor, load_styles([style_tensor]), cfg)
    assert result.config["style_layers"] == ("relu1_1", "relu2_1")
    assert result.config["content_layers"] == ("relu3_1",)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("settings, words", [
    (dict(optimizer="sgd"), "unknown optimizer"),
    (dict(size=32, scales=3), "scales=3"),
    (dict(preserve_color="bogus"), "preserve_color"),
    (dict(size=8), "at least 16"),
    (dict(iterations=-1), "iterations"),
    (dict(pooling="median"), "pooling"),
    (dict(time_limit=0), "time limit"),
    (dict(style_layer_weights=(1.0, 2.0)), "2 style layer weights for 5"),
    (dict(style_layers=("relu9_1",)), "relu9_1"),
    (dict(precondition=-1.0), "precondition"),
    (dict(precondition=float("nan")), "precondition"),
    (dict(style_balance=0.0), "style balance"),
])
def test_config_validation(settings, words):
    with pytest.raises(PainterlyError, match=words):
        OptimizeConfig(**settings).validate()


def test_validation_runs_before_any_work(content_tensor, style_tensor):
    with pytest.raises(PainterlyError, match="unknown optimizer"):
        optimize_tensor(content_tensor, style_tensor, optimizer="sgd", size=32)
    with pytest.raises(UnknownLayerError):
        optimize_tensor(content_tensor, style_tensor, size=32, content_layers=("relu4_l",))
    with pytest.raises(TypeError):
        optimize_tensor(content_tensor, style_tensor, size=32, not_a_setting=1)


def test_learning_rate_defaults():
    assert OptimizeConfig(optimizer="lbfgs").learning_rate == 1.0
    assert OptimizeConfig(optimizer="adam").learning_rate == 0.02
    assert OptimizeConfig(optimizer="adam", lr=0.5).learning_rate == 0.5


def test_init_match_starts_from_the_photo_in_the_style_colours(content_tensor, style_tensor):
    """``init="match"``: the first image is the photo recoloured to the style's RGB mean and covariance."""
    from painterly.ops import match_color, resize_longer_side

    result = optimize_tensor(content_tensor, style_tensor, size=32, iterations=0, init="match")
    photo = resize_longer_side(content_tensor, 32)
    expected = match_color(photo, style_tensor).clamp(0, 1)
    assert torch.allclose(result.image, expected, atol=1e-5)
    pixels = lambda t: t.reshape(3, -1).double()  # noqa: E731
    style_mean = pixels(style_tensor).mean(1)
    assert torch.allclose(pixels(result.image).mean(1), style_mean, atol=0.05)   # clamping moves it a little
    with pytest.raises(PainterlyError, match="--init match needs a style image"):
        optimize_tensor(content_tensor, "starry_night", size=32, iterations=0, init="match")


# --------------------------------------------------------------------------- balanced style weight, preconditioning


def test_balanced_style_weight_formula_and_clamps():
    from painterly.methods.optimize import BALANCED_RANGE, balanced_style_weight

    assert balanced_style_weight(4e5, 1e14, 300.0) == pytest.approx(1.2e-6)
    assert balanced_style_weight(4e5, 4e13, 300.0) == pytest.approx(3e-6)
    assert balanced_style_weight(1.0, 1e20, 1.0) == BALANCED_RANGE[0]
    assert balanced_style_weight(1e9, 1.0, 1.0) == BALANCED_RANGE[1]
    assert balanced_style_weight(1e5, 0.0) == BALANCED_RANGE[1]       # the photo is the style


def test_default_beta_is_measured_from_the_pair(content_tensor, style_tensor):
    """Without style_weight the run's beta is balance x mean(F_relu4_2(photo)^2) / Gram loss(photo),
    both computed here by hand with the real VGG19 at the result's size."""
    from painterly.features import VGG19Features
    from painterly.losses import gram

    result = optimize_tensor(content_tensor, style_tensor, size=32, iterations=0, style_balance=250.0)
    vgg = VGG19Features(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    with torch.no_grad():
        photo, painting = vgg(content_tensor), vgg(style_tensor)
    energy = float(photo["relu4_2"].pow(2).mean())
    style = 0.0
    for layer in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"):
        channels = photo[layer].shape[1]
        style += 1e3 / channels**2 * float((gram(photo[layer]) - gram(painting[layer])).pow(2).sum())
    assert result.config["style_weight"] == pytest.approx(250.0 * energy / style, rel=1e-3)
    fixed = optimize_tensor(content_tensor, style_tensor, size=32, iterations=0, style_weight=3e-6)
    assert fixed.config["style_weight"] == 3e-6


def test_builtin_styles_may_carry_their_own_balance(content_tensor, style_tensor):
    """great_wave ships balance 10 (the general 100 paints the wave and drops the photo); the smallest
    balance of a blend applies; a balance given explicitly, or a painting file, gets no override."""
    from painterly.methods.optimize import BALANCED_RANGE, STYLE_BALANCE
    from painterly.styles import StyleRegistry

    registry = StyleRegistry()
    assert registry.info("great_wave").style_balance == 10.0 and registry.info("starry_night").style_balance is None
    run = lambda style, **kw: optimize_tensor(content_tensor, style, size=32, iterations=0, **kw).config  # noqa: E731
    wave, general = run("great_wave"), run("great_wave", style_balance=STYLE_BALANCE)
    assert wave["style_balance"] == 10.0 and general["style_balance"] == STYLE_BALANCE
    assert wave["style_weight"] == pytest.approx(max(general["style_weight"] * 10.0 / STYLE_BALANCE, BALANCED_RANGE[0]),
                                                rel=1e-6)
    assert run("starry_night")["style_balance"] == STYLE_BALANCE
    assert run(["starry_night:0.5", "great_wave:0.5"])["style_balance"] == 10.0
    assert run(style_tensor)["style_balance"] == STYLE_BALANCE
    assert run("great_wave", style_balance=250.0)["style_balance"] == 250.0


def test_preconditioned_lbfgs_runs_and_lowers_the_loss(content_tensor, style_tensor):
    plain = optimize_tensor(content_tensor, style_tensor, size=32, iterations=6, precondition=0.0)
    smoothed = optimize_tensor(content_tensor, style_tensor, size=32, iterations=6, precondition=10.0)
    assert smoothed.config["precondition"] == 10.0
    for result in (plain, smoothed):
        assert result.losses["total"] < result.history[0]["total"]
    assert not torch.equal(plain.image, smoothed.image)
