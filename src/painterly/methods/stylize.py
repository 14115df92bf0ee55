"""``painterly.stylize``: one entry point for every feed-forward method.

    img = painterly.stylize("photo.jpg", style="starry_night")                   # auto: fast model
    img = painterly.stylize(img, style={"starry_night": 0.7, "udnie": 0.3})       # multistyle blend
    img = painterly.stylize(img, style="painting.jpg", method="adain", preserve_color=True)

``method="auto"`` picks, for a built-in style name, the single-style (``fast``) model of
that name (of two, the full architecture, or with ``prefer="speed"`` the CPU-speed variant),
else a ``multistyle`` model holding every named style, else an artist-level
(``adaptive``) model of that name (``style="van_gogh"``), else ``adain`` (built-in
styles carry the statistics it needs); for an image file it picks ``adain`` (when that
method is installed). ``model`` (a path or built-in model name) fixes
the model and thereby the method.

Around the network: ``size`` resizes the photo first (longer side), ``tile`` runs it in
tiles (:mod:`painterly.tiling`), ``preserve_color`` keeps the photo's chrominance
(luminance-only transfer), ``detail`` puts the photo's fine luminance detail back
(:func:`painterly.ops.restore_detail`), and ``strength`` mixes the result with the photo
(0 = the photo unchanged, 1 = full style).

    img = painterly.stylize("photo.jpg", style="starry_night", detail=1.0)        # whiskers, hair kept
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import PainterlyError, StyleNotFoundError
from ..io.model_file import ModelFileError
from ..io.image import DEFAULT_MAX_PIXELS, ImageLike, load_image, tensor_to_pil
from ..ops import luminance_transfer, restore_detail
from ..styles import StyleRegistry, parse_style_spec
from ..tiling import STATS_MODES, TileConfig, stylize_tiled
from .feedforward import (PRECISIONS, TRANSFORMER_KINDS, Stylizer, available_models,
                          check_preference, find_models_for_style, load_stylizer, method_available)

log = logging.getLogger(__name__)

METHODS = ("auto", "fast", "multistyle", "adain", "adaptive")


@dataclass(frozen=True)
class StylizeConfig:
    """Settings of a feed-forward run; the ``painterly stylize`` flags derive from these fields."""

    method: str = "auto"                # auto | fast | multistyle | adain
    model: str | None = None            # model file or built-in model name (default: chosen by style)
    strength: float = 1.0               # 0 = the photo, 1 = full style
    preserve_color: bool = False        # keep the photo's colours (luminance-only transfer)
    detail: float = 0.0                 # put back the photo's fine luminance detail: 0 = off, 1 = all of it
    detail_radius: float = 2.0          # ... finer than about this many px (Gaussian sigma)
    size: int | None = None             # longer side of the result (default: the photo's own)
    tile: int | None = None             # process in tiles of this many px (default: in one piece)
    tile_stats: str = "preview"         # instance-norm statistics when tiling: preview | exact | tile
    device: str = "cpu"
    precision: str = "auto"             # auto (fp16 on CUDA, fp32 elsewhere) | fp32 | fp16 | bf16
    runtime: str = "auto"               # auto (a shipped .onnx on CPU when not tiling) | torch | onnx
    max_pixels: int = DEFAULT_MAX_PIXELS
    model_dir: str | None = None        # where named models are looked up (default: the built-in ones)
    prefer: str = "quality"             # a style with several networks: quality (full architecture) | speed

    def validate(self) -> "StylizeConfig":
        if self.method not in METHODS:
            raise PainterlyError(f"unknown method {self.method!r}: use {', '.join(METHODS)}")
        if not isinstance(self.strength, (int, float)) or not 0.0 <= float(self.strength) <= 1.0:
            raise PainterlyError(f"strength must be between 0 and 1, got {self.strength}")
        check_detail(self.detail, self.detail_radius)
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size must be at least 16 px, not {self.size}")
        check_preference(self.prefer)
        if self.precision not in PRECISIONS:
            raise PainterlyError(f"unknown precision {self.precision!r}: use {', '.join(PRECISIONS)}")
        if self.tile_stats not in STATS_MODES:
            raise PainterlyError(f"tile statistics must be one of {', '.join(STATS_MODES)}")
        if self.tile is not None:
            self.tile_config().validate()
        return self

    def tile_config(self) -> TileConfig:
        """Tiles of ``tile`` px; context and overlap shrink for small tiles (at most 1/6 and 1/8 of a tile)."""
        tile = self.tile or TileConfig.tile
        context = min(TileConfig.context, tile // 6 // 4 * 4)
        return TileConfig(tile=tile, context=context, overlap=min(TileConfig.overlap, tile // 8), stats=self.tile_stats)


MAX_DETAIL = 2.0
MAX_DETAIL_RADIUS = 32.0


def check_detail(amount: float, radius: float) -> None:
    """``detail`` in [0, MAX_DETAIL] and ``detail_radius`` in (0, MAX_DETAIL_RADIUS] px, else a PainterlyError."""
    if not isinstance(amount, (int, float)) or not 0.0 <= float(amount) <= MAX_DETAIL:
        raise PainterlyError(f"detail must be between 0 and {MAX_DETAIL:g}, got {amount}")
    if not isinstance(radius, (int, float)) or not 0.0 < float(radius) <= MAX_DETAIL_RADIUS:
        raise PainterlyError(f"detail radius must be above 0 and at most {MAX_DETAIL_RADIUS:g} px, got {radius}")


# --------------------------------------------------------------------------- styles and methods


@dataclass(frozen=True)
class StyleRequest:
    """A user's style argument, normalised: names (or indices) with weights, or style images."""

    names: tuple[tuple[str | int, float], ...] = ()          # built-in style names / model indices
    images: tuple[tuple[torch.Tensor, float], ...] = ()      # style images, 1 x 3 x H x W
    labels: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.names and not self.images


