"""Per-style feed-forward networks (Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for
Real-Time Style Transfer and Super-Resolution").

A :class:`~painterly.nets.transformer.TransformerNet` is trained so that for every photo x
its output y = f(x) minimises

    L = alpha * sum_c content_loss(phi_c(y), phi_c(x)) + beta * gram_style_loss(phi(y), A) + gamma * tv_loss(y)

with phi the VGG19 features and A the style's Gram matrices (from a painting at
``style_size`` px, or a built-in style's stored statistics).

Loss weights (the rule, also in docs/training.md): alpha is fixed (1); beta and gamma default
to ``None`` and are then *calibrated* on the first ``calibration_batches`` batches before
training, from the untrained network's output y0 and the photos x::

    beta  = style_ratio * alpha * C0 / S0      C0 = content loss of y0,  S0 = style loss of y0
    gamma = tv_ratio    * alpha * C0 / T0      T0 = tv_loss of the photos x

so each term starts at a stated share of the content term whatever the style image, layers,
crop size or feature scale: ``style_ratio`` says how much style matters relative to content
in units of "the loss of an untrained network", and ``tv_ratio`` how much smoothing is
allowed relative to natural photo gradients. Explicit weights override the calibration.

Distillation (``teacher``): with a folder of teacher images, one per training photo (results of
another method on the whole photo, e.g. ``painterly optimize``), the content term compares
phi_c(y) with the teacher's features phi_c(t) instead of the photo's, and a pixel term
delta * mean|y - t| joins (delta calibrated like gamma: ``pixel_ratio`` * alpha * C0 / P0, with P0
the untrained network's pixel loss). The Gram and TV terms stay. The teacher fixes which colour
goes where, the shortcut-free answer a per-style loss alone can miss on some paintings (a one-hue
wash or a stamped texture, docs/training.md).

Fine-tuning (``init_model``): training starts from a trained single-style network, or from one
style's slot of a multi-style network (its shared convolutions with that style's (gamma, beta)
rows, :meth:`~painterly.nets.transformer.TransformerNet.single_style`), which computes exactly
what the multi-style network computes for the style. The model's architecture and TV weight
are kept, and its style weight when this run's style target (style source and layers) is the
one it was trained on; missing weights are calibrated by the rule above on a freshly
initialised network of the same architecture. Its training record goes into the new model's
sidecar as earlier stages.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..errors import PainterlyError, StyleNotFoundError
from ..features import VGG19Features, resolve_layers
from ..io.image import load_image
from ..io.model_file import ModelFile, ModelFileError, load_model_file, save_model_file
from ..losses import content_loss, gram, gram_distance, default_style_layer_weight, tv_loss
from ..nets.transformer import TransformerConfig, TransformerNet
from ..ops import resize_longer_side
from ..styles import STATS_LAYERS, StyleRegistry, stats_for_layers

logger = logging.getLogger(__name__)

IMAGE_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")   # Johnson et al. 2016
BUILTIN_STYLE_LAYERS = STATS_LAYERS                                # what built-in styles store
DEFAULT_CONTENT_LAYERS = ("relu2_2",)
LOSS_MARGIN_STEP = 8   # --loss-margin in multiples of VGG19's stride at relu4_x

FeaturesFactory = Callable[[Sequence[str]], nn.Module]


@dataclass
class FastTrainConfig:
    """Everything that defines a per-style network run (besides the trainer's own settings)."""

    style: str = "starry_night"          # style image path or built-in style name
    style_size: int | None = None        # longer side of the style image (default 1.5 x crop)
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] | None = None   # default: IMAGE_STYLE_LAYERS, or relu1_1..relu5_1 for built-ins
    content_weight: float = 1.0          # alpha
    style_weight: float | None = None    # beta; None: calibrated (see module docstring)
    tv_weight: float | None = None       # gamma; None: calibrated
    style_ratio: float = 2.0             # calibration target: beta * S0 = style_ratio * alpha * C0
    tv_ratio: float = 0.01               # calibration target: gamma * T0 = tv_ratio * alpha * C0
    calibration_batches: int = 2
    crop: int = 256                      # training crop side, px
    width: int = 32                      # TransformerNet width (32-64-128 in the paper)
    depth: int = 5                       # residual blocks
    fast_variant: bool = False           # unshuffle stem, one thin conv at full size (CPU speed)
    loss_margin: int = 16                # px of reflection the loss network sees around each image (multiple of 8)
    seed: int = 0                        # network initialisation
    init_model: str | None = None        # start from this fast model, or from this style's slot of a multistyle one
    teacher: str | None = None           # folder of teacher images, one per training photo (distillation)
    pixel_weight: float | None = None    # delta, the teacher's pixel term; None: calibrated
    pixel_ratio: float = 1.0             # calibration target: delta * P0 = pixel_ratio * alpha * C0
    name: str | None = None              # style name in the model file (default: file stem / built-in name)
    title: str = ""
    artist: str = ""

    def validate(self) -> "FastTrainConfig":
        if self.crop < 16:
            raise PainterlyError(f"crop must be at least 16 px, not {self.crop}")
        if self.style_size is not None and self.style_size < 16:
            raise PainterlyError(f"style size must be at least 16 px, not {self.style_size}")
        if self.width < 1 or self.depth < 0:
            raise PainterlyError(f"invalid network size: width {self.width}, depth {self.depth}")
        check_loss_margin(self.loss_margin, self.crop)
        for label, value in (("content", self.content_weight), ("style", self.style_weight),
                             ("tv", self.tv_weight), ("style ratio", self.style_ratio), ("tv ratio", self.tv_ratio),
                             ("pixel", self.pixel_weight), ("pixel ratio", self.pixel_ratio)):
            if value is not None and value < 0:
                raise PainterlyError(f"{label} weight must be >= 0, not {value}")
        self.content_layers = resolve_layers(self.content_layers)
        if self.style_layers is not None:
            self.style_layers = resolve_layers(self.style_layers)
        return self

    @property
    def resolved_style_size(self) -> int:
        return self.style_size or round(1.5 * self.crop)


