"""Distilling a compact AdaIN model (:mod:`painterly.nets.adain_compact`) from VGG19 and a trained decoder.

Per step, with a batch of photo crops c and painting crops s and a strength a per sample
(``full_strength_fraction`` of them 1, the rest uniform in [0, 1)):

* teacher (frozen): VGG19 features T(c), T(s) at relu1_1..relu4_1 and the teacher's stylised
  image y = g(a AdaIN(T4(c), T4(s)) + (1 - a) T4(c)), g the trained AdaIN decoder;
* encoder loss (collaborative distillation, Wang et al. 2020): at each level l, a 1x1 linear
  embedding W_l of the student's features must match VGG19's normalised features (each channel
  divided by its mean activation on the training data): mean_l MSE(W_l E_l(x), T_l(x) / m_l)
  over the photos and the paintings;
* image loss: the student's stylised image D(a AdaIN(E4(c), E4(s)) + (1 - a) E4(c)) must match y:
  L1 on pixels. It trains the decoder and, through AdaIN, the encoder too (``end_to_end``), so the
  encoder learns features from which the teacher's image can be rebuilt, not only VGG19's;
* perceptual losses (off by default; on for fine-tuning with ``init``): the AdaIN paper's own
  losses on VGG19's normalised features of the student's image, content MSE at relu4_1 against
  the teacher's AdaIN target a AdaIN(T4(c), T4(s)) + (1 - a) T4(c), and the mean/std style loss at
  relu1_1..relu4_1 against the painting (full-strength samples only). The pixel loss can only
  make the student as sharp as the regression to the teacher's image allows; these reward the
  painting's texture directly, as the teacher's own training did.

Both networks train together from the first step. Strengths below 1 teach the decoder the in-between features that ``--strength``
produces. The batches are :class:`painterly.train.adain.AdainBatches` (a function of seed and
step), so a resumed run sees the batches it would have seen.

The exported model holds the encoder, the decoder and, for every built-in style whose painting
is in the styles folder, its relu4_1 mean and standard deviation in the student's space (so
``--style starry_night`` needs no painting at run time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import NamedTuple
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import PainterlyError
from ..features import VGG19Features, layer_channels
from ..io.image import load_image
from ..nets.adain import ENCODER_LAYER, AdainDecoder
from ..nets.adain_compact import (LEVELS, CompactAdainConfig, CompactDecoder, CompactEncoder, embeddings,
                                  run_with_taps)
from ..losses import gram, mean_std_style_loss, relative_gram_loss
from ..ops import adain, channel_mean_std, resize_longer_side
from ..styles import StyleRegistry
from .adain import (DEFAULT_HOLDOUT_PHOTO_PREFIXES, DEFAULT_HOLDOUT_STYLES, AdainBatches, calibration_images,
                    channel_scales, fixed_crops, load_cached, split_data)

log = logging.getLogger(__name__)


@dataclass
class CompactAdainTrainConfig:
    """What the distillation needs beyond the shared :class:`TrainerConfig`."""

    content_dir: str = ""
    styles_dir: str = ""
    teacher: str = ""                    # AdaIN model file (VGG19 encoder) to distil; "" = the built-in one
    widths: tuple[int, ...] = (16, 32, 64, 128)
    slope: float = 0.2                   # leaky ReLU slope of the student (0: ReLU)
    crop: int = 128                      # square training crop (px)
    content_size: int = 256              # photos cached with this shorter side
    style_size: int = 256                # paintings cached with this shorter side
    scale_jitter: float = 0.25
    feature_weight: float = 1.0          # encoder: embedded features against VGG19's
    pixel_weight: float = 1.0            # decoder: L1 against the teacher's image
    # decoder: its activation at each scale (1/8, 1/4, 1/2), through a 1x1 embedding, against the teacher
    # decoder's there (relative MSE). Dense targets: the image loss alone left the decoder at the mean
    # colour for 300 steps on our CPU (docs/adain.md).
    decoder_feature_weight: float = 1.0
    content_weight: float = 0.0          # VGG19 relu4_1 of the student's image against the AdaIN target
    style_weight: float = 0.0            # mean/std of VGG19 relu1_1..relu4_1 of the image against the painting's
    # Gram matrices of raw VGG19 relu1_1..relu4_1 of the image against the painting's, each layer's distance
    # relative to the painting's Gram (relu4_1's loud channels weigh as in `painterly evaluate`'s style loss)
    gram_weight: float = 0.0
    # each layer's share of the Gram loss, relu1_1..relu4_1; `painterly evaluate`'s style loss is over 98 %
    # relu4_1 on our benchmark pairs, so a run aimed at it can weigh that layer up (docs/adain.md)
    gram_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    init: str = ""                       # compact AdaIN model file to start the encoder and decoder from
    full_strength_fraction: float = 0.5  # samples at strength 1; the others draw it from [0, 1)
    # the pixel loss also trains the encoder (through AdaIN); off: the decoder gets detached features.
    # Detached, our first CPU run's decoder learnt only the mean colour in 400 steps (docs/adain.md).
    end_to_end: bool = True
    builtin_style_size: int = 512        # built-in styles' statistics: painting resized to this longer side
    holdout_styles: tuple[str, ...] = DEFAULT_HOLDOUT_STYLES
    holdout_photo_prefixes: tuple[str, ...] = DEFAULT_HOLDOUT_PHOTO_PREFIXES
    holdout_photos: int = 24
    seed: int = 0

    def validate(self) -> "CompactAdainTrainConfig":
        try:
            CompactAdainConfig(tuple(self.widths), self.slope)
        except ValueError as exc:
            raise PainterlyError(str(exc)) from None
        if self.crop % 8 or self.crop < 16:
            raise PainterlyError(f"the crop must be a multiple of 8 and at least 16 px, not {self.crop}")
        if not 0.0 <= self.full_strength_fraction <= 1.0:
            raise PainterlyError(f"full-strength fraction must be in [0, 1], not {self.full_strength_fraction}")
        if len(self.gram_layer_weights) != len(LEVELS) or min(self.gram_layer_weights) < 0:
            raise PainterlyError(f"--gram-layer-weights takes {len(LEVELS)} non-negative weights "
                                 f"({' '.join(LEVELS)}), not {' '.join(map(str, self.gram_layer_weights))}")
        if self.init and not Path(self.init).is_file():
            raise PainterlyError(f"--init: no such model or checkpoint file: {self.init}")
        return self

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def teacher_path(model: str | Path | None) -> Path:
    from ..methods.adain import builtin_decoder_path

    return Path(model) if model else builtin_decoder_path()


def load_teacher_decoder(model: str | Path | None) -> AdainDecoder:
    """The decoder of a VGG19-based AdaIN model file (None or "": the built-in one), frozen."""
    from ..io.model_file import load_model_file
    from ..methods.adain import decoder_from_state

    path = teacher_path(model)
    loaded = load_model_file(path, expected_kind="adain")
    if loaded.architecture.get("encoder", "vgg19") != "vgg19":
        raise PainterlyError(f"{path}: the teacher must be an AdaIN model with the VGG19 encoder")
    decoder = decoder_from_state({k: v.float() for k, v in loaded.state.items()}, loaded.architecture, path)
    return decoder.eval().requires_grad_(False)


def tap_channels(net: torch.nn.Sequential) -> list[int]:
    """Channels of the activation entering each ``nn.Upsample`` of a decoder: the last convolution's before it."""
    channels, last = [], None
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            last = module.out_channels
        elif isinstance(module, torch.nn.Upsample):
            channels.append(last)
    return channels


