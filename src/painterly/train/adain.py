"""Training the AdaIN decoder (Huang & Belongie 2017) as a :class:`TrainTask` of the shared loop.

Per step, with a batch of content crops c and style crops s:

* t = AdaIN(f(c), f(s)) at relu4_1 (f = the frozen VGG19 encoder),
* g(t) = the decoder's image, re-encoded by f,
* loss = content_weight * MSE(f(g(t)), t) + style_weight * sum_l [MSE(mu_l) + MSE(sigma_l)]
  over relu1_1..relu4_1 (:func:`painterly.losses.mean_std_style_loss`).

Images are decoded and resized once into memory (uint8, shorter side ``content_size`` /
``style_size``); a batch is built from ``(seed, step)`` alone with random crops, scale
jitter and horizontal flips, so a resumed run sees exactly the batches it would have seen.
Some paintings and photos are held out (never trained on) for validation and samples.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import PainterlyError
from ..features import VGG19Features
from ..io.image import open_image
from ..losses import calc_mean_std, content_loss, mean_std_style_loss
from ..nets.adain import ENCODER_LAYER, AdainDecoder, AdainDecoderConfig
from ..ops import adain

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Public-domain paintings kept out of training by default (unseen styles for validation and docs).
DEFAULT_HOLDOUT_STYLES = (
    "hokusai_great_wave", "munch_the_scream", "van_gogh_starry_night_over_the_rhone", "kandinsky_composition_x",
    "monet_cliffs_etretat", "picabia_edtaonisl", "renoir_bal_du_moulin_de_la_galette", "hokusai_poppies",
    "van_gogh_olive_trees", "mondrian_composition_1913",
)
# Photos that are also sample photos elsewhere (scikit-image / scikit-learn data) stay unseen.
DEFAULT_HOLDOUT_PHOTO_PREFIXES = ("skimage_", "sklearn_")


@dataclass
class AdainTrainConfig:
    """What the AdaIN trainer needs beyond the shared :class:`TrainerConfig`."""

    content_dir: str = ""
    styles_dir: str = ""
    crop: int = 128                      # square training crop (px)
    content_size: int = 160              # photos cached with this shorter side
    style_size: int = 256                # paintings cached with this shorter side
    scale_jitter: float = 0.25           # crop side drawn from crop * [1 - j, 1 + j], resized to crop
    content_weight: float = 1.0
    # The paper's 10 is for its normalised VGG; with the raw Caffe VGG and the layer factors
    # below, 10 made the weighted style loss ~7x the content loss and the content loss stalled
    # (decoder never learnt to invert relu4_1); 2 gives about the balance of the authors' logs.
    style_weight: float = 2.0
    style_layers: tuple[str, ...] = STYLE_LAYERS
    # Per-layer factors on the mean/std loss. Our VGG19 is the raw Caffe model (activations grow
    # from ~30 at relu1_1 to ~700 at relu4_1), not the paper code's normalised VGG, so without
    # them relu4_1 dominates and colours/fine texture are never learnt (washed-out outputs).
    # These equalise the layers' typical loss on photo/painting pairs.
    style_layer_weights: tuple[float, ...] = (400.0, 20.0, 10.0, 1.0)
    decoder_width: float = 1.0
    holdout_styles: tuple[str, ...] = DEFAULT_HOLDOUT_STYLES
    holdout_photo_prefixes: tuple[str, ...] = DEFAULT_HOLDOUT_PHOTO_PREFIXES
    holdout_photos: int = 24             # further photos held out at random (seeded)
    seed: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise PainterlyError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise PainterlyError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


@dataclass
class DataSplit:
    train_content: list[Path] = field(default_factory=list)
    val_content: list[Path] = field(default_factory=list)
    train_styles: list[Path] = field(default_factory=list)
    val_styles: list[Path] = field(default_factory=list)


def split_data(cfg: AdainTrainConfig) -> DataSplit:
    """Training and held-out files; the held-out ones are never used for training."""
    photos, styles = list_images(cfg.content_dir), list_images(cfg.styles_dir)
    split = DataSplit()
    split.val_styles = [p for p in styles if p.stem in cfg.holdout_styles]
    split.train_styles = [p for p in styles if p.stem not in cfg.holdout_styles]
    named = [p for p in photos if p.stem.startswith(cfg.holdout_photo_prefixes)]
    rest = [p for p in photos if p not in named]
    rng = random.Random(cfg.seed)
    extra = set(rng.sample(range(len(rest)), min(cfg.holdout_photos, max(0, len(rest) - 1))))
    split.val_content = named + [p for i, p in enumerate(rest) if i in extra]
    split.train_content = [p for i, p in enumerate(rest) if i not in extra]
    if not split.train_styles or not split.train_content:
        raise PainterlyError("nothing left to train on after holding out validation images")
    return split


def load_cached(paths: Sequence[Path], shorter_side: int, min_side: int) -> list[torch.Tensor]:
    """Decode and resize once: uint8 3 x H x W tensors with the shorter side ``shorter_side``."""
    out = []
    for path in paths:
        image = open_image(path)
        scale = max(shorter_side, min_side) / min(image.size)
        size = (max(min_side, round(image.width * scale)), max(min_side, round(image.height * scale)))
        image = image.resize(size, Image.BICUBIC, reducing_gap=2.0)
        out.append(torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
                   .view(image.height, image.width, 3).permute(2, 0, 1).contiguous())
    return out


def random_crop(image: torch.Tensor, crop: int, jitter: float, gen: torch.Generator) -> torch.Tensor:
    """A float 3 x crop x crop crop of a uint8 image: random size (jitter), position and flip."""
    _, h, w = image.shape
    factor = 1.0 + jitter * (2.0 * torch.rand((), generator=gen).item() - 1.0)
    side = max(8, min(h, w, round(crop * factor)))
    top = int(torch.randint(0, h - side + 1, (), generator=gen))
    left = int(torch.randint(0, w - side + 1, (), generator=gen))
    patch = image[:, top:top + side, left:left + side].float().div(255.0)
    if side != crop:
        patch = F.interpolate(patch[None], size=(crop, crop), mode="bilinear", align_corners=False,
                              antialias=side > crop)[0]
    if torch.rand((), generator=gen).item() < 0.5:
        patch = patch.flip(-1)
    return patch.clamp(0, 1)


class AdainBatches:
    """Deterministic batches of (content crop, style crop): ``batch(step)`` depends on (seed, step) only."""

    def __init__(self, content: Sequence[torch.Tensor], styles: Sequence[torch.Tensor], batch_size: int,
                 crop: int, jitter: float = 0.0, seed: int = 0):
        if not content or not styles:
            raise PainterlyError("AdaIN training needs at least one content and one style image")
        self.content, self.styles = list(content), list(styles)
        self.batch_size, self.crop, self.jitter, self.seed = batch_size, crop, jitter, seed

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        ci = torch.randint(0, len(self.content), (self.batch_size,), generator=gen).tolist()
        si = torch.randint(0, len(self.styles), (self.batch_size,), generator=gen).tolist()
        content = torch.stack([random_crop(self.content[i], self.crop, self.jitter, gen) for i in ci])
        style = torch.stack([random_crop(self.styles[i], self.crop, self.jitter, gen) for i in si])
        return {"content": content, "style": style}


class AdainTask:
    """The AdaIN decoder as a :class:`painterly.train.loop.TrainTask`."""

    kind = "adain"

    def __init__(self, cfg: AdainTrainConfig, encoder: VGG19Features | None = None,
                 decoder: AdainDecoder | None = None, sample_styles: torch.Tensor | None = None):
        self.cfg = cfg
        layers = tuple(dict.fromkeys((*cfg.style_layers, ENCODER_LAYER)))
        self.encoder = encoder or VGG19Features(layers)
        missing = set(layers) - set(self.encoder.layers)
        if missing:
            raise ValueError(f"encoder lacks layers {sorted(missing)}")
        self.decoder = decoder or AdainDecoder(AdainDecoderConfig(width=cfg.decoder_width))
        self.sample_styles = sample_styles
        self.ddp: dict[str, torch.nn.Module] = {}   # DistributedDataParallel wrappers in a distributed run

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"decoder": self.decoder}

    def _layer_weights(self) -> tuple[float, ...]:
        weights = tuple(self.cfg.style_layer_weights)
        if len(weights) != len(self.cfg.style_layers):
            raise PainterlyError(f"{len(self.cfg.style_layers)} style layers but {len(weights)} layer weights")
        return weights

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        return self.decoder.parameters()

    def distribute(self, wrapped: dict[str, torch.nn.Module], world) -> None:
        """Distributed runs: the losses run the decoder through its DistributedDataParallel wrapper."""
        self.ddp = wrapped

    def to(self, device: torch.device | str) -> "AdainTask":
        self.encoder.to(device)
        self.decoder.to(device)
        return self

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        content, style = batch["content"], batch["style"]
        self._follow(content.device)
        with torch.no_grad():
            content_feat = self.encoder(content)[ENCODER_LAYER]
            style_feats = self.encoder(style)
            target = adain(content_feat, style_feats[ENCODER_LAYER])
            style_targets = {layer: calc_mean_std(style_feats[layer]) for layer in self.cfg.style_layers}
        out_feats = self.encoder(self.ddp.get("decoder", self.decoder)(target))
        loss_c = content_loss(out_feats[ENCODER_LAYER], target)
        loss_s = sum(weight * mean_std_style_loss(out_feats, {layer: style_targets[layer]})
                     for layer, weight in zip(self.cfg.style_layers, self._layer_weights()))
        total = self.cfg.content_weight * loss_c + self.cfg.style_weight * loss_s
        return {"total": total, "content": loss_c.detach(), "style": loss_s.detach()}

    @torch.no_grad()
    def stylize(self, photos: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """Each photo with each style (rows: photos, columns: styles), N*M x 3 x H x W in [0, 1]."""
        was_training = self.decoder.training
        self.decoder.eval()
        content_feat = self.encoder(photos)[ENCODER_LAYER]
        style_feat = self.encoder(styles)[ENCODER_LAYER]
        rows = [self.decoder(adain(content_feat[i:i + 1].expand(len(styles), -1, -1, -1), style_feat))
                for i in range(len(photos))]
        self.decoder.train(was_training)
        return torch.cat(rows).clamp(0, 1)

    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        """Photo i with held-out style i (cycling through them): N x 3 x H x W for the loop's sheets."""
        styles = self.sample_styles if self.sample_styles is not None else photos.flip(0)
        styles = styles.to(photos.device)
        self._follow(photos.device)
        with torch.no_grad():
            content_feat = self.encoder(photos.float())[ENCODER_LAYER]
            style_feat = self.encoder(styles.float())[ENCODER_LAYER]
            index = torch.arange(len(photos), device=photos.device) % len(styles)
            return self.decoder(adain(content_feat, style_feat[index])).float().clamp(0, 1)

    def _follow(self, device: torch.device) -> None:
        """Keep the frozen encoder on the device the loop moved the decoder and batches to."""
        if next(self.encoder.parameters()).device != device:
            self.encoder.to(device)

    def export(self, path: Path, meta: dict) -> Path:
        from ..io.model_file import save_model_file

        meta = {"architecture": {"decoder": self.decoder.config.to_dict(), "encoder": "vgg19",
                                 "encoder_layer": ENCODER_LAYER},
                **meta}
        meta.setdefault("training", {})["adain"] = self.cfg.to_dict()
        state = {k: v for k, v in self.decoder.state_dict().items()}
        return save_model_file(path, self.kind, state, meta)