def parse_style(style, max_pixels: int = DEFAULT_MAX_PIXELS) -> StyleRequest:
    """``None``, a name/index, ``"name:0.5"``, a path, an image, ``{name: w}``, or a list of these."""
    if style is None:
        return StyleRequest()
    if isinstance(style, Mapping):
        items = list(style.items())
    elif isinstance(style, (list, tuple)) and not _is_pair(style):
        items = [item if _is_pair(item) else (item, 1.0) for item in style]
    else:
        items = [style if _is_pair(style) else (style, 1.0)]
    names, images, labels = [], [], []
    for source, weight in items:
        if isinstance(source, str):
            spec = parse_style_spec(source)
            source, weight = spec.source, weight * spec.weight
            if spec.is_file:
                images.append((load_image(source, max_pixels=max_pixels), float(weight)))
            elif _looks_like_file(source):
                raise StyleNotFoundError(f"{source}: style image not found")
            else:
                names.append((source, float(weight)))
            labels.append(source)
        elif isinstance(source, int) and not isinstance(source, bool):
            names.append((source, float(weight)))
            labels.append(str(source))
        else:
            images.append((load_image(source, max_pixels=max_pixels), float(weight)))
            labels.append("image")
    if names and images:
        raise StyleNotFoundError("cannot mix built-in style names and style images in one run")
    return StyleRequest(tuple(names), tuple(images), tuple(labels))


def _is_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], (int, float)) \
        and not isinstance(value[1], bool)


def _looks_like_file(text: str) -> bool:
    path = Path(text)
    return bool(path.suffix) or len(path.parts) > 1


def choose_model(request: StyleRequest, method: str, model: str | None, model_dir: str | Path | None = None,
                 prefer: str = "quality") -> tuple[str, str | Path | None]:
    """(method, model) for a request: the model decides if given, else the styles (module docstring);
    ``prefer`` orders several single-style networks of one style (quality: the full architecture first)."""
    if model is not None:
        return method, model
    if request.images or method == "adain":
        if method not in ("auto", "adain"):
            raise PainterlyError(f"the {method} method needs built-in style names, not style images "
                                 f"(use --method adain for a style image)")
        if not method_available("adain"):
            raise PainterlyError("style images need the adain method, which is not available in this painterly "
                                 "(use `painterly optimize` or a built-in style name)")
        return "adain", None
    names = [key for key, _ in request.names]
    if not names:
        raise StyleNotFoundError("a style is needed: a built-in style name or a style image")
    if any(not isinstance(key, str) for key in names):
        raise StyleNotFoundError("a style index needs a model (--model)")
    if method == "adaptive":
        artists = _artist_models(names, model_dir)
        if artists:
            return "adaptive", str(artists[0].path)
        raise StyleNotFoundError(f"no artist-level model holds {', '.join(map(repr, names))} (pass one with --model)")
    wanted = ("fast", "multistyle") if method == "auto" else (method,)
    for kind in wanted:
        holders = [m for m in _models_holding(names, model_dir, prefer) if m.kind == kind
                   and (kind != "fast" or len(names) == 1)]
        if holders:
            return kind, str(holders[0].path)
    if method == "auto" and (artists := _artist_models(names, model_dir)):   # an artist's name: --style van_gogh
        return "adaptive", str(artists[0].path)
    if method == "auto" and method_available("adain") and all(name in StyleRegistry().names() for name in names):
        return "adain", None  # AdaIN takes built-in styles by their stored statistics
    raise StyleNotFoundError(_no_model_message(names, method, model_dir))


