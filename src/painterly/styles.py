"""Built-in styles: statistics we computed from public-domain paintings, shipped without the
paintings themselves.

Each built-in style is two files in ``painterly/data/styles``:

* ``NAME.json``: name, title, artist, year, licence, the source file it was computed from,
  the reference sizes (longer side of the painting in px) and the layers;
* ``NAME.stats.safetensors``: for each reference size S and VGG19 layer L,
  ``S.gram.L`` (the upper triangle of the symmetric C x C Gram matrix), ``S.mean.L`` and
  ``S.std.L`` (C each), stored in float16 after dividing by ``scale.S.KIND.L`` (float32) so
  the values fit float16's range. A Gram matrix of low rank is stored instead as
  ``S.gramfactor.L``, a C x r factor P with P P^T = G (within ``GRAM_FACTOR_TOLERANCE``, far
  below float16's own rounding), wherever that takes fewer numbers: a painting seen at 128 px
  has only 8 x 5 positions at relu5_1, so its 512 x 512 Gram matrix has rank 40 at most.

Gram statistics depend on the scale at which a painting is seen (brush strokes are bigger
relative to VGG's receptive fields in a small image), so several reference sizes are stored
and the one nearest the size asked for is used.

A *style spec* on the command line is ``NAME`` or ``PATH``, optionally ``:WEIGHT``.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import StyleNotFoundError
from .features import VGG19Features, resolve_layers
from .losses import calc_mean_std, gram

STATS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STATS_SUFFIX = ".stats.safetensors"
GRAM_FACTOR_TOLERANCE = 1e-4   # relative Frobenius error of a stored low-rank factor (float16 rounds at ~5e-4)


@dataclass(frozen=True)
class StyleInfo:
    """What a user sees of a built-in style."""

    name: str
    title: str
    artist: str
    year: str = ""
    licence: str = ""
    source: str = ""
    reference_sizes: tuple[int, ...] = (512,)
    layers: tuple[str, ...] = STATS_LAYERS
    methods: tuple[str, ...] = ("optimize",)
    # the optimisation's default --style-balance for this painting, where the general default loses the photo
    style_balance: float | None = None


@dataclass
class StyleStats:
    """Feature statistics of a style image: Gram matrices and channel mean/std per layer."""

    grams: dict[str, torch.Tensor] = field(default_factory=dict)   # layer -> C x C
    means: dict[str, torch.Tensor] = field(default_factory=dict)   # layer -> C
    stds: dict[str, torch.Tensor] = field(default_factory=dict)    # layer -> C

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "StyleStats":
        move = lambda d: {k: v.to(device=device, dtype=dtype) for k, v in d.items()}  # noqa: E731
        return StyleStats(move(self.grams), move(self.means), move(self.stds))


def compute_style_stats(features: VGG19Features, image: torch.Tensor) -> StyleStats:
    """Gram, mean and std of ``image`` (1 x 3 x H x W in [0, 1]) at every layer ``features`` returns."""
    with torch.no_grad():
        feats = features(image)
    stats = StyleStats()
    for layer, value in feats.items():
        stats.grams[layer] = gram(value.float())[0]
        mean, std = calc_mean_std(value.float())
        stats.means[layer], stats.stds[layer] = mean.flatten(), std.flatten()
    return stats


def blend_stats(items: Sequence[tuple[StyleStats, float]]) -> StyleStats:
    """Weighted average of several styles' statistics (weights normalised to sum to 1).

    For Gram losses this is exact: sum_k w_k ||G - A_k||^2 equals (sum w)||G - mean_w A||^2 plus
    a constant, so optimising against the blended Gram gives the same gradients.
    """
    total = sum(weight for _, weight in items)
    if total <= 0:
        raise ValueError("style weights must add up to more than 0")
    out = StyleStats()
    for attr in ("grams", "means", "stds"):
        layers = set.intersection(*(set(getattr(stats, attr)) for stats, _ in items))
        for layer in layers:
            getattr(out, attr)[layer] = sum(getattr(stats, attr)[layer] * (weight / total) for stats, weight in items)
    return out


def _pack_symmetric(matrix: torch.Tensor) -> torch.Tensor:
    rows, cols = torch.triu_indices(matrix.shape[0], matrix.shape[1])
    return matrix[rows, cols]


def _unpack_symmetric(packed: torch.Tensor) -> torch.Tensor:
    channels = int(round(((8 * packed.numel() + 1) ** 0.5 - 1) / 2))
    rows, cols = torch.triu_indices(channels, channels)
    matrix = torch.zeros(channels, channels, dtype=packed.dtype)
    matrix[rows, cols] = packed
    matrix[cols, rows] = packed
    return matrix


def low_rank_factor(matrix: torch.Tensor, tolerance: float = GRAM_FACTOR_TOLERANCE) -> torch.Tensor | None:
    """A C x r factor P of the symmetric positive semi-definite ``matrix`` G with
    ||P P^T - G||_F <= ``tolerance`` ||G||_F and r as small as that allows (its top eigenpairs), or
    None when P would hold as many numbers as G's upper triangle or more."""
    channels = matrix.shape[0]
    values, vectors = torch.linalg.eigh(matrix.double())
    order = values.argsort(descending=True)
    values, vectors = values[order], vectors[:, order]
    tail = values.pow(2).flip(0).cumsum(0).flip(0).sqrt()   # tail[r]: the error of keeping the first r
    rank = int((tail > tolerance * matrix.double().norm()).sum())
    if rank * channels >= channels * (channels + 1) // 2:
        return None
    return (vectors[:, :rank] * values[:rank].clamp_min(0).sqrt()).float()


