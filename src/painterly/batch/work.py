"""The work on one image, the same for the local and the Ray runner: decode, stylise, encode, write.

The steps are separate functions so that Ray can run them on different workers (decoding and
writing on CPU tasks, stylising in the actors holding a model) while the local runner chains
them in one call; either way the bytes written are the same, so the manifests agree.
Outputs are written to a temporary file in the run's own folder (``OUT_DIR/.painterly-batch/tmp``,
same file system) and renamed into place (:func:`painterly.io.atomic.publish`): a killed run
leaves whole files or none.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PainterlyError
from .plan import ImageJob
from .styles import BatchStyle


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker (thread, process or Ray actor/task) needs; small and picklable."""

    method: str
    styles: tuple[BatchStyle, ...]
    input_dir: str
    output_dir: str
    tmp_dir: str
    size: int | None = None
    max_pixels: int = 64_000_000
    device: str = "cpu"
    precision: str = "auto"
    runtime: str = "auto"
    threads: int = 1


class OutputError(PainterlyError):
    """An output that cannot be written (disk full, permissions): stops the run."""


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def task_row(job: ImageJob, style: str, output: str, error: str | None = None, sha256: str = "",
             size: int = 0, seconds: float = 0.0) -> dict:
    """A manifest row without the columns the session fills in (method, settings)."""
    return {"input": job.input, "style": style, "output": "" if error else output, "sha256": sha256,
            "bytes": size, "status": "failed" if error else "ok", "error": error or "", "seconds": round(seconds, 4)}


def failed_rows(job: ImageJob, error: str, seconds: float = 0.0) -> list[dict]:
    return [task_row(job, style, output, error, seconds=seconds) for style, output in job.tasks]


def reason(exc: BaseException, path: Path | None = None) -> str:
    """A one-line reason without the file's path (the manifest's input column has it)."""
    text = str(exc) or type(exc).__name__
    if path is not None:
        text = text.replace(f"{path}: ", "", 1)
    return " ".join(text.split())[:500]


# --------------------------------------------------------------------------- the steps


def decode(path: str | os.PathLike, size: int | None, max_pixels: int) -> np.ndarray:
    """An input file as H x W x 3 uint8 (upright, RGB), longer side ``size`` (Lanczos) when given."""
    from ..io.image import open_image, resize_to

    return np.array(resize_to(open_image(path, max_pixels), size), dtype=np.uint8)


def decode_job(job: ImageJob, spec: WorkerSpec) -> tuple[np.ndarray | None, str | None]:
    """(pixels, None) or (None, reason) for a job's input."""
    if job.error is not None:
        return None, job.error
    path = Path(spec.input_dir) / job.input
    try:
        return decode(path, spec.size, spec.max_pixels), None
    except PainterlyError as exc:
        return None, reason(exc, path)
    except OSError as exc:
        return None, f"cannot read ({exc.strerror or exc})"


