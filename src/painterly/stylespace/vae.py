"""A variational autoencoder over style vectors (:mod:`painterly.stylespace.vectors`).

Why statistics and not pixels: a VAE that must reproduce a painting's pixels from a small
latent code spends its capacity on layout and returns blurry averages (the image-space VAE
of ``painterly vae-interpolate`` shows it). The stylizers never need the layout: AdaIN and
the mean/std loss consume only channel statistics. A VAE over those 1920 numbers is small,
trains in minutes on a CPU, and every point it decodes is a complete, usable style.

Model: inputs are standardised per dimension with the training set's mean and spread
(buffers, saved with the weights, as is the range decoded vectors are clipped to); an MLP encoder gives mu and log-variance of a diagonal
Gaussian posterior; an MLP decoder maps a latent code back to a standardised vector. The
loss per example is the Gaussian negative log-likelihood with unit variance in standardised
units, 1/2 ||x - x'||^2, plus beta * KL(q(z|x) || N(0, I)) (:func:`painterly.losses.gaussian_kl`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..losses import gaussian_kl
from .vectors import VECTOR_LAYERS, vector_size


SPREAD_FLOOR = 0.1      # smallest per-dimension spread used to standardise (log1p units)
RANGE_MARGIN = 1.0      # decoded vectors stay within the training range widened by this (log1p units: x e)


@dataclass(frozen=True)
class StyleVAEConfig:
    """Shape of a style VAE."""

    latent: int = 16
    hidden: tuple[int, ...] = (512, 256)
    layers: tuple[str, ...] = VECTOR_LAYERS

    @property
    def input_size(self) -> int:
        return vector_size(self.layers)

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "StyleVAEConfig":
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (or the given ``noise``)."""
    eps = torch.randn_like(mu) if noise is None else noise
    return mu + (0.5 * logvar).exp() * eps


def reconstruction_nll(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1/2 ||recon - target||^2 summed over dimensions, mean over the batch (unit-variance Gaussian)."""
    return 0.5 * (recon - target).pow(2).sum(dim=-1).mean()


def vae_loss(recon: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> dict[str, torch.Tensor]:
    """The negative ELBO with a weight on the KL term: {"total", "recon", "kl"}."""
    rec, kl = reconstruction_nll(recon, target), gaussian_kl(mu, logvar)
    return {"total": rec + beta * kl, "recon": rec, "kl": kl}


class StyleVAE(nn.Module):
    """Style vector (N x D) <-> latent code (N x latent)."""

    def __init__(self, config: StyleVAEConfig | None = None):
        super().__init__()
        self.config = config or StyleVAEConfig()
        d, hidden = self.config.input_size, list(self.config.hidden)
        self.encoder = _mlp([d, *hidden, 2 * self.config.latent])
        self.decoder = _mlp([self.config.latent, *reversed(hidden), d])
        self.register_buffer("center", torch.zeros(d))
        self.register_buffer("spread", torch.ones(d))
        self.register_buffer("low", torch.full((d,), -math.inf))
        self.register_buffer("high", torch.full((d,), math.inf))

    def set_normalisation(self, vectors: torch.Tensor) -> None:
        """Standardise inputs with these training vectors' per-dimension mean and std, and remember their range.

        The spread has a floor of ``SPREAD_FLOOR`` (log1p units, i.e. ~10 % of a statistic): dimensions
        that hardly vary in training (channels silent in every painting) would otherwise turn a
        small difference in a new image into a huge standardised input.
        """
        self.center.copy_(vectors.mean(0))
        self.spread.copy_(vectors.std(0).clamp_min(SPREAD_FLOOR))
        self.low.copy_(vectors.min(0).values - RANGE_MARGIN)
        self.high.copy_(vectors.max(0).values + RANGE_MARGIN)

    def standardise(self, vectors: torch.Tensor) -> torch.Tensor:
        return (vectors - self.center) / self.spread

    def encode(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the posterior for style vectors N x D (or D)."""
        if vectors.shape[-1] != self.config.input_size:
            raise ValueError(f"expected style vectors of {self.config.input_size} numbers, got {tuple(vectors.shape)}")
        mu, logvar = self.encoder(self.standardise(vectors)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_standardised(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Style vectors (in log1p units) for latent codes N x latent (or latent)."""
        if z.shape[-1] != self.config.latent:
            raise ValueError(f"expected latent codes of {self.config.latent} numbers, got {tuple(z.shape)}")
        out = self.decoder(z) * self.spread + self.center
        return torch.maximum(torch.minimum(out, self.high), self.low)   # within the training range (+ margin)

    def forward(self, vectors: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(standardised reconstruction, mu, logvar) with a reparameterised sample."""
        mu, logvar = self.encode(vectors)
        return self.decoder(reparameterize(mu, logvar, noise)), mu, logvar


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, t: float) -> torch.Tensor:
    """The point at fraction ``t`` of the straight latent path from ``z_a`` to ``z_b``."""
    return torch.lerp(z_a, z_b, float(t))


__all__ = ["StyleVAE", "StyleVAEConfig", "reparameterize", "reconstruction_nll", "vae_loss", "interpolate"]
