"""Every style a user can name, with the methods that can render it.

Two sources: the built-in style statistics (:class:`painterly.styles.StyleRegistry`, which the
optimisation method and AdaIN use) and the trained networks (single-style ``fast`` models and
the styles inside ``multistyle`` models). ``painterly styles``, the web studio's gallery and
``GET /api/styles`` all read :func:`list_styles`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from .errors import StyleNotFoundError
from .methods.feedforward import TRANSFORMER_KINDS, ModelInfo, available_models
from .styles import StyleRegistry

METHOD_ORDER = ("fast", "multistyle", "adain", "optimize", "adaptive")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    artist: str
    year: str = ""
    methods: tuple[str, ...] = ()

    def label(self) -> str:
        year = f" ({self.year})" if self.year and self.year not in self.title else ""
        return f"{self.title}{year}, {self.artist}" if self.artist else f"{self.title}{year}"


def _model_style_meta(model: ModelInfo, name: str) -> dict:
    for style in model.meta.get("styles", []):
        if isinstance(style, dict) and style.get("name") == name:
            return style
    return {}


def list_styles(registry: StyleRegistry | None = None, model_dir: str | Path | None = None) -> list[CatalogEntry]:
    """All named styles, sorted by name; ``methods`` in :data:`METHOD_ORDER`."""
    registry = registry or StyleRegistry()
    found: dict[str, dict] = {}
    for name in registry.names():
        info = registry.info(name)
        found[name] = {"title": info.title, "artist": info.artist, "year": info.year, "methods": set(info.methods)}
    models = available_models(model_dir)
    if adain_installed(models):   # AdaIN renders every statistics style from its stored relu4_1 mean/std
        for entry in found.values():
            if "optimize" in entry["methods"]:
                entry["methods"].add("adain")
    for model in models:
        if model.kind not in (*TRANSFORMER_KINDS, "adaptive"):
            continue
        for name in model.styles:
            meta = _model_style_meta(model, name)
            entry = found.setdefault(name, {"title": meta.get("title", name), "artist": meta.get("artist", ""),
                                            "year": "", "methods": set()})
            entry["methods"].add(model.kind)
    return [CatalogEntry(name, v["title"], v["artist"], v["year"],
                         tuple(m for m in METHOD_ORDER if m in v["methods"]) +
                         tuple(sorted(v["methods"] - set(METHOD_ORDER))))
            for name, v in sorted(found.items())]


def adain_installed(models: list[ModelInfo]) -> bool:
    """Whether an AdaIN decoder is among ``models`` or ships with the package."""
    from .methods.adain import builtin_decoder_path

    return any(m.kind == "adain" for m in models) or builtin_decoder_path().is_file()


def method_status(model_dir: str | Path | None = None) -> dict[str, str | None]:
    """Each method -> None when it can run here, else why not (one line for the user)."""
    models = available_models(model_dir)
    kinds = {m.kind for m in models}
    status: dict[str, str | None] = {"optimize": None}
    for kind in ("fast", "multistyle"):
        status[kind] = None if kind in kinds else f"no {kind} network is installed"
    status["adain"] = None if adain_installed(models) else "no trained AdaIN decoder ships in this release"
    status["adaptive"] = None if "adaptive" in kinds else "no artist-level model ships in this release"
    return {m: status[m] for m in METHOD_ORDER}


def find_style(name: str, entries: list[CatalogEntry]) -> CatalogEntry:
    """The entry called ``name``; an unknown name raises with the closest names suggested."""
    for entry in entries:
        if entry.name == name:
            return entry
    names = [e.name for e in entries]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(names)})"
    raise StyleNotFoundError(f"unknown style {name!r}{hint}")


__all__ = ["CatalogEntry", "list_styles", "find_style", "method_status", "adain_installed", "METHOD_ORDER"]
