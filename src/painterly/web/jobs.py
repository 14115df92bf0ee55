"""What a web job asks for, how it runs, and the pool of workers that runs it.

:class:`JobRequest` is the validated form of a submission; :func:`run_job` turns one into a
result image file (the same library calls as ``painterly stylize`` and ``painterly optimize``);
:class:`JobRunner` runs jobs on a fixed number of background threads (PyTorch releases the
GIL while it computes) and records every state change in the :class:`JobStore`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import PainterlyError
from .store import JobStore

log = logging.getLogger(__name__)

WEB_METHODS = ("auto", "fast", "multistyle", "adain", "optimize", "adaptive")
FEEDFORWARD = ("fast", "multistyle", "adain", "adaptive")


@dataclass(frozen=True)
class JobRequest:
    """One stylisation, as submitted (``style`` is a name, or None with a style image)."""

    method: str                      # resolved: fast | multistyle | adain | optimize | adaptive
    style: str | None                # built-in style name; None when a style image was uploaded
    strength: float = 1.0
    preserve_color: bool = False
    detail: float = 0.0              # the photo's fine detail put back (painterly.ops.restore_detail)
    size: int = 512                  # longer side of the result, px
    iterations: int = 150            # optimisation steps (optimize only)

    def params(self) -> dict:
        return asdict(self)


ProgressFn = Callable[[float], None]


class StylizerCache:
    """Loaded feed-forward stylizers by (method, style), least recently used dropped first."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, load: Callable):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value


def run_job(request: JobRequest, content_path: Path, style_path: Path | None, result_path: Path,
            progress: ProgressFn, device: str = "cpu", model_dir: str | None = None,
            cache: StylizerCache | None = None) -> tuple[int, int]:
    """Stylise the uploaded photo as ``request`` says; write ``result_path`` (PNG, atomically)."""
    from ..io.image import load_image, save_image, tensor_to_pil
    from ..ops import restore_detail

    content = load_image(content_path, size=request.size)
    style = str(style_path) if style_path is not None else request.style
    if request.method == "optimize":
        from ..methods.optimize import optimize_tensor
        from ..progress import Progress

        def report(event: Progress) -> None:
            progress(event.step / max(event.total, 1))

        preserve = "luminance" if request.preserve_color else None
        result = optimize_tensor(content, style, callbacks=[report], size=max(content.shape[-2:]),
                                 iterations=request.iterations, preserve_color=preserve, device=device)
        image = restore_detail(result.image, content.to(result.image.device), request.detail)
        if request.strength < 1.0:
            image = content.lerp(image, request.strength)
    else:
        from ..methods.stylize import StylizeConfig, prepare, stylize_tensor

        config = StylizeConfig(method=request.method, strength=request.strength,
                               preserve_color=request.preserve_color, detail=request.detail, device=device,
                               model_dir=model_dir)
        key = (request.method, style if style_path is None else None)
        prepared = (cache.get(key, lambda: prepare(style, config)) if cache is not None and style_path is None
                    else prepare(style, config))
        progress(0.1)
        image = stylize_tensor(content, prepared, config)
    picture = tensor_to_pil(image)
    save_image(picture, result_path)
    return picture.size


class JobRunner:
    """A bounded pool of worker threads running jobs from the store."""

    def __init__(self, store: JobStore, data_dir: Path, workers: int = 1, device: str = "cpu",
                 model_dir: str | None = None):
        self.store = store
        self.data_dir = data_dir
        self.device = device
        self.model_dir = model_dir
        self.workers = workers
        self.cache = StylizerCache()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="painterly-job")

    def upload_path(self, job_id: str, role: str) -> Path:
        return self.data_dir / "uploads" / f"{job_id}-{role}.png"

    def result_path(self, job_id: str) -> Path:
        return self.data_dir / "results" / f"{job_id}.png"

    def submit(self, job_id: str, request: JobRequest, has_style_image: bool) -> None:
        self._pool.submit(self._run, job_id, request, has_style_image)

    def submit_task(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the same bounded workers (it records its own job's progress in the store)."""
        self._pool.submit(task)

    def _run(self, job_id: str, request: JobRequest, has_style_image: bool) -> None:
        self.store.start(job_id)
        content = self.upload_path(job_id, "content")
        style = self.upload_path(job_id, "style") if has_style_image else None
        try:
            width, height = run_job(request, content, style, self.result_path(job_id),
                                    lambda f: self.store.progress(job_id, f), self.device, self.model_dir, self.cache)
        except PainterlyError as exc:
            self.store.fail(job_id, str(exc))
        except Exception as exc:  # a bug or an out-of-memory: the job fails, the server goes on
            log.exception("job %s failed", job_id)
            self.store.fail(job_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.store.finish(job_id, width, height)
        finally:
            for path in (content, style):
                if path is not None:
                    path.unlink(missing_ok=True)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


__all__ = ["JobRequest", "JobRunner", "StylizerCache", "run_job", "WEB_METHODS", "FEEDFORWARD"]
