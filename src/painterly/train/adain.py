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

With ``precompute`` (for CPU training) the frozen encoder's work on the training data is done
once: every photo's relu4_1 map at two scales and every painting's relu1_1..relu4_1 channel
statistics over many random windows (:func:`painterly.stylespace.vectors.window_vectors`). A
batch is then a set of random relu4_1 windows (crop / 8 cells) and window statistics, and a step
runs only the decoder and one encoder pass, with backward, over its output (1.7x faster per step
on our CPU).
A relu4_1 window differs from the relu4_1 map of the cropped photo only near the crop's border.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import PainterlyError
from ..features import VGG19Features
from ..io.formats import IMAGE_SUFFIXES
from ..io.image import open_image
from ..losses import calc_mean_std, content_loss, mean_std_style_loss
from ..nets.adain import ENCODER_LAYER, AdainDecoder, AdainDecoderConfig
from ..ops import adain, adain_from_stats
from ..stylespace.vectors import random_windows, vectors_to_stats, window_vectors

log = logging.getLogger(__name__)

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
    # The paper's normalised VGG (Gatys et al. rescaled VGG19 so every channel's mean activation is
    # 1): with ``normalise_features`` each loss layer's channels, and the decoder's input, are
    # divided by their mean activation on the training data (ReLU and max-pooling commute with
    # positive scales, so this *is* that network's features). The paper's weights then apply:
    # style 10, equal layers. Without it our raw Caffe VGG19 (activations ~30 at relu1_1 to ~700
    # at relu4_1, channels up to 4x their layer's mean) needed hand-set layer factors, and three
    # CPU runs never learnt to invert relu4_1 (docs/adain.md).
    normalise_features: bool = True
    style_weight: float = 10.0
    style_layers: tuple[str, ...] = STYLE_LAYERS
    # Per-layer factors on the mean/std loss; (400, 20, 10, 1) equalised the raw Caffe layers'
    # typical losses when ``normalise_features`` is off.
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    decoder_width: float = 1.0
    holdout_styles: tuple[str, ...] = DEFAULT_HOLDOUT_STYLES
    holdout_photo_prefixes: tuple[str, ...] = DEFAULT_HOLDOUT_PHOTO_PREFIXES
    holdout_photos: int = 24             # further photos held out at random (seeded)
    seed: int = 0
    precompute: bool = False             # encode the training data once (see the module docstring)
    style_windows: int = 64              # windows measured per painting when precomputing
    content_scales: tuple[float, ...] = (1.0, 1.3)  # photo scales (x content_size) encoded when precomputing
    # Identity samples (the identity loss of Park & Lee 2019): the first identity_fraction of each
    # batch takes the photo's own statistics as its style, so the target is the photo's relu4_1 and
    # the decoder should give back the photo; identity_weight weighs the pixel MSE (0-255 scale) on
    # them. With the feature losses alone our CPU runs did not learn to invert VGG19 in 1200 steps
    # (content loss flat); the pixel term gives the decoder a direct signal for shapes and colours.
    identity_fraction: float = 0.0
    identity_weight: float = 0.0

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


class PrecomputedAdainBatches:
    """Deterministic batches from encoded data: ``{"content_feat": N x 512 x k x k, "style_vector": N x 1920}``.

    ``content`` holds each photo's relu4_1 maps (one per scale, float16), ``styles`` each painting's
    window style vectors (W x 1920); ``cells`` = crop / 8 is the side of a content window.
    """

    def __init__(self, content: Sequence[Sequence[torch.Tensor]], styles: Sequence[torch.Tensor], batch_size: int,
                 cells: int, seed: int = 0, photos: Sequence[Sequence[torch.Tensor]] | None = None):
        if not content or not styles:
            raise PainterlyError("AdaIN training needs at least one content and one style image")
        small = min(min(m.shape[-2:]) for maps in content for m in maps)
        if small < cells:
            raise PainterlyError(f"a photo's relu4_1 map is {small} cells, smaller than the {cells}-cell crop")
        self.content, self.styles = [list(maps) for maps in content], list(styles)
        # the uint8 photos each map was encoded from (same scales): the batch then also holds the
        # pixel crop under each relu4_1 window (8 px per cell), for the identity loss
        self.photos = [list(p) for p in photos] if photos is not None else None
        self.batch_size, self.cells, self.seed = batch_size, cells, seed

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        ci = torch.randint(0, len(self.content), (self.batch_size,), generator=gen).tolist()
        si = torch.randint(0, len(self.styles), (self.batch_size,), generator=gen).tolist()
        windows, vectors, crops = [], [], []
        for i, j in zip(ci, si):
            maps = self.content[i]
            k = int(torch.randint(0, len(maps), (), generator=gen))
            fmap = maps[k]
            h, w = fmap.shape[-2:]
            top = int(torch.randint(0, h - self.cells + 1, (), generator=gen))
            left = int(torch.randint(0, w - self.cells + 1, (), generator=gen))
            windows.append(fmap[:, top:top + self.cells, left:left + self.cells].float())
            vectors.append(self.styles[j][int(torch.randint(0, len(self.styles[j]), (), generator=gen))])
            if self.photos is not None:
                side = 8 * self.cells
                crops.append(self.photos[i][k][:, 8 * top:8 * top + side, 8 * left:8 * left + side].float() / 255.0)
        batch = {"content_feat": torch.stack(windows), "style_vector": torch.stack(vectors).float()}
        if crops:
            batch["content"] = torch.stack(crops)
        return batch