def _models_holding(names: Sequence[str], model_dir, prefer: str = "quality") -> list:
    candidates = find_models_for_style(names[0], model_dir, prefer)
    return [m for m in candidates if all(name in m.styles for name in names)]


def _artist_models(names: Sequence[str], model_dir) -> list:
    """Artist-level models of the one style named (an artist-level model holds a single style)."""
    if len(names) != 1:
        return []
    return [m for m in available_models(model_dir) if m.kind == "adaptive" and names[0] in m.styles]


def _no_model_message(names: Sequence[str], method: str, model_dir) -> str:
    kinds = TRANSFORMER_KINDS if method != "auto" else (*TRANSFORMER_KINDS, "adaptive")
    models = [m for m in available_models(model_dir) if m.kind in kinds]
    known = sorted({s for m in models for s in m.styles})
    missing = [n for n in names if n not in known]
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if close:
            hints.append(f"{name!r}: did you mean {', '.join(close)}?")
    what = f"{method} model" if method != "auto" else "fast, multistyle or artist-level model"
    listing = f"styles with models: {', '.join(known)}" if known else "no feed-forward models are installed"
    hint = ("; " + "; ".join(hints)) if hints else ""
    return (f"no {what} holds style{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}{hint} "
            f"({listing}; `painterly optimize` works with every built-in style)")


def encode_once(stylizer: Stylizer, style, preserve_color: bool):
    """``style`` as an AdaIN stylizer's :class:`~painterly.methods.adain.EncodedStyle` (its paintings encoded
    once, for many photos or frames), or unchanged: other kinds, no style, or ``preserve_color`` (the
    painting is recoloured to each photo before encoding)."""
    if getattr(stylizer, "kind", None) != "adain" or style is None or preserve_color:
        return style
    return stylizer.encode_style(style)


def style_argument(stylizer: Stylizer, request: StyleRequest, preserve_color: bool):
    """The style argument ``stylizer`` takes for ``request``, checked against it now (a network that holds
    named styles refuses style images; an unknown name or index raises) and, for AdaIN, encoded once."""
    if stylizer.kind in (*TRANSFORMER_KINDS, "adaptive") and request.images:
        raise StyleNotFoundError(f"a {stylizer.kind} model takes style names from its list "
                                 f"({', '.join(stylizer.style_names)}), not style images")
    arg = encode_once(stylizer, stylizer_style(stylizer, request), preserve_color)
    if hasattr(stylizer, "style_weights"):
        stylizer.style_weights(arg)  # raises now for an unknown name or an index out of range
    return arg


def stylizer_style(stylizer: Stylizer, request: StyleRequest):
    """The ``style`` argument ``stylizer`` takes for ``request``."""
    if request.images:
        if len(request.images) == 1:
            return request.images[0][0]
        return list(request.images)
    if not request.names:
        return None
    if len(request.names) == 1 and request.names[0][1] == 1.0:
        return request.names[0][0]
    return list(request.names)


# --------------------------------------------------------------------------- the core (tensors)


def apply_stylizer(stylizer: Stylizer, content: torch.Tensor, style=None, strength: float = 1.0,
                   preserve_color: bool = False, tile: TileConfig | None = None,
                   masks: torch.Tensor | None = None, detail: float = 0.0,
                   detail_radius: float = 2.0) -> torch.Tensor:
    """Stylise ``content`` (B x 3 x H x W in [0, 1]) with a loaded stylizer; same size out.

    ``strength`` 0 returns ``content`` itself (bit-exact); otherwise the result is
    ``strength * stylised + (1 - strength) * content``, after the luminance transfer when
    ``preserve_color``. ``masks`` (K x H x W, one per style; AdaIN only) assign styles to regions.
    ``detail`` > 0 adds back the photo's luminance detail finer than ``detail_radius`` px
    (:func:`painterly.ops.restore_detail`) before the strength blend (AdaIN: after its
    feature-space blend).
    """
    if not 0.0 <= strength <= 1.0:
        raise PainterlyError(f"strength must be between 0 and 1, got {strength}")
    check_detail(detail, detail_radius)
    is_adain = getattr(stylizer, "kind", None) == "adain"
    if masks is not None and not is_adain:
        raise PainterlyError("masks assign styles to regions with --method adain only")
    if strength == 0.0:
        return content.clone()
    if is_adain:
        # AdaIN interpolates in feature space and recolours the style before encoding (Huang &
        # Belongie 2017, sec. 7); tiles would each get their own statistics, so no tiling.
        if masks is not None and tuple(masks.shape[-2:]) != tuple(content.shape[-2:]):
            masks = F.interpolate(masks[:, None].float(), size=content.shape[-2:], mode="bilinear",
                                  align_corners=False)[:, 0].clamp(0, 1)
        out = stylizer(content, style, strength=strength, preserve_color=preserve_color, masks=masks).to(
            content.device, content.dtype)
        return restore_detail(out, content, detail, detail_radius).clamp(0, 1)
    if tile is not None:
        out = stylize_tiled(stylizer, content, style, tile)
    else:
        out = stylizer(content, style)
    out = out.to(content.device, content.dtype)
    if preserve_color:
        out = luminance_transfer(out, content)
    out = restore_detail(out, content, detail, detail_radius)
    if strength < 1.0:
        out = torch.lerp(content, out, strength)
    return out.clamp(0, 1)


