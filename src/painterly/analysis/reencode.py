"""Re-encoding: feed a stylised image back through the stylizer, again and again.

Pass 0 is the input image; pass p is the stylizer applied p times. Every ``every``-th pass
(pass 0 included: passes 0, K, 2K, ... so ``reencodes // every + 1`` of them) is "saved":
the consumers get its image and, when asked, the stylizer's embedding of that image
(:mod:`painterly.analysis.embeddings`: what the network's encoder makes of it, a vector
independent of the image size).

Between passes the image is rounded to 8 bits (``quantize``), as if each pass were saved
to a PNG and loaded again, so a run can be resumed or checked from its own PNGs.

Nothing here keeps the sequence: :func:`reencode` is a generator holding only the current
image, and :func:`run_reencode` hands each saved pass to streaming sinks (PNG and ``.npy``
files, a CSV of distances, an :class:`~painterly.io.streaming.AnimationStream`, TensorBoard
scalars) and drops it. Memory stays flat for 10,000+ passes; only the TensorBoard projector
keeps small thumbnails, at most ``projector_points`` of them in all.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

from ..errors import PainterlyError
from ..io.image import save_image, tensor_to_pil
from ..progress import Progress, ProgressCallback, notify
from .embeddings import DistanceTracker, Probe

ANIMATIONS = ("gif", "mp4", "none")
PASS_FILE = re.compile(r"^pass_\d+\.(png|npy)$")
DISTANCES_FILE = "distances.csv"
THUMBNAIL = 32


@dataclass(frozen=True)
class ReencodeConfig:
    """Settings of a re-encoding run; the ``painterly reencode`` flags derive from these fields."""

    reencodes: int = 100            # N: passes through the stylizer
    every: int = 1                  # K: save every K-th pass (pass 0, the input, always)
    size: int | None = None         # longer side the inputs are resized to (default: as they are)
    embeddings: bool = False        # record the stylizer's embedding at every saved pass
    quantize: bool = True           # round to 8 bits between passes (as saving and reloading a PNG)
    seed: int = 0
    animation: str = "gif"          # gif | mp4 | none: the saved passes as an animation
    fps: float = 10.0
    projector_points: int = 1000    # most points (with thumbnails) in the TensorBoard projector, all images

    def validate(self) -> "ReencodeConfig":
        for name in ("reencodes", "every", "projector_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PainterlyError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size must be at least 16 px, not {self.size}")
        if self.animation not in ANIMATIONS:
            raise PainterlyError(f"unknown animation {self.animation!r}: use {', '.join(ANIMATIONS)}")
        if not self.fps > 0:
            raise PainterlyError(f"fps must be positive, got {self.fps}")
        return self

    @property
    def saved_count(self) -> int:
        """Saved passes per image: floor(N / K) + 1."""
        return self.reencodes // self.every + 1

    def is_saved(self, index: int) -> bool:
        return index % self.every == 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReencodePass:
    """One pass: its number, the image (1 x 3 x H x W, [0, 1]; do not keep it), whether it is saved,
    and the stylizer's embedding of it (1-D float32) when one was asked for."""

    index: int
    image: torch.Tensor
    saved: bool
    embedding: np.ndarray | None = None


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] images to the 256 levels a PNG keeps."""
    return images.clamp(0, 1).mul(255).round().div(255)


def reencode(image: torch.Tensor, probe: Probe, config: ReencodeConfig = ReencodeConfig()) -> Iterator[ReencodePass]:
    """Yield passes 0..N of re-encoding ``image`` (1 x 3 x H x W) with ``probe`` (a stylising pass).

    Lazy: each pass is computed when the consumer asks for it, and only the current image
    is held. The embedding of pass p comes from the stylising pass p -> p+1; for the last
    pass, when saved, one extra pass is run only for its embedding.
    """
    config = config.validate()
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        raise PainterlyError(f"expected one 1 x 3 x H x W image, got {getattr(image, 'shape', type(image))}")
    current = quantize_8bit(image) if config.quantize else image.clamp(0, 1)
    for index in range(config.reencodes + 1):
        saved = config.is_saved(index)
        want = saved and config.embeddings
        last = index == config.reencodes
        following, vector = probe(current, want) if (want or not last) else (None, None)
        embedding = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(-1)
        yield ReencodePass(index, current, saved, embedding)
        if last:
            return
        following = following.detach().to(image.device, torch.float32)
        current = quantize_8bit(following) if config.quantize else following.clamp(0, 1)


# --------------------------------------------------------------------------- sinks (one image's files)


def pass_name(index: int, reencodes: int) -> str:
    """``pass_000010``: six digits, more when N needs them (names sort in pass order)."""
    return f"pass_{index:0{max(6, len(str(reencodes)))}d}"


def stale_files(folder: Path) -> list[Path]:
    """Files of an earlier run in an image's folder (pass_*.png / .npy, distances.csv)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if PASS_FILE.match(p.name) or p.name == DISTANCES_FILE)


