"""Settings of the web studio; ``painterly serve`` flags derive from these fields."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import PainterlyError


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/painterly/studio`` (``~/.local/share/painterly/studio``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "studio"


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"                 # localhost only unless asked
    port: int = 8000
    data_dir: Path = Path()                 # jobs.sqlite, uploads/, results/, thumbnails/ (set by for_data_dir)
    workers: int = 1                        # background jobs at once
    device: str = "cpu"
    model_dir: str | None = None            # networks to offer instead of the built-in ones
    max_upload_bytes: int = 25 * 1024 * 1024   # per image
    max_pixels: int = 40_000_000            # per image, checked before decoding
    max_size: int = 2048                    # longest side of a feed-forward result
    max_optimize_size: int = 768            # longest side of an optimisation result
    max_iterations: int = 1000
    max_queued: int = 1000                  # queued + running jobs before submissions get 503
    max_frame_size: int = 640               # webcam frames, longest side

    def validate(self) -> "ServeConfig":
        if not 0 < self.port < 65536:
            raise PainterlyError(f"port must be between 1 and 65535, not {self.port}")
        if self.workers < 1:
            raise PainterlyError(f"workers must be at least 1, not {self.workers}")
        if self.max_upload_bytes < 1024:
            raise PainterlyError("the upload limit must be at least 1 KiB")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise PainterlyError(f"{self.data_dir}: exists and is not a folder")
        return self

    @property
    def body_limit(self) -> int:
        """Largest request body: two images (photo and style) plus form fields."""
        return 2 * self.max_upload_bytes + 1024 * 1024


__all__ = ["ServeConfig", "default_data_dir"]
