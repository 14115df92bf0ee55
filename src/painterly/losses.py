"""Style transfer losses as pure functions, plus thin modules over them.

Normalisations (chosen so losses do not change with image size):

* ``gram(F)``: G = F F^T / (H W) for F of shape N x C x H x W, so G is the average outer
  product of feature vectors (shape N x C x C).
* ``gram_style_loss``: sum over layers of w_l * ||G_l - A_l||_F^2, summed over Gram
  entries and averaged over the batch. The default per-layer weight w_l = 1e3 / C_l^2 makes
  each layer's term 1e3 times the mean squared Gram difference, so layers with more
  channels do not dominate (the weighting of the seed experiments).
* ``content_loss``: mean squared feature difference (averaged over all elements).
* ``mean_std_style_loss``: per layer, mean squared difference of channel means plus that
  of channel standard deviations (Huang & Belongie 2017, with MSE as in their code).
* ``tv_loss``: mean squared difference between neighbouring pixels, horizontally plus
  vertically.
* ``gaussian_kl``: KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form,
  -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), summed over latent dimensions and
  averaged over the batch (Kingma & Welling 2014, appendix B).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by the number of positions: (N, C, H, W) -> (N, C, C)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def default_style_layer_weight(channels: int) -> float:
    """The per-layer Gram weight 1e3 / C^2."""
    return 1e3 / channels**2


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference."""
    return F.mse_loss(features, target.expand_as(features))


def gram_distance(gram_a: torch.Tensor, gram_b: torch.Tensor) -> torch.Tensor:
    """||A - B||_F^2 per Gram matrix, averaged over the batch."""
    diff = gram_a - gram_b.expand_as(gram_a)
    return diff.pow(2).sum(dim=(-2, -1)).mean()


def gram_style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
                    layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Weighted sum over layers of squared Frobenius Gram distances (see module docstring).

    ``target_grams`` maps each style layer to a C x C (or 1 x C x C) Gram matrix;
    ``layer_weights`` defaults to 1e3 / C^2 per layer.
    """
    total = None
    for layer, target in target_grams.items():
        feats = features[layer]
        weight = (layer_weights or {}).get(layer, default_style_layer_weight(feats.shape[1]))
        term = weight * gram_distance(gram(feats), target.to(feats.dtype))
        total = term if total is None else total + term
    if total is None:
        raise ValueError("gram_style_loss needs at least one style layer")
    return total


def calc_mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-wise mean and standard deviation over positions: each of shape (N, C, 1, 1).

    The standard deviation is sqrt(biased variance + eps), the form AdaIN uses.
    """
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    mean = flat.mean(dim=2)
    var = flat.var(dim=2, unbiased=False)
    return mean.view(n, c, 1, 1), (var + eps).sqrt().view(n, c, 1, 1)


# Per-layer factors for mean/std losses on the raw Caffe VGG19, whose activations grow from ~30
# at relu1_1 to ~700 at relu4_1: they equalise the layers' typical loss on photo/painting pairs,
# so colour and fine texture count as much as relu4_1 (optimisation with the mean/std loss, the
# style space, and `painterly train adain --raw-features`).
MEAN_STD_LAYER_FACTORS = {"relu1_1": 400.0, "relu2_1": 20.0, "relu3_1": 10.0, "relu4_1": 1.0, "relu5_1": 40.0}


def relative_gram_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
                       weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of w_l ||G - T||_F^2 / ||T||_F^2, averaged over the batch: the Gram distance relative to
    the target's own size, so every layer counts alike whatever its units (``T``: N x C x C or C x C), times
    the layer's weight (``weights``; a layer it does not name, or None: 1)."""
    total = None
    for layer, target in target_grams.items():
        g = gram(features[layer])
        target = target.to(g.dtype).expand_as(g)
        term = ((g - target).pow(2).sum((1, 2)) / target.pow(2).sum((1, 2)).clamp_min(1e-12)).mean()
        if weights is not None:
            term = term * weights.get(layer, 1.0)
        total = term if total is None else total + term
    if total is None:
        raise ValueError("relative_gram_loss needs at least one style layer")
    return total


def mean_std_style_loss(features: Mapping[str, torch.Tensor],
                        targets: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Sum over layers of MSE(channel means) + MSE(channel standard deviations)."""
    total = None
    for layer, (target_mean, target_std) in targets.items():
        mean, std = calc_mean_std(features[layer])
        term = F.mse_loss(mean, target_mean.expand_as(mean)) + F.mse_loss(std, target_std.expand_as(std))
        total = term if total is None else total + term
    if total is None:
        raise ValueError("mean_std_style_loss needs at least one style layer")
    return total


def tv_loss(images: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontally plus vertically neighbouring pixels."""
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, I): summed over dims, mean over the batch (N x D)."""
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=-1).mean()


def warmed_up_weight(step: int, weight: float, warmup: int) -> float:
    """``weight`` reached linearly over the first ``warmup`` steps (the KL warm-up of VAE training)."""
    return weight if warmup <= 0 else weight * min(1.0, (step + 1) / warmup)


class ContentLoss(nn.Module):
    """Content loss against fixed target features."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return content_loss(features, self.target)


class GramStyleLoss(nn.Module):
    """Gram style loss against fixed target Gram matrices per layer."""

    def __init__(self, target_grams: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float] | None = None):
        super().__init__()
        self.layers = tuple(target_grams)
        for layer, target in target_grams.items():
            self.register_buffer(f"gram_{layer}", target.detach())
        self.layer_weights = dict(layer_weights or {})

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        targets = {layer: getattr(self, f"gram_{layer}") for layer in self.layers}
        return gram_style_loss(features, targets, self.layer_weights)


class TVLoss(nn.Module):
    """Total variation regulariser."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return tv_loss(images)
