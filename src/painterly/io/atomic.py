"""Atomic file publication: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import os


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give ``tmp`` normal file permissions (``mkstemp`` makes it 0600) and rename it to ``path``."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


__all__ = ["publish"]
