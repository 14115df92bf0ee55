"""A path through the style space rendered on one photo, with the numbers that show it is smooth.

For each point t of the straight latent path from A to B, the photo is rendered in the decoded
style (:func:`painterly.stylespace.render.render`) and measured against both ends:

* ``stats_to_a`` / ``stats_to_b``: the mean/std style distance (the loss the renderer
  minimises, :data:`painterly.losses.MEAN_STD_LAYER_FACTORS`-weighted) between the rendered
  image and the decoded statistics of A (t = 0) and of B (t = 1);
* ``style_loss_to_a`` / ``style_loss_to_b``: ``painterly evaluate``'s Gram style loss against
  A and B themselves, when they are image files or built-in style names (None otherwise).

A smooth path has ``stats_to_a`` rising and ``stats_to_b`` falling steadily with t
(:meth:`StylePath.rises_from_a`, :meth:`StylePath.approaches_b`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..features import VGG19Features
from ..losses import MEAN_STD_LAYER_FACTORS, calc_mean_std
from ..styles import StyleStats
from .render import RenderConfig, render
from .space import StyleSpace, check_t
from .vae import interpolate


@dataclass
class PathPoint:
    t: float
    image: torch.Tensor                    # 1 x 3 x H x W in [0, 1]
    stats_to_a: float
    stats_to_b: float
    style_loss_to_a: float | None = None
    style_loss_to_b: float | None = None
    seconds: float = 0.0


@dataclass
class StylePath:
    a: str
    b: str
    points: list[PathPoint] = field(default_factory=list)

    def rises_from_a(self) -> bool:
        """Whether the distance to A's statistics never falls along the path (the smoothness check)."""
        to_a = [p.stats_to_a for p in self.points]
        return all(x <= y for x, y in zip(to_a, to_a[1:]))

    def approaches_b(self) -> bool:
        """Whether the distance to B's statistics never rises along the path."""
        to_b = [p.stats_to_b for p in self.points]
        return all(x >= y for x, y in zip(to_b, to_b[1:]))


def stats_distance(features: dict[str, torch.Tensor], stats: StyleStats) -> float:
    """Layer-weighted mean/std distance of an image's features to target statistics."""
    total = 0.0
    for layer, mean in stats.means.items():
        m, s = calc_mean_std(features[layer].float())
        term = (m.flatten() - mean.flatten()).pow(2).mean() + (s.flatten() - stats.stds[layer].flatten()).pow(2).mean()
        total += MEAN_STD_LAYER_FACTORS.get(layer, 1.0) * float(term)
    return total


def path_ts(steps: int) -> list[float]:
    if steps < 2:
        raise ValueError("a path needs at least 2 steps")
    return [check_t(i / (steps - 1)) for i in range(steps)]


def render_path(content: torch.Tensor, space: StyleSpace, a: str, b: str, steps: int, cfg: RenderConfig,
                on_point: Callable[[PathPoint], None] | None = None, gram_metrics: bool = True) -> StylePath:
    """Render ``steps`` evenly spaced points of the latent path from ``a`` to ``b`` on ``content``."""
    import time

    from pathlib import Path

    from ..analysis.metrics import evaluate

    z_a, z_b = space.code(a), space.code(b)
    end_a, end_b = space.stats(z_a), space.stats(z_b)
    vgg = VGG19Features(space.vae.config.layers)
    measurable = {name: gram_metrics and (Path(name).is_file() or name in space.registry.names()) for name in (a, b)}
    path = StylePath(a, b)
    for t in path_ts(steps):
        start = time.perf_counter()
        image = render(content, space.stats(interpolate(z_a, z_b, t)), cfg)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            feats = vgg(image)
        point = PathPoint(t, image, stats_distance(feats, end_a), stats_distance(feats, end_b), seconds=seconds)
        if measurable[a]:
            point.style_loss_to_a = evaluate(image, content, a).style_loss
        if measurable[b]:
            point.style_loss_to_b = evaluate(image, content, b).style_loss
        path.points.append(point)
        if on_point is not None:
            on_point(point)
    return path


__all__ = ["PathPoint", "StylePath", "render_path", "stats_distance", "path_ts"]