class AdainTask:
    """The AdaIN decoder as a :class:`painterly.train.loop.TrainTask`."""

    kind = "adain"

    def __init__(self, cfg: AdainTrainConfig, encoder: VGG19Features | None = None,
                 decoder: AdainDecoder | None = None, sample_styles: torch.Tensor | None = None,
                 feature_scales: dict[str, torch.Tensor] | None = None):
        """``feature_scales`` (layer -> C positive factors, see :func:`channel_scales`) make the losses
        read normalised features; a new decoder then takes relu4_1's factors as its input scales."""
        self.cfg = cfg
        layers = tuple(dict.fromkeys((*cfg.style_layers, ENCODER_LAYER)))
        self.encoder = encoder or VGG19Features(layers)
        missing = set(layers) - set(self.encoder.layers)
        if missing:
            raise ValueError(f"encoder lacks layers {sorted(missing)}")
        if feature_scales is not None and set(layers) - set(feature_scales):
            raise ValueError(f"feature scales lack layers {sorted(set(layers) - set(feature_scales))}")
        self.feature_scales = ({k: v.detach().float().view(1, -1, 1, 1) for k, v in feature_scales.items()}
                               if feature_scales is not None else None)
        if decoder is None and self.feature_scales is not None:
            decoder = AdainDecoder(AdainDecoderConfig(width=cfg.decoder_width, input_scale=1.0, channel_scaled=True))
            decoder.set_channel_scale(self.feature_scales[ENCODER_LAYER])
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

    def identity_count(self, batch_size: int) -> int:
        """How many samples (the first ones) of a batch are identity samples."""
        if not 0.0 <= self.cfg.identity_fraction <= 1.0:
            raise PainterlyError(f"identity fraction must be in [0, 1], not {self.cfg.identity_fraction}")
        return int(round(self.cfg.identity_fraction * batch_size))

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        target, style_targets = self._targets(batch)
        self._follow(target.device)
        n_id = self.identity_count(len(target))
        if n_id:
            if "content" not in batch:
                raise PainterlyError("identity samples need the photo crops in the batch")
            with torch.no_grad():   # the photo's own features: AdaIN with its own statistics is the identity
                own = (batch["content_feat"][:n_id] if "content_feat" in batch
                       else self.encoder(batch["content"][:n_id])[ENCODER_LAYER])
            target = torch.cat([own, target[n_id:]])
        out = self.ddp.get("decoder", self.decoder)(target)
        out_feats = self.encoder(out)
        scaled = self._scaled
        loss_c = content_loss(scaled(ENCODER_LAYER, out_feats[ENCODER_LAYER]), scaled(ENCODER_LAYER, target))
        styled = {layer: scaled(layer, out_feats[layer][n_id:]) for layer in self.cfg.style_layers}
        loss_s = (sum(weight * mean_std_style_loss({layer: styled[layer]},
                                                   {layer: tuple(scaled(layer, t[n_id:]) for t in style_targets[layer])})
                      for layer, weight in zip(self.cfg.style_layers, self._layer_weights()))
                  if n_id < len(target) else loss_c.new_zeros(()))
        total = self.cfg.content_weight * loss_c + self.cfg.style_weight * loss_s
        losses = {"content": loss_c.detach(), "style": loss_s.detach()}
        if n_id and self.cfg.identity_weight > 0:
            loss_i = F.mse_loss(out[:n_id] * 255.0, batch["content"][:n_id] * 255.0)
            total = total + self.cfg.identity_weight * loss_i
            losses["identity"] = loss_i.detach()
        return {"total": total, **losses}

    def _scaled(self, layer: str, features: torch.Tensor) -> torch.Tensor:
        """Features (or their channel means / standard deviations) in normalised units, if training so."""
        if self.feature_scales is None:
            return features
        return features * self.feature_scales[layer].to(device=features.device, dtype=features.dtype)

    @torch.no_grad()
    def _targets(self, batch: dict[str, torch.Tensor]):
        """The AdaIN target at relu4_1 and the style statistics per style layer, from images or precomputed."""
        if "content_feat" in batch:
            means, stds = vectors_to_stats(batch["style_vector"])
            missing = set(self.cfg.style_layers) - set(means)
            if missing:
                raise PainterlyError(f"precomputed style statistics lack layers {sorted(missing)}")
            target = adain_from_stats(batch["content_feat"], means[ENCODER_LAYER], stds[ENCODER_LAYER])
            return target, {layer: (means[layer], stds[layer]) for layer in self.cfg.style_layers}
        content, style = batch["content"], batch["style"]
        self._follow(content.device)
        content_feat = self.encoder(content)[ENCODER_LAYER]
        style_feats = self.encoder(style)
        target = adain(content_feat, style_feats[ENCODER_LAYER])
        return target, {layer: calc_mean_std(style_feats[layer]) for layer in self.cfg.style_layers}

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


