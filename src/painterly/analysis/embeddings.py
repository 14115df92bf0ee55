"""What a stylizer "thinks" of an image: a fixed-length embedding per method, and distances.

Re-encoding (:mod:`painterly.analysis.reencode`) records, at chosen passes, the stylizer's
embedding of the image it is given. The embedding is a vector whose length depends on the
network only, never on the image size:

``fast``, ``multistyle`` (:class:`~painterly.nets.transformer.TransformerNet`)
    the bottleneck: the features after the last residual block (after the downsampling
    stage when ``depth`` is 0), pooled over positions into the channel means followed by the
    channel standard deviations, ``sqrt(biased variance + 1e-5)``
    (:func:`painterly.ops.channel_mean_std`). C = 4 * width channels (2 * width for the
    ``fast_variant``), so 2C values: 128 for ``width=16`` (``wheat_field``). The features
    are taken with a forward hook during the stylising pass itself, so recording costs
    nothing extra; they include the network's reflection padding to a multiple of 4.
``adain``
    the encoder's view: VGG19 ``relu4_1`` of the image (reflection-padded to a multiple of
    8, as the stylizer does), channel means then standard deviations: 1024 values. These
    are exactly the statistics AdaIN replaces, i.e. the image's "style" as AdaIN sees it.

Other methods plug in either way:

* a stylizer object with ``embed(images) -> B x D tensor`` (or ``embed(images, style)``;
  optionally an ``embedding_description`` string) is used as it is, as the artist-level
  ``adaptive`` stylizer does (its encoder bottleneck, channel means and stds); or
* an entry in :data:`EMBEDDINGS` maps its ``kind`` to ``"module:function"``, a function
  ``(stylizer, style) -> Probe`` imported lazily (as :data:`painterly.methods.feedforward.LOADERS`).

A method with neither has no embedding: :func:`embedding_probe` raises a
:class:`NoEmbeddingError` naming the methods that have one.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import PainterlyError
from ..ops import channel_mean_std

# kind -> "module:function" making a Probe from (stylizer, style); imported lazily.
EMBEDDINGS: Mapping[str, str] = {
    "fast": "painterly.analysis.embeddings:transformer_probe",
    "multistyle": "painterly.analysis.embeddings:transformer_probe",
    "adain": "painterly.analysis.embeddings:adain_probe",
}
DESCRIPTIONS: Mapping[str, str] = {
    "fast": "TransformerNet bottleneck (after the residual blocks): channel means then stds over positions",
    "multistyle": "TransformerNet bottleneck (after the residual blocks): channel means then stds over positions",
    "adain": "VGG19 relu4_1 of the input: channel means then stds over positions",
}
EMBEDDING_FILE = re.compile(r"^pass_(\d+)\.npy$")

# A probe runs one stylising pass: (images, embed?) -> (stylised images, B x D embedding of the input or None).
Probe = Callable[[torch.Tensor, bool], tuple[torch.Tensor, "torch.Tensor | None"]]


class NoEmbeddingError(PainterlyError):
    """A stylizer for which no embedding is defined."""


# --------------------------------------------------------------------------- pooling


def pooled_mean_std(features: torch.Tensor) -> torch.Tensor:
    """B x C x H x W features -> B x 2C: channel means, then channel stds (sqrt(var + 1e-5))."""
    mean, std = channel_mean_std(features.float())
    return torch.cat([mean.flatten(1), std.flatten(1)], dim=1)


@contextlib.contextmanager
def capture_output(module: nn.Module):
    """Collect the outputs of ``module`` while the block runs (a forward hook, removed afterwards)."""
    outputs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: outputs.append(output.detach()))
    try:
        yield outputs
    finally:
        handle.remove()


# --------------------------------------------------------------------------- per-method probes


def bottleneck_module(net: nn.Module) -> nn.Module:
    """The :class:`TransformerNet` module whose output is the bottleneck (last residual block)."""
    if len(net.res):
        return net.res[-1]
    return net.down[-1]


def plain_probe(stylizer, style=None) -> Probe:
    """A probe that only stylises (no embedding)."""
    def probe(images: torch.Tensor, embed: bool = False):
        if embed:
            raise NoEmbeddingError("this probe records no embedding")
        return stylizer(images, style), None
    return probe


def transformer_probe(stylizer, style=None) -> Probe:
    """Fast / multistyle: the bottleneck features pooled to means and stds, hooked during the pass."""
    net = getattr(stylizer, "net", None)
    if not isinstance(net, nn.Module) or not hasattr(net, "res"):
        raise NoEmbeddingError(f"{getattr(stylizer, 'name', 'this model')}: the bottleneck embedding needs the "
                               f"PyTorch network (an ONNX runtime model has none; use the .safetensors file)")
    module = bottleneck_module(net)

    def probe(images: torch.Tensor, embed: bool = False):
        if not embed:
            return stylizer(images, style), None
        with capture_output(module) as outputs:
            out = stylizer(images, style)
        return out, pooled_mean_std(outputs[-1]).cpu()
    return probe


def adain_probe(stylizer, style=None) -> Probe:
    """AdaIN: relu4_1 channel means and stds of the input, as the stylizer encodes it."""
    from ..methods.adain import pad_to_multiple
    from ..ops import resize_longer_side

    def probe(images: torch.Tensor, embed: bool = False):
        out = stylizer(images, style)
        if not embed:
            return out, None
        with torch.inference_mode():
            work = images.to(stylizer.device, torch.float32)
            if getattr(stylizer.config, "content_size", None):
                work = resize_longer_side(work, stylizer.config.content_size)
            padded, _ = pad_to_multiple(work)
            vector = pooled_mean_std(stylizer.encode(padded)).cpu()
        return out, vector
    return probe


def _takes_style(function) -> bool:
    """Whether ``embed`` accepts a style argument after the images (``embed(images)`` is fine too)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _custom_probe(stylizer, style) -> Probe:
    with_style = _takes_style(stylizer.embed)

    def probe(images: torch.Tensor, embed: bool = False):
        out = stylizer(images, style)
        if not embed:
            return out, None
        vector = stylizer.embed(images, style) if with_style else stylizer.embed(images)
        vector = torch.as_tensor(vector).detach().float().cpu()
        return out, vector.reshape(images.shape[0], -1)
    return probe


