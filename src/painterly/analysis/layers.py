"""What each VGG19 layer "sees": reconstructions from white noise (Gatys et al. 2016, Fig. 1).

An image is rebuilt from seeded white noise by matching the target image's features at one
layer choice with ONE loss only:

* ``what="content"``: the content loss (mean squared feature difference) at the chosen
  layers. Low layers give back the photo almost exactly; higher layers keep the layout
  and objects but lose the exact pixels.
* ``what="style"``: the Gram style loss (:func:`painterly.losses.gram_style_loss`, default
  per-layer weight 1e3 / C^2) at the chosen layers. Only texture statistics survive, at a
  scale that grows with the deepest layer used (the paper's rows use relu1_1, relu1_1+relu2_1,
  ... up to relu1_1..relu5_1: see ``cumulative`` in :func:`layer_groups`).

Loss normalisation
------------------
Raw losses differ by many orders of magnitude between layer choices (at the white-noise
start, 160 px: content conv5_2 ~2e3, content conv1_2 ~1e5, Gram relu5_1 ~2e8, Gram relu1_1
~3e9, Gram relu1_1..relu5_1 ~9e12). The objective that is optimised is therefore the raw
loss divided by its value at the starting noise:

    objective(x) = L(x) / L(x_noise)            (+ tv_weight * tv_loss(x))

so every run starts at exactly 1.0 and the progress numbers read as "fraction of the noise's
loss left", comparable across layers. The optimiser then sees an O(1) problem whatever the
layer: PyTorch's L-BFGS has absolute thresholds (curvature pairs with ``y.s <= 1e-10`` are
skipped; the first step is ``min(1, 1/|g|_1) * lr``) and float32 dot products of gradients
that at 1e12 scale lose headroom, so one ``lr`` and one set of settings serve every layer.
``tv_weight`` is relative to this unit-scale objective (default 0: the paper uses no
regulariser for these figures). The relative weighting of layers *within* one choice is
the library's (summed content MSEs; Gram weights 1e3 / C^2).

The image is clamped to [0, 1] after every step and L-BFGS is stepped one iteration per
call (as in :mod:`painterly.methods.optimize`), so progress and frames act per iteration;
see :class:`painterly.optim.ProjectedStepper` for the safeguards (a step cap and exact secant pairs) that keep
L-BFGS stable on every layer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import PainterlyError
from ..features import LAYER_NAMES, UnknownLayerError, VGG19Features, caffe_preprocess, resolve_layer
from ..io.image import tensor_to_pil
from ..losses import content_loss, gram, gram_style_loss, tv_loss
from ..ops import resize_longer_side
from ..optim import ProjectedStepper
from ..progress import Progress, ProgressCallback, notify

WHATS = ("content", "style")
OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_CONTENT_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")  # Gatys et al. Fig. 1
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")    # used cumulatively
GIF_FRAMES = 40          # frames per animation when frame_every is not given
MAX_NAME_LENGTH = 120    # longer joined layer names are abbreviated in file names

LayerChoice = tuple[str, ...]


@dataclass
class ReconstructConfig:
    """Settings of one reconstruction study; the CLI flags derive from these fields."""

    what: str = "content"            # content | style: the ONE loss used
    size: int = 256                  # longer side of the reconstruction, px
    iterations: int = 200            # optimiser steps per layer choice
    optimizer: str = "lbfgs"         # lbfgs | adam
    lr: float | None = None          # default 1.0 for L-BFGS, 0.05 for Adam
    seed: int = 0                    # seed of the white-noise start
    tv_weight: float = 0.0           # total variation weight relative to the normalised loss
    pooling: str = "avg"             # avg (Gatys et al. use it for synthesis) | max
    frame_every: int | None = None   # animation frame every N steps (default: about GIF_FRAMES frames)
    device: str = "cpu"

    def validate(self) -> "ReconstructConfig":
        if self.what not in WHATS:
            raise PainterlyError(f"unknown reconstruction {self.what!r}: use content or style")
        if self.optimizer not in OPTIMIZERS:
            raise PainterlyError(f"unknown optimizer {self.optimizer!r}: use lbfgs or adam")
        if self.size < 16:
            raise PainterlyError(f"size must be at least 16 px, not {self.size}")
        if self.iterations < 0:
            raise PainterlyError("iterations must be >= 0")
        if self.lr is not None and self.lr <= 0:
            raise PainterlyError(f"learning rate must be positive, not {self.lr}")
        if self.tv_weight < 0:
            raise PainterlyError(f"tv weight must be >= 0, not {self.tv_weight}")
        if self.pooling not in ("max", "avg"):
            raise PainterlyError("pooling must be max or avg")
        if self.frame_every is not None and self.frame_every < 1:
            raise PainterlyError("frames must be taken every 1 or more steps")
        return self

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1.0 if self.optimizer == "lbfgs" else 0.05)

    @property
    def frame_interval(self) -> int:
        return self.frame_every or max(1, self.iterations // GIF_FRAMES)


@dataclass
class ReconstructResult:
    image: torch.Tensor              # 1 x 3 x H x W in [0, 1], on the CPU
    layers: LayerChoice
    losses: dict[str, float]         # final normalised objective terms
    initial_loss: float              # raw loss of the starting noise (the normaliser)
    final_loss: float                # raw loss of the result
    iterations: int = 0
    restarts: int = 0                # restarts from the best image after a non-finite loss
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


# ----------------------------------------------------------------------------- layer choices

def _resolve_choice(text: str | int) -> LayerChoice:
    """``"relu1_1+relu2_1"`` -> canonical names in network order, duplicates dropped."""
    parts = [part.strip() for part in str(text).split("+")]
    if any(not part for part in parts):
        raise UnknownLayerError(f"empty layer name in {str(text)!r} (join layers with '+', e.g. relu1_1+relu2_1)")
    return _ordered(resolve_layer(part) for part in parts)


def _ordered(layers: Iterable[str]) -> LayerChoice:
    return tuple(sorted(set(layers), key=LAYER_NAMES.index))


def layer_groups(what: str, layers_arg: Sequence[str | int] | None = None,
                 cumulative: bool = False) -> list[LayerChoice]:
    """The layer choices to reconstruct from, one per CLI argument.

    Each argument is one choice; ``"+"`` joins layers into one choice
    (``["relu1_1", "relu1_1+relu2_1", "relu2_2"]``). With ``cumulative`` each choice also
    includes all previous ones (the paper's style rows). Layers accept every name
    :func:`painterly.features.resolve_layer` does (``relu4_2``, ``conv5_2``, ``0``..``4``).
    Without ``layers_arg``: content -> conv1_2, conv2_2, conv3_2, conv4_2, conv5_2 (separately,
    as in the paper, unless ``cumulative``); style -> relu1_1..relu5_1, always cumulative.
    Repeated choices are dropped. Unknown names raise
    :class:`~painterly.features.UnknownLayerError` (a ValueError) suggesting close names.
    """
    if what not in WHATS:
        raise PainterlyError(f"unknown reconstruction {what!r}: use content or style")
    if layers_arg is None:
        layers_arg = DEFAULT_CONTENT_LAYERS if what == "content" else DEFAULT_STYLE_LAYERS
        cumulative = cumulative or what == "style"
    if isinstance(layers_arg, (str, int)):
        layers_arg = [layers_arg]
    choices = [_resolve_choice(item) for item in layers_arg]
    if not choices:
        raise UnknownLayerError("no layers given")
    if cumulative:
        choices = [_ordered(layer for choice in choices[: i + 1] for layer in choice) for i in range(len(choices))]
    return list(dict.fromkeys(choices))


def choice_name(layers: LayerChoice) -> str:
    """File-safe name of a choice: ``relu1_1+relu2_1`` (canonical names hold only [a-z0-9_+]).

    Very long joins are abbreviated to ``first..last+Nlayers-hash`` to stay under file name limits.
    """
    name = "+".join(layers)
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{layers[0]}..{layers[-1]}+{len(layers)}layers-{digest}"


def deepest_layer(choices: Iterable[Iterable[str]]) -> str:
    """The deepest layer over all choices (what a shared :class:`VGG19Features` must reach)."""
    return max((layer for choice in choices for layer in choice), key=LAYER_NAMES.index)


def build_features(choices: Iterable[Iterable[str]], pooling: str = "avg",
                   device: str | torch.device = "cpu") -> VGG19Features:
    """One VGG19 built up to the deepest layer of all choices, to share across them."""
    return VGG19Features((deepest_layer(choices),), pooling=pooling).to(device)


def features_at(vgg: VGG19Features, images: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """Activations at ``layers``, running ``vgg`` only as deep as the deepest of them.

    A shared extractor built for conv5_2 thus costs a relu1_1 reconstruction only the first
    layers' compute.
    """
    wanted = set(layers)
    missing = wanted - set(vgg.names)
    if missing:
        raise ValueError(f"this VGG19 stops at {vgg.names[-1]}; it has no {', '.join(sorted(missing))}")
    x = caffe_preprocess(images)
    out: dict[str, torch.Tensor] = {}
    for name, module in zip(vgg.names, vgg.net):
        x = module(x)
        if name in wanted:
            out[name] = x
            if len(out) == len(wanted):
                break
    return out


# ----------------------------------------------------------------------------- objective

def white_noise(shape: Sequence[int], seed: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Uniform [0, 1] noise from a seeded generator (the same on every device)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator).to(device)


class LayerObjective:
    """One loss at one layer choice, against a fixed target image, normalised (see module doc)."""

    def __init__(self, vgg: VGG19Features, target: torch.Tensor, layers: LayerChoice, what: str,
                 tv_weight: float = 0.0):
        if what not in WHATS:
            raise PainterlyError(f"unknown reconstruction {what!r}: use content or style")
        self.vgg, self.layers, self.what, self.tv_weight = vgg, tuple(layers), what, tv_weight
        with torch.no_grad():
            feats = features_at(vgg, target, self.layers)
        if what == "content":
            self.targets = {layer: feats[layer].detach() for layer in self.layers}
        else:
            self.targets = {layer: gram(feats[layer]).detach() for layer in self.layers}
        self.scale = 1.0

    def raw(self, image: torch.Tensor) -> torch.Tensor:
        """The un-normalised loss: summed content MSEs, or the weighted Gram loss."""
        feats = features_at(self.vgg, image, self.layers)
        if self.what == "content":
            return sum(content_loss(feats[layer], target) for layer, target in self.targets.items())
        return gram_style_loss(feats, self.targets)

    def calibrate(self, start: torch.Tensor) -> float:
        """Set the normaliser to the raw loss at ``start``; returns that loss."""
        with torch.no_grad():
            value = float(self.raw(start))
        if not 0 < value < float("inf"):
            raise PainterlyError(f"the starting loss at {'+'.join(self.layers)} is {value}; cannot normalise")
        self.scale = value
        return value

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {self.what: self.raw(image) / self.scale}
        total = terms[self.what]
        if self.tv_weight:
            terms["tv"] = self.tv_weight * tv_loss(image)
            total = total + terms["tv"]
        terms["total"] = total
        return terms


# ----------------------------------------------------------------------------- reconstruction

def run_reconstruction(image: torch.Tensor, layers: Sequence[str] | str, config: ReconstructConfig,
                       callbacks: Sequence[ProgressCallback] = (), features: VGG19Features | None = None
                       ) -> ReconstructResult:
    """Optimise white noise to match ``image`` at ``layers`` with one loss; full result.

    ``image`` is 1 x 3 x H x W in [0, 1]; it is resized so its longer side is ``config.size``.
    ``features`` is a shared extractor reaching the deepest of ``layers`` (built if None).
    Callbacks get a :class:`Progress` at step 0 (the noise, objective 1.0) and after every
    step, with the current image; the losses of step k are those evaluated during it.
    """
    config.validate()
    if isinstance(layers, (str, int)):  # one "relu1_1+relu2_1" string
        layers = [layers]
    choice = _ordered(layer for item in layers for layer in _resolve_choice(item))
    if not choice:
        raise UnknownLayerError("no layers given")
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise PainterlyError(f"expected a 1 x 3 x H x W image, got shape {tuple(image.shape)}")
    device = torch.device(config.device)
    vgg = features if features is not None else build_features([choice], config.pooling, device)
    target = resize_longer_side(image.float(), config.size).to(device)
    objective = LayerObjective(vgg, target, choice, config.what, config.tv_weight)
    current = white_noise(target.shape, config.seed, device)
    initial = objective.calibrate(current)
    current.requires_grad_(True)
    total, start = config.iterations, time.perf_counter()
    notify(callbacks, Progress(step=0, total=total, losses={config.what: 1.0, "total": 1.0},
                               image=current.detach().clone()))
    terms: dict[str, torch.Tensor] = {}
    history: list[dict[str, float]] = []

    def closure() -> torch.Tensor:
        nonlocal terms
        current.grad = None
        terms = objective(current)
        terms["total"].backward()
        return terms["total"]

    stepper = ProjectedStepper(current, closure, config.optimizer, config.learning_rate)
    for step in range(1, total + 1):
        stepper.step()
        losses = {name: float(value.detach()) for name, value in terms.items()}
        history.append(losses)
        notify(callbacks, Progress(step=step, total=total, losses=losses, elapsed=time.perf_counter() - start,
                                   image=current.detach().clone()))
    with torch.no_grad():
        result = stepper.best(float(objective(current.detach())["total"]))
        final = objective(result)
    if not torch.isfinite(final["total"]):
        raise PainterlyError(f"the reconstruction at {'+'.join(choice)} diverged "
                             f"(try --optimizer adam or a smaller --lr)")
    final_raw = float(final[config.what]) * objective.scale
    return ReconstructResult(image=result.cpu(), layers=choice, losses={k: float(v) for k, v in final.items()},
                             initial_loss=initial, final_loss=final_raw, iterations=total, restarts=stepper.restarts,
                             seconds=time.perf_counter() - start, history=history)


def reconstruct(image_tensor: torch.Tensor, layers: Sequence[str] | str, config: ReconstructConfig,
                callbacks: Sequence[ProgressCallback] = (), features: VGG19Features | None = None) -> torch.Tensor:
    """Reconstruction of ``image_tensor`` from white noise at ``layers``: 1 x 3 x H x W in [0, 1].

    See :func:`run_reconstruction` (which also returns the losses) and the module docstring.
    """
    return run_reconstruction(image_tensor, layers, config, callbacks, features).image


class FrameCollector:
    """Progress callback keeping the current image as a PIL frame every ``every`` steps.

    Keeps step 0 (the noise) and the last step too, so an animation runs from noise to result.
    Frames stay in memory (a 256 px frame is ~200 kB; ~40 frames per choice by default).
    """

    def __init__(self, every: int):
        if every < 1:
            raise PainterlyError("frames must be taken every 1 or more steps")
        self.every = every
        self.frames: list[Image.Image] = []
        self._last_step = -1

    def __call__(self, event: Progress) -> None:
        if event.image is None or event.step == self._last_step:
            return
        if event.step % self.every == 0 or event.step == event.total:
            self.frames.append(tensor_to_pil(event.image))
            self._last_step = event.step




# ----------------------------------------------------------------------------- grid

GRID_COLUMNS = 6
GRID_GAP = 8
LABEL_SIZE = 12          # px, the default font (Pillow >= 10.1 scales it; older ones use the bitmap font)
LABEL_LINE = LABEL_SIZE + 4


def _wrap_label(text: str, width: int, measure) -> list[str]:
    """Break a ``a+b+c`` label after '+' signs so each line fits ``width`` px."""
    lines: list[str] = []
    current = ""
    for part in text.split("+"):
        piece = f"+{part}" if current else part
        if current and measure(current + piece) > width:
            lines.append(current + "+")
            current = part
        else:
            current += piece
    lines.append(current)
    return lines


def labelled_grid(items: Sequence[tuple[Image.Image, str]], columns: int = GRID_COLUMNS,
                  background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """``(image, label)`` pairs in rows of ``columns``, each label drawn under its image.

    Images are scaled to the first one's height; labels are wrapped at '+' to the cell width.
    """
    if not items:
        raise ValueError("labelled_grid needs at least one image")
    height = items[0][0].height
    scaled = [(im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS)
               if im.height != height else im.convert("RGB"), label) for im, label in items]
    try:
        font = ImageFont.load_default(size=LABEL_SIZE)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength
    cell_w = max(im.width for im, _ in scaled)
    wrapped = [_wrap_label(label, cell_w, lambda text: measure(text, font=font)) for _, label in scaled]
    label_h = 6 + LABEL_LINE * max(len(lines) for lines in wrapped)
    columns = max(1, min(columns, len(scaled)))
    rows = -(-len(scaled) // columns)
    size = (GRID_GAP + columns * (cell_w + GRID_GAP), GRID_GAP + rows * (height + label_h + GRID_GAP))
    sheet = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(sheet)
    for index, ((im, _), lines) in enumerate(zip(scaled, wrapped)):
        row, col = divmod(index, columns)
        left, top = GRID_GAP + col * (cell_w + GRID_GAP), GRID_GAP + row * (height + label_h + GRID_GAP)
        sheet.paste(im, (left + (cell_w - im.width) // 2, top))
        for k, line in enumerate(lines):
            x = left + max(0, (cell_w - measure(line, font=font)) / 2)
            draw.text((x, top + height + 4 + k * LABEL_LINE), line, fill=(20, 20, 20), font=font)
    return sheet


__all__ = ["ReconstructConfig", "ReconstructResult", "LayerObjective", "FrameCollector", "layer_groups",
           "choice_name", "build_features", "features_at", "white_noise", "reconstruct", "run_reconstruction",
           "labelled_grid", "DEFAULT_CONTENT_LAYERS", "DEFAULT_STYLE_LAYERS"]