def fixed_crops(images: Sequence[torch.Tensor], crop: int) -> torch.Tensor:
    """One seeded crop of each uint8 image (validation photos and paintings for the sample sheets)."""
    return torch.stack([random_crop(t, crop, 0.0, torch.Generator().manual_seed(i)) for i, t in enumerate(images)])


@torch.no_grad()
def encode_content(encoder: VGG19Features, photos: Sequence[torch.Tensor], scales: Sequence[float], crop: int,
                   progress: Callable[[int, int], None] | None = None, keep_pixels: bool = False):
    """(maps, pixels): each uint8 photo's relu4_1 map (float16) at each scale (the shorter side at
    least ``crop``), and with ``keep_pixels`` the uint8 scaled photos they were computed from (else None).
    """
    out, pixels = [], []
    for index, photo in enumerate(photos):
        maps, scaled_photos = [], []
        for scale in scales:
            h, w = photo.shape[-2:]
            factor = max(scale, crop / min(h, w))
            scaled = photo if factor == 1.0 else F.interpolate(
                photo.float()[None], size=(round(h * factor), round(w * factor)), mode="bilinear",
                align_corners=False, antialias=factor < 1.0)[0].round().clamp(0, 255).to(torch.uint8)
            maps.append(encoder(scaled.float().div(255.0)[None])[ENCODER_LAYER][0].half())
            scaled_photos.append(scaled)
        out.append(maps)
        if keep_pixels:
            pixels.append(scaled_photos)
        if progress is not None:
            progress(index + 1, len(photos))
    return out, (pixels if keep_pixels else None)


