"""A convolutional VAE on raw pixels: the image-space baseline of ``painterly vae-interpolate``.

This is the model the original project tried for a "space of styles": encode two paintings,
walk the latent path between them, decode every point. It is kept as an honest baseline next
to the VAE over VGG feature statistics (:mod:`painterly.stylespace.vae`): a latent code of a
few hundred numbers has to carry a painting's layout, colours and texture at once, so the
decoder returns smooth, blurry averages and the path in between cross-fades layouts instead of
blending styles (see docs/style_space_vs_image_vae.png).

Network (``size`` = 128, ``base_width`` = 32, ``max_width`` = 192, ``latent`` = 128)::

    encoder: 5 x [3x3 conv, stride 2 -> GroupNorm -> SiLU]   128 -> 4 px, 32/64/128/192/192 channels
             flatten (192 * 4 * 4) -> linear -> mu, logvar (latent each)
    decoder: linear -> 192 x 4 x 4 -> SiLU,
             5 x [nearest 2x upsample -> 3x3 conv -> GroupNorm -> SiLU]   (no transposed convs)
             3x3 conv -> sigmoid                                  RGB in [0, 1], 128 x 128

Images are N x 3 x size x size floats in [0, 1]; ``size`` must be a multiple of 2 ** stages.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import PainterlyError
from ..losses import gaussian_kl

KIND = "image-vae"
BUILTIN_MODEL = "image_vae.safetensors"
LOGVAR_RANGE = (-12.0, 8.0)      # clamp: keeps exp(logvar) finite early in training
INTERPOLATION_MODES = ("linear", "slerp")


@dataclass(frozen=True)
class ImageVAEConfig:
    """Shape of an image VAE."""

    size: int = 128                # square image side (px)
    latent: int = 128              # latent dimensions
    base_width: int = 32           # channels of the first encoder stage; doubles per stage ...
    max_width: int = 192           # ... up to this
    stages: int = 5                # stride-2 stages: the bottleneck grid is size / 2 ** stages

    def __post_init__(self):
        if min(self.size, self.latent, self.base_width, self.max_width, self.stages) < 1:
            raise ValueError(f"every ImageVAEConfig field must be >= 1: {self}")
        if self.size % (2 ** self.stages):
            raise ValueError(f"image size {self.size} is not a multiple of 2 ** {self.stages} (the stages)")

    def widths(self) -> tuple[int, ...]:
        """Channels after each encoder stage (the decoder mirrors them)."""
        return tuple(min(self.max_width, self.base_width * 2 ** i) for i in range(self.stages))

    @property
    def grid(self) -> int:
        """Side of the bottleneck feature map."""
        return self.size // 2 ** self.stages

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ImageVAEConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm (batch-independent: the same output in training and at inference)."""
    groups = math.gcd(channels, 8)
    return nn.GroupNorm(groups, channels)


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), _norm(cout), nn.SiLU())


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1),
                         _norm(cout), nn.SiLU())