class SequenceFiles:
    """Writes one image's saved passes: ``pass_N.png``, ``pass_N.npy`` and ``distances.csv``."""

    def __init__(self, folder: Path, reencodes: int, embeddings: bool):
        self.folder, self.reencodes, self.embeddings = folder, reencodes, embeddings
        folder.mkdir(parents=True, exist_ok=True)
        self.tracker = DistanceTracker()
        self.images = 0
        self.vectors = 0
        self._csv_file = None
        self._csv = None
        self.last: dict[str, float] = {}
        self.dim: int | None = None

    def add(self, item: ReencodePass) -> dict[str, float] | None:
        """Write the pass's files; returns its distances when it has an embedding."""
        name = pass_name(item.index, self.reencodes)
        save_image(item.image, self.folder / f"{name}.png")
        self.images += 1
        if item.embedding is None:
            return None
        self.dim = item.embedding.size
        distances = self.tracker.update(item.embedding)
        if self.embeddings:
            _save_npy(self.folder / f"{name}.npy", item.embedding)
            self.vectors += 1
        if self._csv is None:
            self._csv_file = open(self.folder / DISTANCES_FILE, "w", newline="")
            self._csv = csv.writer(self._csv_file)
            self._csv.writerow(["pass", "norm", "step_distance", "distance_to_first"])
        self._csv.writerow([item.index, f"{distances['norm']:.6g}", "" if math.isnan(distances["step"])
                            else f"{distances['step']:.6g}", f"{distances['first']:.6g}"])
        self._csv_file.flush()
        self.last = distances
        return distances

    def close(self) -> None:
        if self._csv_file is not None:
            self._csv_file.close()


def _save_npy(path: Path, vector: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "wb") as file:
        np.save(file, np.asarray(vector, dtype=np.float32))
    os.replace(tmp, path)


