"""Feed-forward stylizers: one network pass per image (Johnson et al. 2016, Dumoulin et al. 2017).

Everything that stylises with a trained network (``painterly stylize``, video, webcam, the
web page, re-encoding analyses) talks to a :class:`Stylizer`::

    stylizer = load_stylizer("starry_night")            # a built-in model name, or a path
    out = stylizer(images, style=None)                   # B x 3 x H x W in [0, 1] -> same size

Kinds of model
--------------
``fast``        one :class:`~painterly.nets.transformer.TransformerNet` per style; ``style``
                may be omitted (or be 0 / the model's style name).
``multistyle``  one network, conditional instance norm, many styles: ``style`` is an index,
                a name, or a blend ``{name_or_index: weight}`` (weights are normalised to sum
                to 1; the blend mixes the per-style norm parameters linearly).
``adain``       arbitrary style (Huang & Belongie 2017), provided by
                :mod:`painterly.methods.adain` when that module is present; ``style`` is a
                1 x 3 x h x w style image tensor or a list of ``(tensor, weight)`` pairs.

Built-in models live in ``painterly/data/models/NAME.safetensors`` (+ ``NAME.json``, see
:mod:`painterly.io.model_file`); :func:`available_models` lists them and
:func:`load_stylizer` accepts their names as well as paths.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.resources
import importlib.util
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

import torch

from ..errors import PainterlyError, StyleNotFoundError
from ..io.model_file import ModelFileError, load_model_file

log = logging.getLogger(__name__)

TRANSFORMER_KINDS = ("fast", "multistyle")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# kind -> "module:function" building a Stylizer from (model, device=..., precision=...); imported lazily.
LOADERS: Mapping[str, str] = {
    "fast": "painterly.methods.feedforward:load_transformer_stylizer",
    "multistyle": "painterly.methods.feedforward:load_transformer_stylizer",
    "adain": "painterly.methods.adain:load_adain_stylizer",
    "adaptive": "painterly.methods.adaptive:load_adaptive_stylizer",
}
ONNX_LOADER = "painterly.methods.onnx_runtime:load_onnx_stylizer"  # for exported ``.onnx`` files
MODEL_SUFFIX = ".safetensors"
ONNX_SUFFIX = ".onnx"
RUNTIMES = ("auto", "torch", "onnx")

StyleArg = Union[None, int, str, Mapping, Sequence, torch.Tensor]


@runtime_checkable
class Stylizer(Protocol):
    """What every feed-forward method offers: a callable from images to images of the same size."""

    kind: str
    style_names: list[str]

    def __call__(self, images: torch.Tensor, style: StyleArg = None) -> torch.Tensor:
        """``images``: B x 3 x H x W in [0, 1]; returns B x 3 x H x W in [0, 1] on the same device."""
        ...


# --------------------------------------------------------------------------- built-in models


@dataclass(frozen=True)
class ModelInfo:
    """A model file as listed by :func:`available_models` (metadata only, no weights)."""

    name: str
    kind: str
    path: Path
    styles: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False, repr=False)


def builtin_model_dir() -> Path:
    """The package's own model folder (``painterly/data/models``)."""
    return Path(str(importlib.resources.files("painterly") / "data" / "models"))


