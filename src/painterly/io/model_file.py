"""Trained model files: safetensors weights plus a JSON sidecar.

A model ``NAME.safetensors`` holds the tensors (fp16 where quality allows, see ``dtype``) and
a copy of the metadata in the safetensors header; ``NAME.json`` next to it is the readable
sidecar with the same metadata:

    {"format": "painterly-model", "version": 1, "kind": "fast" | "multistyle" | "adain" | ...,
     "architecture": {...},            # e.g. TransformerConfig fields
     "styles": [{"name": ..., "artist": ..., "title": ...}, ...],
     "training": {...},                # resolved training config, steps, seconds, hardware
     "metrics": {...}}

The header copy makes a lone ``.safetensors`` file self-describing; the sidecar wins when
both exist. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import PainterlyError
from .atomic import publish

FORMAT = "painterly-model"
VERSION = 1
HEADER_KEY = "painterly"


class ModelFileError(PainterlyError):
    """A model file that is missing, unreadable, or of the wrong kind."""


@dataclass
class ModelFile:
    """What :func:`load_model_file` returns."""

    path: Path
    kind: str
    state: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @property
    def architecture(self) -> dict:
        return self.meta.get("architecture", {})

    @property
    def style_names(self) -> list[str]:
        return [s.get("name", f"style{i}") for i, s in enumerate(self.meta.get("styles", []))]


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model_file(path: str | os.PathLike, kind: str, state: dict[str, torch.Tensor], meta: dict | None = None,
                    dtype: torch.dtype | None = torch.float16) -> Path:
    """Write ``state`` (cast to ``dtype`` for floating tensors; None keeps it) and the sidecar."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    meta = {"format": FORMAT, "version": VERSION, "kind": kind, **(meta or {})}
    tensors = {k: (v.detach().to(dtype) if dtype is not None and v.is_floating_point() else v.detach())
               .contiguous().cpu() for k, v in state.items()}
    text = json.dumps(meta, indent=2, sort_keys=True, default=str)
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={HEADER_KEY: text}))
    _atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text + "\n"))
    return path


def load_model_file(path: str | os.PathLike, expected_kind: str | tuple[str, ...] | None = None) -> ModelFile:
    """Read a model file; raises :class:`ModelFileError` with a one-line reason on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        state = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = (handle.metadata() or {}).get(HEADER_KEY)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: not a readable model file ({str(exc).splitlines()[0][:120]})") from None
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else json.loads(header or "{}")
    except (json.JSONDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{sidecar}: unreadable model metadata ({exc})") from None
    if meta.get("format") != FORMAT or "kind" not in meta:
        raise ModelFileError(f"{path}: not a painterly model (no '{FORMAT}' metadata)")
    kind = meta["kind"]
    if expected_kind is not None:
        allowed = (expected_kind,) if isinstance(expected_kind, str) else tuple(expected_kind)
        if kind not in allowed:
            raise ModelFileError(f"{path}: is a {kind!r} model, expected {' or '.join(map(repr, allowed))}")
    return ModelFile(path=path, kind=kind, state={k: v.float() if v.is_floating_point() else v
                                                   for k, v in state.items()}, meta=meta)


__all__ = ["ModelFile", "ModelFileError", "save_model_file", "load_model_file"]
