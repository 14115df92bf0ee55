"""Training the artist-level model (Sanakoyeu et al. 2018) on the shared trainer loop.

A generator G = D_dec(E(x)) learns the style of a *collection* of one artist's works. For a
photo x and a batch of artwork crops a:

    L_D   = mean over scales [ (D(a) - 1)^2 + D(G(x))^2 + D(x)^2 ]             (least squares)
    L_G   = adv * mean over scales (D(G(x)) - 1)^2
          + content   * || E(x) - E(G(x)) ||^2 / d       style-aware content loss (E's own space)
          + transform * || T(x) - T(G(x)) ||^2 / n       transformed-image loss, T = 10x10 average pool

The discriminator also sees the photos as negatives, so it learns to tell the artist's
paintings from photographs, not just from G's output. As in the paper, only one side is
trained per step: the discriminator while its running accuracy (exponential average, rate
0.05) is below ``win_rate``, else the generator. The running accuracy is a buffer of a
module in the checkpoint, so ``--resume`` continues exactly.

``gram_weight`` (default 0, not in the paper) adds ``gram * sum over layers ||G - T||^2 / ||T||^2``
on VGG19 features of G(x), where ``T`` is the mean Gram matrix of the collection's works at the
crop scale (:func:`collection_gram_targets`). The paper's discriminator needs hundreds of
thousands of steps to teach the generator brush strokes; on a CPU budget of a few thousand
steps this term gives it the collection's average texture and palette from the start, and the
discriminator still judges each stylisation against the real works.

``pretrain_steps`` (default 0, as in the paper) first trains the generator to reproduce the
photo (L1 + the two content losses, no adversarial term) while the discriminator learns
alone: a short CPU run then starts its adversarial phase from a generator that already keeps
the content, instead of spending most of its steps finding the photo again.

Both networks share the loop's single Adam optimiser; the side not trained in a step does not
enter the graph, so its gradients stay ``None`` and Adam leaves it untouched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..errors import PainterlyError
from ..features import VGG19Features
from ..io.model_file import save_model_file
from ..losses import gram, relative_gram_loss
from ..nets.adaptive import DOWNSAMPLING, AdaptiveConfig, AdaptiveGenerator, MultiScaleDiscriminator
from .data import FolderBatches

TRANSFORM_KERNEL = 10
ACCURACY_RATE = 0.05
GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


# --------------------------------------------------------------------------- pure maths


def transformed_image_loss(x: torch.Tensor, y: torch.Tensor, kernel: int = TRANSFORM_KERNEL) -> torch.Tensor:
    """Mean squared difference of the two images after a ``kernel`` x ``kernel`` stride-1 average pool."""
    return F.mse_loss(F.avg_pool2d(y, kernel, stride=1), F.avg_pool2d(x, kernel, stride=1))


def style_aware_content_loss(features_x: torch.Tensor, features_y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the encoder's features of the photo and of its stylisation."""
    return F.mse_loss(features_y, features_x)


def collection_gram_targets(artworks: Sequence[torch.Tensor], vgg: VGG19Features) -> dict[str, torch.Tensor]:
    """Per layer, the mean over the works of each work's Gram matrix (1 x C x C); every work counts
    once whatever its size. ``artworks``: 1 x 3 x H x W images in [0, 1]."""
    if not artworks:
        raise ValueError("collection_gram_targets needs at least one artwork")
    totals: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for image in artworks:
            for layer, features in vgg(image).items():
                g = gram(features).mean(0, keepdim=True)
                totals[layer] = totals[layer] + g if layer in totals else g
    return {layer: total / len(artworks) for layer, total in totals.items()}


