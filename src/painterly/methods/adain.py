"""Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

The photo is encoded by VGG19 up to relu4_1 (f), its features are given the channel-wise
mean and standard deviation of the style's features there (AdaIN), and a trained decoder (g)
turns them back into an image::

    out = g((1 - a) f(c) + a AdaIN(f(c), s_mean, s_std))          a = strength in [0, 1]

Controls (section 7 of the paper):

* **strength** ``a`` interpolates in feature space between the photo's own features (a = 0:
  the decoder's reconstruction of the photo) and the fully stylised ones (a = 1).
* **several styles** with weights ``w_k`` (normalised to sum 1): the target statistics are
  ``sum w_k mean_k`` and ``sum w_k std_k``; this equals the weighted sum of the separate AdaIN
  outputs, since AdaIN is affine in (mean, std).
* **preserve_color**: each style *image* is recoloured to the photo's colour mean and
  covariance (:func:`painterly.ops.match_color`) before encoding. A built-in style has no
  pixels to recolour; for it the output keeps the photo's chrominance instead
  (:func:`painterly.ops.luminance_transfer`).
* **masks** assign styles to regions: mask k (H x W, values in [0, 1]) selects where style k
  goes. Each region's content statistics are taken over that region only; the results are
  blended with the masks (downsampled to the feature grid); positions no mask covers keep
  the photo's features.
* **built-in styles** use the relu4_1 mean/std stored with them (no painting needed), at the
  stored reference size nearest ``style_size``.

Images are B x 3 x H x W in [0, 1]; the result has the input's size (the content is
reflection-padded to a multiple of 8 for the encoder/decoder and cropped back).
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F

from ..errors import PainterlyError, StyleNotFoundError
from ..features import VGG19Features
from ..io.image import load_image
from ..io.model_file import ModelFileError, load_model_file
from ..nets.adain import ENCODER_LAYER, AdainDecoder, AdainDecoderConfig
from ..ops import ADAIN_EPS, adain_from_stats, channel_mean_std, luminance_transfer, match_color, resize_longer_side
from ..styles import StyleRegistry, StyleStats, parse_style_spec

log = logging.getLogger(__name__)

BUILTIN_DECODER = "adain_decoder.safetensors"


@dataclass(frozen=True)
class EncodedStyle:
    """A style encoded once (:meth:`AdainStylizer.encode_style`): each painting's relu4_1 (mean, std), the
    weights, and whether any was a built-in style. Passing it instead of the paintings skips encoding them
    again on every call (video frames, webcam)."""

    targets: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    weights: tuple[float, ...]
    builtin: bool


StyleArg = Union[None, str, torch.Tensor, StyleStats, Mapping, Sequence, EncodedStyle]


@dataclass(frozen=True)
class AdainConfig:
    """Settings of an AdaIN stylisation; the stylize CLI flags map onto these fields."""

    strength: float = 1.0               # 0: the photo reconstructed, 1: full style
    preserve_color: bool = False        # keep the photo's colours
    style_size: int | None = 512        # longer side style images are resized to (None: as given)
    content_size: int | None = None     # stylise at this longer side, resize the result back (None: as given)

    def validate(self) -> "AdainConfig":
        check_strength(self.strength)
        for name in ("style_size", "content_size"):
            value = getattr(self, name)
            if value is not None and value < 16:
                raise PainterlyError(f"{name.replace('_', ' ')} must be at least 16 px, not {value}")
        return self


def check_strength(strength: float) -> float:
    if not 0.0 <= float(strength) <= 1.0:
        raise PainterlyError(f"strength must be between 0 and 1, not {strength}")
    return float(strength)


# --------------------------------------------------------------------------- pure maths


def blend_style_stats(stats: Sequence[tuple[torch.Tensor, torch.Tensor]], weights: Sequence[float]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted average of (mean, std) pairs, weights normalised to sum to 1."""
    total = float(sum(weights))
    if len(stats) != len(weights) or not stats:
        raise PainterlyError("give one weight per style")
    if any(w < 0 for w in weights) or total <= 0:
        raise PainterlyError("style weights must be >= 0 and add up to more than 0")
    mean = sum(m * (w / total) for (m, _), w in zip(stats, weights))
    std = sum(s * (w / total) for (_, s), w in zip(stats, weights))
    return mean, std


