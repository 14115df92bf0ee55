"""Small helpers shared by test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


def write_noise_images(folder: Path, names: Iterable[str], size: tuple[int, int] = (48, 40), seed: int = 0,
                       suffix: str = ".png") -> Path:
    """Uniform-noise RGB images ``folder/NAME+suffix`` of ``size`` (width, height); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{name}{suffix}")
    return folder


def noise_png_bytes(width: int = 48, height: int = 40, seed: int = 0, mode: str = "RGB") -> bytes:
    """A uniform-noise PNG in memory (converted to ``mode``), e.g. for an upload."""
    array = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, "PNG")
    return buffer.getvalue()


def wait_for_job(client, job_id: str, statuses=("done", "failed"), timeout: float = 120, poll: float = 0.1) -> dict:
    """Poll ``/api/jobs/ID`` (a TestClient or an httpx.Client) until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    job = {"status": "unknown"}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(poll)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``painterly ARGV...`` in-process: (exit status, stdout, stderr)."""
    from painterly.cli import main

    code = main([*map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(code: int, stderr: str, message: str = "") -> None:
    """Exit status 2 and exactly one ``error:`` line containing ``message``, no traceback."""
    assert code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert message in stderr, stderr