def strengths(count: int, full_fraction: float, seed: int, step: int) -> torch.Tensor:
    """Per-sample strengths (count x 1 x 1 x 1): the first round(full_fraction * count) are 1, the rest uniform."""
    gen = torch.Generator().manual_seed(seed * 7_919 + step)
    values = torch.rand(count, generator=gen)
    values[:int(round(full_fraction * count))] = 1.0
    return values.view(-1, 1, 1, 1)


def mix(content_feat: torch.Tensor, style_feat: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """a AdaIN(content, style) + (1 - a) content, per sample."""
    return strength * adain(content_feat, style_feat) + (1.0 - strength) * content_feat


class TeacherOutputs(NamedTuple):
    """What the frozen teacher gives for one batch of photos followed by paintings."""

    scaled: dict[str, torch.Tensor]   # VGG19's normalised features of all images, per level
    raw: dict[str, torch.Tensor]      # the same in VGG19's own units
    image: torch.Tensor               # the teacher's stylised photos, in [0, 1]
    taps: list[torch.Tensor]          # its decoder's activations entering each upsampling
    target: torch.Tensor              # the mixed AdaIN target at relu4_1 (normalised units)


class CompactAdainTask:
    """The compact encoder and decoder as a :class:`painterly.train.loop.TrainTask`."""

    kind = "adain"

    def __init__(self, cfg: CompactAdainTrainConfig, teacher_decoder: AdainDecoder,
                 feature_scales: dict[str, torch.Tensor], teacher_encoder: VGG19Features | None = None,
                 sample_styles: torch.Tensor | None = None):
        self.cfg = cfg.validate()
        self.config = CompactAdainConfig(tuple(cfg.widths), cfg.slope)
        self.teacher_encoder = teacher_encoder or VGG19Features(LEVELS)
        missing = (set(LEVELS) - set(self.teacher_encoder.layers)) | (set(LEVELS) - set(feature_scales))
        if missing:
            raise ValueError(f"the teacher encoder or the feature scales lack {sorted(missing)}")
        self.teacher_decoder = teacher_decoder.eval().requires_grad_(False)
        self.feature_scales = {k: v.detach().float().view(1, -1, 1, 1) for k, v in feature_scales.items()}
        self.encoder = CompactEncoder(self.config)
        self.decoder = CompactDecoder(self.config)
        self.embed = embeddings(self.config, {level: layer_channels(level) for level in LEVELS})
        self.decoder_embed = torch.nn.ModuleList(
            torch.nn.Conv2d(s_ch, t_ch, 1) for s_ch, t_ch in zip(tap_channels(self.decoder.net),
                                                                  tap_channels(self.teacher_decoder.net)))
        self.sample_styles = sample_styles

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "embed": self.embed,
                "decoder_embed": self.decoder_embed}

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        return [p for module in self.modules().values() for p in module.parameters()]

    def to(self, device: torch.device | str) -> "CompactAdainTask":
        for module in (*self.modules().values(), self.teacher_encoder, self.teacher_decoder):
            module.to(device)
        return self

    def _follow(self, device: torch.device) -> None:
        if next(self.teacher_encoder.parameters()).device != device:
            self.teacher_encoder.to(device)
            self.teacher_decoder.to(device)

    def _scaled(self, level: str, features: torch.Tensor) -> torch.Tensor:
        return features * self.feature_scales[level].to(features)

    @torch.no_grad()
    def teacher(self, images: torch.Tensor, count: int, strength: torch.Tensor) -> TeacherOutputs:
        """The teacher's view of ``images`` (photos then paintings, ``count`` each) at per-photo ``strength``."""
        raw = self.teacher_encoder(images)
        features = mix(raw[ENCODER_LAYER][:count], raw[ENCODER_LAYER][count:], strength)
        stylised, taps = run_with_taps(self.teacher_decoder.net, self.teacher_decoder.scale_input(features))
        scaled = {level: self._scaled(level, raw[level]) for level in LEVELS}
        return TeacherOutputs(scaled, {level: raw[level] for level in LEVELS}, stylised.clamp(0, 1), taps,
                              self._scaled(ENCODER_LAYER, features))

    def perceptual(self, out: torch.Tensor, teacher: TeacherOutputs, strength: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content, style, Gram) losses of the student's images ``out``: content and mean/std style in
        VGG19's normalised units, Gram relative per layer in its own units."""
        count = len(out)
        feats = self.teacher_encoder(out)
        loss_c = F.mse_loss(self._scaled(ENCODER_LAYER, feats[ENCODER_LAYER]), teacher.target)
        full = strength.flatten() >= 1.0
        if not full.any():
            return loss_c, loss_c.new_zeros(()), loss_c.new_zeros(())
        loss_s = mean_std_style_loss({level: self._scaled(level, feats[level])[full] for level in LEVELS},
                                     {level: channel_mean_std(teacher.scaled[level][count:][full]) for level in LEVELS})
        loss_g = (relative_gram_loss({level: feats[level][full] for level in LEVELS},
                                     {level: gram(teacher.raw[level][count:][full]) for level in LEVELS},
                                     dict(zip(LEVELS, self.cfg.gram_layer_weights)))
                  if self.cfg.gram_weight > 0 else loss_c.new_zeros(()))
        return loss_c, loss_s, loss_g

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        content, style = batch["content"], batch["style"]
        self._follow(content.device)
        count = len(content)
        strength = strengths(count, self.cfg.full_strength_fraction, self.cfg.seed, step).to(content)
        images = torch.cat([content, style])
        teacher = self.teacher(images, count, strength)
        feats = self.encoder(images, LEVELS)
        loss_f = sum(F.mse_loss(self.embed[level](feats[level]), teacher.scaled[level])
                     for level in LEVELS) / len(LEVELS)
        student = feats[ENCODER_LAYER] if self.cfg.end_to_end else feats[ENCODER_LAYER].detach()
        out, taps = self.decoder(mix(student[:count], student[count:], strength), taps=True)
        loss_p = F.l1_loss(out, teacher.image)
        loss_d = sum(F.mse_loss(embed(tap), target) / target.pow(2).mean().clamp_min(1e-8)
                     for embed, tap, target in zip(self.decoder_embed, taps, teacher.taps)) / len(taps)
        total = (self.cfg.feature_weight * loss_f + self.cfg.pixel_weight * loss_p
                 + self.cfg.decoder_feature_weight * loss_d)
        losses = {"features": loss_f.detach(), "pixels": loss_p.detach(), "decoder_features": loss_d.detach()}
        if self.cfg.content_weight > 0 or self.cfg.style_weight > 0 or self.cfg.gram_weight > 0:
            loss_c, loss_s, loss_g = self.perceptual(out, teacher, strength)
            total = (total + self.cfg.content_weight * loss_c + self.cfg.style_weight * loss_s
                     + self.cfg.gram_weight * loss_g)
            losses.update(content=loss_c.detach(), style=loss_s.detach())
            if self.cfg.gram_weight > 0:
                losses.update(gram=loss_g.detach())
        return {"total": total, **losses}

    @torch.no_grad()
    def samples(self, photos: torch.Tensor) -> torch.Tensor:
        """Photo i with held-out style i (cycling through them), by the student."""
        styles = (self.sample_styles if self.sample_styles is not None else photos.flip(0)).to(photos)
        was_training = self.decoder.training
        self.encoder.eval(), self.decoder.eval()
        content_feat = self.encoder(photos.float())[ENCODER_LAYER]
        style_feat = self.encoder(styles.float())[ENCODER_LAYER]
        index = torch.arange(len(photos), device=photos.device) % len(styles)
        out = self.decoder(adain(content_feat, style_feat[index])).float().clamp(0, 1)
        self.encoder.train(was_training), self.decoder.train(was_training)
        return out

    def builtin_stats(self, registry: StyleRegistry | None = None) -> dict[str, torch.Tensor]:
        """``styles.NAME.mean`` / ``styles.NAME.std`` (student relu4_1) for each built-in style whose painting
        is in the styles folder."""
        was_training = self.encoder.training
        out, missing = encode_builtin_styles(self.encoder, self.cfg.styles_dir, self.cfg.builtin_style_size,
                                             registry)
        self.encoder.train(was_training)
        if missing:
            log.warning("no painting in %s for the built-in styles %s: the model will not know them by name",
                        self.cfg.styles_dir, ", ".join(missing))
        return out

    def export(self, path: Path, meta: dict) -> Path:
        from ..io.model_file import save_model_file

        stats = self.builtin_stats()
        meta = {"architecture": {"encoder": "compact", "compact": self.config.to_dict(),
                                 "encoder_layer": ENCODER_LAYER,
                                 "builtin_style_size": self.cfg.builtin_style_size},
                **meta}
        meta.setdefault("training", {})["adain_compact"] = self.cfg.to_dict()
        state = {**{f"encoder.{k}": v for k, v in self.encoder.state_dict().items()},
                 **{f"decoder.{k}": v for k, v in self.decoder.state_dict().items()}, **stats}
        return save_model_file(path, self.kind, state, meta)


