"""AdaIN: the op against the paper's formula, the decoder, and the stylizer's controls and errors."""

from __future__ import annotations

import math

import pytest
import torch

from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.io.model_file import ModelFileError, save_model_file
from painterly.methods.adain import (AdainConfig, AdainStylizer, EncodedStyle, adain_regions, blend_style_stats,
                                     check_masks, load_adain_stylizer, masked_mean_std)
from painterly.nets.adain import AdainDecoder, AdainDecoderConfig
from painterly.ops import ADAIN_EPS, adain, adain_from_stats, channel_mean_std

TINY = AdainDecoderConfig(width=1 / 16, input_scale=1.0)  # unscaled: a random decoder reacts visibly to its input


# --------------------------------------------------------------------------- the op


def test_adain_matches_the_papers_formula_by_hand():
    # x: one channel with values 1, 2, 3, 4 -> mu 2.5, biased var 1.25
    # y: one channel with values 10, 10, 30, 30 -> mu 20, biased var 100
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    y = torch.tensor([[[[10.0, 10.0], [30.0, 30.0]]]], dtype=torch.float64)
    sigma_x, sigma_y = math.sqrt(1.25 + ADAIN_EPS), math.sqrt(100.0 + ADAIN_EPS)
    expected = [sigma_y * (v - 2.5) / sigma_x + 20.0 for v in (1.0, 2.0, 3.0, 4.0)]
    out = adain(x, y)
    assert out.flatten().tolist() == pytest.approx(expected, rel=1e-12)
    assert ADAIN_EPS == 1e-5   # documented: sigma = sqrt(biased variance + 1e-5)


def test_adain_from_stats_agrees_with_adain_and_accepts_shapes():
    torch.manual_seed(0)
    x, y = torch.randn(2, 5, 6, 7), torch.randn(1, 5, 4, 4) * 3 + 2
    mean, std = channel_mean_std(y)
    ref = adain(x, y)
    for m, s in ((mean, std), (mean.flatten(), std.flatten()), (mean.view(1, 5), std.view(1, 5))):
        assert torch.allclose(adain_from_stats(x, m, s), ref, atol=1e-5)
    out_mean, out_std = channel_mean_std(ref)
    assert torch.allclose(out_mean, mean.expand_as(out_mean), atol=1e-4)
    assert torch.allclose(out_std, std.expand_as(out_std), atol=1e-3)


def test_adain_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(adain, (x, y))
    mean = torch.randn(3, dtype=torch.float64, requires_grad=True)
    std = torch.rand(3, dtype=torch.float64).add(0.5).requires_grad_()
    assert torch.autograd.gradcheck(adain_from_stats, (x, mean, std))


def test_adain_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="channel"):
        adain(torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4))


# --------------------------------------------------------------------------- pure helpers


def test_blended_stats_equal_weighted_sum_of_adain_outputs():
    torch.manual_seed(1)
    x = torch.randn(1, 4, 5, 5)
    styles = [torch.randn(1, 4, 6, 6) * k + k for k in (1.0, 3.0)]
    stats = [channel_mean_std(s) for s in styles]
    mean, std = blend_style_stats(stats, [3.0, 1.0])
    expected = 0.75 * adain(x, styles[0]) + 0.25 * adain(x, styles[1])
    assert torch.allclose(adain_from_stats(x, mean, std), expected, atol=1e-5)
    with pytest.raises(PainterlyError):
        blend_style_stats(stats, [0.0, 0.0])


def test_adain_regions_full_mask_is_plain_adain_and_regions_get_their_stats():
    torch.manual_seed(2)
    x = torch.randn(1, 3, 8, 8)
    a, b = (torch.randn(1, 3, 1, 1), torch.rand(1, 3, 1, 1) + 0.5), (torch.randn(1, 3, 1, 1) + 5, torch.rand(1, 3, 1, 1))
    full = torch.ones(1, 8, 8)
    assert torch.allclose(adain_regions(x, full, [a]), adain_from_stats(x, *a), atol=1e-5)
    left = torch.zeros(8, 8)
    left[:, :4] = 1
    out = adain_regions(x, torch.stack([left, 1 - left]), [a, b])
    for region, (mean, std) in ((out[..., :4], a), (out[..., 4:], b)):
        m, s = channel_mean_std(region)
        assert torch.allclose(m, mean, atol=1e-4) and torch.allclose(s, std, atol=1e-3)
    weights = left[None, None]
    m, _ = masked_mean_std(x, weights)
    assert torch.allclose(m, x[..., :4].mean(dim=(2, 3), keepdim=True), atol=1e-6)