def encode(pixels: np.ndarray, suffix: str) -> bytes:
    """H x W x 3 uint8 -> file bytes of the type ``suffix`` names (JPEG and WebP at quality 95)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(suffix.lower())
    if fmt is None:
        raise PainterlyError(f"cannot write {suffix!r} files")
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    return buffer.getvalue()


def write_atomic(data: bytes, target: Path, tmp_dir: str | os.PathLike) -> None:
    """Write ``data`` to ``target`` through a temporary file in ``tmp_dir`` and a rename."""
    from ..io.image import atomic_write_bytes

    atomic_write_bytes(target, data, tmp_dir)


def save_output(pixels: np.ndarray, output: str, spec: WorkerSpec) -> tuple[str, int]:
    """Encode and publish one result; (sha256 of the file, its size). Raises OutputError for I/O errors."""
    data = encode(pixels, Path(output).suffix)
    target = Path(spec.output_dir) / output
    try:
        write_atomic(data, target, spec.tmp_dir)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return hashlib.sha256(data).hexdigest(), len(data)


# --------------------------------------------------------------------------- the model side


class Stylist:
    """The loaded models of a run's styles (one per model file) and each style's argument."""

    def __init__(self, spec: WorkerSpec):
        import torch

        torch.set_num_threads(spec.threads)
        self.spec = spec
        self.device = resolve_device(spec.device)
        self._adain_targets: dict[str, object] = {}
        models: dict[str, object] = {}
        self.styles: dict[str, tuple[object, object]] = {}
        for style in spec.styles:
            if style.model not in models:
                models[style.model] = self._load(style.model)
            self.styles[style.label] = (models[style.model], self._style_arg(style))

    def _load(self, model: str | None):
        from ..methods.feedforward import load_transformer_stylizer, onnx_sibling
        from ..methods.onnx_runtime import load_onnx_stylizer

        spec = self.spec
        if spec.method == "adain":
            from ..methods.adain import load_adain_stylizer

            return load_adain_stylizer(model, device=self.device)
        path = Path(model)
        onnx = path if path.suffix == ".onnx" else onnx_sibling(path, self.device, spec.runtime)
        if onnx is not None:
            return load_onnx_stylizer(onnx, device=self.device, threads=spec.threads)
        return load_transformer_stylizer(path, device=self.device, precision=spec.precision)

    def _style_arg(self, style: BatchStyle):
        from ..io.image import load_image

        if style.image is not None:
            return load_image(style.image, max_pixels=self.spec.max_pixels)
        return style.name

    def __call__(self, pixels: np.ndarray, style: str) -> np.ndarray:
        """One image (H x W x 3 uint8) in one style of the pool -> H x W x 3 uint8."""
        import torch

        from ..io.image import tensor_to_pil
        from ..methods.stylize import apply_stylizer

        stylizer, arg = self.styles[style]
        content = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32) / np.float32(255.0))
        content = content.permute(2, 0, 1).unsqueeze(0).contiguous()
        if getattr(stylizer, "kind", None) == "adain":
            out = self._adain(stylizer, content, style, arg)
        else:
            out = apply_stylizer(stylizer, content, arg)
        return np.asarray(tensor_to_pil(out))

    def _adain(self, stylizer, content, style: str, arg):
        """AdaIN with the style's statistics encoded once per worker, not once per image (same result as
        ``stylizer(content, arg)``, which encodes the style image at ``style_size`` on every call)."""
        import torch

        if style not in self._adain_targets:
            with torch.inference_mode():
                self._adain_targets[style] = stylizer.targets(arg, None, False)
        with torch.inference_mode():
            out = stylizer._one(content, arg, 1.0, False, None, self._adain_targets[style])
        return out.to(content.device, content.dtype).clamp(0, 1)

    def stylize_job(self, job: ImageJob, pixels: np.ndarray) -> list[tuple]:
        """(style, output, result or None, error or None, seconds) for each task of ``job``."""
        results = []
        for style, output in job.tasks:
            start = time.perf_counter()
            try:
                results.append((style, output, self(pixels, style), None, time.perf_counter() - start))
            except (PainterlyError, RuntimeError, ValueError) as exc:  # one bad image must not stop a dataset
                results.append((style, output, None, f"cannot stylise ({reason(exc)})", time.perf_counter() - start))
        return results


class Worker:
    """Decode, stylise, write: the whole job of one image, for the local runner."""

    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.stylist = Stylist(spec)

    def __call__(self, job: ImageJob) -> list[dict]:
        start = time.perf_counter()
        pixels, error = decode_job(job, self.spec)
        if error is not None:
            return failed_rows(job, error, time.perf_counter() - start)
        decode_seconds = (time.perf_counter() - start) / len(job.tasks)
        rows = []
        for style, output, result, error, seconds in self.stylist.stylize_job(job, pixels):
            rows.append(finish_task(job, style, output, result, error, decode_seconds + seconds, self.spec))
        return rows


def finish_task(job: ImageJob, style: str, output: str, result: np.ndarray | None, error: str | None,
                seconds: float, spec: WorkerSpec) -> dict:
    """Write one stylised result (or record its error) and return its manifest row."""
    if error is not None or result is None:
        return task_row(job, style, output, error or "no result", seconds=seconds)
    start = time.perf_counter()
    try:
        digest, size = save_output(result, output, spec)
    except OutputError:
        raise
    except PainterlyError as exc:
        return task_row(job, style, output, reason(exc), seconds=seconds)
    return task_row(job, style, output, sha256=digest, size=size, seconds=seconds + time.perf_counter() - start)


__all__ = ["WorkerSpec", "Worker", "Stylist", "OutputError", "decode", "decode_job", "encode", "save_output",
           "write_atomic", "finish_task", "failed_rows", "task_row", "resolve_device"]