def has_embedding(stylizer) -> bool:
    return callable(getattr(stylizer, "embed", None)) or getattr(stylizer, "kind", None) in EMBEDDINGS


def embedding_probe(stylizer, style=None) -> Probe:
    """The probe recording ``stylizer``'s embedding (module docstring); NoEmbeddingError if it has none."""
    if callable(getattr(stylizer, "embed", None)):
        return _custom_probe(stylizer, style)
    kind = getattr(stylizer, "kind", None)
    if kind not in EMBEDDINGS:
        raise NoEmbeddingError(f"the {kind} method defines no embedding (methods with one: "
                               f"{', '.join(sorted(set(EMBEDDINGS)))}); run without --embeddings and --log")
    module_name, function = EMBEDDINGS[kind].split(":")
    return getattr(importlib.import_module(module_name), function)(stylizer, style)


def embedding_description(stylizer) -> str:
    """One line saying what the embedding of ``stylizer`` is."""
    custom = getattr(stylizer, "embedding_description", None)
    if isinstance(custom, str):
        return custom
    embed = getattr(stylizer, "embed", None)
    if callable(embed):
        doc = (inspect.getdoc(embed) or "").strip().splitlines()
        return f"{type(stylizer).__name__}.embed: {doc[0]}" if doc else f"{type(stylizer).__name__}.embed"
    return DESCRIPTIONS.get(getattr(stylizer, "kind", None), "custom embedding")


# --------------------------------------------------------------------------- distances