def test_uncovered_positions_keep_the_content_features():
    x = torch.randn(1, 3, 4, 4)
    mask = torch.zeros(1, 4, 4)
    mask[0, :2] = 1
    out = adain_regions(x, mask, [(torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1))])
    assert torch.equal(out[..., 2:, :], x[..., 2:, :])


# --------------------------------------------------------------------------- decoder


def test_decoder_shapes_and_widths():
    dec = AdainDecoder(TINY)
    assert dec(torch.randn(2, 512, 4, 5)).shape == (2, 3, 32, 40)
    assert AdainDecoderConfig(1.0).channels() == (256, 128, 64)
    paper = sum(p.numel() for p in AdainDecoder().parameters())
    assert 3.4e6 < paper < 3.6e6                  # the paper's decoder: ~3.5 M parameters
    assert any(isinstance(m, torch.nn.ReflectionPad2d) for m in dec.modules())
    with pytest.raises(ValueError):
        dec(torch.randn(1, 256, 4, 4))


# --------------------------------------------------------------------------- stylizer (real VGG, tiny decoder)


@pytest.fixture(scope="module")
def stylizer():
    torch.manual_seed(0)
    return AdainStylizer(AdainDecoder(TINY), config=AdainConfig(style_size=48))


@pytest.fixture
def photo():
    torch.manual_seed(3)
    return torch.rand(1, 3, 37, 45)


@pytest.fixture
def painting():
    g = torch.Generator().manual_seed(4)
    base = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    return (base + 0.1 * torch.rand(1, 3, 40, 40, generator=g)).clamp(0, 1)


def test_output_has_the_input_size(stylizer, photo, painting):
    out = stylizer(photo.expand(2, -1, -1, -1), painting)
    assert out.shape == (2, 3, 37, 45)
    assert out.min() >= 0 and out.max() <= 1


def test_strength_zero_reproduces_the_decoded_content(stylizer, painting):
    photo = torch.rand(1, 3, 32, 40)
    out = stylizer(photo, painting, strength=0.0)
    with torch.no_grad():
        expected = stylizer.decoder(stylizer.encode(photo)).clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-5)
    assert not torch.allclose(stylizer(photo, painting, strength=1.0), expected, atol=1e-3)


def test_interpolation_weights(stylizer, photo, painting):
    other = torch.rand(1, 3, 40, 40)
    only_a = stylizer(photo, painting)
    assert torch.allclose(stylizer(photo, [(painting, 1.0), (other, 0.0)]), only_a, atol=1e-5)
    half = stylizer(photo, [(painting, 1.0), (other, 1.0)])
    stats = [stylizer.style_stats(s)[:2] for s in (painting, other)]
    mean, std = blend_style_stats(stats, [0.5, 0.5])
    padded = torch.nn.functional.pad(photo, (0, 3, 0, 3), mode="reflect")
    with torch.no_grad():
        expected = stylizer.decode(adain_from_stats(stylizer.encode(padded), mean, std))[..., :37, :45]
    assert torch.allclose(half, expected, atol=1e-5)


def test_mask_regions_assign_styles(stylizer, painting):
    photo = torch.rand(1, 3, 32, 32)
    blue = painting.flip(1)
    left = torch.zeros(2, 32, 32)
    left[0, :, :16] = 1
    left[1, :, 16:] = 1
    out = stylizer(photo, [painting, blue], masks=left)
    only_left = stylizer(photo, [painting, blue], masks=torch.stack([torch.ones(32, 32), torch.zeros(32, 32) + 1e-3]))
    assert out.shape == photo.shape
    assert not torch.allclose(out, only_left, atol=1e-3)


def test_preserve_color_keeps_the_photos_palette(stylizer, painting):
    torch.manual_seed(5)
    photo = torch.rand(1, 3, 32, 32) * torch.tensor([0.2, 0.4, 0.9]).view(1, 3, 1, 1)
    # the decoder is untrained, so compare the style targets: recoloured painting ~ photo colours
    recoloured = stylizer.style_stats(painting, content=photo)[:2]
    plain = stylizer.style_stats(painting)[:2]
    own = channel_mean_std(stylizer.encode(photo))
    assert (recoloured[0] - own[0]).abs().mean() < (plain[0] - own[0]).abs().mean()
    assert stylizer(photo, painting, preserve_color=True).shape == photo.shape