def read_model_meta(path: str | Path) -> dict:
    """The metadata of a model file without loading its tensors (sidecar, else safetensors header)."""
    from ..io.model_file import FORMAT, HEADER_KEY

    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(MODEL_SUFFIX)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    sidecar = path.with_suffix(".json")
    try:
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text())
        else:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {}).get(HEADER_KEY) or "{}")
    except Exception as exc:  # safetensors, JSON and OS errors all mean "unreadable"
        raise ModelFileError(f"{path}: not a readable model file ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "kind" not in meta:
        raise ModelFileError(f"{path}: not a painterly model (no '{FORMAT}' metadata)")
    return meta


def _style_names(meta: dict, count: int | None = None) -> list[str]:
    names = [s.get("name", f"style{i}") if isinstance(s, dict) else str(s)
             for i, s in enumerate(meta.get("styles", []))]
    if count is not None and len(names) != count:
        names = names[:count] + [f"style{i}" for i in range(len(names), count)]
    return names


def available_models(folder: str | Path | None = None) -> list[ModelInfo]:
    """Model files in ``folder`` (default: the built-in ones), sorted by name; unreadable ones skipped."""
    folder = Path(folder) if folder is not None else builtin_model_dir()
    if not folder.is_dir():
        return []
    models = []
    for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
        try:
            meta = read_model_meta(path)
        except ModelFileError as exc:
            log.warning("skipping %s", exc)
            continue
        models.append(ModelInfo(path.name[: -len(MODEL_SUFFIX)], meta["kind"], path,
                                tuple(_style_names(meta)), meta))
    return models


PREFERENCES = ("quality", "speed")


def check_preference(prefer: str) -> str:
    """``prefer`` if it is one of :data:`PREFERENCES`, else a :class:`PainterlyError`."""
    if prefer not in PREFERENCES:
        raise PainterlyError(f"unknown preference {prefer!r}: use {' or '.join(PREFERENCES)}")
    return prefer


def is_speed_variant(model: ModelInfo) -> bool:
    """Whether a transformer model has the CPU-speed architecture (``fast_variant``)."""
    return bool(model.meta.get("architecture", {}).get("fast_variant", False))


def find_models_for_style(style: str, folder: str | Path | None = None, prefer: str = "quality") -> list[ModelInfo]:
    """Models holding style ``style``: single-style (fast) ones first, then multi-style ones; within each, the
    full architecture first (``prefer="quality"``) or the CPU-speed variant first (``prefer="speed"``)."""
    check_preference(prefer)
    holding = [m for m in available_models(folder) if style in m.styles and m.kind in TRANSFORMER_KINDS]
    return sorted(holding, key=lambda m: (m.kind != "fast", is_speed_variant(m) == (prefer == "quality"),
                                          len(m.styles), m.name))


def resolve_model_path(model: str | Path, folder: str | Path | None = None) -> Path:
    """A model argument (path, or the name of a model in ``folder``/the built-ins) -> its file."""
    path = Path(model)
    for candidate in (path, path.with_name(path.name + MODEL_SUFFIX)):
        if candidate.is_file():
            return candidate.with_suffix(MODEL_SUFFIX) if candidate.suffix == ".json" else candidate
    folder = Path(folder) if folder is not None else builtin_model_dir()
    for suffix in (MODEL_SUFFIX, ONNX_SUFFIX):
        named = folder / f"{path.name}{suffix}"
        if path.name == str(model) and named.is_file():
            return named
    if path.suffix or len(path.parts) > 1:
        raise ModelFileError(f"{model}: model file not found")
    names = [m.name for m in available_models(folder)]
    close = difflib.get_close_matches(str(model), names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listing = f" (built-in models: {', '.join(names)})" if names else " (no built-in models are installed)"
    raise ModelFileError(f"unknown model {str(model)!r}: not a file and not a built-in model{hint}{listing}")


# --------------------------------------------------------------------------- style arguments


def _unknown_style(name: str, names: Sequence[str], model: str) -> StyleNotFoundError:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return StyleNotFoundError(f"model {model!r} has no style {name!r}{hint} (its styles: {', '.join(names)})")


def style_index(key: int | str, names: Sequence[str], model: str = "model") -> int:
    """An index or name (or a numeric string) -> a checked index into ``names``."""
    if isinstance(key, str) and key not in names and key.lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise StyleNotFoundError(f"a style is an index or a name, not {type(key).__name__}")
    if isinstance(key, int):
        if not 0 <= key < len(names):
            raise StyleNotFoundError(f"style index {key} out of range: model {model!r} has {len(names)} "
                                     f"style{'s' if len(names) != 1 else ''} (0-{len(names) - 1}: {', '.join(names)})")
        return key
    if key not in names:
        raise _unknown_style(key, names, model)
    return names.index(key)


def style_weight_vector(style: StyleArg, names: Sequence[str], model: str = "model") -> torch.Tensor:
    """Any style argument -> a weight vector over ``names`` summing to 1 (float32, CPU).

    ``None`` (only for a one-style model), an index, a name, ``{key: weight}``, a sequence of
    ``(key, weight)`` pairs, or a full weight vector of ``len(names)`` numbers.
    """
    count = len(names)
    vector = torch.zeros(count, dtype=torch.float64)
    if style is None:
        if count != 1:
            raise StyleNotFoundError(f"model {model!r} holds {count} styles: pick one or a blend "
                                     f"({', '.join(names)})")
        vector[0] = 1.0
    elif isinstance(style, (int, str)) and not isinstance(style, bool):
        vector[style_index(style, names, model)] = 1.0
    elif isinstance(style, Mapping):
        for key, weight in style.items():
            vector[style_index(key, names, model)] += float(weight)
    elif isinstance(style, torch.Tensor) or (isinstance(style, Sequence) and style
                                             and all(isinstance(v, (int, float)) for v in style)):
        values = torch.as_tensor(style, dtype=torch.float64).flatten()
        if values.numel() != count:
            raise StyleNotFoundError(f"a style weight vector needs {count} values for model {model!r}, "
                                     f"got {values.numel()}")
        vector = values.clone()
    elif isinstance(style, Sequence):
        for item in style:
            key, weight = item if isinstance(item, tuple) else (item, 1.0)
            vector[style_index(key, names, model)] += float(weight)
    else:
        raise StyleNotFoundError(f"cannot use {type(style).__name__} as a style for model {model!r}")
    if not torch.isfinite(vector).all() or (vector < 0).any() or vector.sum() <= 0:
        raise StyleNotFoundError("style weights must be finite, >= 0 and not all 0")
    return (vector / vector.sum()).float()


# --------------------------------------------------------------------------- precision


def autocast_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = full float32).

    ``auto`` is fp16 on CUDA (activations of these small networks stay far inside fp16's
    range, the output is a sigmoid in [0, 1], and instance norm accumulates its statistics in
    float32) and float32 elsewhere.
    """
    if precision not in PRECISIONS:
        raise PainterlyError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    device_type = torch.device(device).type
    if precision == "fp32" or (precision == "auto" and device_type != "cuda"):
        return None
    if precision == "auto":
        return torch.float16
    return {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def autocast_context(device: torch.device | str, dtype: torch.dtype | None):
    """One autocast context for the whole forward pass, or a no-op."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


# --------------------------------------------------------------------------- transformer stylizer


class TransformerStylizer:
    """A fast (one style) or multistyle (conditional IN) :class:`TransformerNet` as a :class:`Stylizer`."""

    def __init__(self, net, kind: str, style_names: Sequence[str], name: str = "model",
                 precision: str = "auto", meta: dict | None = None):
        if kind not in TRANSFORMER_KINDS:
            raise ModelFileError(f"{name}: a {kind!r} model is not a transformer network")
        self.net = net.eval()
        self.kind = kind
        self.style_names = list(style_names)
        self.name = name
        self.meta = dict(meta or {})
        self.device = next(net.parameters()).device
        self.amp_dtype = autocast_dtype(precision, self.device)

    def __repr__(self) -> str:
        return f"TransformerStylizer({self.name!r}, kind={self.kind!r}, styles={self.style_names})"

    def style_weights(self, style: StyleArg = None) -> torch.Tensor:
        """The checked, normalised weight vector (len = number of styles) for ``style``."""
        return style_weight_vector(style, self.style_names, self.name)

    def network_style(self, style: StyleArg = None) -> torch.Tensor | None:
        """What :meth:`TransformerNet.forward` takes: None for one-style nets, else a weight vector."""
        weights = self.style_weights(style)
        return None if self.net.n_styles == 1 else weights.to(self.device)

    def __call__(self, images: torch.Tensor, style: StyleArg = None) -> torch.Tensor:
        images = _check_images(images)
        net_style = self.network_style(style)
        with torch.inference_mode(), autocast_context(self.device, self.amp_dtype):
            out = self.net(images.to(self.device, torch.float32), net_style)
        return out.float().to(images.device)


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise PainterlyError(f"expected images as a B x 3 x H x W tensor, got {shape}")
    return images


def transformer_config(architecture: dict, path: Path):
    """A :class:`TransformerConfig` from a model file's architecture; a clear error for unknown fields."""
    from ..nets.transformer import TransformerConfig

    known = {f.name for f in fields(TransformerConfig)}
    unknown = sorted(set(architecture) - known)
    if unknown:
        raise ModelFileError(f"{path}: architecture option(s) {', '.join(unknown)} need a newer painterly")
    try:
        return TransformerConfig(**architecture).validate()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: bad architecture ({exc})") from None


def load_transformer_stylizer(model: str | Path, device: str = "cpu", precision: str = "auto",
                              kind: str | None = None, folder: str | Path | None = None) -> TransformerStylizer:
    """Load a ``fast`` / ``multistyle`` model file (path or built-in name) as a :class:`TransformerStylizer`."""
    from ..nets.transformer import TransformerNet

    path = resolve_model_path(model, folder)
    loaded = load_model_file(path, expected_kind=kind or TRANSFORMER_KINDS)
    if loaded.kind not in TRANSFORMER_KINDS:
        raise ModelFileError(f"{path}: is a {loaded.kind!r} model, expected 'fast' or 'multistyle'")
    config = transformer_config(loaded.architecture, path)
    net = TransformerNet(config)
    try:
        net.load_state_dict(loaded.state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not match its architecture "
                             f"({str(exc).splitlines()[0][:160]})") from None
    names = _style_names(loaded.meta, config.n_styles)
    if loaded.kind == "fast" and config.n_styles != 1:
        raise ModelFileError(f"{path}: a 'fast' model must hold one style, this one has {config.n_styles}")
    name = path.name[: -len(MODEL_SUFFIX)]
    return TransformerStylizer(net.to(device), loaded.kind, names, name=name, precision=precision, meta=loaded.meta)


# --------------------------------------------------------------------------- dispatch


def method_available(kind: str) -> bool:
    """Whether the module providing ``kind`` is installed (e.g. ``adain`` is optional)."""
    if kind not in LOADERS:
        return False
    module = LOADERS[kind].split(":")[0]
    return importlib.util.find_spec(module) is not None


def _loader(kind: str):
    if kind not in LOADERS and kind != ONNX_SUFFIX:
        raise PainterlyError(f"a {kind!r} model is not a feed-forward stylizer (kinds: {', '.join(LOADERS)})")
    module_name, function = (ONNX_LOADER if kind == ONNX_SUFFIX else LOADERS[kind]).split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise PainterlyError(f"the {kind!r} method is not available in this painterly") from None
    return getattr(module, function)


def onnx_siblings(files: Sequence[Path], device: str, runtime: str) -> list[Path] | None:
    """ONNX exports lying next to a model to run instead, per ``runtime``: ``onnx`` requires all of
    ``files``; ``auto`` takes them on the CPU when they all exist and onnxruntime is installed
    (1.3-2x faster than eager PyTorch there, benchmarks/README.md); ``torch`` never does."""
    if runtime not in RUNTIMES:
        raise PainterlyError(f"unknown runtime {runtime!r}: use {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return None
    missing = [f for f in files if not f.is_file()]
    if runtime == "onnx":
        if missing:
            raise ModelFileError(f"{missing[0]}: no ONNX export of this model (make one with `painterly export`)")
        return list(files)
    usable = str(device) == "cpu" and not missing and importlib.util.find_spec("onnxruntime") is not None
    return list(files) if usable else None


def onnx_sibling(path: Path, device: str, runtime: str) -> Path | None:
    """The ``.onnx`` export next to a ``.safetensors`` transformer model to run instead (:func:`onnx_siblings`)."""
    found = onnx_siblings([path.with_suffix(ONNX_SUFFIX)], device, runtime)
    return found[0] if found else None


def load_stylizer(model: str | Path | None, kind: str | None = None, device: str = "cpu",
                  precision: str = "auto", folder: str | Path | None = None, runtime: str = "torch") -> Stylizer:
    """A :class:`Stylizer` from a model file path or built-in model name.

    ``kind`` (``fast``, ``multistyle``, ``adain``) is checked against the file's own kind;
    when None the file decides. ``model=None`` is allowed for kinds with a default model
    (``adain`` uses its built-in decoder). ``.onnx`` files exported by ``painterly export``
    run with onnxruntime; ``runtime`` (torch | onnx | auto) says whether a ``.onnx`` export
    lying next to a ``.safetensors`` model is used instead (see :func:`onnx_sibling`).
    """
    if model is None:
        if kind is None or kind in TRANSFORMER_KINDS:
            raise PainterlyError("a model name or file is needed for the fast and multistyle methods")
        return _loader(kind)(model=None, device=device, precision=precision)
    path = resolve_model_path(model, folder)
    if path.suffix == ONNX_SUFFIX:
        return _loader(ONNX_SUFFIX)(path, kind=kind, device=device)
    file_kind = read_model_meta(path)["kind"]
    if kind is not None and file_kind != kind:
        raise ModelFileError(f"{path}: is a {file_kind!r} model, expected {kind!r}")
    if file_kind in TRANSFORMER_KINDS:
        onnx = onnx_sibling(path, device, runtime)
        if onnx is not None:
            return _loader(ONNX_SUFFIX)(onnx, kind=kind, device=device)
        return load_transformer_stylizer(path, device=device, precision=precision)
    extra = {"runtime": runtime} if file_kind == "adain" else {}   # a compact AdaIN model's ONNX graphs
    return _loader(file_kind)(model=path, device=device, precision=precision, **extra)


__all__ = ["Stylizer", "TransformerStylizer", "ModelInfo", "load_stylizer", "load_transformer_stylizer",
           "available_models", "find_models_for_style", "PREFERENCES", "check_preference", "is_speed_variant", "resolve_model_path",
           "read_model_meta",
           "style_weight_vector", "style_index", "onnx_sibling", "onnx_siblings", "RUNTIMES", "autocast_dtype", "builtin_model_dir", "method_available"]
