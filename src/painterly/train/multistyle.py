"""Many styles in one network (Dumoulin, Shlens & Kudlur 2017, "A Learned Representation for
Artistic Style"): a :class:`~painterly.nets.transformer.TransformerNet` with conditional
instance norm, one (gamma, beta) pair per style, all convolutions shared.

Every image of a batch is paired with a style chosen deterministically from the step
(:func:`styles_for_step`: each cycle of ``n`` samples visits every style once, in an order
seeded by ``(seed, cycle)``), and its loss uses that style's Gram targets and weight. Style
weights are calibrated per style exactly as for a per-style network
(:mod:`painterly.train.fast`), so a style with large Gram values does not drown the others.

Fine-tuning (``init_model``): a trained network of the same styles and architecture is the
starting point and every weight trains; its calibrated style and TV weights are kept unless
given (calibration needs an untrained network), so e.g. ``tv_weight`` can be raised alone.

Adding styles to a trained network (``base_model``): the network is loaded, grown with
:meth:`TransformerNet.add_styles`, and only the norm parameters are trained, with the rows of
the old styles' gradients zeroed (:meth:`TransformerNet.freeze_styles_before`). With Adam
and no weight decay a zero gradient gives a zero update, so the old styles stay bit-for-bit
identical; only new styles are sampled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import PainterlyError
from ..features import VGG19Features, resolve_layers
from ..io.model_file import save_model_file
from ..losses import content_loss, default_style_layer_weight, gram, tv_loss
from ..nets.transformer import TransformerConfig, TransformerNet
from ..styles import StyleRegistry
from .distributed import World, shard
from .fast import (DEFAULT_CONTENT_LAYERS, FeaturesFactory, calibrated_weights, check_loss_margin, earlier_stages,
                   features_with_margin, load_style_target, load_transformer_model, make_net, style_layers_for, with_stages,
                   BUILTIN_STYLE_LAYERS, is_builtin_name)

logger = logging.getLogger(__name__)


@dataclass
class MultiStyleTrainConfig:
    """A multi-style run; the styles are image paths or built-in names (folders expanded by the caller)."""

    styles: tuple[str, ...] = ()
    base_model: str | None = None        # a trained multistyle model to add ``styles`` to
    init_model: str | None = None        # a trained multistyle model of the same styles to fine-tune from
    style_size: int | None = None        # longer side of style images (default 1.5 x crop)
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] | None = None   # default as for fast; relu1_1..relu5_1 if any style is built in
    content_weight: float = 1.0
    style_weights: tuple[float, ...] | None = None   # one per (new) style; None: calibrated
    tv_weight: float | None = None
    style_ratio: float = 2.0
    tv_ratio: float = 0.01
    calibration_batches: int = 2
    crop: int = 256
    width: int = 32
    fast_variant: bool = False  # unshuffle stem, one thin conv at full size (CPU speed)
    loss_margin: int = 16       # px of reflection the loss network sees around each image (see train.fast)
    depth: int = 5
    seed: int = 0
    names: tuple[str, ...] = field(default_factory=tuple)   # optional names for the (new) styles

    def validate(self) -> "MultiStyleTrainConfig":
        if not self.styles:
            raise PainterlyError("give at least one style")
        if self.base_model is None and len(self.styles) < 2:
            raise PainterlyError("a multi-style network needs at least 2 styles (use `train fast` for one)")
        if self.style_weights is not None and len(self.style_weights) != len(self.styles):
            raise PainterlyError(f"{len(self.style_weights)} style weights for {len(self.styles)} styles")
        if self.names and len(self.names) != len(self.styles):
            raise PainterlyError(f"{len(self.names)} names for {len(self.styles)} styles")
        if self.base_model and self.init_model:
            raise PainterlyError("give either a model to add styles to or one to start from, not both")
        if self.crop < 16 or self.width < 1 or self.depth < 0:
            raise PainterlyError("invalid crop or network size")
        check_loss_margin(self.loss_margin, self.crop)
        self.content_layers = resolve_layers(self.content_layers)
        if self.style_layers is not None:
            self.style_layers = resolve_layers(self.style_layers)
        return self

    @property
    def resolved_style_size(self) -> int:
        return self.style_size or round(1.5 * self.crop)


# --------------------------------------------------------------------------- pure pieces


def styles_for_step(step: int, batch_size: int, styles: Sequence[int], seed: int = 0) -> list[int]:
    """The style index of each image of the batch of ``step``: every cycle of ``len(styles)``
    samples visits each style once, in an order seeded by ``(seed, cycle)``."""
    n = len(styles)
    out = []
    for i in range(batch_size):
        cycle, position = divmod(step * batch_size + i, n)
        out.append(int(styles[np.random.default_rng([seed, 11, cycle]).permutation(n)[position]]))
    return out


def per_sample_gram_loss(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Gram style loss of each image against its own target: (B,), targets B x C x C per layer."""
    total = None
    for layer, target in targets.items():
        feats = features[layer].float()
        term = default_style_layer_weight(feats.shape[1]) * (gram(feats) - target).pow(2).sum(dim=(-2, -1))
        total = term if total is None else total + term
    return total