def test_builtin_style_by_name(stylizer, photo):
    out = stylizer(photo, "starry_night")
    assert out.shape == photo.shape
    mixed = stylizer(photo, "starry_night:0.5")
    assert torch.allclose(mixed, out, atol=1e-5)      # one style: its weight normalises away
    assert stylizer(photo, "starry_night", preserve_color=True).shape == photo.shape
    with pytest.raises(StyleNotFoundError):
        stylizer(photo, "no_such_style")


def test_a_style_encoded_once_gives_the_same_result_without_encoding_the_painting_again(painting):
    torch.manual_seed(0)
    stylizer = AdainStylizer(AdainDecoder(TINY), config=AdainConfig(style_size=48))
    photo, other = torch.rand(2, 3, 32, 40), torch.rand(1, 3, 40, 40)
    style = [(painting, 2.0), (other, 1.0)]
    expected = stylizer(photo, style)
    encoded = stylizer.encode_style(style)
    assert isinstance(encoded, EncodedStyle) and encoded.weights == (2.0, 1.0) and not encoded.builtin
    sizes = []
    hook = stylizer.encoder.register_forward_hook(lambda module, args, out: sizes.append(tuple(args[0].shape[-2:])))
    try:
        out = stylizer(photo, encoded, strength=0.7)
        again = stylizer(photo, style, strength=0.7)
    finally:
        hook.remove()
    assert sizes.count((48, 48)) == 2                    # only the call given the paintings encoded them
    assert torch.equal(out, again)
    assert torch.equal(stylizer(photo, encoded), expected)
    masks = torch.zeros(2, 32, 40)
    masks[0, :, :20], masks[1, :, 20:] = 1, 1
    assert torch.equal(stylizer(photo[:1], encoded, masks=masks), stylizer(photo[:1], style, masks=masks))
    builtin = stylizer.encode_style("starry_night")
    assert builtin.builtin and stylizer(photo, builtin, preserve_color=True).shape == photo.shape
    with pytest.raises(PainterlyError, match="pass the painting"):
        stylizer(photo, encoded, preserve_color=True)   # recolouring needs the painting's pixels


# --------------------------------------------------------------------------- bad input


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_style_that_is_not_an_image(stylizer, photo, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture")
    with pytest.raises(PainterlyError) as exc:
        stylizer(photo, str(fake))
    _one_line(exc)


def test_bad_masks(stylizer, photo, painting):
    with pytest.raises(PainterlyError, match="size") as exc:
        stylizer(photo, painting, masks=torch.ones(1, 10, 10))
    _one_line(exc)
    with pytest.raises(PainterlyError, match="no region") as exc:
        stylizer(photo, painting, masks=torch.zeros(1, 37, 45))
    _one_line(exc)
    with pytest.raises(PainterlyError, match="one mask per style"):
        check_masks(torch.ones(2, 4, 4), (4, 4), 1)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_strength_outside_0_1(stylizer, photo, painting, strength):
    with pytest.raises(PainterlyError, match="strength") as exc:
        stylizer(photo, painting, strength=strength)
    _one_line(exc)
    with pytest.raises(PainterlyError):
        AdainConfig(strength=strength).validate()


def test_no_style(stylizer, photo):
    with pytest.raises(PainterlyError, match="needs a style"):
        stylizer(photo)


# --------------------------------------------------------------------------- model files


def test_export_and_load(tmp_path, photo, painting):
    torch.manual_seed(0)
    dec = AdainDecoder(TINY)
    path = save_model_file(tmp_path / "dec.safetensors", "adain", dec.state_dict(),
                           {"architecture": {"decoder": TINY.to_dict()}})
    loaded = load_adain_stylizer(path, strength=0.5, style_size=48)
    assert loaded.kind == "adain" and loaded.config.strength == 0.5
    assert "starry_night" in loaded.style_names
    assert loaded(photo, painting).shape == photo.shape
    other = save_model_file(tmp_path / "fast.safetensors", "fast", {"w": torch.zeros(1)}, {})
    with pytest.raises(ModelFileError, match="adain"):
        load_adain_stylizer(other)


def test_builtin_decoder_loads():
    from painterly.methods.adain import builtin_decoder_path

    if not builtin_decoder_path().is_file():
        pytest.skip("built-in decoder not shipped yet")
    stylizer = load_adain_stylizer()
    assert stylizer.kind == "adain"
    assert builtin_decoder_path().stat().st_size < 8 * 1024 * 1024