def _fixed_crops(images: Sequence[torch.Tensor], crop: int) -> torch.Tensor:
    return torch.stack([random_crop(t, crop, 0.0, torch.Generator().manual_seed(i)) for i, t in enumerate(images)])


def build_adain_training(cfg: AdainTrainConfig, batch_size: int, seed: int = 0,
                         max_content: int | None = None) -> tuple[AdainTask, AdainBatches, dict]:
    """Split the data, cache it in memory, and build the task and its batch source.

    Returns (task, batches, info) where ``info`` lists held-out files and a validation
    tensor of photos (``info["validation"]``) for the loop's sample sheets.
    """
    split = split_data(cfg)
    train_content = split.train_content[:max_content] if max_content else split.train_content
    log.info("caching %d photos and %d paintings", len(train_content), len(split.train_styles))
    content = load_cached(train_content, cfg.content_size, cfg.crop)
    styles = load_cached(split.train_styles, cfg.style_size, cfg.crop)
    batches = AdainBatches(content, styles, batch_size, cfg.crop, cfg.scale_jitter, seed)
    val_photos = _fixed_crops(load_cached(split.val_content[:4], cfg.content_size, cfg.crop) or content[:4], cfg.crop)
    val_styles = _fixed_crops(load_cached(split.val_styles[:4], cfg.style_size, cfg.crop) or styles[:4], cfg.crop)
    task = AdainTask(cfg, sample_styles=val_styles)
    info = {"validation": val_photos, "val_styles": [p.name for p in split.val_styles],
            "val_content": [p.name for p in split.val_content],
            "train_counts": {"content": len(content), "styles": len(styles)}}
    return task, batches, info


__all__ = ["AdainTrainConfig", "AdainTask", "AdainBatches", "build_adain_training", "split_data",
           "load_cached", "random_crop", "list_images"]
