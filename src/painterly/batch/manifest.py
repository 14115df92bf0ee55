"""The manifest of a batch run: an append-only CSV journal, crash-safe, read back to resume.

One row per task (one input in one style), written when its output is in place:

    input, style, method, settings, output, sha256, bytes, status, error, seconds

``input`` is relative to the input folder and ``output`` to the output folder (so the
manifest moves with the data); ``settings`` is JSON (model and its checksum, size, seed,
per-image count, style image checksum); ``status`` is ``ok`` or ``failed`` with ``error``
saying why; ``seconds`` is the only column that differs between identical runs.

Every row is one line (errors are flattened), appended and flushed at once and fsynced every
few rows, so a killed run loses at most the rows of outputs in flight. A torn last line
(power loss, full disk) is cut off when the manifest is opened again. Later rows for the
same (input, style) supersede earlier ones; :func:`compact` rewrites the file keeping only
the last, and :func:`write_parquet` makes a sorted Parquet copy (pyarrow, imported lazily).
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import PainterlyError

COLUMNS = ("input", "style", "method", "settings", "output", "sha256", "bytes", "status", "error", "seconds")
TIMING_COLUMNS = ("seconds",)
CSV_NAME = "manifest.csv"
PARQUET_NAME = "manifest.parquet"


def task_key(input: str, style: str) -> bytes:
    """A compact key for (input, style): 16 bytes, so resuming a million-row manifest stays small in memory."""
    return hashlib.blake2b(f"{input}\0{style}".encode(), digest_size=16).digest()


def repair(path: Path) -> int:
    """Cut a torn last line (no newline at the end) off ``path``; returns the bytes removed."""
    if not path.is_file():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        block = 1 << 16
        end = size
        keep = 0
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def read_rows(path: Path) -> Iterator[dict]:
    """The rows of a manifest (after :func:`repair`), as dicts of strings; checks the header."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != COLUMNS:
            raise PainterlyError(f"{path}: not a painterly batch manifest (columns {', '.join(header[:4])}...); "
                                 f"use another output folder")
        for values in reader:
            if len(values) == len(COLUMNS):
                yield dict(zip(COLUMNS, values))


class ResumeState:
    """What an earlier run recorded: which (input, style) tasks are done with the current settings.

    A task counts as done when its last row has the same output path and settings, and
    either status ``ok`` with the output file present at the recorded size, or status
    ``failed`` (unless ``retry_failed``).
    """

    def __init__(self, output_dir: str | os.PathLike, retry_failed: bool = False):
        self.output_dir = Path(output_dir)
        self.retry_failed = retry_failed
        self.rows: dict[bytes, tuple[bool, int, int]] = {}   # key -> (ok, size, hash of (output, settings))

    @classmethod
    def load(cls, path: Path, output_dir: str | os.PathLike, retry_failed: bool = False) -> "ResumeState":
        state = cls(output_dir, retry_failed)
        if path.is_file():
            for row in read_rows(path):
                size = int(row["bytes"]) if row["bytes"].isdigit() else -1
                state.rows[task_key(row["input"], row["style"])] = (row["status"] == "ok", size,
                                                                     hash((row["output"], row["settings"])))
        return state

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: bytes) -> bool:
        return key in self.rows

    def is_done(self, input: str, style: str, output: str, settings: str) -> bool:
        entry = self.rows.get(task_key(input, style))
        if entry is None:
            return False
        ok, size, fingerprint = entry
        if not ok:
            return not self.retry_failed and fingerprint == hash(("", settings))
        if fingerprint != hash((output, settings)):
            return False
        try:
            return (self.output_dir / output).stat().st_size == size
        except OSError:
            return False


class ManifestWriter:
    """Appends rows to the CSV journal: one line each, flushed per call, fsynced every few rows or seconds."""

    def __init__(self, path: Path, fsync_rows: int = 64, fsync_seconds: float = 2.0):
        self.path = Path(path)
        repair(self.path)
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        self.handle = open(self.path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.fsync_rows, self.fsync_seconds = fsync_rows, fsync_seconds
        self.pending, self.last_sync = 0, time.monotonic()
        if fresh:
            self.writer.writerow(COLUMNS)
            self.sync()

    def write(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.writer.writerow([_one_line(row.get(column, "")) for column in COLUMNS])
            self.pending += 1
        self.handle.flush()
        if self.pending >= self.fsync_rows or time.monotonic() - self.last_sync >= self.fsync_seconds:
            self.sync()

    def sync(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.pending, self.last_sync = 0, time.monotonic()

    def close(self) -> None:
        if not self.handle.closed:
            self.sync()
            self.handle.close()


def _one_line(value) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


def compact(path: Path) -> int:
    """Rewrite ``path`` keeping only the last row of each (input, style), in journal order; rows dropped."""
    last: dict[bytes, int] = {}
    for index, row in enumerate(read_rows(path)):
        last[task_key(row["input"], row["style"])] = index
    keep = set(last.values())
    dropped = 0
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS)
            for index, row in enumerate(read_rows(path)):
                if index in keep:
                    writer.writerow([row[c] for c in COLUMNS])
                else:
                    dropped += 1
            out.flush()
            os.fsync(out.fileno())
        from ..io.atomic import publish

        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dropped


def read_table(path: Path):
    """The CSV manifest as a pyarrow Table sorted by (input, style), with typed columns."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        raise PainterlyError("Parquet manifests need pyarrow: pip install pyarrow") from None
    types = {c: pa.string() for c in COLUMNS}
    types.update(bytes=pa.int64(), seconds=pa.float64())
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                                        quoted_strings_can_be_null=False))
    return table.sort_by([("input", "ascending"), ("style", "ascending")])


def write_parquet(csv_path: Path, parquet_path: Path) -> Path:
    """A Parquet copy of the CSV manifest, sorted by (input, style), written atomically."""
    import pyarrow.parquet as pq

    from ..io.atomic import publish

    table = read_table(csv_path)
    handle, tmp = tempfile.mkstemp(prefix=f".{parquet_path.name}.", suffix=".part", dir=parquet_path.parent)
    os.close(handle)
    try:
        pq.write_table(table, tmp)
        publish(tmp, parquet_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return parquet_path


def sorted_rows(path: Path, drop: Iterable[str] = TIMING_COLUMNS) -> list[tuple]:
    """The rows of a manifest without the timing columns, sorted: equal for runs that made the same files."""
    columns = [c for c in COLUMNS if c not in set(drop)]
    return sorted(tuple(row[c] for c in columns) for row in read_rows(path))


__all__ = ["COLUMNS", "TIMING_COLUMNS", "CSV_NAME", "PARQUET_NAME", "ManifestWriter", "ResumeState", "repair",
           "read_rows", "compact", "write_parquet", "read_table", "sorted_rows", "task_key"]
