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
    style_vae: str | None = None            # style-vae model file of the /space page (None: the built-in one)
    space_method: str = "auto"              # style-space renders: auto (adain if installed) | adain | optimize
    space_size: int = 192                   # style-space renders: default longest side, px
    space_max_size: int = 512
    space_iterations: int = 100             # optimisation steps per style-space render
    space_prefetch_points: int = 21         # points of "render the whole path" (at most 1 / space_t_step + 1)
    space_t_step: float = 0.05              # style-space renders are cached at t rounded to this
    space_cache_mb: float = 512.0           # style-space render cache: oldest renders removed beyond this

    def validate(self) -> "ServeConfig":
        if not 0 < self.port < 65536:
            raise PainterlyError(f"port must be between 1 and 65535, not {self.port}")
        if self.workers < 1:
            raise PainterlyError(f"workers must be at least 1, not {self.workers}")
        if self.max_upload_bytes < 1024:
            raise PainterlyError("the upload limit must be at least 1 KiB")
        if self.space_method not in ("auto", "adain", "optimize"):
            raise PainterlyError(f"unknown style-space render method {self.space_method!r}: use auto, adain or optimize")
        if not 0 < self.space_t_step <= 0.5 or abs(round(1 / self.space_t_step) * self.space_t_step - 1) > 1e-9:
            raise PainterlyError(f"the style-space t step must divide 1 (0.05, 0.1, 0.25, ...), not {self.space_t_step}")
        if not self.space_cache_mb > 0:
            raise PainterlyError(f"the style-space cache size must be positive, not {self.space_cache_mb} MB")
        if not 2 <= self.space_prefetch_points <= round(1 / self.space_t_step) + 1:
            raise PainterlyError(f"style-space prefetch points must be between 2 and {round(1 / self.space_t_step) + 1}")
        if not 32 <= self.space_size <= self.space_max_size or self.space_iterations < 1:
            raise PainterlyError("the style-space size must be between 32 px and its maximum, iterations >= 1")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise PainterlyError(f"{self.data_dir}: exists and is not a folder")
        return self

    @property
    def body_limit(self) -> int:
        """Largest request body: two images (photo and style) plus form fields."""
        return 2 * self.max_upload_bytes + 1024 * 1024


__all__ = ["ServeConfig", "default_data_dir"]
