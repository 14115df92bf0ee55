"""Style vectors: the channel mean and standard deviation of VGG19 features, as one flat vector.

A painting's style, as the AdaIN decoder and the mean/std style loss see it, is the channel-wise
mean and standard deviation of its VGG19 activations at relu1_1, relu2_1, relu3_1 and relu4_1
(64 + 128 + 256 + 512 = 960 channels). A *style vector* holds them as

    [log1p(mean_relu1_1), ..., log1p(mean_relu4_1), log1p(std_relu1_1), ..., log1p(std_relu4_1)]

(1920 numbers). ``log1p`` makes the scales of the layers comparable (activations grow from
tens at relu1_1 to hundreds at relu4_1 on the raw Caffe VGG) and keeps decoded statistics
positive: :func:`vector_to_stats` inverts it with ``expm1`` clamped at 0.

For training data, :func:`window_vectors` measures many random windows of a painting from one
VGG pass over the whole painting: the statistics of a window of the image are taken as those of
the matching window of each feature map (computed in O(C) per window from summed-area tables),
which is what a VGG pass over the crop gives away from the crop's border, at a fraction of the
cost of one pass per crop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..features import VGG19Features, layer_channels
from ..ops import ADAIN_EPS

VECTOR_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Longer side (px) at which a whole painting or image is measured for its latent code.
CODE_SIZE = 512


def vector_size(layers: Sequence[str] = VECTOR_LAYERS) -> int:
    return 2 * sum(layer_channels(layer) for layer in layers)


def stats_to_vector(means: Mapping[str, torch.Tensor], stds: Mapping[str, torch.Tensor],
                    layers: Sequence[str] = VECTOR_LAYERS) -> torch.Tensor:
    """One style's per-layer channel means and stds (each C values, any shape) -> its style vector (D)."""
    parts = [means[layer].float().reshape(-1) for layer in layers] + [stds[layer].float().reshape(-1) for layer in layers]
    return torch.cat(parts).clamp_min(0).log1p()


def vector_to_stats(vector: torch.Tensor, layers: Sequence[str] = VECTOR_LAYERS
                    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Inverse of :func:`stats_to_vector` for one vector (D): (means, stds), each layer -> C.

    Standard deviations are at least sqrt(eps), the floor every measured one has.
    """
    if vector.ndim != 1 or vector.numel() != vector_size(layers):
        raise ValueError(f"expected a style vector of {vector_size(layers)} numbers, got shape {tuple(vector.shape)}")
    means, stds = vectors_to_stats(vector[None], layers)
    return {k: v.reshape(-1) for k, v in means.items()}, {k: v.reshape(-1) for k, v in stds.items()}


def vectors_to_stats(vectors: torch.Tensor, layers: Sequence[str] = VECTOR_LAYERS
                     ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Batch form of :func:`vector_to_stats`: N x D vectors -> (means, stds), each layer -> N x C x 1 x 1."""
    if vectors.ndim != 2 or vectors.shape[1] != vector_size(layers):
        raise ValueError(f"expected N x {vector_size(layers)} style vectors, got shape {tuple(vectors.shape)}")
    values = vectors.float().expm1().clamp_min(0)
    means, stds, offset = {}, {}, 0
    for kind in (means, stds):
        for layer in layers:
            c = layer_channels(layer)
            kind[layer] = values[:, offset:offset + c].reshape(-1, c, 1, 1)
            offset += c
    floor = ADAIN_EPS ** 0.5
    return means, {layer: s.clamp_min(floor) for layer, s in stds.items()}


def image_vector(vgg: VGG19Features, image: torch.Tensor, layers: Sequence[str] = VECTOR_LAYERS) -> torch.Tensor:
    """The style vector of a whole image (1 x 3 x H x W in [0, 1])."""
    with torch.no_grad():
        feats = vgg(image)
    means, stds = {}, {}
    for layer in layers:
        flat = feats[layer][0].flatten(1).double()
        means[layer] = flat.mean(1)
        stds[layer] = (flat.var(1, unbiased=False) + ADAIN_EPS).sqrt()
    return stats_to_vector(means, stds, layers)


def _summed_area(feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed-area tables of x and x^2 (C x (H+1) x (W+1), float64) for O(1) window sums."""
    x = feature.double()
    pad = lambda t: torch.nn.functional.pad(t.cumsum(1).cumsum(2), (1, 0, 1, 0))  # noqa: E731
    return pad(x), pad(x * x)


def _window_sum(table: torch.Tensor, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    return table[:, bottom, right] - table[:, top, right] - table[:, bottom, left] + table[:, top, left]


def window_vectors(vgg: VGG19Features, image: torch.Tensor, windows: Sequence[tuple[float, float, float, float]],
                   layers: Sequence[str] = VECTOR_LAYERS) -> torch.Tensor:
    """Style vectors of windows of ``image`` (1 x 3 x H x W), from one VGG pass: N x D.

    Each window is (top, left, height, width) as fractions of the image's height and width;
    at each layer it is rounded to whole feature-map cells (at least one).
    """
    with torch.no_grad():
        feats = vgg(image)
    tables = {layer: _summed_area(feats[layer][0]) for layer in layers}
    rows = []
    for top, left, height, width in windows:
        means, stds = {}, {}
        for layer in layers:
            s1, s2 = tables[layer]
            h, w = s1.shape[1] - 1, s1.shape[2] - 1
            t = min(h - 1, int(round(top * h)))
            lft = min(w - 1, int(round(left * w)))
            b = max(t + 1, min(h, int(round((top + height) * h))))
            r = max(lft + 1, min(w, int(round((left + width) * w))))
            n = (b - t) * (r - lft)
            mean = _window_sum(s1, t, lft, b, r) / n
            var = (_window_sum(s2, t, lft, b, r) / n - mean * mean).clamp_min(0)
            means[layer], stds[layer] = mean, (var + ADAIN_EPS).sqrt()
        rows.append(stats_to_vector(means, stds, layers))
    return torch.stack(rows)


def random_windows(count: int, min_fraction: float, generator: torch.Generator,
                   aspect: float = 1.0, max_fraction: float = 1.0) -> list[tuple[float, float, float, float]]:
    """``count`` random square-ish windows (in pixels, for an image of aspect width/height ``aspect``)
    whose side is between ``min_fraction`` and ``max_fraction`` of the shorter side; as fractions of (H, W)."""
    out = []
    for _ in range(count):
        side = min_fraction + (max_fraction - min_fraction) * torch.rand((), generator=generator).item()
        fh, fw = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
        top = (1.0 - fh) * torch.rand((), generator=generator).item()
        left = (1.0 - fw) * torch.rand((), generator=generator).item()
        out.append((top, left, fh, fw))
    return out


__all__ = ["VECTOR_LAYERS", "CODE_SIZE", "vector_size", "stats_to_vector", "vector_to_stats", "vectors_to_stats", "image_vector",
           "window_vectors", "random_windows"]
