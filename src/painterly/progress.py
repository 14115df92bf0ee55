"""Progress reporting: methods call callbacks with a small dataclass; the CLI's progress bar,
the web page and frame writers subscribe. The library itself never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Progress:
    """One step of a slow job."""

    step: int                      # steps done so far, over all scales
    total: int                     # steps planned in all (may end early on a time limit)
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0           # seconds since start
    scale: int = 0                 # index of the current scale (coarse-to-fine), 0-based
    image: torch.Tensor | None = None  # the current image (1 x 3 x H x W, [0, 1]); do not modify


ProgressCallback = Callable[[Progress], None]


def notify(callbacks: list[ProgressCallback] | tuple[ProgressCallback, ...], event: Progress) -> None:
    for callback in callbacks:
        callback(event)