class ImageVAE(nn.Module):
    """Images (N x 3 x size x size, [0, 1]) <-> latent codes (N x latent)."""

    def __init__(self, config: ImageVAEConfig | None = None):
        super().__init__()
        self.config = cfg = config or ImageVAEConfig()
        widths = cfg.widths()
        flat = widths[-1] * cfg.grid * cfg.grid
        self.encoder = nn.Sequential(*[_down(cin, cout) for cin, cout in zip((3, *widths[:-1]), widths)])
        self.to_stats = nn.Linear(flat, 2 * cfg.latent)
        self.from_latent = nn.Linear(cfg.latent, flat)
        ups = list(reversed(widths)) + [max(8, widths[0] // 2)]
        self.decoder = nn.Sequential(*[_up(cin, cout) for cin, cout in zip(ups[:-1], ups[1:])])
        self.to_rgb = nn.Conv2d(ups[-1], 3, 3, padding=1)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each N x latent, of the posterior q(z | image)."""
        size = self.config.size
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (size, size):
            raise ValueError(f"expected N x 3 x {size} x {size} images, got {tuple(images.shape)}")
        stats = self.to_stats(self.encoder(images * 2.0 - 1.0).flatten(1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (N x 3 x size x size) for latent codes N x latent."""
        if z.ndim != 2 or z.shape[1] != self.config.latent:
            raise ValueError(f"expected N x {self.config.latent} latent codes, got {tuple(z.shape)}")
        grid, width = self.config.grid, self.config.widths()[-1]
        x = nn.functional.silu(self.from_latent(z)).view(len(z), width, grid, grid)
        return torch.sigmoid(self.to_rgb(self.decoder(x)))

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction of a reparameterised sample, mu, logvar)."""
        mu, logvar = self.encode(images)
        return self.decode(reparameterize(mu, logvar, generator, noise)), mu, logvar


# --------------------------------------------------------------------------- pure functions


# KL(N(mu, diag(exp(logvar))) || N(0, I)), summed over latent dims, mean over the batch: one
# implementation for both VAEs (see painterly.losses).
kl_divergence = gaussian_kl


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   noise: torch.Tensor | None = None) -> torch.Tensor:
    """A sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), differentiable in mu and logvar.

    ``eps`` is ``noise`` if given, else drawn with ``generator`` (on the generator's device,
    then moved), else from the global RNG.
    """
    if noise is None:
        gen_device = generator.device if generator is not None else mu.device
        noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=gen_device)
    elif noise.shape != mu.shape:
        raise ValueError(f"noise of shape {tuple(noise.shape)} for mu of shape {tuple(mu.shape)}")
    return mu + (0.5 * logvar).exp() * noise.to(device=mu.device, dtype=mu.dtype)


def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, ts: Sequence[float] | torch.Tensor,
                        mode: str = "linear") -> torch.Tensor:
    """Points along the path from ``z_a`` (t = 0) to ``z_b`` (t = 1): len(ts) x latent.

    ``linear``: (1 - t) z_a + t z_b. ``slerp``: the great-circle path of White (2016),
    sin((1 - t) W) / sin W * z_a + sin(t W) / sin W * z_b with W the angle between the codes;
    it keeps the norm when both codes have the same norm (a straight line through a Gaussian's
    interior passes where codes rarely are). Nearly parallel or opposite codes (sin W ~ 0)
    fall back to the straight line. ``z_a``/``z_b`` are latent vectors (or 1 x latent).
    """
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"unknown interpolation mode {mode!r}: use {' or '.join(INTERPOLATION_MODES)}")
    a, b = z_a.reshape(-1), z_b.reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"latent codes of different sizes: {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    t = torch.as_tensor(ts, dtype=a.dtype, device=a.device).reshape(-1, 1)
    if mode == "slerp":
        cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(torch.finfo(a.dtype).tiny)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))
        sin = torch.sin(omega)
        if float(sin) > 1e-6:
            return (torch.sin((1.0 - t) * omega) / sin) * a + (torch.sin(t * omega) / sin) * b
    return (1.0 - t) * a + t * b


# --------------------------------------------------------------------------- loading


def builtin_image_vae_path() -> Path:
    """The image VAE that ships with painterly (data/models/image_vae.safetensors)."""
    return Path(str(importlib.resources.files("painterly") / "data" / "models" / BUILTIN_MODEL))


def image_vae_from_state(state: dict[str, torch.Tensor], architecture: dict, path: Path | str = "model") -> ImageVAE:
    from ..io.model_file import ModelFileError

    try:
        vae = ImageVAE(ImageVAEConfig.from_dict(architecture.get("vae", {})))
        vae.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: weights do not match an image VAE ({str(exc).splitlines()[0][:160]})") \
            from None
    return vae.eval()


def load_image_vae(model: str | Path | None = None, device: str = "cpu") -> tuple[ImageVAE, dict]:
    """(the VAE in eval mode, its metadata) from a model file of kind ``image-vae`` (None: the built-in one)."""
    from ..io.model_file import load_model_file

    path = Path(model) if model is not None else builtin_image_vae_path()
    if model is None and not path.is_file():
        raise PainterlyError("no built-in image VAE ships in this installation: train one with "
                             "`painterly train image-vae` and pass it with --model")
    loaded = load_model_file(path, expected_kind=KIND)
    return image_vae_from_state(loaded.state, loaded.architecture, path).to(device), loaded.meta


__all__ = ["ImageVAE", "ImageVAEConfig", "kl_divergence", "reparameterize", "interpolate_latents",
           "builtin_image_vae_path", "image_vae_from_state", "load_image_vae", "KIND", "INTERPOLATION_MODES"]
