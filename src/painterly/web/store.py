"""Jobs and their results, recorded in SQLite under the data directory.

One row per job. A restart keeps every finished result (the image file under
``results/`` and its row) and turns jobs that were queued or running when the server stopped
into ``failed`` with the reason, so no job is silently forgotten. Every call opens its own
short transaction; SQLite's WAL journal lets the page poll while workers write.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STATUSES = ("queued", "running", "done", "failed")
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")   # secrets.token_urlsafe(16): 128 random bits
INTERRUPTED = "interrupted: the server stopped while this job was unfinished"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    params TEXT NOT NULL,
    filename TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    width INTEGER,
    height INTEGER
)
"""


@dataclass
class Job:
    id: str
    status: str
    params: dict
    filename: str                   # the upload's name, for display and the download name only
    created: float
    progress: float = 0.0
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    width: int | None = None
    height: int | None = None
    extra: dict = field(default_factory=dict)

    def public(self) -> dict:
        """What the API returns for a job."""
        seconds = (self.finished or time.time()) - self.started if self.started else None
        data = {"id": self.id, "status": self.status, "progress": round(self.progress, 4), "error": self.error,
                "filename": self.filename, "created": self.created,
                "seconds": None if seconds is None else round(seconds, 3), **self.params}
        if self.status == "done":
            data.update(width=self.width, height=self.height, result=f"/api/jobs/{self.id}/result")
        return data


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID_PATTERN.fullmatch(job_id))


class JobStore:
    """SQLite table of jobs at ``path``; safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def _write(self, sql: str, args: tuple) -> int:
        with self._lock:
            db = self._connect()
            try:
                return db.execute(sql, args).rowcount
            finally:
                db.close()

    def create(self, params: dict, filename: str) -> Job:
        job = Job(new_job_id(), "queued", params, filename, time.time())
        self._write("INSERT INTO jobs (id, status, params, filename, created) VALUES (?, ?, ?, ?, ?)",
                    (job.id, job.status, json.dumps(params), filename, job.created))
        return job

    def get(self, job_id: str) -> Job | None:
        if not valid_job_id(job_id):
            return None
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return None if row is None else _job(row)

    def list(self, limit: int = 100) -> list[Job]:
        db = self._connect()
        try:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        finally:
            db.close()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        db = self._connect()
        try:
            rows = db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        finally:
            db.close()
        return {status: 0 for status in STATUSES} | {r[0]: r[1] for r in rows}

    def start(self, job_id: str) -> None:
        self._write("UPDATE jobs SET status = 'running', started = ? WHERE id = ? AND status = 'queued'",
                    (time.time(), job_id))

    def progress(self, job_id: str, fraction: float) -> None:
        self._write("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'",
                    (min(max(float(fraction), 0.0), 1.0), job_id))

    def finish(self, job_id: str, width: int, height: int) -> None:
        self._write("UPDATE jobs SET status = 'done', progress = 1, finished = ?, width = ?, height = ? WHERE id = ?",
                    (time.time(), width, height, job_id))

    def fail(self, job_id: str, error: str) -> None:
        self._write("UPDATE jobs SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                    (time.time(), error[:500], job_id))

    def fail_unfinished(self) -> int:
        """At start-up: jobs left queued or running by a previous server are failed, not forgotten."""
        return self._write("UPDATE jobs SET status = 'failed', finished = ?, error = ? "
                           "WHERE status IN ('queued', 'running')", (time.time(), INTERRUPTED))


def _job(row: sqlite3.Row) -> Job:
    return Job(row["id"], row["status"], json.loads(row["params"]), row["filename"], row["created"],
               row["progress"], row["error"], row["started"], row["finished"], row["width"], row["height"])


__all__ = ["Job", "JobStore", "STATUSES", "INTERRUPTED", "new_job_id", "valid_job_id"]
