"""Tiled stylisation: the plan covers the image, feathering sums to 1, and tiles leave no seams."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import array_to_tensor, make_photo
from painterly.errors import PainterlyError
from painterly.methods.feedforward import TransformerStylizer
from painterly.nets.transformer import TransformerConfig, TransformerNet
from painterly.tiling import (TileConfig, axis_spans, feather_weights, plan_tiles, stylize_tiled, tiled_apply,
                              with_tracked_norms)

# A width-4 depth-1 TransformerNet sees about 14 + 8 = 22 px around each output pixel.
CONFIG = TileConfig(tile=96, context=24, overlap=16)


@pytest.fixture
def textured() -> torch.Tensor:
    """1 x 3 x 96 x 160: the smooth test photo plus seeded fine texture."""
    generator = torch.Generator().manual_seed(0)
    image = array_to_tensor(make_photo(96, 160))
    return (image + 0.1 * torch.rand(image.shape, generator=generator)).clamp(0, 1)


@pytest.fixture
def stylizer() -> TransformerStylizer:
    torch.manual_seed(0)
    return TransformerStylizer(TransformerNet(TransformerConfig(width=4, depth=1)), "fast", ["starry_night"])


class ConvStylizer:
    """An instance-norm-free network (two reflection-padded convolutions, 3 px receptive radius)."""

    kind, style_names = "test", ["none"]

    def __init__(self):
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(3, 8, 5), nn.ReLU(),
                                 nn.ReflectionPad2d(1), nn.Conv2d(8, 3, 3), nn.Sigmoid())

    def __call__(self, images, style=None):
        with torch.no_grad():
            return self.net(images)


@pytest.mark.parametrize("length", [17, 48, 49, 100, 131, 257, 600])
@pytest.mark.parametrize("core, overlap", [(40, 8), (48, 16), (100, 0)])
def test_spans_cover_align_and_weights_sum_to_one(length, core, overlap):
    spans = axis_spans(length, core, overlap, align=4)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a % 4 == 0 and b - a <= core + 3 for a, b in spans)
    assert all(b0 - a1 >= overlap for (_, b0), (a1, _) in zip(spans, spans[1:]))
    total = torch.zeros(length, dtype=torch.float64)
    for (a, b), weight in zip(spans, feather_weights(spans, overlap)):
        assert weight.shape == (b - a,) and (weight >= 0).all()
        total[a:b] += weight
    assert torch.allclose(total, torch.ones(length, dtype=torch.float64), atol=1e-12)


def test_feathering_is_a_raised_cosine_over_the_overlap():
    spans = [(0, 64), (32, 96)]
    first, second = feather_weights(spans, 16)
    assert torch.equal(first[:40], torch.ones(40, dtype=torch.float64))
    assert (first[40:56].diff() < 0).all() and (first[56:] == 0).all()
    assert torch.allclose(first[40:56] + second[8:24], torch.ones(16, dtype=torch.float64))


def test_plan_crops_carry_context_and_stay_inside():
    tiles = plan_tiles(150, 211, CONFIG)
    assert len(tiles) > 4
    for tile in tiles:
        y0, y1, x0, x1 = tile.core
        cy0, cy1, cx0, cx1 = tile.crop
        assert cy0 % 4 == 0 and cx0 % 4 == 0 and 0 <= cy0 <= y0 < y1 <= cy1 <= 150 and 0 <= cx0 <= x0 < x1 <= cx1 <= 211
        assert (y0 - cy0 >= 24 or cy0 == 0) and (cy1 - y1 >= 24 or cy1 == 150)
        assert cy1 - cy0 <= CONFIG.tile + 3 and cx1 - cx0 <= CONFIG.tile + 3


def test_bad_tile_settings():
    with pytest.raises(PainterlyError, match="too small"):
        TileConfig(tile=64, context=24, overlap=16).validate()
    with pytest.raises(PainterlyError, match="statistics"):
        TileConfig(stats="global").validate()


def test_identity_tiles_are_exact(textured):
    assert torch.equal(tiled_apply(lambda crop: crop.clone(), textured, CONFIG), textured) or torch.allclose(
        tiled_apply(lambda crop: crop.clone(), textured, CONFIG), textured, atol=1e-6)


def test_norm_free_network_tiled_equals_untiled(textured):
    stylizer = ConvStylizer()
    tiled = stylize_tiled(stylizer, textured, None, CONFIG)
    assert (tiled - stylizer(textured)).abs().max() < 1e-5


def test_small_images_are_not_tiled(stylizer, content_tensor):
    assert torch.equal(stylize_tiled(stylizer, content_tensor, None, CONFIG), stylizer(content_tensor))


def test_exact_statistics_reproduce_the_untiled_network(stylizer, textured):
    tiled = stylize_tiled(stylizer, textured, None, TileConfig(tile=96, context=24, overlap=16, stats="exact"))
    assert (tiled - stylizer(textured)).abs().max() < 1e-4


def seam_columns(image: torch.Tensor, config: TileConfig) -> list[int]:
    """The middle of each cross-fade between horizontally neighbouring tiles (where a hard cut would be)."""
    spans = axis_spans(image.shape[-1], config.core, config.overlap, config.align)
    return [(a1 + b0) // 2 for (_, b0), (a1, _) in zip(spans, spans[1:])]


def seam_ratio(image: torch.Tensor, columns: list[int]) -> float:
    """Mean horizontal gradient across the seam columns over the mean across all columns."""
    grad = (image[..., 1:] - image[..., :-1]).abs().mean(dim=(0, 1, 2))
    return float(torch.stack([grad[c - 1] for c in columns]).mean() / grad.mean())


def test_preview_tiles_equal_one_pass_with_the_same_statistics(stylizer, textured):
    """Tiles sharing the preview's statistics are exactly an untiled pass with them: no seam can exist."""
    config = TileConfig(tile=96, context=24, overlap=0, stats="preview")
    tiled = stylize_tiled(stylizer, textured, None, config)
    net, state, _ = with_tracked_norms(stylizer.net)
    state.mode = "record"
    net(torch.nn.functional.interpolate(textured, size=(58, 96), mode="bilinear", antialias=True))
    state.mode = "frozen"
    with torch.no_grad():
        untiled = net(textured)
    assert (tiled - untiled).abs().max() < 1e-5
    # statistics of a 1.7x smaller copy: the same look, not the same pixels as per-image statistics
    assert (tiled - stylizer(textured)).abs().mean() < 0.05


