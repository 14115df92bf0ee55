"""Stylise images too large for memory in overlapping tiles, without seams.

Two things make naive tiling visible:

1. **Borders.** A tile's pixels near its edge see reflection padding instead of the image
   beyond. Every crop therefore carries ``context`` px of surrounding image on each side
   that is cut off afterwards; with ``context`` at least the network's receptive-field
   radius (about 14 + 8·depth px for :class:`~painterly.nets.transformer.TransformerNet`) a
   tile's core is computed exactly as in the whole image. Neighbouring cores also overlap by
   ``overlap`` px and are cross-faded with raised-cosine windows that sum to exactly 1
   (a partition of unity), which hides whatever difference is left.
2. **Instance norm.** Each instance norm normalises with the mean and variance of the
   whole feature map it sees, so per-tile statistics shift colours and contrast from tile
   to tile (visible seams). Unless ``stats="tile"``, every instance norm of the stylizer's
   network (found as ``stylizer.net``) uses statistics shared by all tiles instead:

   * ``stats="preview"``: those of one pass over the whole image shrunk to ``preview`` px
     (default: the tile size). Every tile is normalised alike, so there are no seams; the
     result differs from an untiled run only as much as the statistics of a smaller copy
     of the image differ from the full-size ones.
   * ``stats="exact"``: the full-resolution statistics, measured layer by layer: pass *k*
     runs every tile up to the *k*-th instance norm (earlier ones already exact), sums
     that layer's values and squares over the positions each tile owns (tiles start on
     multiples of the network's stride of 4, so every position of the whole image's
     feature map is counted once at every resolution) and stops there. With ``context``
     covering the receptive field the result equals the untiled one to float precision.

Cost: a tiled pass is ``(tile / core)²`` times the untiled work (core = tile - 2·context).
``preview`` adds a pass over a tile-sized image; ``exact`` adds one partial pass per instance
norm, about 5 full passes for a depth-3 network. Memory: one crop at a time plus the output.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import PainterlyError

log = logging.getLogger(__name__)

STATS_MODES = ("preview", "exact", "tile")


@dataclass(frozen=True)
class TileConfig:
    """How a large image is cut up; the ``--tile`` flag sets ``tile``."""

    tile: int = 512                 # side of the largest crop processed at once (px, context included)
    context: int = 64               # px of surrounding image each crop carries per side (cut off afterwards)
    overlap: int = 32               # px over which neighbouring cores are cross-faded
    stats: str = "preview"          # instance-norm statistics: preview | exact (whole image) | tile (each its own)
    preview: int | None = None      # longer side of the statistics preview (default: tile)
    align: int = 4                  # crops start on multiples of this (the network's total stride)

    @property
    def core(self) -> int:
        """Side of the part of a crop that is kept (a multiple of ``align``)."""
        return (self.tile - 2 * self.context_aligned) // self.align * self.align

    @property
    def context_aligned(self) -> int:
        return -(-self.context // self.align) * self.align

    def validate(self) -> "TileConfig":
        if self.stats not in STATS_MODES:
            raise PainterlyError(f"tile statistics must be one of {', '.join(STATS_MODES)}, not {self.stats!r}")
        if min(self.context, self.overlap) < 0 or self.align < 1:
            raise PainterlyError("tile context and overlap must be >= 0")
        if self.core < 2 * self.overlap + 2 * self.align or self.core < 16:
            need = 2 * self.context_aligned + max(2 * self.overlap + 2 * self.align, 16)
            raise PainterlyError(f"tile {self.tile} px is too small for {self.context} px context and "
                                 f"{self.overlap} px overlap: use at least {need} px")
        if self.preview is not None and self.preview < 16:
            raise PainterlyError(f"the statistics preview must be at least 16 px, not {self.preview}")
        return self


@dataclass(frozen=True)
class Tile:
    """One crop: rows/columns of its kept core and of the crop fed to the network, in image px."""

    core: tuple[int, int, int, int]     # y0, y1, x0, x1
    crop: tuple[int, int, int, int]     # y0, y1, x0, x1 (contains the core)
    own: tuple[int, int | None, int, int | None]  # rows/cols it owns for statistics (None: to the end)
    weight_y: torch.Tensor              # feathering weights over the core's rows
    weight_x: torch.Tensor              # ... and columns


# --------------------------------------------------------------------------- planning (pure)


def axis_spans(length: int, core: int, overlap: int, align: int = 4) -> list[tuple[int, int]]:
    """Core intervals [a, b) covering [0, length): evenly spread starts on multiples of ``align``,
    neighbours overlapping by at least ``overlap`` px, each at most ``core + align - 1`` long."""
    if length <= core:
        return [(0, length)]
    step = core - overlap - align
    count = math.ceil((length - core) / step) + 1
    starts = [min(length - core, k * (length - core) // (count - 1)) // align * align for k in range(count)]
    spans = [(a, a + core) for a in starts[:-1]] + [(starts[-1], length)]
    return spans


def raised_cosine(n: int) -> torch.Tensor:
    """``n`` rising weights in (0, 1): sin²(π/2 · (i + 0.5)/n); with the mirrored falling
    ramp 1 - r they sum to exactly 1."""
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.sin(0.5 * math.pi * t) ** 2


def feather_weights(spans: Sequence[tuple[int, int]], overlap: int) -> list[torch.Tensor]:
    """Per-span weights (length b - a) that sum to exactly 1 at every position.

    Between neighbours the switch from one to the next is a raised-cosine ramp ``overlap``
    px wide (0: a hard cut) centred in the region they share; elsewhere a position
    belongs to one span with weight 1. Dividing by the per-position total keeps the sum at
    1 even where three spans meet.
    """
    weights = [torch.ones(b - a, dtype=torch.float64) for a, b in spans]
    for k in range(len(spans) - 1):
        (a0, b0), (a1, _) = spans[k], spans[k + 1]
        width = max(0, min(overlap, b0 - a1))
        start = (a1 + b0 - width) // 2          # ramp over [start, start + width), inside the overlap
        falling, rising = weights[k], weights[k + 1]
        if width:
            ramp = raised_cosine(width)
            falling[start - a0:start - a0 + width] *= 1.0 - ramp
            rising[start - a1:start - a1 + width] *= ramp
        falling[start - a0 + width:] = 0.0      # overlap 0: a hard cut in the middle of the overlap
        rising[:start - a1] = 0.0
    total = torch.zeros(spans[-1][1], dtype=torch.float64)
    for (a, b), weight in zip(spans, weights):
        total[a:b] += weight
    return [weight / total[a:b] for (a, b), weight in zip(spans, weights)]


def plan_tiles(height: int, width: int, config: TileConfig) -> list[Tile]:
    """The tiles covering a ``height`` x ``width`` image, row by row."""
    config = config.validate()
    context, align = config.context_aligned, config.align
    per_axis = []
    for length in (height, width):
        spans = axis_spans(length, config.core, config.overlap, align)
        weights = feather_weights(spans, config.overlap)
        crops = [(max(0, a - context) // align * align, min(length, b + context)) for a, b in spans]
        owns = [(a, spans[k + 1][0] if k + 1 < len(spans) else None) for k, (a, _) in enumerate(spans)]
        per_axis.append(list(zip(spans, crops, owns, weights)))
    tiles = []
    for (sy, cy, oy, wy) in per_axis[0]:
        for (sx, cx, ox, wx) in per_axis[1]:
            tiles.append(Tile(core=(*sy, *sx), crop=(*cy, *cx), own=(*oy, *ox),
                              weight_y=wy.float(), weight_x=wx.float()))
    return tiles


# --------------------------------------------------------------------------- generic tiled apply


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, config: TileConfig,
                before_tile: Callable[[Tile], None] | None = None, keep_output: bool = True) -> torch.Tensor | None:
    """Apply ``fn`` (B x 3 x h x w -> same size) to ``images`` tile by tile and cross-fade.

    ``before_tile`` is called with each :class:`Tile` before its crop is processed (the
    statistics passes use it). With ``keep_output=False`` nothing is assembled.
    """
    config = config.validate()
    height, width = images.shape[-2:]
    out = torch.zeros_like(images, dtype=torch.float32) if keep_output else None
    for tile in plan_tiles(height, width, config):
        if before_tile is not None:
            before_tile(tile)
        cy0, cy1, cx0, cx1 = tile.crop
        result = fn(images[..., cy0:cy1, cx0:cx1])
        if out is None:
            continue
        y0, y1, x0, x1 = tile.core
        core = result[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0].float().to(out.device)
        weight = (tile.weight_y[:, None] * tile.weight_x[None, :]).to(out.device)
        out[..., y0:y1, x0:x1] += core * weight
    return out


# --------------------------------------------------------------------------- global instance-norm statistics


class _StopForward(Exception):
    """Raised by the instance norm being measured, to skip the rest of the network."""


class _StatsState:
    """What the tracked norms of one network share: the pass mode, the current tile, the order."""

    def __init__(self):
        self.mode = "native"            # native | record | frozen | measure
        self.target: nn.Module | None = None  # the norm being measured
        self.order: list[nn.Module] = []      # norms in the order the forward pass reaches them
        self.own: tuple[int, int | None, int, int | None] = (0, None, 0, None)
        self.padded: tuple[int, int] = (1, 1)


class _TrackedInstanceNorm(nn.Module):
    """An ``nn.InstanceNorm2d`` (same eps and affine parameters) that can use shared statistics."""

    def __init__(self, norm: nn.InstanceNorm2d, state: _StatsState):
        super().__init__()
        self.norm, self.state = norm, state
        self.mean: torch.Tensor | None = None
        self.var: torch.Tensor | None = None
        self._sums: list[torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.state.mode
        if mode == "native":
            return self.norm(x)
        x = x.float()
        if mode == "record":
            self.var, self.mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
            self.state.order.append(self)
        elif mode == "measure" and self.state.target is self:
            self._accumulate(x)
            raise _StopForward
        if self.mean is None:
            raise RuntimeError("instance-norm statistics used before they were recorded")
        y = (x - self.mean[..., None, None]) * torch.rsqrt(self.var + self.norm.eps)[..., None, None]
        if self.norm.affine:
            y = y * self.norm.weight[None, :, None, None] + self.norm.bias[None, :, None, None]
        return y

    def _accumulate(self, x: torch.Tensor) -> None:
        (y0, y1, x0, x1), (ph, pw) = self.state.own, self.state.padded
        fy, fx = max(1, round(ph / x.shape[-2])), max(1, round(pw / x.shape[-1]))
        region = x[..., y0 // fy:None if y1 is None else y1 // fy, x0 // fx:None if x1 is None else x1 // fx]
        region = region.double()
        sums = [region.sum(dim=(2, 3)), (region * region).sum(dim=(2, 3)),
                torch.tensor(float(region.shape[-2] * region.shape[-1]), dtype=torch.float64)]
        self._sums = sums if self._sums is None else [a + b for a, b in zip(self._sums, sums)]

    def finish(self) -> None:
        """Turn the accumulated sums into the statistics used from now on."""
        if self._sums is None:
            return
        total, squares, count = self._sums
        mean = total / count
        self.mean = mean.float()
        self.var = (squares / count - mean * mean).clamp_min(0).float()
        self._sums = None


def instance_norms(module: nn.Module) -> list[tuple[nn.Module, str, nn.InstanceNorm2d]]:
    """(parent, attribute, norm) for every ``nn.InstanceNorm2d`` inside ``module``."""
    found = []
    for parent in module.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.InstanceNorm2d):
                found.append((parent, name, child))
    return found


def with_tracked_norms(net: nn.Module) -> tuple[nn.Module, _StatsState, list[_TrackedInstanceNorm]]:
    """A copy of ``net`` whose instance norms can share whole-image statistics (``net`` is untouched)."""
    net = copy.deepcopy(net)
    state = _StatsState()
    tracked = []
    for parent, name, norm in instance_norms(net):
        wrapper = _TrackedInstanceNorm(norm, state)
        setattr(parent, name, wrapper)
        tracked.append(wrapper)
    return net, state, tracked


def _padded(length: int, align: int) -> int:
    return -(-length // align) * align


def _shrink(images: torch.Tensor, size: int) -> torch.Tensor:
    height, width = images.shape[-2:]
    if max(height, width) <= size:
        return images
    scale = size / max(height, width)
    new = (max(16, round(height * scale)), max(16, round(width * scale)))
    return F.interpolate(images, size=new, mode="bilinear", align_corners=False, antialias=True)


def stylize_tiled(stylizer, images: torch.Tensor, style=None, config: TileConfig = TileConfig()) -> torch.Tensor:
    """Run ``stylizer`` (a :class:`~painterly.methods.feedforward.Stylizer`) on ``images`` in tiles.

    Images no larger than one tile are stylised in one piece. Otherwise, when the stylizer's
    network (``stylizer.net``) has instance norms and ``config.stats`` is ``preview`` or
    ``exact``, they use statistics shared by all tiles (module docstring); other stylizers
    are tiled as they are.
    """
    config = config.validate()
    height, width = images.shape[-2:]
    if max(height, width) <= config.tile:
        return stylizer(images, style)
    net = getattr(stylizer, "net", None)
    if config.stats == "tile" or not isinstance(net, nn.Module) or not instance_norms(net):
        return tiled_apply(lambda crop: stylizer(crop, style), images, config)
    tracked_net, state, _ = with_tracked_norms(net)
    runner = copy.copy(stylizer)
    runner.net = tracked_net

    def run(crop: torch.Tensor) -> torch.Tensor | None:
        try:
            return runner(crop, style)
        except _StopForward:
            return None

    def select(tile: Tile) -> None:
        cy0, cy1, cx0, cx1 = tile.crop
        oy0, oy1, ox0, ox1 = tile.own
        state.own = (oy0 - cy0, None if oy1 is None else oy1 - cy0, ox0 - cx0, None if ox1 is None else ox1 - cx0)
        state.padded = (_padded(cy1 - cy0, config.align), _padded(cx1 - cx0, config.align))

    state.mode = "record"
    run(_shrink(images, config.preview or config.tile))
    if config.stats == "exact":
        state.mode = "measure"
        for k, norm in enumerate(state.order):
            state.target = norm
            tiled_apply(run, images, config, before_tile=select, keep_output=False)
            norm.finish()
            log.debug("tiling: statistics of instance norm %d/%d measured", k + 1, len(state.order))
    state.mode = "frozen"
    return tiled_apply(run, images, config).clamp(0, 1)


__all__ = ["TileConfig", "Tile", "plan_tiles", "axis_spans", "feather_weights", "raised_cosine", "tiled_apply",
           "stylize_tiled", "instance_norms", "with_tracked_norms"]