# --------------------------------------------------------------------------- pure maths


def calibrated_weights(content0: float, style0: float, tv0: float, content_weight: float, style_ratio: float,
                       tv_ratio: float) -> tuple[float, float]:
    """(style_weight, tv_weight) that make the weighted terms ``style_ratio`` and ``tv_ratio`` times
    the weighted content term at the measured reference losses (see the module docstring)."""
    if content0 <= 0 or style0 <= 0 or tv0 <= 0:
        raise PainterlyError(f"cannot calibrate loss weights from zero losses (content {content0:.3g}, "
                             f"style {style0:.3g}, tv {tv0:.3g}); give --style-weight and --tv-weight")
    return style_ratio * content_weight * content0 / style0, tv_ratio * content_weight * content0 / tv0


def check_loss_margin(margin: int, crop: int) -> None:
    if margin < 0 or margin % LOSS_MARGIN_STEP or margin >= crop:
        raise PainterlyError(f"loss margin must be a multiple of {LOSS_MARGIN_STEP} px from 0 to below the crop "
                             f"({crop}), not {margin}")


def features_with_margin(features: Callable[[torch.Tensor], dict[str, torch.Tensor]], images: torch.Tensor,
                         margin: int) -> dict[str, torch.Tensor]:
    """Loss-network features of ``images`` seen with ``margin`` px of reflection around them, cropped
    back to the images' own area.

    VGG19 zero-pads its convolutions, so without a margin the pixels near an image's edge are
    judged against features distorted by the black frame the network imagines around it, and a
    stylizer trained on those losses learns a band of coloured speckle along its borders (seen on
    the 192 px CPU trainings: the outer 2-3 rows and columns). With a margin every pixel is judged
    in the same surroundings as the photo's features, which get the same treatment.
    """
    if margin == 0:
        return features(images)
    padded = features(torch.nn.functional.pad(images, (margin,) * 4, mode="reflect"))
    height, width = images.shape[-2:]
    cropped = {}
    for layer, value in padded.items():
        stride = (height + 2 * margin) / value.shape[-2]
        cut = round(margin / stride)
        cropped[layer] = value[..., cut:value.shape[-2] - cut, cut:value.shape[-1] - cut]
    return cropped