def measure_style_windows(encoder: VGG19Features, paintings: Sequence[torch.Tensor], cfg: AdainTrainConfig,
                          seed: int, progress: Callable[[int, int], None] | None = None) -> list[torch.Tensor]:
    """Each uint8 painting's style vectors over ``cfg.style_windows`` random windows of the training crop's size."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for index, painting in enumerate(paintings):
        h, w = painting.shape[-2:]
        lo = cfg.crop * (1 - cfg.scale_jitter) / min(h, w)
        hi = min(1.0, cfg.crop * (1 + cfg.scale_jitter) / min(h, w))
        windows = random_windows(cfg.style_windows, min(lo, hi), gen, aspect=w / h, max_fraction=hi)
        out.append(window_vectors(encoder, painting.float().div(255.0)[None], windows).float())
        if progress is not None:
            progress(index + 1, len(paintings))
    return out


def calibration_images(content: Sequence[torch.Tensor], styles: Sequence[torch.Tensor], most: int = 64
                       ) -> list[torch.Tensor]:
    """Up to ``most`` photos and ``most`` paintings (uint8), spread over the lists, as floats in [0, 1]:
    what :func:`channel_scales` measures."""
    sample = list(content[::max(1, len(content) // most)][:most]) + list(styles[::max(1, len(styles) // most)][:most])
    return [t.float().div(255.0) for t in sample]


@torch.no_grad()
def channel_scales(encoder: VGG19Features, images: Sequence[torch.Tensor], layers: Sequence[str],
                   floor: float = 0.05) -> dict[str, torch.Tensor]:
    """1 / each channel's mean activation over images (3 x H x W in [0, 1], each counts once): the factors that
    turn the raw VGG19 into the normalised VGG of Gatys et al. 2016 used by the AdaIN paper.

    A channel whose mean is below ``floor`` x its layer's median channel mean takes that floor, so a
    nearly silent channel is not blown up into the loss.
    """
    if not images:
        raise PainterlyError("channel scales need at least one image")
    sums: dict[str, torch.Tensor] = {}
    for image in images:
        feats = encoder(image[None].float())
        for layer in layers:
            mean = feats[layer].mean(dim=(0, 2, 3))
            sums[layer] = sums[layer] + mean if layer in sums else mean
    scales = {}
    for layer in layers:
        mean = sums[layer] / len(images)
        scales[layer] = 1.0 / mean.clamp_min(floor * float(mean.median()))
    return scales


def build_adain_training(cfg: AdainTrainConfig, batch_size: int, seed: int = 0,
                         max_content: int | None = None,
                         progress: Callable[[str, int, int], None] | None = None,
                         ) -> tuple[AdainTask, AdainBatches | PrecomputedAdainBatches, dict]:
    """Split the data, cache it in memory (encoded, with ``cfg.precompute``), and build the task and batches.

    Returns (task, batches, info) where ``info`` lists held-out files and a validation
    tensor of photos (``info["validation"]``) for the loop's sample sheets. ``progress(stage,
    done, total)`` reports the encoding of the training data when precomputing.
    """
    split = split_data(cfg)
    train_content = split.train_content[:max_content] if max_content else split.train_content
    log.info("caching %d photos and %d paintings", len(train_content), len(split.train_styles))
    content = load_cached(train_content, cfg.content_size, cfg.crop)
    styles = load_cached(split.train_styles, cfg.style_size, cfg.crop)
    val_photos = fixed_crops(load_cached(split.val_content[:4], cfg.content_size, cfg.crop) or content[:4], cfg.crop)
    val_styles = fixed_crops(load_cached(split.val_styles[:4], cfg.style_size, cfg.crop) or styles[:4], cfg.crop)
    encoder = VGG19Features(tuple(dict.fromkeys((*cfg.style_layers, ENCODER_LAYER))))
    scales = None
    if cfg.normalise_features:   # measured on up to 64 photos and 64 paintings, spread over the lists
        scales = channel_scales(encoder, calibration_images(content, styles), encoder.layers)
    task = AdainTask(cfg, encoder=encoder, sample_styles=val_styles, feature_scales=scales)
    if cfg.precompute:
        if cfg.crop % 8:
            raise PainterlyError(f"precomputed training needs a crop divisible by 8 (relu4_1 cells), not {cfg.crop}")
        report = (lambda stage: (lambda done, total: progress(stage, done, total))) if progress else (lambda stage: None)
        encoded, pixels = encode_content(task.encoder, content, cfg.content_scales, cfg.crop, report("encode photos"),
                                         keep_pixels=cfg.identity_fraction > 0)
        vectors = measure_style_windows(task.encoder, styles, cfg, seed, report("measure paintings"))
        batches = PrecomputedAdainBatches(encoded, vectors, batch_size, cfg.crop // 8, seed, photos=pixels)
    else:
        batches = AdainBatches(content, styles, batch_size, cfg.crop, cfg.scale_jitter, seed)
    info = {"validation": val_photos, "val_styles": [p.name for p in split.val_styles],
            "val_content": [p.name for p in split.val_content],
            "train_counts": {"content": len(content), "styles": len(styles)}}
    return task, batches, info


__all__ = ["AdainTrainConfig", "AdainTask", "channel_scales", "calibration_images", "fixed_crops", "AdainBatches", "PrecomputedAdainBatches", "encode_content",
           "measure_style_windows", "build_adain_training", "split_data",
           "load_cached", "random_crop", "list_images"]
