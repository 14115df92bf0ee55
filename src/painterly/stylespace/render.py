"""Rendering a point of the style space on a photo.

A point decodes to channel means and standard deviations at relu1_1..relu4_1
(:class:`painterly.styles.StyleStats` without Gram matrices). Two methods consume exactly that:

* ``adain``: the AdaIN decoder (real time; needs a trained decoder installed),
* ``optimize``: Gatys-style optimisation of the photo with the mean/std style loss
  (:mod:`painterly.methods.optimize` with ``style_loss="meanstd"``): slower, no network needed.

``auto`` takes ``adain`` when a decoder is installed, else ``optimize``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import PainterlyError
from ..progress import ProgressCallback
from ..styles import StyleStats
from .vectors import VECTOR_LAYERS

RENDER_METHODS = ("auto", "adain", "optimize")


@dataclass(frozen=True)
class RenderConfig:
    """How style-space points are rendered."""

    method: str = "auto"            # auto | adain | optimize
    size: int = 384                 # longer side of the result, px
    iterations: int = 150           # optimisation steps (optimize); with 2 scales: this many at half size,
                                    # half as many at full size
    coarse_to_fine_from: int = 320  # optimize: sizes from this many px start at half size (2 scales)
    style_weight: float | None = None   # optimize: beta of the mean/std loss (default: the optimiser's)
    content_weight: float = 1.0
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> "RenderConfig":
        if self.method not in RENDER_METHODS:
            raise PainterlyError(f"unknown render method {self.method!r}: use {', '.join(RENDER_METHODS)}")
        if self.size < 32:
            raise PainterlyError(f"size must be at least 32 px, not {self.size}")
        return self


def adain_installed() -> bool:
    from ..catalog import method_status

    return method_status().get("adain") is None


def resolve_method(method: str) -> str:
    if method == "auto":
        return "adain" if adain_installed() else "optimize"
    if method == "adain" and not adain_installed():
        from ..catalog import method_status

        raise PainterlyError(f"adain cannot render style-space points here: {method_status()['adain']} "
                             f"(use --render optimize)")
    return method


def render(content: torch.Tensor, stats: StyleStats, cfg: RenderConfig = RenderConfig(),
           callbacks: Sequence[ProgressCallback] = ()) -> torch.Tensor:
    """``content`` (1 x 3 x H x W in [0, 1]) in the style ``stats``: 1 x 3 x h x w, longer side ``cfg.size``."""
    cfg.validate()
    method = resolve_method(cfg.method)
    if method == "adain":
        from ..methods.adain import load_adain_stylizer
        from ..ops import resize_longer_side

        stylizer = load_adain_stylizer(None, device=cfg.device)
        return stylizer(resize_longer_side(content, cfg.size), style=stats).cpu()
    import torch.nn.functional as F

    from ..methods.optimize import OptimizeConfig, StyleSource, run_optimization
    from ..ops import resize_longer_side

    # Optimised alone, the image's outermost pixels drift into bright frame lines (VGG's zero
    # padding makes border statistics cheap to move). A reflected margin takes them; it is cut off.
    scaled = resize_longer_side(content, cfg.size)
    pad = max(4, cfg.size // 16)
    padded = F.pad(scaled, (pad, pad, pad, pad), mode="reflect")
    two_scales = cfg.size >= cfg.coarse_to_fine_from
    settings = OptimizeConfig(size=max(padded.shape[-2:]), scales=2 if two_scales else 1,
                              iterations=max(1, cfg.iterations // 2) if two_scales else cfg.iterations,
                              coarse_iterations=cfg.iterations if two_scales else None, style_loss="meanstd",
                              style_layers=VECTOR_LAYERS, style_weight=cfg.style_weight,
                              content_weight=cfg.content_weight, device=cfg.device, seed=cfg.seed)
    source = StyleSource(1.0, builtin={settings.size: stats}, name="style space")
    image = run_optimization(padded, [source], settings, callbacks).image
    return image[..., pad:image.shape[-2] - pad, pad:image.shape[-1] - pad]


__all__ = ["RenderConfig", "RENDER_METHODS", "render", "resolve_method", "adain_installed"]