def test_seam_lines_look_like_any_other_column(stylizer):
    generator = torch.Generator().manual_seed(0)
    image = array_to_tensor(make_photo(96, 320))
    image = (image + 0.1 * torch.rand(image.shape, generator=generator)).clamp(0, 1)
    reference = stylizer(image)
    hard = TileConfig(tile=96, context=24, overlap=0, stats="tile")      # per-tile statistics, hard cuts
    naive = stylize_tiled(stylizer, image, None, hard)
    columns = seam_columns(image, hard)
    assert seam_ratio(naive, columns) - seam_ratio(reference, columns) > 0.08   # the metric sees seams
    for config in (TileConfig(tile=96, context=24, overlap=0), TileConfig(tile=96, context=24, overlap=16)):
        tiled = stylize_tiled(stylizer, image, None, config)
        columns = seam_columns(image, config)
        assert abs(seam_ratio(tiled, columns) - seam_ratio(reference, columns)) < 0.04


def test_tracked_copy_leaves_the_network_alone(stylizer):
    copy, _, norms = with_tracked_norms(stylizer.net)
    assert len(norms) == 7 and copy is not stylizer.net
    assert not any(type(m).__name__ == "_TrackedInstanceNorm" for m in stylizer.net.modules())


def test_multistyle_blend_tiles(textured):
    torch.manual_seed(0)
    multi = TransformerStylizer(TransformerNet(TransformerConfig(width=4, depth=1, n_styles=2)), "multistyle",
                                ["a", "b"])
    style = {"a": 0.5, "b": 0.5}
    tiled = stylize_tiled(multi, textured, style, TileConfig(tile=96, context=24, overlap=16, stats="exact"))
    assert (tiled - multi(textured, style)).abs().max() < 1e-4