def load_multistyle_model(path: str) -> tuple[TransformerNet, dict]:
    """A trained multistyle network and its metadata; errors for missing or wrong-kind files."""
    net, model = load_transformer_model(path, "multistyle")
    return net, model.meta


# --------------------------------------------------------------------------- the task


class MultiStyleTask:
    """The :class:`~painterly.train.loop.TrainTask` of a conditional-IN multi-style network."""

    kind = "multistyle"

    def __init__(self, cfg: MultiStyleTrainConfig, device: str | torch.device = "cpu",
                 features: FeaturesFactory = VGG19Features, registry: StyleRegistry | None = None):
        self.cfg = cfg.validate()
        self.device = torch.device(device)
        self.old_styles: list[dict] = []
        self.earlier_stages: list[dict] = []   # training records of the init model and its own inits
        base_meta: dict = {}
        if cfg.base_model:
            self.net, base_meta = load_multistyle_model(cfg.base_model)
            self.old_styles = list(base_meta.get("styles", []))
            self.first_new = self.net.n_styles
            trained = base_meta.get("training", {}).get("task", {})
            self.cfg = replace(self.cfg, width=self.net.config.width, depth=self.net.config.depth,
                               style_layers=cfg.style_layers or tuple(trained.get("style_layers") or ()) or None,
                               content_layers=tuple(trained.get("content_layers") or cfg.content_layers))
            self.net.add_styles(len(cfg.styles))
            # the old styles were trained by the base model's runs: keep their record
            self.earlier_stages = earlier_stages(base_meta.get("training", {}), Path(cfg.base_model).name)
            for p in self.net.parameters():
                p.requires_grad_(False)
            for p in self.net.norm_parameters():
                p.requires_grad_(True)
            self._hooks = self.net.freeze_styles_before(self.first_new)
        else:
            self.first_new = 0
            self.net = make_net(TransformerConfig(cfg.width, cfg.depth, len(cfg.styles), cfg.fast_variant), cfg.seed)
            if cfg.init_model:
                base_meta = self._start_from(cfg.init_model)
        self.net.to(self.device)
        layers = self.cfg.style_layers or (BUILTIN_STYLE_LAYERS if any(map(is_builtin_name, cfg.styles))
                                           else style_layers_for(cfg.styles[0], None))
        self.cfg.style_layers = resolve_layers(layers)
        names = cfg.names or (None,) * len(cfg.styles)
        self.targets = [load_style_target(spec, self.cfg.style_layers, self.cfg.resolved_style_size, features,
                                          registry, name) for spec, name in zip(cfg.styles, names)]
        if cfg.init_model:
            had = [s.get("name") for s in base_meta.get("styles", []) if isinstance(s, dict)]
            wanted = [t.info["name"] for t in self.targets]
            if had != wanted:
                raise PainterlyError(f"{cfg.init_model}: holds styles {', '.join(map(str, had))}, "
                                     f"not {', '.join(wanted)} (same styles in the same order are needed)")
            base_meta = {}   # its style weights are this run's, not a base's
        # Gram targets of all new styles stacked per layer: S x C x C
        self.grams = {l: torch.stack([t.grams[l] for t in self.targets]).to(self.device) for l in self.cfg.style_layers}
        self.vgg = features(tuple(dict.fromkeys(self.cfg.content_layers + self.cfg.style_layers))).to(self.device)
        self.content_vgg = features(self.cfg.content_layers).to(self.device)
        self.new_indices = list(range(self.first_new, self.first_new + len(cfg.styles)))
        self.base_style_weights = list(base_meta.get("training", {}).get("task", {}).get("style_weights") or [])
        self.ddp: dict[str, nn.Module] = {}   # DistributedDataParallel wrappers in a distributed run
        self.world = World()

    def _start_from(self, path: str) -> dict:
        """Load the weights of a trained network of this architecture; take its loss settings unless given."""
        net, meta = load_multistyle_model(path)
        if net.config.to_dict() != self.net.config.to_dict():
            raise PainterlyError(f"{path}: its architecture {net.config.to_dict()} is not this run's "
                                 f"{self.net.config.to_dict()}")
        self.net.load_state_dict(net.state_dict())
        self.earlier_stages = earlier_stages(meta.get("training", {}), Path(path).name)
        trained = meta.get("training", {}).get("task", {})
        self.cfg = replace(
            self.cfg, style_layers=self.cfg.style_layers or tuple(trained.get("style_layers") or ()) or None,
            style_weights=self.cfg.style_weights or tuple(trained.get("style_weights") or ()) or None,
            tv_weight=self.cfg.tv_weight if self.cfg.tv_weight is not None else trained.get("tv_weight"))
        return meta

    # -- TrainTask
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def parameters(self):
        return self.net.norm_parameters() if self.first_new else self.net.parameters()

    def distribute(self, wrapped: dict[str, nn.Module], world: World) -> None:
        """Distributed runs: the losses run ``net`` through its DistributedDataParallel wrapper, and
        each process takes the styles of its own samples of the global batch."""
        self.ddp, self.world = wrapped, world

    def terms(self, photos: torch.Tensor, styles: Sequence[int]) -> dict[str, torch.Tensor]:
        """Per-sample unweighted losses for ``styles`` (network indices of new styles)."""
        outputs = self.ddp.get("net", self.net)(photos, self._one_hot(styles))
        with torch.no_grad():
            photo_feats = features_with_margin(self.content_vgg, photos, self.cfg.loss_margin)
        out_feats = features_with_margin(self.vgg, outputs, self.cfg.loss_margin)
        local = torch.tensor([s - self.first_new for s in styles], device=photos.device)
        targets = {l: g[local] for l, g in self.grams.items()}
        content = sum(content_loss(out_feats[l].float(), photo_feats[l].float()) for l in self.cfg.content_layers)
        return {"content": content, "style": per_sample_gram_loss(out_feats, targets), "tv": tv_loss(outputs.float())}

    def _one_hot(self, styles: Sequence[int]) -> torch.Tensor:
        index = torch.tensor(list(styles), device=self.device)
        return torch.nn.functional.one_hot(index, self.net.n_styles).float()

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        photos = batch["content"]
        size = photos.shape[0] * self.world.size   # the global batch; this process has its part
        styles = styles_for_step(step, size, self.new_indices, self.cfg.seed)[shard(size, self.world)]
        terms = self.terms(photos, styles)
        weights = torch.tensor([self.cfg.style_weights[s - self.first_new] for s in styles], device=photos.device)
        weighted = {"content": self.cfg.content_weight * terms["content"],
                    "style": (weights * terms["style"]).mean(), "tv": self.cfg.tv_weight * terms["tv"]}
        return {**weighted, "total": weighted["content"] + weighted["style"] + weighted["tv"]}

    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        """Each validation photo in every new style, one style under the other: N x 3 x (S * H) x W."""
        rows = [self.net(photos, self._one_hot([s] * photos.shape[0])) for s in self.new_indices]
        return torch.cat(rows, dim=-2) if len(rows) > 1 else rows[0]

    def export(self, path: Path, meta: dict) -> Path:
        styles = self.old_styles + [t.info for t in self.targets]
        return save_model_file(path, self.kind, self.net.state_dict(), {
            **meta, "architecture": self.net.config.to_dict(), "styles": styles,
            "training": with_stages({**meta.get("training", {}), "task": self.config_dict()}, self.earlier_stages)})

    # -- calibration
    def calibrate(self, batches, count: int | None = None) -> MultiStyleTrainConfig:
        """Per-style weights beta_s = ratio * C0 / S0_s and one TV weight (see painterly.train.fast)."""
        if self.cfg.style_weights is not None and self.cfg.tv_weight is not None:
            return self.cfg
        n = len(self.new_indices)
        content, tv, style = 0.0, 0.0, np.zeros(n)
        count = max(1, count or self.cfg.calibration_batches)
        with torch.no_grad():
            for step in range(count):
                photos = batches.batch(step)["content"].to(self.device)
                for k, s in enumerate(self.new_indices):
                    values = self.terms(photos, [s] * photos.shape[0])
                    content += float(values["content"]) / n
                    style[k] += float(values["style"].mean())
                tv += float(tv_loss(photos))
        content0, tv0, style0 = content / count, tv / count, style / count
        pairs = [calibrated_weights(content0, s0, tv0, self.cfg.content_weight, self.cfg.style_ratio,
                                    self.cfg.tv_ratio) for s0 in style0]
        self.cfg = replace(self.cfg, style_weights=self.cfg.style_weights or tuple(p[0] for p in pairs),
                           tv_weight=self.cfg.tv_weight if self.cfg.tv_weight is not None else pairs[0][1])
        self.reference_losses = {"content": content0, "style": style0.tolist(), "tv": tv0}
        logger.info("calibrated style weights %s, tv %.4g", ", ".join(f"{w:.4g}" for w in self.cfg.style_weights),
                    self.cfg.tv_weight)
        return self.cfg

    def config_dict(self) -> dict:
        out = asdict(self.cfg)
        out["resolved_style_size"] = self.cfg.resolved_style_size
        out["style_weights"] = list(self.base_style_weights) + list(self.cfg.style_weights or ())
        if hasattr(self, "reference_losses"):
            out["reference_losses"] = self.reference_losses
        return out


def build_multistyle_task(cfg: MultiStyleTrainConfig, batches, device: str | torch.device = "cpu",
                          features: FeaturesFactory = VGG19Features,
                          registry: StyleRegistry | None = None) -> MultiStyleTask:
    task = MultiStyleTask(cfg, device, features, registry)
    task.calibrate(batches)
    return task


__all__ = ["MultiStyleTrainConfig", "MultiStyleTask", "build_multistyle_task", "styles_for_step",
           "per_sample_gram_loss", "load_multistyle_model"]