def lsgan_loss(logits: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """Least-squares GAN loss, averaged over the discriminator's scales."""
    return sum(F.mse_loss(l, torch.full_like(l, target)) for l in logits) / len(logits)


def patch_accuracy(logits: Sequence[torch.Tensor], real: bool) -> torch.Tensor:
    """Fraction of patches on the right side of 0.5, averaged over scales."""
    return sum(((l > 0.5) if real else (l < 0.5)).float().mean() for l in logits) / len(logits)


# --------------------------------------------------------------------------- config and data


@dataclass
class AdaptiveTrainConfig:
    name: str = "artist"                 # style name in the model file
    artist: str = ""
    title: str = ""                      # default: "artist-level model of N works"
    artworks: tuple[str, ...] = ()       # the artworks' file names (recorded in the model)
    crop: int = 256                      # training crop side (paper: 768)
    art_scale: float = 2.5               # artworks are cropped from a copy this many crops on its shorter side
    width: int = 32
    depth: int = 9
    disc_width: int = 64
    disc_layers: int = 6
    downsampling: int = 4                # encoder stride-2 stages (paper: 4; 2 trains on a CPU)
    adv_weight: float = 1.0
    content_weight: float = 100.0        # style-aware content loss
    transform_weight: float = 100.0      # transformed-image loss
    gram_weight: float = 0.0             # VGG19 Gram loss against the collection's mean (not in the paper)
    win_rate: float = 0.8
    pretrain_steps: int = 0              # generator reproduces the photo first (see the module docstring)
    seed: int = 0

    def validate(self) -> "AdaptiveTrainConfig":
        if self.crop < 2 * DOWNSAMPLING or self.crop % DOWNSAMPLING:
            raise PainterlyError(f"crop must be a multiple of {DOWNSAMPLING} and at least {2 * DOWNSAMPLING}, "
                                 f"not {self.crop}")
        if min(self.width, self.disc_width, self.disc_layers) < 1 or self.depth < 0:
            raise PainterlyError("network sizes must be positive")
        if not 1 <= self.downsampling <= 4:
            raise PainterlyError(f"downsampling must be 1 to 4 stride-2 stages, not {self.downsampling}")
        if self.pretrain_steps < 0:
            raise PainterlyError(f"pretrain steps must be >= 0, not {self.pretrain_steps}")
        if not 0 < self.win_rate < 1:
            raise PainterlyError(f"win rate must be between 0 and 1, not {self.win_rate}")
        for label, value in (("adversarial", self.adv_weight), ("content", self.content_weight),
                             ("transform", self.transform_weight), ("gram", self.gram_weight)):
            if value < 0:
                raise PainterlyError(f"{label} weight must be >= 0, not {value}")
        return self

    def network_config(self) -> AdaptiveConfig:
        return AdaptiveConfig(self.width, self.depth, self.disc_width, self.disc_layers, self.downsampling)


class ArtBatches:
    """Batches of photo crops and artwork crops: ``{"content": ..., "art": ...}``, each a function
    of ``(seed, step)`` alone (two :class:`FolderBatches` with their own seeds)."""

    def __init__(self, photos: Sequence[str | os.PathLike], artworks: Sequence[str | os.PathLike], crop: int,
                 batch_size: int, seed: int = 0, art_scale: float = 2.5, prefetch: bool = True):
        self.photos = FolderBatches(photos, crop, batch_size, seed, prefetch=prefetch)
        self.art = FolderBatches(artworks, crop, batch_size, seed + 7919, cache_scale=art_scale,
                                 min_fraction=min(1.0, 1.0 / art_scale), prefetch=prefetch)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        return {"content": self.photos.batch(step)["content"], "art": self.art.batch(step)["content"]}

    def batch_part(self, step: int, part: slice) -> dict[str, torch.Tensor]:
        return {"content": self.photos.batch_part(step, part)["content"],
                "art": self.art.batch_part(step, part)["content"]}

    def close(self) -> None:
        self.photos.close()
        self.art.close()


# --------------------------------------------------------------------------- the task


class _Gate(nn.Module):
    """The discriminator's running accuracy, kept in checkpoints."""

    def __init__(self):
        super().__init__()
        self.register_buffer("accuracy", torch.tensor(0.0))


def default_title(works: int) -> str:
    """What ``painterly styles`` shows before the artist's name: ``artist-level model of 14 works``."""
    return f"artist-level model of {works} work{'s' if works != 1 else ''}"


def make_networks(config: AdaptiveConfig, seed: int) -> tuple[AdaptiveGenerator, MultiScaleDiscriminator]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AdaptiveGenerator(config), MultiScaleDiscriminator(config)


class AdaptiveTask:
    """The :class:`~painterly.train.loop.TrainTask` of the artist-level model."""

    kind = "adaptive"

    def __init__(self, cfg: AdaptiveTrainConfig, device: str | torch.device = "cpu",
                 gram_targets: dict[str, torch.Tensor] | None = None, vgg: VGG19Features | None = None):
        """``gram_targets`` (layer -> 1 x C x C, see :func:`collection_gram_targets`) is needed when
        ``cfg.gram_weight`` > 0; ``vgg`` computes the image's features for it (default: a new one)."""
        self.cfg = cfg.validate()
        self.device = torch.device(device)
        self.generator, self.discriminator = make_networks(cfg.network_config(), cfg.seed)
        self.gate = _Gate()
        for module in (self.generator, self.discriminator, self.gate):
            module.to(self.device)
        self.vgg, self.gram_targets = None, None
        if cfg.gram_weight > 0:
            if not gram_targets:
                raise PainterlyError("a Gram weight needs the collection's Gram targets")
            self.vgg = (vgg or VGG19Features(tuple(gram_targets))).to(self.device)
            self.gram_targets = {layer: t.to(self.device) for layer, t in gram_targets.items()}

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator, "gate": self.gate}

    def parameters(self):
        return [*self.generator.parameters(), *self.discriminator.parameters()]

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        photos, art = batch["content"], batch["art"]
        pretraining = step < cfg.pretrain_steps
        train_d = pretraining or bool(self.gate.accuracy < cfg.win_rate)
        stylised = self.generator(photos)
        with torch.set_grad_enabled(train_d):
            real_logits = self.discriminator(art)
            fake_logits = self.discriminator(stylised.detach())
            photo_logits = self.discriminator(photos)
        with torch.no_grad():
            accuracy = (patch_accuracy(real_logits, True) + patch_accuracy(fake_logits, False)
                        + patch_accuracy(photo_logits, False)) / 3
            self.gate.accuracy.mul_(1 - ACCURACY_RATE).add_(ACCURACY_RATE * accuracy)
        d_loss = (lsgan_loss(real_logits, 1.0) + lsgan_loss(fake_logits, 0.0) + lsgan_loss(photo_logits, 0.0)) / 3
        out = {"d_loss": d_loss.detach(), "d_accuracy": accuracy, "d_running_accuracy": self.gate.accuracy.clone(),
               "trains_discriminator": torch.tensor(float(train_d))}
        if pretraining:
            content = style_aware_content_loss(self.generator.encode(photos), self.generator.encode(stylised))
            weighted = {"reconstruction": F.l1_loss(stylised, photos) * cfg.transform_weight,
                        "content": cfg.content_weight * content,
                        "transform": cfg.transform_weight * transformed_image_loss(photos, stylised)}
            return {**out, **weighted, "total": sum(weighted.values()) + cfg.adv_weight * d_loss}
        if train_d:
            return {**out, "total": cfg.adv_weight * d_loss}
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        g_adv = lsgan_loss(functional_call(self.discriminator, frozen, (stylised,)), 1.0)
        content = style_aware_content_loss(self.generator.encode(photos), self.generator.encode(stylised))
        transform = transformed_image_loss(photos, stylised)
        weighted = {"adversarial": cfg.adv_weight * g_adv, "content": cfg.content_weight * content,
                    "transform": cfg.transform_weight * transform}
        if self.vgg is not None:
            weighted["gram"] = cfg.gram_weight * relative_gram_loss(self.vgg(stylised), self.gram_targets)
        return {**out, **weighted, "total": sum(weighted.values())}

    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        return self.generator(photos)

    def export(self, path: Path, meta: dict) -> Path:
        cfg = self.cfg
        style = {"name": cfg.name, "artist": cfg.artist,
                 "title": cfg.title or default_title(len(cfg.artworks)),
                 "artworks": list(cfg.artworks)}
        return save_model_file(path, self.kind, self.generator.state_dict(), {
            **meta, "architecture": self.generator.config.to_dict(), "styles": [style],
            "training": {**meta.get("training", {}), "task": self.config_dict()}})

    def config_dict(self) -> dict:
        return asdict(self.cfg)


__all__ = ["AdaptiveTrainConfig", "AdaptiveTask", "ArtBatches", "transformed_image_loss", "style_aware_content_loss",
           "lsgan_loss", "patch_accuracy", "make_networks", "collection_gram_targets", "GRAM_LAYERS"]
