"""Swatches: a small computed picture of a point of the style space.

The paintings a style VAE was trained on cannot ship with the package, so the style map
(:mod:`painterly.stylespace.map`) shows each painting as a *swatch*: a texture synthesised from
noise whose VGG19 channel means and standard deviations at relu1_1..relu4_1 match the statistics
decoded from the painting's latent code, and nothing else (no content loss, no layout). It shows
what the style space keeps of a painting: its palette, contrast and the grain of its strokes.

    stats = space.stats(space.codes[i])
    image = render_swatch(stats, size=72)          # 1 x 3 x 72 x 72 in [0, 1]

:func:`render_swatch` is a plain call of :func:`painterly.methods.optimize.run_optimization`
(``style_loss="meanstd"``, ``content_weight=0``, ``init="noise"``), deterministic per seed. It
renders at 4/3 of ``size`` in two scales (``coarse_iterations`` L-BFGS steps at half that size
lay out the large strokes, ``iterations`` steps at full size refine them), crops a thin border
(where VGG's zero padding leaves grey noise) and downsamples to ``size`` with a Lanczos filter,
which removes the pixel-level noise the loss leaves. 3-10 s on one CPU core for 72 px. The
layout of the large strokes follows the noise, i.e. the seed: ``scripts/render_style_swatches.py``
gives each painting its own seed so the swatches do not all share one composition.

Packaged swatches live in ``painterly/data/stylespace/swatches/NAME.jpg``
(``scripts/render_style_swatches.py`` renders them); :func:`swatch_path` finds one, and
:func:`mean_colour` gives a flat colour for a painting without one.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch

from ..styles import StyleStats
from .vectors import VECTOR_LAYERS

SWATCH_SIZE = 64             # px, square (the packaged ones are 72)
SWATCH_ITERATIONS = 15       # L-BFGS steps at the full working size
SWATCH_COARSE_ITERATIONS = 40  # steps at half the working size, first
OVERSAMPLE = 4 / 3           # working size / output size
BORDER = 1 / 16              # of the working size, cropped on each side (VGG's zero padding shows there)


def render_swatch(stats: StyleStats, size: int = SWATCH_SIZE, iterations: int = SWATCH_ITERATIONS, seed: int = 0,
                  coarse_iterations: int = SWATCH_COARSE_ITERATIONS, style_weight: float | None = None,
                  device: str = "cpu") -> torch.Tensor:
    """A ``size`` x ``size`` texture (1 x 3 x H x W in [0, 1]) with the channel means and stds ``stats``.

    ``coarse_iterations=0`` renders at one scale only. ``style_weight`` is the optimiser's beta
    (it matters only against the small total-variation term: there is no content loss).
    """
    from ..methods.optimize import OptimizeConfig, StyleSource, run_optimization

    work = max(32, int(round(size * OVERSAMPLE)))
    two_scales = coarse_iterations > 0
    cfg = OptimizeConfig(size=work, iterations=iterations, scales=2 if two_scales else 1,
                         coarse_iterations=coarse_iterations if two_scales else None,
                         style_loss="meanstd", style_layers=VECTOR_LAYERS, content_weight=0.0,
                         style_weight=style_weight, init="noise", seed=seed, device=device)
    grey = torch.full((1, 3, work, work), 0.5)
    source = StyleSource(1.0, builtin={work: stats}, name="swatch")
    image = run_optimization(grey, [source], cfg).image.clamp(0, 1)
    border = int(round(work * BORDER)) if work > size else 0
    if work == size:
        return image
    from PIL import Image

    from ..io.image import pil_to_tensor, tensor_to_pil

    box = (border, border, work - border, work - border)
    return pil_to_tensor(tensor_to_pil(image).resize((size, size), Image.LANCZOS, box=box))


def swatch_dir() -> Path:
    """The folder of the packaged swatches (it may not exist)."""
    return Path(str(importlib.resources.files("painterly") / "data" / "stylespace" / "swatches"))


def swatch_path(name: str, folder: str | Path | None = None) -> Path | None:
    """The swatch file of painting ``name`` (in ``folder``, default the packaged ones), or None."""
    path = Path(folder or swatch_dir()) / f"{name}.jpg"
    return path if path.is_file() else None


def mean_colour(stats: StyleStats, channels: int = 8) -> tuple[int, int, int]:
    """A flat stand-in colour (RGB 0-255) for a style without a swatch, from its relu1_1 statistics.

    relu1_1 is ReLU of one 3x3 convolution of the image, an affine function of the pixels. In a
    channel whose mean is many standard deviations above zero the ReLU never clips, so its mean
    is that affine function of the image's mean colour. The ``channels`` channels with the largest
    mean / std give a least-squares estimate of the mean colour (within about 8/255 on paintings).
    """
    from ..features import VGG19Features

    means = stats.means["relu1_1"].float().reshape(-1)
    stds = stats.stds["relu1_1"].float().reshape(-1)
    vgg = VGG19Features(("relu1_1",))
    conv = next(m for m in vgg.modules() if isinstance(m, torch.nn.Conv2d))
    probes = torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])
    seen: list[torch.Tensor] = []
    hook = conv.register_forward_hook(lambda _m, _i, out: seen.append(out[0, :, 4, 4].detach().clone()))
    try:
        with torch.no_grad():
            for colour in probes:
                vgg(colour.view(1, 3, 1, 1).expand(1, 3, 9, 9).contiguous())
    finally:
        hook.remove()
    base = seen[0]
    slopes = torch.stack([(s - base) / 0.5 for s in seen[1:]])          # 3 x C: response per unit of R, G, B
    chosen = torch.argsort(means / stds.clamp_min(1e-6), descending=True)[:channels]
    solution = torch.linalg.lstsq(slopes[:, chosen].T.double(), (means - base)[chosen, None].double()).solution
    rgb = (0.5 + solution.reshape(3).float()).clamp(0, 1)
    if not bool(torch.isfinite(rgb).all()):
        return (128, 128, 128)
    return tuple(int(round(float(v) * 255)) for v in rgb)


__all__ = ["render_swatch", "swatch_dir", "swatch_path", "mean_colour", "SWATCH_SIZE", "SWATCH_ITERATIONS",
           "SWATCH_COARSE_ITERATIONS"]