def masked_mean_std(features: torch.Tensor, weights: torch.Tensor, eps: float = ADAIN_EPS
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean and sqrt(var + eps) over positions weighted by ``weights`` (N x 1 x H x W, >= 0)."""
    total = weights.sum(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    mean = (features * weights).sum(dim=(2, 3), keepdim=True) / total
    var = ((features - mean).pow(2) * weights).sum(dim=(2, 3), keepdim=True) / total
    return mean, (var + eps).sqrt()


def adain_regions(content_feat: torch.Tensor, masks: torch.Tensor,
                  targets: Sequence[tuple[torch.Tensor, torch.Tensor]], eps: float = ADAIN_EPS) -> torch.Tensor:
    """AdaIN per region: ``masks`` (K x h x w on the feature grid, soft) pick where target k applies.

    Region k is normalised with its own content statistics and given target k's; regions are
    blended by their mask values and positions with total mask weight < 1 keep the rest of
    the content features.
    """
    out = torch.zeros_like(content_feat)
    covered = torch.zeros_like(content_feat[:, :1])
    for mask, (mean, std) in zip(masks, targets):
        weight = mask[None, None].to(content_feat.dtype)
        mu, sigma = masked_mean_std(content_feat, weight, eps)
        out = out + weight * (std.reshape(-1, content_feat.shape[1], 1, 1) * (content_feat - mu) / sigma
                              + mean.reshape(-1, content_feat.shape[1], 1, 1))
        covered = covered + weight
    return out + (1 - covered.clamp(max=1)) * content_feat


def check_masks(masks: torch.Tensor, size: tuple[int, int], count: int) -> torch.Tensor:
    """K x H x W float masks in [0, 1]: the photo's size, one per style, each with a region."""
    if not isinstance(masks, torch.Tensor):
        masks = torch.as_tensor(masks)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise PainterlyError(f"masks must be K x H x W, got shape {tuple(masks.shape)}")
    if tuple(masks.shape[-2:]) != tuple(size):
        raise PainterlyError(f"mask size {masks.shape[-1]}x{masks.shape[-2]} does not match the photo's "
                             f"{size[1]}x{size[0]}")
    if masks.shape[0] != count:
        raise PainterlyError(f"{masks.shape[0]} mask(s) for {count} style(s): give one mask per style")
    masks = masks.float()
    if masks.min() < 0 or masks.max() > 1:
        masks = (masks > 0).float()
    empty = [str(k) for k in range(len(masks)) if float(masks[k].max()) <= 0]
    if empty:
        raise PainterlyError(f"mask {', '.join(empty)} has no region (all zero)")
    return masks


def load_masks(paths: Sequence[str | Path], size: tuple[int, int], max_pixels: int | None = None) -> torch.Tensor:
    """K x H x W masks in [0, 1] from image files (grey level: white = the region), ``size`` = (W, H) of
    the photo as read; a mask of another size or with no region is a one-line error."""
    from ..io.image import DEFAULT_MAX_PIXELS, open_image

    out = []
    for path in paths:
        image = open_image(path, max_pixels or DEFAULT_MAX_PIXELS).convert("L")
        if image.size != tuple(size):
            raise PainterlyError(f"{path}: mask is {image.width}x{image.height} but the photo is {size[0]}x{size[1]}")
        mask = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(image.height, image.width)
        if int(mask.max()) == 0:
            raise PainterlyError(f"{path}: mask has no region (all black)")
        out.append(mask.float() / 255.0)
    return torch.stack(out)


def pad_to_multiple(images: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = images.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        images = F.pad(images, (0, pw, 0, ph), mode=mode)
    return images, (h, w)


# --------------------------------------------------------------------------- the stylizer


class AdainStylizer:
    """A trained AdaIN decoder plus the VGG19 encoder, as a :class:`~painterly.methods.feedforward.Stylizer`.

    ``style`` may be a built-in style name, an image path, a PIL image, an H x W x 3 array, a
    1 x 3 x h x w tensor in [0, 1], a ``{style: weight}`` mapping or a list of ``(style, weight)``
    pairs (a list of plain styles means equal weights); ``"NAME:0.3"`` strings work too.
    """

    kind = "adain"

    def __init__(self, decoder: torch.nn.Module, encoder: torch.nn.Module | None = None,
                 config: AdainConfig | None = None, registry: StyleRegistry | StoredStyleStats | None = None,
                 meta: dict | None = None, dtype: torch.dtype = torch.float32):
        """``encoder`` maps images to ``{"relu4_1": features}`` (default: VGG19); ``registry`` gives the built-in
        styles' statistics in its feature space (a compact model's own: :class:`StoredStyleStats`).
        ``dtype`` (float32, bfloat16, float16) is what the encoder and decoder compute in; the
        AdaIN statistics and the blend are always float32."""
        # channels-last: at 512 px on one CPU thread 1.3x faster for VGG19 and the shipped decoder, 1.7x for
        # the compact model (its thin convolutions), with the same outputs
        self.decoder = decoder.eval().to(memory_format=torch.channels_last)
        params = next(decoder.parameters(), None)   # onnxruntime graphs (OnnxGraph) have none: CPU
        self.device = params.device if params is not None else torch.device("cpu")
        self.encoder = (encoder or VGG19Features([ENCODER_LAYER])).to(self.device).eval()
        self.encoder.to(memory_format=torch.channels_last)
        self.dtype = dtype
        if dtype != torch.float32:
            self.encoder.to(dtype)
            self.decoder.to(dtype)
        self.config = (config or AdainConfig()).validate()
        self.registry = registry or StyleRegistry()
        self.meta = dict(meta or {})

    @property
    def style_names(self) -> list[str]:
        """Built-in styles usable by name (any painting works too)."""
        return self.registry.names()

    def __repr__(self) -> str:
        return f"AdainStylizer({type(self.encoder).__name__}, {type(self.decoder).__name__}, device={self.device})"

    # -- pieces
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        return self.encoder(images)[ENCODER_LAYER].float()

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        features = features.to(self.dtype).contiguous(memory_format=torch.channels_last)
        return self.decoder(features).float().clamp(0, 1)

    def style_items(self, style: StyleArg) -> list[tuple[object, float]]:
        """``style`` as a list of (single style, weight)."""
        if style is None:
            raise PainterlyError("the adain method needs a style: a painting or a built-in style name")
        if isinstance(style, Mapping):
            items = list(style.items())
        elif isinstance(style, (list, tuple)):
            items = [tuple(s) if isinstance(s, tuple) and len(s) == 2 else (s, 1.0) for s in style]
        else:
            items = [(style, 1.0)]
        out = []
        for item, weight in items:
            if isinstance(item, str) and not Path(item).is_file():
                spec = parse_style_spec(item)
                item, weight = spec.source, weight * spec.weight
            out.append((item, float(weight)))
        if not out:
            raise PainterlyError("no style given")
        return out

    def style_stats(self, style: object, content: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(mean, std) of one style at relu4_1, each 1 x 512 x 1 x 1, and whether it was a built-in style."""
        size = self.config.style_size
        if isinstance(style, StyleStats):  # statistics without a painting, e.g. a point of the style space
            if not isinstance(self.encoder, VGG19Features):
                raise PainterlyError("statistics of VGG19 features (style-space points) need the VGG19 AdaIN "
                                     "decoder, not a compact model")
            mean, std = style.means[ENCODER_LAYER], style.stds[ENCODER_LAYER]
            return (mean.view(1, -1, 1, 1).to(self.device), std.view(1, -1, 1, 1).to(self.device), True)
        if isinstance(style, str) and not Path(style).exists():
            stats = self.registry.stats(style, size or 512)   # StyleNotFoundError for unknown names
            mean, std = stats.means[ENCODER_LAYER], stats.stds[ENCODER_LAYER]
            return (mean.view(1, -1, 1, 1).to(self.device), std.view(1, -1, 1, 1).to(self.device), True)
        image = style if isinstance(style, torch.Tensor) else load_image(style)
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4 or image.shape[:2] != (1, 3):
            raise PainterlyError(f"a style image tensor must be 1 x 3 x H x W, got {tuple(image.shape)}")
        image = image.to(self.device, torch.float32)
        if size is not None:
            image = resize_longer_side(image, size)
        if content is not None:
            image = match_color(image, content)
        mean, std = channel_mean_std(self.encode(image))
        return mean, std, False

    def targets(self, style: StyleArg, content: torch.Tensor | None, preserve_color: bool
                ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[float], bool]:
        if isinstance(style, EncodedStyle):
            if preserve_color and not style.builtin:
                raise PainterlyError("preserve_color recolours the painting before encoding it: pass the painting, "
                                     "not its encoding")
            return list(style.targets), list(style.weights), style.builtin
        items = self.style_items(style)
        stats = [self.style_stats(item, content if preserve_color else None) for item, _ in items]
        return [(m, s) for m, s, _ in stats], [w for _, w in items], any(b for _, _, b in stats)

    def encode_style(self, style: StyleArg) -> EncodedStyle:
        """``style`` (anything :meth:`__call__` takes) encoded once, to pass instead of it on later calls."""
        with torch.inference_mode():
            targets, weights, builtin = self.targets(style, None, False)
        return EncodedStyle(tuple(targets), tuple(weights), builtin)

    # -- the call
    def __call__(self, images: torch.Tensor, style: StyleArg = None, *, strength: float | None = None,
                 preserve_color: bool | None = None, masks: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise PainterlyError("expected images as a B x 3 x H x W tensor")
        strength = check_strength(self.config.strength if strength is None else strength)
        preserve = self.config.preserve_color if preserve_color is None else preserve_color
        with torch.inference_mode():
            # without preserve_color the style targets do not depend on the photo: encode them once
            shared = None if preserve else self.targets(style, None, False)
            outs = [self._one(image[None], style, strength, preserve, masks, shared) for image in images]
        return torch.cat(outs).to(images.device)

    def _one(self, image: torch.Tensor, style: StyleArg, strength: float, preserve: bool,
             masks: torch.Tensor | None, shared=None) -> torch.Tensor:
        original = image.to(self.device, torch.float32)
        work = resize_longer_side(original, self.config.content_size) if self.config.content_size else original
        targets, weights, builtin = shared or self.targets(style, work, preserve)
        padded, (h, w) = pad_to_multiple(work)
        feat = self.encode(padded)
        if masks is not None:
            masks = check_masks(masks, tuple(original.shape[-2:]), len(targets)).to(self.device)
            grid = F.interpolate(masks[:, None], size=(h, w), mode="area")       # to the working size
            grid = F.pad(grid, (0, padded.shape[-1] - w, 0, padded.shape[-2] - h), mode="replicate")
            grid = F.interpolate(grid, size=feat.shape[-2:], mode="area")[:, 0]
            stylised = adain_regions(feat, grid, targets)
        else:
            mean, std = blend_style_stats(targets, weights)
            stylised = adain_from_stats(feat, mean, std)
        out = self.decode(strength * stylised + (1 - strength) * feat)[..., :h, :w]
        if preserve and builtin:
            out = luminance_transfer(out, work)
        if out.shape[-2:] != original.shape[-2:]:
            out = F.interpolate(out, size=original.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)
        return out


# --------------------------------------------------------------------------- loading


def builtin_decoder_path() -> Path:
    return Path(str(importlib.resources.files("painterly") / "data" / "models" / BUILTIN_DECODER))


def decoder_from_state(state: dict[str, torch.Tensor], architecture: dict, path: Path | str = "model") -> AdainDecoder:
    try:
        config = AdainDecoderConfig.from_dict(architecture.get("decoder", {}))
        decoder = AdainDecoder(config)
        decoder.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: weights do not match an AdaIN decoder ({str(exc).splitlines()[0][:160]})") \
            from None
    return decoder


def compact_onnx_pair(path: Path, device: str, runtime: str) -> list[Path] | None:
    """The encoder and decoder ONNX graphs next to a compact AdaIN model to run instead, per
    ``runtime``, by the rule of :func:`~painterly.methods.feedforward.onnx_siblings`."""
    from .feedforward import onnx_siblings
    from .onnx_runtime import compact_onnx_paths

    return onnx_siblings(compact_onnx_paths(path), device, runtime)


def load_adain_stylizer(model: str | Path | None = None, device: str = "cpu", precision: str = "auto",
                        config: AdainConfig | None = None, runtime: str = "auto", **overrides) -> AdainStylizer:
    """An :class:`AdainStylizer` from a model file or a built-in model's name (None: the built-in decoder).

    ``overrides`` set :class:`AdainConfig` fields (e.g. ``strength=0.5``). ``precision``
    (:func:`adain_dtype`): what the encoder and decoder compute in; ``auto`` is float32.
    ``runtime`` (auto | torch | onnx): a compact model's ONNX graphs, where they lie next to
    it, run with onnxruntime in float32 (:func:`compact_onnx_pair`; as many threads as PyTorch
    uses); ``auto`` leaves them for PyTorch when a lower precision is asked for.
    """
    from .feedforward import resolve_model_path   # a file, NAME(.safetensors) here, or a built-in model's name

    path = resolve_model_path(model) if model is not None else builtin_decoder_path()
    if model is None and not path.is_file():
        raise PainterlyError("no built-in AdaIN decoder ships in this release: train one with `painterly train "
                             "adain` and pass it with --model, or use `painterly optimize` for any painting")
    loaded = load_model_file(path, expected_kind="adain")
    config = replace(config or AdainConfig(), **overrides)
    dtype = adain_dtype(precision, device)
    if dtype != torch.float32 and runtime == "onnx":
        raise PainterlyError(f"the onnx runtime computes in float32: use --precision fp32 (or auto) with it, "
                             f"or --runtime torch for {precision}")
    if loaded.architecture.get("encoder", "vgg19") == "compact":
        encoder, decoder, stats = compact_from_state(loaded.state, loaded.architecture, path)
        pair = compact_onnx_pair(path, device, runtime if dtype == torch.float32 else "torch")
        if pair is not None:
            from .onnx_runtime import OnnxGraph

            threads = torch.get_num_threads()
            encoder, decoder = OnnxGraph(pair[0], threads, key=ENCODER_LAYER), OnnxGraph(pair[1], threads)
        return AdainStylizer(decoder.to(device), encoder=encoder, config=config, meta=loaded.meta,
                             registry=StoredStyleStats(stats), dtype=dtype)
    decoder = decoder_from_state(loaded.state, loaded.architecture, path).to(device)
    return AdainStylizer(decoder, config=config, meta=loaded.meta, dtype=dtype)


def adain_dtype(precision: str, device: str | torch.device) -> torch.dtype:
    """The dtype the AdaIN encoder and decoder compute in: ``auto`` and ``fp32`` float32,
    ``bf16`` bfloat16 (on a CPU fast only with AVX512-BF16 or AMX: about 2x for the compact
    model, outputs on average half a grey level from float32's), ``fp16`` float16 (CUDA only)."""
    from .feedforward import PRECISIONS

    if precision not in PRECISIONS:
        raise PainterlyError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision == "fp16" and torch.device(device).type != "cuda":
        raise PainterlyError("fp16 needs a CUDA device; on a CPU use --precision bf16")
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)


class StoredStyleStats:
    """Built-in styles' relu4_1 statistics stored in a model file (a compact model's own feature space),
    looked up like a :class:`~painterly.styles.StyleRegistry`."""

    def __init__(self, stats: Mapping[str, tuple[torch.Tensor, torch.Tensor]], registry: StyleRegistry | None = None):
        self._stats = dict(stats)
        self._registry = registry or StyleRegistry()

    def names(self) -> list[str]:
        return sorted(self._stats)

    def info(self, name: str):
        return self._registry.info(name)

    def stats(self, name: str, size: float | None = None) -> StyleStats:
        """The stored statistics (one size); StyleNotFoundError for a style the model lacks or no style at all."""
        if name not in self._stats:
            self._registry.info(name)   # StyleNotFoundError (with close names) for a name that is no style at all
            raise StyleNotFoundError(f"this AdaIN model stores no statistics for the built-in style {name!r} "
                                     f"(it has {', '.join(self.names()) or 'none'}); pass the painting as a file "
                                     f"instead")
        mean, std = self._stats[name]
        return StyleStats(means={ENCODER_LAYER: mean}, stds={ENCODER_LAYER: std})


def compact_from_state(state: dict[str, torch.Tensor], architecture: dict, path: Path | str = "model"):
    """(encoder, decoder, built-in style statistics) of a compact AdaIN model file."""
    from ..nets.adain_compact import CompactAdainConfig, CompactDecoder, CompactEncoder

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}

    try:
        config = CompactAdainConfig.from_dict(architecture.get("compact", {}))
        encoder, decoder = CompactEncoder(config), CompactDecoder(config)
        encoder.load_state_dict(part("encoder."), strict=True)
        decoder.load_state_dict(part("decoder."), strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: weights do not match a compact AdaIN model ({str(exc).splitlines()[0][:160]})") \
            from None
    stats = {}
    for key, mean in part("styles.").items():
        name, _, what = key.rpartition(".")
        if what == "mean" and f"styles.{name}.std" in state:
            stats[name] = (mean, state[f"styles.{name}.std"].float())
    return encoder, decoder, stats


__all__ = ["AdainConfig", "AdainStylizer", "EncodedStyle", "StoredStyleStats", "load_adain_stylizer", "compact_onnx_pair", "adain_dtype",
           "blend_style_stats", "masked_mean_std", "adain_regions", "check_masks", "check_strength",
           "builtin_decoder_path"]