@torch.no_grad()
def encode_builtin_styles(encoder: torch.nn.Module, styles_dir: str | Path, size: int,
                          registry: StyleRegistry | None = None, names: Iterable[str] | None = None
                          ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(``styles.NAME.mean`` / ``styles.NAME.std`` at ``encoder``'s relu4_1, names whose painting is missing)
    for the built-in styles ``names`` (default: all), each painting read from ``styles_dir`` by the file
    name its statistics record and resized to ``size`` px on its longer side. Leaves ``encoder`` in eval mode."""
    registry = registry or StyleRegistry()
    folder = Path(styles_dir)
    encoder.eval()
    device = next(encoder.parameters()).device
    out, missing = {}, []
    for name in registry.names() if names is None else names:
        source = registry.info(name).source
        painting = folder / Path(source or "").name
        if not source or not painting.is_file():
            missing.append(name)
            continue
        image = resize_longer_side(load_image(painting).to(device), size)
        mean, std = channel_mean_std(encoder(image)[ENCODER_LAYER])
        out[f"styles.{name}.mean"], out[f"styles.{name}.std"] = mean.flatten().cpu(), std.flatten().cpu()
    return out, missing


def add_builtin_styles(model: str | Path, styles_dir: str | Path, registry: StyleRegistry | None = None
                       ) -> list[str]:
    """Give a compact AdaIN model file the statistics of the built-in styles it lacks (a style added to
    painterly after the model was trained), computed as its training run computed them; the weights and
    the styles it has stay as they are. Rewrites the file in place (atomically) and returns the names
    added; a style whose painting is not in ``styles_dir`` is an error."""
    from ..io.model_file import load_model_file, save_model_file
    from ..methods.adain import compact_from_state

    registry = registry or StyleRegistry()
    loaded = load_model_file(model, "adain")
    architecture = loaded.meta.get("architecture", {})
    if architecture.get("encoder") != "compact":
        raise PainterlyError(f"{model}: not a compact AdaIN model (the VGG19 decoder reads built-in styles' "
                             f"statistics from painterly itself)")
    encoder, _, known = compact_from_state(loaded.state, architecture, model)
    wanted = [name for name in registry.names() if name not in known]
    if not wanted:
        return []
    stats, missing = encode_builtin_styles(encoder, styles_dir, int(architecture["builtin_style_size"]),
                                           registry, wanted)
    if missing:
        raise PainterlyError(f"no painting in {styles_dir} for the built-in style(s) {', '.join(missing)}")
    meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "version", "kind")}
    meta["builtin_styles_added_after_training"] = [*meta.get("builtin_styles_added_after_training", []), *wanted]
    save_model_file(model, "adain", {**loaded.state, **stats}, meta)
    return wanted


def init_student(task: CompactAdainTask, source: str | Path) -> None:
    """Start ``task``'s networks from ``source``: a compact AdaIN model file of the same widths (encoder and
    decoder; the 1x1 embeddings, which the file does not hold, start afresh) or a checkpoint of a compact
    run (``step_N.pt``: the embeddings too, so the distillation losses carry on where they were)."""
    if Path(source).suffix == ".pt":
        _init_from_checkpoint(task, Path(source))
        return
    from ..io.model_file import load_model_file
    from ..methods.adain import compact_from_state

    loaded = load_model_file(Path(source), expected_kind="adain")
    if loaded.architecture.get("encoder", "vgg19") != "compact":
        raise PainterlyError(f"{source}: --init needs a compact AdaIN model, not one with the VGG19 encoder")
    encoder, decoder, _ = compact_from_state(loaded.state, loaded.architecture, source)
    if encoder.config != task.config:
        raise PainterlyError(f"{source}: its widths/slope {encoder.config.to_dict()} differ from this run's "
                             f"{task.config.to_dict()}")
    task.encoder.load_state_dict(encoder.state_dict())
    task.decoder.load_state_dict(decoder.state_dict())


def _init_from_checkpoint(task: CompactAdainTask, path: Path) -> None:
    from .loop import load_checkpoint, load_module_states

    state = load_checkpoint(path)
    modules = state.get("modules", {}) if isinstance(state, dict) else {}
    if set(modules) != set(task.modules()):
        raise PainterlyError(f"{path}: not a checkpoint of a compact AdaIN run")
    load_module_states(task.modules(), modules, path)


def build_compact_training(cfg: CompactAdainTrainConfig, batch_size: int, seed: int = 0,
                           max_content: int | None = None,
                           progress: Callable[[str, int, int], None] | None = None,
                           ) -> tuple[CompactAdainTask, AdainBatches, dict]:
    """Split the data (as ``painterly train adain`` does), cache it, and build the task and batches."""
    cfg.validate()
    teacher = load_teacher_decoder(cfg.teacher)
    split = split_data(cfg)
    train_content = split.train_content[:max_content] if max_content else split.train_content
    content = load_cached(train_content, cfg.content_size, cfg.crop)
    styles = load_cached(split.train_styles, cfg.style_size, cfg.crop)
    if progress is not None:
        progress("cache images", 1, 1)

    val_photos = fixed_crops(load_cached(split.val_content[:4], cfg.content_size, cfg.crop) or content[:4], cfg.crop)
    val_styles = fixed_crops(load_cached(split.val_styles[:4], cfg.style_size, cfg.crop) or styles[:4], cfg.crop)
    encoder = VGG19Features(LEVELS)
    scales = channel_scales(encoder, calibration_images(content, styles), LEVELS)
    task = CompactAdainTask(cfg, teacher, scales, teacher_encoder=encoder, sample_styles=val_styles)
    if cfg.init:
        init_student(task, cfg.init)
    batches = AdainBatches(content, styles, batch_size, cfg.crop, cfg.scale_jitter, seed)
    info = {"validation": val_photos, "val_styles": [p.name for p in split.val_styles],
            "val_content": [p.name for p in split.val_content],
            "train_counts": {"content": len(content), "styles": len(styles)}}
    return task, batches, info


__all__ = ["CompactAdainTrainConfig", "CompactAdainTask", "TeacherOutputs", "build_compact_training",
           "init_student", "load_teacher_decoder", "strengths", "mix"]