def thumbnail(image: torch.Tensor, side: int = THUMBNAIL) -> np.ndarray:
    """A side x side x 3 uint8 thumbnail (letterboxed on black) for projector sprites."""
    pil = tensor_to_pil(image)
    pil.thumbnail((side, side), Image.LANCZOS)
    square = Image.new("RGB", (side, side))
    square.paste(pil, ((side - pil.width) // 2, (side - pil.height) // 2))
    return np.asarray(square)


def require_tensorboard():
    """torch's SummaryWriter class, imported lazily; tensorboard is an optional extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise PainterlyError("TensorBoard logs need tensorboard: pip install 'painterly[analysis]'") from None
    return SummaryWriter


def summary_writer(log_dir: Path):
    return require_tensorboard()(log_dir=str(log_dir))


@dataclass
class Projector:
    """Embeddings, labels and thumbnails of every ``stride``-th saved pass, for TensorBoard's projector."""

    stride: int = 1
    seen: int = 0                   # saved passes offered so far, all images
    vectors: list[np.ndarray] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    thumbnails: list[np.ndarray] = field(default_factory=list)

    def add(self, label: str, item: ReencodePass) -> None:
        if item.embedding is None:
            return
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        self.vectors.append(item.embedding)
        self.labels.append([label, str(item.index)])
        self.thumbnails.append(thumbnail(item.image))

    def write(self, log_dir: Path) -> None:
        if not self.vectors:
            return
        writer = summary_writer(log_dir)
        try:
            sprites = torch.from_numpy(np.stack(self.thumbnails)).permute(0, 3, 1, 2).float().div(255)
            writer.add_embedding(torch.from_numpy(np.stack(self.vectors)), metadata=self.labels,
                                 metadata_header=["image", "pass"], label_img=sprites, tag="reencode")
        finally:
            writer.close()


# --------------------------------------------------------------------------- the run


@dataclass
class SequenceResult:
    """What :func:`run_reencode` wrote for one input."""

    name: str
    folder: Path
    images: int
    embeddings: int
    animation: Path | None
    seconds: float
    embedding_dim: int | None = None
    final_distances: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "folder": str(self.folder), "images": self.images, "embeddings": self.embeddings,
                "embedding_dim": self.embedding_dim,
                "animation": None if self.animation is None else str(self.animation),
                "seconds": round(self.seconds, 3), "final_distances": self.final_distances}


def animation_path(folder: Path, name: str, config: ReencodeConfig) -> Path | None:
    return None if config.animation == "none" else folder / f"{name}.{config.animation}"


ImageSource = Union[torch.Tensor, Callable[[], torch.Tensor]]


def run_reencode(inputs: Sequence[tuple[str, ImageSource]], probe: Probe, config: ReencodeConfig,
                 output: str | os.PathLike, log_dir: str | os.PathLike | None = None,
                 callbacks: Sequence[ProgressCallback] = ()) -> list[SequenceResult]:
    """Re-encode each ``(name, image)`` and stream the saved passes to files under ``output``.

    ``image`` is a 1 x 3 x H x W tensor or a function loading one when its turn comes.

    ``output/NAME/pass_N.png`` for every saved pass, ``pass_N.npy`` with ``config.embeddings``,
    ``distances.csv`` whenever embeddings are computed, ``output/NAME.gif`` (or ``.mp4``);
    ``log_dir`` gets TensorBoard scalars per image (``log_dir/NAME``) and the projector
    (``log_dir/projector``). ``callbacks`` get a :class:`Progress` after every pass.
    """
    config = config.validate()
    output, log_dir = Path(output), (Path(log_dir) if log_dir is not None else None)
    projector = Projector(stride=max(1, math.ceil(len(inputs) * config.saved_count / config.projector_points)))
    counter = _Counter(len(inputs) * config.reencodes, list(callbacks))
    torch.manual_seed(config.seed)
    results = []
    for name, source in inputs:
        image = source() if callable(source) else source
        results.append(_run_one(name, image, probe, config, output, log_dir, projector, counter))
    if log_dir is not None:
        projector.write(log_dir / "projector")
    return results


@dataclass
class _Counter:
    """Passes done over all images, reported to the callbacks."""

    total: int
    callbacks: list
    done: int = 0
    start: float = field(default_factory=time.perf_counter)

    def tick(self, index: int) -> None:
        self.done += index > 0
        notify(self.callbacks, Progress(step=self.done, total=self.total, elapsed=time.perf_counter() - self.start))


def _run_one(name: str, image: torch.Tensor, probe: Probe, config: ReencodeConfig, output: Path,
             log_dir: Path | None, projector: Projector, counter: _Counter) -> SequenceResult:
    from ..io.streaming import AnimationStream

    begin = time.perf_counter()
    # TensorBoard needs the embeddings even when no .npy files are asked for
    run_config = replace(config, embeddings=config.embeddings or log_dir is not None)
    files = SequenceFiles(output / name, config.reencodes, config.embeddings)
    writer = summary_writer(log_dir / name) if log_dir is not None else None
    target = animation_path(output, name, config)
    stream = AnimationStream(target, fps=config.fps) if target is not None else None
    try:
        for item in reencode(image, probe, run_config):
            if item.saved:
                distances = files.add(item)
                if stream is not None:
                    stream.append(item.image)
                if writer is not None and distances is not None:
                    _log_scalars(writer, distances, item.index)
                if log_dir is not None:
                    projector.add(name, item)
            counter.tick(item.index)
        if stream is not None:
            stream.close()
    except BaseException:
        if stream is not None:
            stream.abort()
        raise
    finally:
        files.close()
        if writer is not None:
            writer.close()
    return SequenceResult(name, output / name, files.images, files.vectors, target, time.perf_counter() - begin,
                          files.dim, files.last)


def _log_scalars(writer, distances: dict[str, float], step: int) -> None:
    writer.add_scalar("embedding/norm", distances["norm"], step)
    writer.add_scalar("embedding/distance_to_first", distances["first"], step)
    if not math.isnan(distances["step"]):
        writer.add_scalar("embedding/step_distance", distances["step"], step)


__all__ = ["ReencodeConfig", "ReencodePass", "reencode", "run_reencode", "quantize_8bit", "pass_name",
           "stale_files", "require_tensorboard", "SequenceFiles", "SequenceResult", "Projector", "thumbnail", "ANIMATIONS"]