def embedding_distances(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """For a sequence (T x D): ``norm`` |e_t|, ``step`` |e_t - e_{t-1}| (NaN at t=0), ``first`` |e_t - e_0|."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise PainterlyError(f"expected a T x D sequence of embeddings, got shape {vectors.shape}")
    step = np.full(len(vectors), np.nan)
    step[1:] = np.linalg.norm(np.diff(vectors, axis=0), axis=1)
    return {"norm": np.linalg.norm(vectors, axis=1), "step": step,
            "first": np.linalg.norm(vectors - vectors[0], axis=1)}


class DistanceTracker:
    """The same distances as :func:`embedding_distances`, one embedding at a time (keeps two vectors)."""

    def __init__(self):
        self.first: np.ndarray | None = None
        self.previous: np.ndarray | None = None

    def update(self, vector: np.ndarray) -> dict[str, float]:
        vector = np.asarray(vector, dtype=np.float64).ravel()
        if self.first is None:
            self.first = vector
        step = math.nan if self.previous is None else float(np.linalg.norm(vector - self.previous))
        self.previous = vector
        return {"norm": float(np.linalg.norm(vector)), "step": step,
                "first": float(np.linalg.norm(vector - self.first))}


# --------------------------------------------------------------------------- reading a run


@dataclass
class EmbeddingSequence:
    """One image's recorded embeddings: its label (folder), the pass numbers and a T x D matrix."""

    label: str
    passes: np.ndarray
    vectors: np.ndarray

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def load_sequences(folder: str | Path) -> list[EmbeddingSequence]:
    """Every ``pass_NNNNNN.npy`` under ``folder``, one sequence per sub-folder, ordered by pass.

    Raises :class:`PainterlyError` for a missing folder, a folder without embeddings, an
    unreadable file, or embeddings of different lengths (runs of different methods mixed).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PainterlyError(f"{folder}: not a folder")
    groups: dict[Path, list[tuple[int, Path]]] = {}
    for path in folder.rglob("pass_*.npy"):
        match = EMBEDDING_FILE.match(path.name)
        if match and path.is_file():
            groups.setdefault(path.parent, []).append((int(match.group(1)), path))
    if not groups:
        raise PainterlyError(f"{folder}: no embeddings (pass_NNNNNN.npy files) in it; "
                             f"write them with `painterly reencode ... --embeddings`")
    sequences = []
    for parent in sorted(groups):
        items = sorted(groups[parent])
        vectors = np.stack([_read_vector(path) for _, path in items])
        label = parent.relative_to(folder).as_posix() if parent != folder else folder.name
        sequences.append(EmbeddingSequence(label, np.array([p for p, _ in items]), vectors))
    dims = sorted({s.dim for s in sequences})
    if len(dims) > 1:
        raise PainterlyError(f"{folder}: embeddings of different lengths ({', '.join(map(str, dims))}): "
                             f"runs of different models are mixed")
    return sequences


def _read_vector(path: Path) -> np.ndarray:
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PainterlyError(f"{path}: not a readable .npy file ({str(exc).splitlines()[0][:100]})") from None
    if vector.ndim != 1 or vector.size == 0 or not np.issubdtype(vector.dtype, np.number):
        raise PainterlyError(f"{path}: expected a 1-D numeric embedding, got shape {vector.shape}")
    return vector.astype(np.float64)


def stack_sequences(sequences: Sequence[EmbeddingSequence]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All sequences as one matrix: (N x D vectors, N sequence indices, N pass numbers)."""
    vectors = np.concatenate([s.vectors for s in sequences])
    owner = np.concatenate([np.full(len(s.passes), i) for i, s in enumerate(sequences)])
    passes = np.concatenate([s.passes for s in sequences])
    return vectors, owner, passes


__all__ = ["EMBEDDINGS", "DESCRIPTIONS", "Probe", "NoEmbeddingError", "pooled_mean_std", "capture_output",
           "bottleneck_module", "transformer_probe", "adain_probe", "plain_probe", "embedding_probe", "has_embedding",
           "embedding_description", "embedding_distances", "DistanceTracker", "EmbeddingSequence", "load_sequences",
           "stack_sequences"]
