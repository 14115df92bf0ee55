"""The style pool of a batch run: ``--styles`` and ``--model`` turned into checked, labelled styles.

``fast``        each style is a single-style model: a model name or file, or a built-in style
                name that a fast model holds; or one ``--model``.
``multistyle``  ``--model`` (or the multistyle model holding all the names); ``--styles`` picks
                among its styles (default: all of them).
``adain``       ``--model`` is the decoder; ``--styles`` is one folder of style images, or style
                image files and built-in style names (their stored statistics).

Everything is checked before any image is touched, so a typo is one ``error:`` line.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PainterlyError, StyleNotFoundError
from .config import BatchConfig
from .plan import is_image_name

LABEL_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class BatchStyle:
    """One style of the pool: its label (in file names and the manifest) and how to load it."""

    label: str
    model: str | None            # model file (resolved path), or None for the built-in AdaIN decoder
    name: str | None = None      # style name inside the model (multistyle) or built-in statistics (adain)
    image: str | None = None     # style image file (adain)
    settings: str = "{}"         # the manifest's settings column for this style (JSON)


def file_digest(path: str | Path, length: int = 16) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def label_for(text: str) -> str:
    """A file-name-safe label without dots (so ``stem.label.ext`` names cannot collide)."""
    return LABEL_CHARS.sub("_", text).strip("_") or "style"


def resolve_styles(config: BatchConfig) -> list[BatchStyle]:
    """The checked style pool for ``config`` (see the module docstring); raises a one-line error."""
    resolver = {"fast": _fast_styles, "multistyle": _multistyle_styles, "adain": _adain_styles}[config.method]
    styles = resolver(config)
    if not styles:
        raise StyleNotFoundError("no styles: give --styles (names, files or a folder of style images)")
    labels = [s.label for s in styles]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise PainterlyError(f"style label(s) {', '.join(duplicates)} given twice (labels are file names "
                             f"with characters other than letters, digits, _ and - replaced)")
    if config.per_image > len(styles):
        raise PainterlyError(f"--per-image {config.per_image} but only {len(styles)} style"
                             f"{'s' if len(styles) != 1 else ''} to choose from")
    return styles


def _settings(config: BatchConfig, model: str | None, model_file: str | Path | None, **extra) -> str:
    settings = {"model": model, "model_sha256": file_digest(model_file) if model_file else None,
                "size": config.size, "seed": config.seed, "per_image": config.per_image, **extra}
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def _model_name(path: Path) -> str:
    from ..methods.feedforward import MODEL_SUFFIX

    return path.name[: -len(MODEL_SUFFIX)] if path.name.endswith(MODEL_SUFFIX) else path.stem


def _resolve_model(model: str, config: BatchConfig, kind: str) -> Path:
    from ..methods.feedforward import read_model_meta, resolve_model_path

    path = resolve_model_path(model, config.model_dir)
    if path.suffix == ".safetensors":
        file_kind = read_model_meta(path)["kind"]
        if file_kind != kind:
            raise PainterlyError(f"{model}: is a {file_kind!r} model, and --method is {kind}")
    return path


def _fast_styles(config: BatchConfig) -> list[BatchStyle]:
    from ..methods.feedforward import find_models_for_style

    if config.model is not None and config.styles:
        raise PainterlyError("--method fast: give the models either as --styles NAME... or as one --model, not both")
    specs = [config.model] if config.model is not None else list(config.styles)
    styles = []
    for spec in specs:
        holders = [m for m in find_models_for_style(spec, config.model_dir) if m.kind == "fast"]
        path = holders[0].path if holders and not Path(spec).exists() else _resolve_model(spec, config, "fast")
        name = _model_name(path)
        styles.append(BatchStyle(label_for(name), str(path), settings=_settings(config, name, path)))
    return styles


def _multistyle_styles(config: BatchConfig) -> list[BatchStyle]:
    from ..methods.feedforward import available_models, read_model_meta, style_index, _style_names

    if config.model is not None:
        path = _resolve_model(config.model, config, "multistyle")
    else:
        holders = [m for m in available_models(config.model_dir) if m.kind == "multistyle"
                   and config.styles and all(s in m.styles for s in config.styles)]
        if not holders:
            raise StyleNotFoundError("--method multistyle needs --model, or --styles that one multistyle model "
                                     "holds all of")
        path = holders[0].path
    name = _model_name(path)
    if path.suffix == ".onnx":
        from ..methods.onnx_runtime import load_onnx_stylizer

        names = load_onnx_stylizer(path).style_names
    else:
        names = _style_names(read_model_meta(path))
    chosen = list(config.styles) or names
    settings = _settings(config, name, path)
    for style in chosen:
        style_index(style, names, name)  # raises with suggestions for a typo
    return [BatchStyle(label_for(str(names[style_index(s, names, name)])), str(path),
                       name=str(names[style_index(s, names, name)]), settings=settings) for s in chosen]


def _adain_styles(config: BatchConfig) -> list[BatchStyle]:
    from ..io.image import open_image
    from ..methods.adain import builtin_decoder_path
    from ..styles import StyleRegistry

    if config.model is not None:
        path = Path(config.model)
        if not path.is_file() and not path.suffix and path.with_suffix(".safetensors").is_file():
            path = path.with_suffix(".safetensors")
        if not path.is_file():
            raise PainterlyError(f"{config.model}: AdaIN decoder file not found")
        _resolve_model(str(path), config, "adain")
    else:
        path = builtin_decoder_path()
        if not path.is_file():
            raise PainterlyError("no built-in AdaIN decoder ships in this release: train one with `painterly train "
                                 "adain` and pass it with --model")
    model = _model_name(path)
    specs = list(config.styles)
    if len(specs) == 1 and Path(specs[0]).is_dir():
        folder = Path(specs[0])
        specs = [str(p) for p in sorted(folder.iterdir()) if p.is_file() and is_image_name(p.name)]
        if not specs:
            raise StyleNotFoundError(f"{folder}: no style images in this folder")
    builtin = StyleRegistry().names()
    styles = []
    for spec in specs:
        if Path(spec).is_file():
            open_image(spec, config.max_pixels)  # a broken style image stops the run before it starts
            styles.append(BatchStyle(label_for(Path(spec).stem), str(path), image=str(Path(spec).resolve()),
                                     settings=_settings(config, model, path, style_sha256=file_digest(spec))))
        elif spec in builtin:
            styles.append(BatchStyle(label_for(spec), str(path), name=spec, settings=_settings(config, model, path)))
        else:
            close = difflib.get_close_matches(spec, builtin, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise StyleNotFoundError(f"{spec!r} is neither a style image nor a built-in style{hint} "
                                     f"(built-in: {', '.join(builtin)})")
    return styles


__all__ = ["BatchStyle", "resolve_styles", "label_for", "file_digest"]
