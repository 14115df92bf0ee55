"""Training the image-space VAE (:mod:`painterly.nets.image_vae`) as a task of the shared loop.

Data: the paintings of ``styles_dir`` except the held-out ones (:data:`DEFAULT_HOLDOUT_STYLES`,
never trained on), decoded once and cached in memory as uint8 with the shorter side
``size * (1 + scale_jitter)``. A training example is a random square crop of side
``size * [1 - j, 1 + j]`` resized to ``size`` and flipped at random (:func:`random_crop`), so
the largest crops see the whole shorter side of a painting, as ``painterly vae-interpolate``
does (centre crop of the full shorter side). A batch of step k, and the reparameterisation
noise of its samples, depend on (seed, k) alone, so a resumed run continues exactly.

Loss per image (the negative ELBO with a weight on the KL term, averaged over the batch)::

    recon = sum over the 3 x size x size values of (x' - x) ** 2     ("mse", or |x' - x| for "l1")
    total = recon + beta * min(1, (step + 1) / kl_warmup) * KL(q(z | x) || N(0, I))

With the summed squared error, beta plays the role of 2 sigma ** 2 of a Gaussian decoder with
pixel noise sigma: the default 0.02 is sigma = 0.1 (a tenth of the pixel range). beta = 1
(sigma = 0.71, the common "MSE-sum + KL" recipe) trades far more detail for a smoother latent
space; we did not want a strawman.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import PainterlyError
from ..losses import warmed_up_weight
from ..nets.image_vae import KIND, ImageVAE, ImageVAEConfig, kl_divergence
from .adain import DEFAULT_HOLDOUT_STYLES, list_images, load_cached, random_crop

log = logging.getLogger(__name__)

RECON_LOSSES = ("mse", "l1")


@dataclass
class ImageVAETrainConfig:
    """What the image-VAE trainer needs beyond the shared :class:`TrainerConfig`."""

    styles_dir: str = ""
    size: int = 128                       # square image side the VAE sees (px)
    latent: int = 128                     # latent dimensions
    base_width: int = 32                  # first encoder stage's channels (doubling up to max_width)
    max_width: int = 192
    beta: float = 0.02                    # weight of the KL term (see the module docstring)
    kl_warmup: int = 300                  # steps over which the KL weight rises linearly to beta
    recon_loss: str = "mse"               # mse | l1, summed per image
    scale_jitter: float = 0.25            # crop side drawn from size * [1 - j, 1 + j], resized to size
    holdout_styles: tuple[str, ...] = DEFAULT_HOLDOUT_STYLES
    seed: int = 0

    def validate(self) -> "ImageVAETrainConfig":
        if self.size < 8 or self.latent < 1 or self.base_width < 1 or self.max_width < 1:
            raise PainterlyError("size must be >= 8 px and latent/widths >= 1")
        if stages_for(self.size) < 1:
            raise PainterlyError(f"size {self.size} cannot be halved: use an even size such as 128")
        try:
            self.vae_config()
        except ValueError as exc:
            raise PainterlyError(str(exc)) from None
        if self.beta < 0 or self.kl_warmup < 0:
            raise PainterlyError("beta and KL warm-up must be >= 0")
        if not 0.0 <= self.scale_jitter < 1.0:
            raise PainterlyError(f"scale jitter must be in [0, 1), not {self.scale_jitter}")
        if self.recon_loss not in RECON_LOSSES:
            raise PainterlyError(f"unknown reconstruction loss {self.recon_loss!r}: use {' or '.join(RECON_LOSSES)}")
        return self

    def vae_config(self) -> ImageVAEConfig:
        return ImageVAEConfig(size=self.size, latent=self.latent, base_width=self.base_width,
                              max_width=self.max_width, stages=stages_for(self.size))

    def cache_side(self) -> int:
        """Shorter side of the cached paintings: the largest crop is the whole shorter side."""
        return round(self.size * (1.0 + self.scale_jitter))

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def stages_for(size: int, bottleneck: int = 4) -> int:
    """Exact halvings of ``size`` while the result stays >= ``bottleneck`` px (128: 5, to 4 px; 224: 5, to 7 px)."""
    stages = 0
    while size % 2 == 0 and size // 2 >= bottleneck:
        size //= 2
        stages += 1
    return stages


def split_styles(cfg: ImageVAETrainConfig) -> tuple[list[Path], list[Path]]:
    """(training paintings, held-out paintings); the held-out ones are never trained on."""
    paths = list_images(cfg.styles_dir)
    held = [p for p in paths if p.stem in cfg.holdout_styles]
    train = [p for p in paths if p.stem not in cfg.holdout_styles]
    if not train:
        raise PainterlyError(f"{cfg.styles_dir}: every painting is held out; nothing to train on")
    return train, held


class PaintingBatches:
    """``batch(step)``: random crops of the cached paintings and the VAE's noise, from (seed, step) alone."""

    def __init__(self, paintings: Sequence[torch.Tensor], batch_size: int, size: int, latent: int,
                 jitter: float = 0.0, seed: int = 0):
        if not paintings:
            raise PainterlyError("image VAE training needs at least one painting")
        self.paintings, self.batch_size, self.size, self.latent = list(paintings), batch_size, size, latent
        self.jitter, self.seed = jitter, seed

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        index = torch.randint(0, len(self.paintings), (self.batch_size,), generator=gen).tolist()
        images = torch.stack([random_crop(self.paintings[i], self.size, self.jitter, gen) for i in index])
        noise = torch.randn(self.batch_size, self.latent, generator=gen)
        return {"images": images, "noise": noise}


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Per-pixel squared ("mse") or absolute ("l1") error summed over each image, mean over the batch."""
    diff = recon.float() - target.float()
    per_pixel = diff.pow(2) if kind == "mse" else diff.abs()
    return per_pixel.flatten(1).sum(dim=1).mean()


class ImageVAETask:
    """The image VAE as a :class:`painterly.train.loop.TrainTask`."""

    kind = KIND

    def __init__(self, cfg: ImageVAETrainConfig, vae: ImageVAE | None = None, info: dict | None = None):
        self.cfg = cfg
        self.vae = vae or ImageVAE(cfg.vae_config())
        self.info = info or {}
        self.ddp: dict[str, torch.nn.Module] = {}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae}

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        return self.vae.parameters()

    def distribute(self, wrapped: dict[str, torch.nn.Module], world) -> None:
        self.ddp = wrapped

    def config_dict(self) -> dict:
        return {**self.cfg.to_dict(), **{k: v for k, v in self.info.items() if k != "validation"}}

    def kl_weight(self, step: int) -> float:
        return warmed_up_weight(step, self.cfg.beta, self.cfg.kl_warmup)

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        images = batch["images"]
        recon, mu, logvar = self.ddp.get("vae", self.vae)(images, noise=batch.get("noise"))
        rec = reconstruction_loss(recon, images, self.cfg.recon_loss)
        kl = kl_divergence(mu.float(), logvar.float())
        total = rec + self.kl_weight(step) * kl
        mse = (recon.detach().float() - images.float()).pow(2).mean()
        return {"total": total, "recon": rec.detach(), "kl": kl.detach(), "mse": mse}

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means (no sampling): N x 3 x size x size in [0, 1]."""
        mu, _ = self.vae.encode(images.float())
        return self.vae.decode(mu).float().clamp(0, 1)

    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        """Reconstructions (decoded posterior means) of the validation paintings, for the loop's sheets."""
        return self.reconstruct(photos)

    def export(self, path: Path, meta: dict) -> Path:
        from ..io.model_file import save_model_file

        meta = {"architecture": {"vae": self.vae.config.to_dict()}, **meta}
        meta.setdefault("training", {})["image_vae"] = self.cfg.to_dict()
        state = {k: v.detach().cpu() for k, v in self.vae.state_dict().items()}
        return save_model_file(path, self.kind, state, meta)