@dataclass
class Prepared:
    """A loaded stylizer with the style argument it takes and what was chosen."""

    stylizer: Stylizer
    style: object
    method: str
    model: str


def prepare(style=None, config: StylizeConfig = StylizeConfig()) -> Prepared:
    """Validate ``config``, parse ``style``, pick and load the model; checks the style against it."""
    config = config.validate()
    request = parse_style(style, config.max_pixels)
    method, model = choose_model(request, config.method, config.model, config.model_dir, config.prefer)
    kind = None if method == "auto" else method
    try:
        runtime = "torch" if config.runtime == "auto" and config.tile is not None else config.runtime
        stylizer = load_stylizer(model, kind=kind, device=config.device, precision=config.precision,
                                 folder=config.model_dir, runtime=runtime)
    except ModelFileError:
        if config.method == "auto" and model is None and request.names:  # the AdaIN fallback has no decoder
            raise StyleNotFoundError(_no_model_message([n for n, _ in request.names], "auto", config.model_dir)
                                     + "; no AdaIN decoder is installed either") from None
        raise
    arg = style_argument(stylizer, request, config.preserve_color)
    name = getattr(stylizer, "name", None) or (Path(model).stem if model else stylizer.kind)
    return Prepared(stylizer, arg, stylizer.kind, str(name))


def stylize_tensor(content: torch.Tensor, prepared: Prepared, config: StylizeConfig = StylizeConfig(),
                   masks: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor-level stylize: resize (``config.size``), run (tiled if asked), colour, strength;
    ``masks`` (K x H x W at the photo's size as read, AdaIN only) follow the resize."""
    from ..ops import resize_longer_side

    if config.size is not None:
        content = resize_longer_side(content, config.size)
    tile = config.tile_config() if config.tile else None
    return apply_stylizer(prepared.stylizer, content, prepared.style, float(config.strength),
                          config.preserve_color, tile, masks, float(config.detail), float(config.detail_radius))


def stylize(content: ImageLike, style=None, method: str = "auto", model: str | Path | None = None,
            strength: float = 1.0, preserve_color: bool = False, size: int | None = None, tile: int | None = None,
            device: str = "cpu", **settings):
    """Stylise ``content`` (path, PIL image or H x W x 3 uint8 array) with a feed-forward method.

    ``style``: a built-in style name (``"starry_night"``, ``"udnie:0.5"``), a style image
    (path, PIL, array; adain), a dict or list of weighted names for a multistyle blend, or
    None for a single-style ``model``. Other keywords are :class:`StylizeConfig` fields
    (``precision``, ``tile_stats``, ``model_dir``, ``max_pixels``). Returns a PIL image.
    """
    config = StylizeConfig(method=method, model=None if model is None else str(model), strength=strength,
                           preserve_color=preserve_color, size=size, tile=tile, device=device, **settings)
    prepared = prepare(style, config)
    image = _load_content(content, config)
    start = time.perf_counter()
    out = stylize_tensor(image, prepared, replace(config, size=None))
    log.info("stylized %dx%d with %s (%s) in %.2fs", out.shape[-1], out.shape[-2], prepared.model,
             prepared.method, time.perf_counter() - start)
    return tensor_to_pil(out)


def _load_content(content: ImageLike, config: StylizeConfig) -> torch.Tensor:
    """The photo as 1 x 3 x H x W (Lanczos-resized to ``config.size`` when given)."""
    return load_image(content, size=config.size, max_pixels=config.max_pixels)


__all__ = ["StylizeConfig", "StyleRequest", "Prepared", "METHODS", "stylize", "stylize_tensor", "apply_stylizer",
           "prepare", "parse_style", "choose_model", "encode_once", "style_argument"]
