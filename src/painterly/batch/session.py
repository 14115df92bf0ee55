"""What every batch run does around the images, wherever they are processed.

A :class:`BatchSession` holds the output folder's lock (one run per folder at a time), its
work folder ``OUT_DIR/.painterly-batch`` (temporary files, Ray's plan shards), the manifest
journal and what an earlier run recorded. Runners take :meth:`jobs` (the lazy plan, done
tasks left out), hand finished rows to :meth:`record`, and call :meth:`finish`.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import PainterlyError
from .config import BatchConfig, BatchProgress, BatchSummary
from .manifest import CSV_NAME, PARQUET_NAME, ManifestWriter, ResumeState, compact, repair, task_key, write_parquet
from .plan import ImageJob, plan_jobs, read_list, walk_images
from .styles import BatchStyle, resolve_styles
from .work import WorkerSpec

log = logging.getLogger(__name__)

WORK_FOLDER = ".painterly-batch"
ProgressCallback = Callable[[BatchProgress], None]


class BatchSession:
    """One run over one output folder: use as a context manager (see the module docstring)."""

    def __init__(self, config: BatchConfig, on_progress: ProgressCallback | None = None,
                 styles: list[BatchStyle] | None = None):
        self.config = config.validate()
        self.styles = styles if styles is not None else resolve_styles(self.config)
        self.by_label = {s.label: s for s in self.styles}
        self.output_dir = Path(config.output_dir)
        self.work_dir = self.output_dir / WORK_FOLDER
        self.tmp_dir = self.work_dir / "tmp"
        self.csv_path = self.output_dir / CSV_NAME
        self.on_progress = on_progress
        self.progress = BatchProgress()
        self.stopped_early = False
        self.superseded = False
        self._lock = None
        self._writer: ManifestWriter | None = None
        self._state: ResumeState | None = None
        self._start = 0.0

    # -- lifetime
    def __enter__(self) -> "BatchSession":
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(exist_ok=True)
        self._lock = _lock(self.work_dir / "lock", self.output_dir)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)  # temporary files of a killed run
        self.tmp_dir.mkdir()
        repair(self.csv_path)
        self._state = ResumeState.load(self.csv_path, self.output_dir, self.config.retry_failed)
        self._writer = ManifestWriter(self.csv_path)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def spec(self, threads: int | None = None, device: str | None = None) -> WorkerSpec:
        c = self.config
        return WorkerSpec(method=c.method, styles=tuple(self.styles), input_dir=str(Path(c.input_dir).resolve()),
                          output_dir=str(self.output_dir.resolve()), tmp_dir=str(self.tmp_dir.resolve()), size=c.size,
                          max_pixels=c.max_pixels, device=device or c.device, precision=c.precision,
                          runtime=c.runtime, threads=threads or c.worker_threads())

    # -- the plan
    def entries(self):
        c = self.config
        if c.list_file is not None:
            return read_list(c.list_file, c.input_dir)
        return walk_images(c.input_dir, skip=self.output_dir)

    def jobs(self) -> Iterator[ImageJob]:
        """The jobs still to do, lazily; counts skipped tasks and stops at ``--limit`` images."""
        state, by_label = self._state, self.by_label

        def is_done(input: str, style: str, output: str) -> bool:
            settings = by_label[style].settings if style else ""
            return state.is_done(input, style, output, settings)

        pool = [s.label for s in self.styles]
        planned = plan_jobs(self.entries(), pool, self.config.per_image, self.config.seed, is_done)
        jobs = self._count_skips(planned)
        if self.config.limit is None:
            yield from jobs
            return
        yield from itertools.islice(jobs, self.config.limit)
        self.stopped_early = next(jobs, None) is not None

    def _count_skips(self, planned) -> Iterator[ImageJob]:
        for item in planned:
            if isinstance(item, int):
                self.progress.skipped += item
            else:
                yield item

    # -- results
    def record(self, rows: list[dict]) -> None:
        """Complete rows (method and settings) and append them to the manifest; notify progress."""
        for row in rows:
            style = self.by_label.get(row["style"])
            row["method"] = self.config.method
            row["settings"] = style.settings if style is not None else ""
            if task_key(row["input"], row["style"]) in self._state:
                self.superseded = True
            self.progress.done += 1
            self.progress.failed += row["status"] != "ok"
        self._writer.write(rows)
        self.progress.elapsed = time.perf_counter() - self._start
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def finish(self, runner: str) -> BatchSummary:
        """Close the journal, compact it if tasks were redone, write Parquet if asked, tidy up."""
        self._writer.close()
        if self.superseded:
            dropped = compact(self.csv_path)
            log.info("manifest compacted: %d superseded rows dropped", dropped)
        manifests = [str(self.csv_path)]
        if self.config.manifest == "parquet":
            manifests.append(str(write_parquet(self.csv_path, self.output_dir / PARQUET_NAME)))
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        p = self.progress
        p.elapsed = time.perf_counter() - self._start
        if self.on_progress is not None:
            self.on_progress(p)
        return BatchSummary(str(self.output_dir), manifests, p.done, p.failed, p.skipped, p.elapsed, runner,
                            self.stopped_early)


def _lock(path: Path, output_dir: Path) -> int:
    """An exclusive lock on the output folder for this process's lifetime (released by the OS on a kill)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise PainterlyError(f"{output_dir}: another painterly batch run is writing to this folder") from None
    return fd


__all__ = ["BatchSession", "WORK_FOLDER"]