def perceptual_terms(outputs: torch.Tensor, photos: torch.Tensor, out_feats: dict[str, torch.Tensor],
                     photo_feats: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
                     content_layers: Sequence[str], teachers: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Unweighted content, Gram style and TV losses; targets of shape C x C or B x C x C. With
    ``teachers`` (distillation), ``photo_feats`` are the teachers' features and a ``pixel`` term
    mean|outputs - teachers| is added."""
    content = sum(content_loss(out_feats[l].float(), photo_feats[l].float()) for l in content_layers)
    style = sum(default_style_layer_weight(t.shape[-1]) * gram_distance(gram(out_feats[l].float()), t)
                for l, t in target_grams.items())
    terms = {"content": content, "style": style, "tv": tv_loss(outputs.float())}
    if teachers is not None:
        terms["pixel"] = (outputs.float() - teachers.float()).abs().mean()
    return terms


# --------------------------------------------------------------------------- styles


@dataclass
class StyleTarget:
    """One style's Gram matrices at the training layers, with its description."""

    grams: dict[str, torch.Tensor]
    info: dict


def is_builtin_name(text: str) -> bool:
    path = Path(text)
    return not path.is_file() and path.suffix == "" and path.name == text


def style_layers_for(spec: str, layers: Sequence[str] | None) -> tuple[str, ...]:
    """The style layers to use: given ones, or the default for an image / a built-in style."""
    if layers:
        return resolve_layers(layers)
    return BUILTIN_STYLE_LAYERS if is_builtin_name(spec) else IMAGE_STYLE_LAYERS


def load_style_target(spec: str, layers: Sequence[str], size: int, features: FeaturesFactory = VGG19Features,
                      registry: StyleRegistry | None = None, name: str | None = None, title: str = "",
                      artist: str = "") -> StyleTarget:
    """Gram matrices of a style image seen at ``size`` px (longer side) or of a built-in style."""
    if is_builtin_name(spec):
        registry = registry or StyleRegistry()
        info = registry.info(spec)  # unknown names: StyleNotFoundError with suggestions
        stats = registry.stats(spec, size=size)
        grams = dict(stats_for_layers(stats, layers))
        return StyleTarget({k: v.float() for k, v in grams.items()},
                           {"name": name or spec, "title": title or info.title, "artist": artist or info.artist,
                            "source": f"built-in:{spec}", "reference_size": registry.size_for(spec, size)})
    path = Path(spec)
    if not path.is_file():
        raise StyleNotFoundError(f"{spec}: no such style image")
    image = resize_longer_side(load_image(path), size)
    with torch.no_grad():
        feats = features(layers)(image)
    return StyleTarget({l: gram(feats[l].float())[0] for l in layers},
                       {"name": name or path.stem, "title": title, "artist": artist, "source": path.name,
                        "style_size": size})


def earlier_stages(training: dict, source: str) -> list[dict]:
    """The stage records a fine-tune from a model with ``training`` metadata inherits: that model's own
    earlier stages, then its run (``source``: the file it came from)."""
    run = {k: v for k, v in training.items() if k not in ("earlier_stages", "all_stages")}
    return [*training.get("earlier_stages", []), {"source": source, **run}]


def with_stages(training: dict, stages: list[dict]) -> dict:
    """``training`` plus its earlier stages and the steps and seconds of all of them together."""
    if not stages:
        return training
    runs = [*stages, training]
    return {**training, "earlier_stages": stages,
            "all_stages": {"stages": len(runs), "steps": sum(int(r.get("steps", 0)) for r in runs),
                           "seconds": round(sum(float(r.get("seconds", 0)) for r in runs), 1)}}


@dataclass
class InitNet:
    """The starting point of a fine-tune and what its model file says about how it was trained."""

    net: TransformerNet
    model: ModelFile
    style: str | None            # the style image or built-in name its style was trained on
    style_layers: tuple[str, ...]
    style_weight: float | None   # None where the sidecar does not say
    tv_weight: float | None


def load_transformer_model(path: str | Path, kind: str | tuple[str, ...]) -> tuple[TransformerNet, ModelFile]:
    """A trained TransformerNet model file of ``kind`` and its network; errors for missing, wrong-kind or
    mismatched files."""
    model = load_model_file(path, expected_kind=kind)
    try:
        net = TransformerNet(TransformerConfig(**model.architecture))
        net.load_state_dict(model.state)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: weights do not match its architecture ({str(exc).splitlines()[0][:120]})"
                             ) from None
    return net, model