def save_style_stats(stats_by_size: Mapping[int, StyleStats], info: StyleInfo, folder: str | Path) -> Path:
    """Write ``NAME.stats.safetensors`` (fp16, scaled per tensor) and ``NAME.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for size, stats in stats_by_size.items():
        for kind, table in (("gram", stats.grams), ("mean", stats.means), ("std", stats.stds)):
            for layer, value in table.items():
                stored_kind, value = kind, value.float()
                if kind == "gram":
                    factor = low_rank_factor(value)
                    stored_kind, value = ("gram", _pack_symmetric(value)) if factor is None else ("gramfactor", factor)
                scale = float(value.abs().max().clamp_min(1e-12)) / 1024.0
                tensors[f"{size}.{stored_kind}.{layer}"] = (value / scale).half().contiguous()
                tensors[f"scale.{size}.{stored_kind}.{layer}"] = torch.tensor([scale], dtype=torch.float32)
    save_file(tensors, str(folder / f"{info.name}{STATS_SUFFIX}"))
    meta = {**info.__dict__, "reference_sizes": sorted(stats_by_size), "layers": list(info.layers),
            "methods": list(info.methods)}
    if info.style_balance is None:
        del meta["style_balance"]
    (folder / f"{info.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder / f"{info.name}{STATS_SUFFIX}"


def load_style_stats(path: str | Path) -> dict[int, StyleStats]:
    """All reference sizes' statistics from a ``.stats.safetensors`` file."""
    raw = load_file(str(path))
    out: dict[int, StyleStats] = {}
    for key, value in raw.items():
        if key.startswith("scale."):
            continue
        size, kind, layer = key.split(".", 2)
        stats = out.setdefault(int(size), StyleStats())
        value = value.float() * raw[f"scale.{key}"].item()
        if kind == "gramfactor":
            stats.grams[layer] = value @ value.T
            continue
        table = {"gram": stats.grams, "mean": stats.means, "std": stats.stds}[kind]
        table[layer] = _unpack_symmetric(value) if kind == "gram" else value
    return out


def nearest_size(available, wanted: float) -> int:
    """The available reference size closest to ``wanted`` on a log scale."""
    import math

    return min(available, key=lambda size: abs(math.log(size / max(wanted, 1.0))))


class StyleRegistry:
    """The built-in styles found in a folder (by default, the package's own data)."""

    def __init__(self, folder: str | Path | None = None):
        if folder is None:
            folder = importlib.resources.files("painterly") / "data" / "styles"
        self.folder = Path(str(folder))

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name[: -len(".json")] for p in self.folder.glob("*.json"))

    def info(self, name: str) -> StyleInfo:
        path = self.folder / f"{name}.json"
        if not path.is_file():
            raise StyleNotFoundError(self._unknown_message(name))
        meta = json.loads(path.read_text())
        meta["layers"] = tuple(meta.get("layers", STATS_LAYERS))
        meta["reference_sizes"] = tuple(meta.get("reference_sizes", (512,)))
        meta["methods"] = tuple(meta.get("methods", ("optimize",)))
        return StyleInfo(**{k: v for k, v in meta.items() if k in StyleInfo.__dataclass_fields__})

    def stats(self, name: str, size: float | None = None) -> StyleStats:
        """Statistics of a built-in style at the stored reference size nearest ``size`` (default: largest)."""
        return self.all_stats(name)[self.size_for(name, size)]

    def all_stats(self, name: str) -> dict[int, StyleStats]:
        self.info(name)  # raises a helpful error for unknown names
        return load_style_stats(self.folder / f"{name}{STATS_SUFFIX}")

    def size_for(self, name: str, size: float | None) -> int:
        sizes = self.info(name).reference_sizes
        return max(sizes) if size is None else nearest_size(sizes, size)

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"unknown style {name!r}: not a built-in style and not an image file{hint} "
                f"(`painterly styles` lists the built-in ones)")


@dataclass(frozen=True)
class StyleSpec:
    """A parsed ``NAME|PATH[:WEIGHT]``."""

    source: str
    weight: float = 1.0

    @property
    def is_file(self) -> bool:
        return Path(self.source).is_file()


def parse_style_spec(text: str) -> StyleSpec:
    """``"starry_night"``, ``"a.jpg:0.7"``, ``"C:/x.jpg"`` (a drive letter is not a weight)."""
    source, weight = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep and head and not Path(text).exists():
        try:
            weight = float(tail)
            source = head
        except ValueError:
            pass
    if weight < 0:
        raise StyleNotFoundError(f"style weight must be >= 0 in {text!r}")
    return StyleSpec(source, weight)


def resolve_layers_or_default(layers: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    return resolve_layers(layers) if layers else tuple(default)


def stats_for_layers(stats: StyleStats, layers: Sequence[str]) -> Mapping[str, torch.Tensor]:
    """The Gram matrices of ``stats`` at ``layers``; a clear error if one was not stored."""
    missing = [layer for layer in layers if layer not in stats.grams]
    if missing:
        raise StyleNotFoundError(f"built-in style statistics have no layer(s) {', '.join(missing)}; "
                                 f"stored layers: {', '.join(stats.grams)} (use the painting file for others)")
    return {layer: stats.grams[layer] for layer in layers}


def stats_mean_std(stats: StyleStats, layers: Sequence[str]) -> Mapping[str, tuple[torch.Tensor, torch.Tensor]]:
    """The channel (mean, std) of ``stats`` at ``layers``; a clear error if one was not stored."""
    missing = [layer for layer in layers if layer not in stats.means or layer not in stats.stds]
    if missing:
        raise StyleNotFoundError(f"the style's statistics have no layer(s) {', '.join(missing)}; "
                                 f"stored layers: {', '.join(stats.means)} (choose --style-layers among them)")
    return {layer: (stats.means[layer], stats.stds[layer]) for layer in layers}