def centre_crops(images: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """Square centre crops of the full shorter side, resized to ``size``: N x 3 x size x size in [0, 1]."""
    out = []
    for image in images:
        _, h, w = image.shape
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        patch = image[:, top:top + side, left:left + side].float().div(255.0)[None]
        if side != size:
            patch = torch.nn.functional.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False,
                                                    antialias=side > size)
        out.append(patch[0].clamp(0, 1))
    return torch.stack(out)


def build_image_vae_training(cfg: ImageVAETrainConfig, batch_size: int, seed: int = 0,
                             samples: int = 4) -> tuple[ImageVAETask, PaintingBatches, dict]:
    """Split, cache and build (task, batches, info).

    ``info["validation"]``: centre crops of up to ``samples`` held-out paintings followed by
    ``samples`` training ones, so every sample sheet shows unseen and seen paintings side by side.
    """
    cfg.validate()
    train_paths, held_paths = split_styles(cfg)
    log.info("caching %d paintings (%d held out)", len(train_paths), len(held_paths))
    cached = load_cached(train_paths, cfg.cache_side(), cfg.size)
    batches = PaintingBatches(cached, batch_size, cfg.size, cfg.latent, cfg.scale_jitter, seed)
    held = load_cached(held_paths[:samples], cfg.cache_side(), cfg.size)
    validation = centre_crops(held + cached[:samples], cfg.size)
    info = {"validation": validation, "held_out_styles": [p.name for p in held_paths],
            "trained_on": len(train_paths),
            "sample_columns": [p.name for p in held_paths[:samples]] + [p.name for p in train_paths[:samples]]}
    return ImageVAETask(cfg, info=info), batches, info


__all__ = ["ImageVAETrainConfig", "ImageVAETask", "PaintingBatches", "build_image_vae_training", "split_styles",
           "reconstruction_loss", "centre_crops", "stages_for", "RECON_LOSSES"]