def load_init_net(path: str, style: str) -> InitNet:
    """The starting point of a fine-tune: a single-style model, or the slot of ``style`` in a multistyle
    model (its shared convolutions and that style's norm rows, :meth:`TransformerNet.single_style`).
    ``path`` may name a built-in model (``zoo``)."""
    from ..methods.feedforward import resolve_model_path

    path = str(resolve_model_path(path))
    net, model = load_transformer_model(path, ("fast", "multistyle"))
    task = model.meta.get("training", {}).get("task", {})
    layers = tuple(task.get("style_layers") or ())
    if model.kind == "fast":
        return InitNet(net, model, task.get("style"), layers, task.get("style_weight"), task.get("tv_weight"))
    names = model.style_names
    if style not in names:
        close = difflib.get_close_matches(style, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise StyleNotFoundError(f"{path}: holds no style {style!r}{hint} (its styles: {', '.join(names)}; "
                                 f"--name picks the slot)")
    index = names.index(style)
    weights, specs = task.get("style_weights") or [], task.get("styles") or []
    return InitNet(net.single_style(index), model, specs[index] if index < len(specs) else None, layers,
                   weights[index] if index < len(weights) else None, task.get("tv_weight"))


def make_net(config: TransformerConfig, seed: int) -> TransformerNet:
    """A TransformerNet initialised from ``seed`` alone (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TransformerNet(config)


# --------------------------------------------------------------------------- the task


class FastTask:
    """The :class:`~painterly.train.loop.TrainTask` of a per-style network."""

    kind = "fast"

    def __init__(self, cfg: FastTrainConfig, device: str | torch.device = "cpu",
                 features: FeaturesFactory = VGG19Features, registry: StyleRegistry | None = None):
        self.cfg = cfg.validate()
        self.device = torch.device(device)
        layers = style_layers_for(cfg.style, cfg.style_layers)
        self.cfg.style_layers = layers
        self.style = load_style_target(cfg.style, layers, cfg.resolved_style_size, features, registry,
                                       cfg.name, cfg.title, cfg.artist)
        self.grams = {k: v.to(self.device) for k, v in self.style.grams.items()}
        self.vgg = features(tuple(dict.fromkeys(cfg.content_layers + layers))).to(self.device)
        self.content_vgg = features(cfg.content_layers).to(self.device)
        self.earlier_stages: list[dict] = []   # training records of the init model and its own inits
        if cfg.init_model:
            init = load_init_net(cfg.init_model, self.style.info["name"])
            self.net, arch = init.net, init.net.config
            same_target = init.style == cfg.style and init.style_layers == tuple(layers)
            style_weight = init.style_weight if same_target else None   # else calibrated (another target's scale)
            self.cfg = replace(self.cfg, width=arch.width, depth=arch.depth, fast_variant=arch.fast_variant,
                               style_weight=self.cfg.style_weight if self.cfg.style_weight is not None else style_weight,
                               tv_weight=self.cfg.tv_weight if self.cfg.tv_weight is not None else init.tv_weight)
            self.earlier_stages = earlier_stages(init.model.meta.get("training", {}), init.model.path.name)
        else:
            self.net = make_net(TransformerConfig(cfg.width, cfg.depth, 1, cfg.fast_variant), cfg.seed)
        self.net.to(self.device)
        self.ddp: dict[str, nn.Module] = {}   # DistributedDataParallel wrappers in a distributed run

    # -- TrainTask
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def parameters(self):
        return self.net.parameters()

    def distribute(self, wrapped: dict[str, nn.Module], world) -> None:
        """Distributed runs: the losses run ``net`` through its DistributedDataParallel wrapper."""
        self.ddp = wrapped

    def terms(self, batch: dict[str, torch.Tensor], net: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """Unweighted terms on a batch: ``content`` photos, and ``target`` teacher images when distilling."""
        photos, teachers = batch["content"], batch.get("target") if self.cfg.teacher else None
        if self.cfg.teacher and teachers is None:
            raise PainterlyError("distilling from teacher images needs batches with a 'target' (PairedFolderBatches)")
        outputs = (net if net is not None else self.ddp.get("net", self.net))(photos)
        margin = self.cfg.loss_margin
        with torch.no_grad():
            reference_feats = features_with_margin(self.content_vgg, photos if teachers is None else teachers, margin)
        return perceptual_terms(outputs, photos, features_with_margin(self.vgg, outputs, margin), reference_feats,
                                self.grams, self.cfg.content_layers, teachers)

    def weights(self) -> dict[str, float]:
        weights = {"content": self.cfg.content_weight, "style": self.cfg.style_weight, "tv": self.cfg.tv_weight}
        return {**weights, "pixel": self.cfg.pixel_weight} if self.cfg.teacher else weights

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        terms = self.terms(batch)
        weighted = {name: weight * terms[name] for name, weight in self.weights().items()}
        return {**weighted, "total": sum(weighted.values())}

    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        return self.net(photos)

    def export(self, path: Path, meta: dict) -> Path:
        return save_model_file(path, self.kind, self.net.state_dict(), {
            **meta, "architecture": self.net.config.to_dict(), "styles": [self.style.info],
            "training": with_stages({**meta.get("training", {}), "task": self.config_dict()}, self.earlier_stages)})

    # -- calibration
    def calibrate(self, batches, count: int | None = None) -> FastTrainConfig:
        """Fill in missing style/TV weights from the losses of the untrained net (module docstring)."""
        if None not in self.weights().values():
            return self.cfg
        terms = self.terms
        if self.cfg.init_model:   # the rule is about an untrained network: measure a fresh one of this architecture
            fresh = make_net(self.net.config, self.cfg.seed).to(self.device)
            terms = lambda batch: self.terms(batch, fresh)   # noqa: E731
        ref = measure_reference_losses(terms, batches, count or self.cfg.calibration_batches, self.device)
        style_w, tv_w = calibrated_weights(ref["content"], ref["style"], ref["tv"], self.cfg.content_weight,
                                           self.cfg.style_ratio, self.cfg.tv_ratio)
        self.cfg = replace(self.cfg, style_weight=self.cfg.style_weight if self.cfg.style_weight is not None
                           else style_w, tv_weight=self.cfg.tv_weight if self.cfg.tv_weight is not None else tv_w)
        if self.cfg.teacher and self.cfg.pixel_weight is None:
            self.cfg = replace(self.cfg, pixel_weight=calibrated_pixel_weight(
                ref["content"], ref["pixel"], self.cfg.content_weight, self.cfg.pixel_ratio))
        self.reference_losses = ref
        logger.info("calibrated weights: %s (reference losses %s)",
                    ", ".join(f"{k} {v:.4g}" for k, v in self.weights().items()),
                    ", ".join(f"{k} {v:.4g}" for k, v in ref.items()))
        return self.cfg

    def config_dict(self) -> dict:
        out = asdict(self.cfg)
        out["resolved_style_size"] = self.cfg.resolved_style_size
        if hasattr(self, "reference_losses"):
            out["reference_losses"] = self.reference_losses
        return out


def measure_reference_losses(terms: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]], batches,
                             count: int, device: torch.device) -> dict[str, float]:
    """Mean content and style (and, distilling, pixel) losses of the untrained network and mean TV of the
    photos on batches 0..count-1."""
    totals: dict[str, float] = {}
    n = max(1, count)
    with torch.no_grad():
        for step in range(n):
            batch = {k: v.to(device) for k, v in batches.batch(step).items()}
            values = {**terms(batch), "tv": tv_loss(batch["content"])}
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + float(value) / n
    return totals


def calibrated_pixel_weight(content0: float, pixel0: float, content_weight: float, pixel_ratio: float) -> float:
    """delta with delta * pixel0 = pixel_ratio * content_weight * content0 (module docstring)."""
    if content0 <= 0 or pixel0 <= 0:
        raise PainterlyError(f"cannot calibrate the pixel weight from zero losses (content {content0:.3g}, "
                             f"pixel {pixel0:.3g}); give --pixel-weight")
    return pixel_ratio * content_weight * content0 / pixel0


def build_fast_task(cfg: FastTrainConfig, batches, device: str | torch.device = "cpu",
                    features: FeaturesFactory = VGG19Features, registry: StyleRegistry | None = None) -> FastTask:
    """A calibrated :class:`FastTask`."""
    task = FastTask(cfg, device, features, registry)
    task.calibrate(batches)
    return task


__all__ = ["FastTrainConfig", "FastTask", "build_fast_task", "calibrated_weights", "calibrated_pixel_weight",
           "perceptual_terms",
           "features_with_margin", "check_loss_margin", "load_style_target", "load_init_net", "earlier_stages",
           "with_stages", "load_transformer_model", "StyleTarget", "IMAGE_STYLE_LAYERS", "BUILTIN_STYLE_LAYERS", "make_net"]
