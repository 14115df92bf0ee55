"""Settings, progress events and the summary of a batch run."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PainterlyError
from ..io.image import DEFAULT_MAX_PIXELS

METHODS = ("fast", "multistyle", "adain")
MANIFEST_FORMATS = ("csv", "parquet")
POOLS = ("thread", "process")


@dataclass(frozen=True)
class BatchConfig:
    """Settings of ``painterly batch``; the command's flags derive from these fields."""

    input_dir: str = ""
    output_dir: str = ""
    method: str = "fast"                # fast | multistyle | adain
    styles: tuple[str, ...] = ()        # style names, style image paths, or one folder of style images
    model: str | None = None            # model file or name (fast: instead of --styles; multistyle/adain: needed)
    per_image: int = 1                  # K styles per image, chosen from (seed, relative path)
    seed: int = 0
    size: int | None = None             # longer side of the results (default: the input's own)
    workers: int = 1                    # local: model replicas (threads or processes); Ray: actors
    pool: str = "thread"                # local parallelism for workers > 1: thread | process
    threads: int | None = None          # intra-op threads per worker (default 1: replicas scale better)
    manifest: str = "csv"               # csv (always written) | parquet (also manifest.parquet)
    list_file: str | None = None        # read relative paths from this file instead of walking input_dir
    limit: int | None = None            # stop after this many new images (smoke runs, tests)
    retry_failed: bool = False          # redo images recorded as failed by an earlier run
    ray: bool = False
    ray_address: str | None = None      # None: a local Ray instance; "auto", "HOST:PORT" or "ray://HOST:PORT"
    ray_cpus: int | None = None         # CPUs of the local Ray instance (default: cores, at least workers + 1)
    ray_batch_size: int = 8             # images per actor call
    connect_timeout: float = 15.0       # seconds to reach a Ray cluster before giving up
    device: str = "cpu"
    precision: str = "auto"
    runtime: str = "auto"               # auto | torch | onnx (as for painterly stylize)
    model_dir: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def validate(self) -> "BatchConfig":
        if self.method not in METHODS:
            raise PainterlyError(f"unknown method {self.method!r}: use {', '.join(METHODS)}")
        if not isinstance(self.per_image, int) or self.per_image < 1:
            raise PainterlyError(f"--per-image must be at least 1, got {self.per_image}")
        if self.size is not None and self.size < 16:
            raise PainterlyError(f"size must be at least 16 px, not {self.size}")
        if self.workers < 1:
            raise PainterlyError(f"--workers must be at least 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise PainterlyError(f"--threads must be at least 1, got {self.threads}")
        if self.limit is not None and self.limit < 0:
            raise PainterlyError(f"--limit must be >= 0, got {self.limit}")
        if self.ray_batch_size < 1:
            raise PainterlyError(f"the Ray batch size must be at least 1, got {self.ray_batch_size}")
        for name, value, allowed in (("manifest", self.manifest, MANIFEST_FORMATS), ("pool", self.pool, POOLS)):
            if value not in allowed:
                raise PainterlyError(f"unknown {name} {value!r}: use {', '.join(allowed)}")
        if self.manifest == "parquet" and importlib.util.find_spec("pyarrow") is None:
            raise PainterlyError("--manifest parquet needs pyarrow: pip install pyarrow (or 'painterly[cluster]')")
        self._check_folders()
        return self

    def _check_folders(self) -> None:
        source, target = Path(self.input_dir), Path(self.output_dir)
        if not self.input_dir or not source.is_dir():
            raise PainterlyError(f"{self.input_dir}: no such folder")
        if not self.output_dir:
            raise PainterlyError("an output folder is needed (-o)")
        if target.exists() and not target.is_dir():
            raise PainterlyError(f"{self.output_dir}: exists and is not a folder")
        if self.list_file is not None and not Path(self.list_file).is_file():
            raise PainterlyError(f"{self.list_file}: no such list file")
        source, target = source.resolve(), target.resolve()
        if source == target or source.is_relative_to(target):
            raise PainterlyError(f"{self.output_dir}: the output folder must not be the input folder or contain it")

    def worker_threads(self) -> int:
        """Intra-op threads each model replica uses: 1 unless set. Measured on 2 cores (docs/batch.md): one
        worker with 2 threads is 4x slower than with 1 under load (OpenMP/onnxruntime spin-waiting on small
        images), while 2 single-threaded workers scale; use ``workers`` = cores."""
        return self.threads or 1


@dataclass
class BatchProgress:
    """Sent after every finished task (one image in one style) and at the end."""

    done: int = 0                       # tasks (one input in one style) finished in this run, ok or failed
    failed: int = 0                     # of those, failed
    skipped: int = 0                    # tasks found done in the manifest and not redone
    elapsed: float = 0.0                # seconds since the run started


@dataclass
class BatchSummary:
    """What a run did; ``painterly batch --json`` prints it."""

    output_dir: str
    manifest: list[str] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    runner: str = "local"
    stopped_early: bool = False         # --limit reached before the plan was exhausted

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"output_dir": self.output_dir, "manifest": self.manifest, "done": self.done,
                "ok": self.done - self.failed,
                "failed": self.failed, "skipped": self.skipped,
                "seconds": round(self.seconds, 3), "images_per_second": round(self.images_per_second, 3),
                "runner": self.runner, "stopped_early": self.stopped_early}


__all__ = ["BatchConfig", "BatchProgress", "BatchSummary", "METHODS", "MANIFEST_FORMATS", "POOLS"]
