"""The studio's style-space page: a photo rendered along the latent path between two styles.

    POST /api/uploads               multipart: photo (file) -> {"id", "filename", "width", "height"}
    GET  /api/uploads/{id}          the stored photo (PNG)
    GET  /api/space                 {"installed", "reason", "method", "paintings", "styles", "defaults", ...}
    POST /api/space/render          {"upload", "a", "b", "t", "size"} -> {"t", "status", "id", "result", "cached"}
    POST /api/space/prefetch        {"upload", "a", "b", "size", "points"} -> the points, queued or cached
    GET  /api/space/path            ?upload&a&b&size&points: which points of the path are rendered
    GET  /api/space/renders/{key}   a rendered point (PNG; the URL names one photo, path point, size and model)

A render is a job of the studio's queue (a row in the job store, run on the runner's bounded
worker threads, visible at ``/api/jobs/{id}``), never work on the event loop. Results are cached
on disk by (photo, A, B, t rounded to ``t_step``, size, model file, method, iterations), so a
point asked for twice is rendered once and moving the slider back is instant; beyond
``space_cache_mb`` the least recently written renders are removed (:func:`prune_cache`). Space jobs run
newest interactive request first, then the prefetched path coarse to fine (0, 1, 1/2, 1/4,
3/4, ...), so a partly rendered path already covers the whole slider.

Style names are checked against the space's paintings and the built-in styles that map to
one of them; file paths are never accepted from a client.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import itertools
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from ..errors import PainterlyError, StyleNotFoundError
from .config import ServeConfig
from .jobs import JobRunner
from .store import JobStore, valid_job_id
from .uploads import display_name, read_limited, store_image

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")
MAX_STORED_PHOTO = 1024            # longer side of a stored photo; space renders are far smaller
INTERACTIVE, PREFETCH = 0, 1       # priority classes of space jobs (lower runs first)


# ------------------------------------------------------------------ request bodies

class RenderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload: str
    a: str
    b: str
    t: float
    size: int | None = None


class PrefetchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    upload: str
    a: str
    b: str
    size: int | None = None
    points: int | None = None


# ------------------------------------------------------------------ pure helpers

def prune_cache(folder: Path, max_bytes: float, keep: Path | None = None) -> list[Path]:
    """Remove the oldest files (by modification time) of ``folder`` until it holds at most
    ``max_bytes``; ``keep`` is never removed. Returns the removed paths."""
    try:
        files = [(entry.stat().st_mtime, entry.stat().st_size, Path(entry.path)) for entry in os.scandir(folder)
                 if entry.is_file()]
    except FileNotFoundError:
        return []
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:   # another worker pruned it first
            pass
        total -= size
        removed.append(path)
    return removed


def round_t(t: float, step: float) -> float:
    """``t`` checked to lie in [0, 1] and rounded to the nearest multiple of ``step``."""
    if not 0.0 <= t <= 1.0:       # also refuses NaN
        raise PainterlyError(f"t must be between 0 and 1, not {t}")
    return min(1.0, round(round(t / step) * step, 4))


def path_points(points: int, step: float) -> list[float]:
    """``points`` evenly spaced values of t from 0 to 1, rounded to ``step`` (duplicates dropped)."""
    return list(dict.fromkeys(round_t(i / (points - 1), step) for i in range(points)))


def coarse_to_fine(ts: list[float]) -> list[float]:
    """``ts`` reordered so every prefix covers [0, 1] as evenly as it can: the ends, the middle, ..."""
    if len(ts) <= 2:
        return list(ts)
    order = [ts[0], ts[-1]]
    rest = ts[1:-1]
    while rest:
        best = max(rest, key=lambda t: (min(abs(t - o) for o in order), -t))
        order.append(best)
        rest.remove(best)
    return order


@dataclass
class Task:
    key: str
    job_id: str
    upload: str
    a: str
    b: str
    t: float
    size: int
    started: bool = False


# ------------------------------------------------------------------ the renderer

class SpaceRenderer:
    """The style space of the server's style-VAE file and a priority queue of renders that runs
    on the job runner's workers."""

    def __init__(self, config: ServeConfig, store: JobStore, runner: JobRunner):
        self.config = config
        self.store = store
        self.runner = runner
        self.root = config.data_dir / "space"
        self._lock = threading.Lock()
        self._loaded: tuple | None = None           # (stamp, StyleSpace, its ends)
        self._tasks: dict[str, Task] = {}           # key -> queued or running task
        self._heap: list[tuple] = []                # (priority class, order, key)
        self._order = itertools.count()
        self._method: str | None = None

    # -- the model

    def model_path(self) -> Path:
        from ..stylespace.space import builtin_style_vae_path

        return Path(self.config.style_vae).expanduser() if self.config.style_vae else builtin_style_vae_path()

    def _stamp(self) -> tuple | None:
        try:
            info = self.model_path().stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def space(self):
        """The loaded :class:`StyleSpace` (reloaded when its file changes); PainterlyError when none."""
        from ..stylespace.space import load_style_space

        stamp = self._stamp()
        if stamp is None:
            if self.config.style_vae:
                raise PainterlyError(f"the style VAE {self.model_path().name} does not exist: train one with "
                                     "`painterly train style-vae`")
            raise PainterlyError("no style VAE is installed: train one with `painterly train style-vae`")
        with self._lock:
            if self._loaded is None or self._loaded[0] != stamp:
                space = load_style_space(self.model_path())
                self._loaded = (stamp, space, self._find_ends(space))
            return self._loaded[1]

    def method(self) -> str:
        """The render method in use: adain (a decoder is installed) or optimize."""
        if self._method is None:
            from ..stylespace.render import resolve_method

            self._method = resolve_method(self.config.space_method)
        return self._method

    def ends(self, space) -> dict[str, dict]:
        """The built-in styles usable as ends of a path (those whose painting is in the space)."""
        with self._lock:
            if self._loaded is not None and self._loaded[1] is space:
                return self._loaded[2]
        return self._find_ends(space)

    @staticmethod
    def _find_ends(space) -> dict[str, dict]:
        ends: dict[str, dict] = {}
        for name in space.registry.names():
            info = space.registry.info(name)
            painting = Path(info.source).stem
            if painting in space.names:
                ends[name] = {"name": name, "title": info.title, "artist": info.artist, "painting": painting,
                              "held_out": space.held_out[space.names.index(painting)]}
        return ends

    def check_name(self, space, name: str, which: str) -> str:
        name = name.strip()
        if name in space.names or name in self.ends(space):
            return name
        known = list(self.ends(space)) + list(space.names)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise StyleNotFoundError(f"{which}: unknown style {name[:80]!r} for the style space: not a painting in it "
                                 f"or a built-in style{hint} (GET /api/space lists them)")

    def describe(self) -> dict:
        """What GET /api/space returns."""
        cfg = self.config
        data = {"installed": False, "reason": None, "model": None, "method": None, "latent": None,
                "paintings": [], "styles": [],
                "defaults": {"size": cfg.space_size, "max_size": cfg.space_max_size,
                             "iterations": cfg.space_iterations, "points": cfg.space_prefetch_points,
                             "t_step": cfg.space_t_step}}
        try:
            space = self.space()
            data["method"] = self.method()
        except PainterlyError as exc:
            data["reason"] = str(exc)
            return data
        data.update(installed=True, model=None if not cfg.style_vae else self.model_path().name,
                    latent=space.latent,
                    paintings=[{"name": n, "held_out": h} for n, h in zip(space.names, space.held_out)],
                    styles=list(self.ends(space).values()))
        return data

    # -- uploads

    def photo_path(self, upload: str) -> Path:
        return self.root / "photos" / f"{upload}.png"

    def check_upload(self, upload: str) -> str:
        if not valid_job_id(upload) or not self.photo_path(upload).is_file():
            raise HTTPException(404, "unknown upload: send the photo to POST /api/uploads first")
        return upload

    def store_photo(self, data: bytes, filename: str | None) -> dict:
        from PIL import Image

        from ..io.image import open_image, save_image

        upload = secrets.token_urlsafe(16)
        path = self.photo_path(upload)
        store_image(data, "photo", path, self.config.max_pixels)
        image = open_image(path)
        if max(image.size) > MAX_STORED_PHOTO:
            image.thumbnail((MAX_STORED_PHOTO, MAX_STORED_PHOTO), Image.LANCZOS)
            save_image(image, path)
        return {"id": upload, "filename": display_name(filename, "photo"), "width": image.size[0],
                "height": image.size[1]}

    # -- renders

    def key(self, upload: str, a: str, b: str, t: float, size: int) -> str:
        parts = [upload, a, b, f"{t:.4f}", size, self._stamp(), self.method(), self.config.space_iterations]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]

    def render_path(self, key: str) -> Path:
        return self.root / "renders" / f"{key}.png"

    def size(self, size: int | None) -> int:
        size = self.config.space_size if size is None else size
        if not 32 <= size <= self.config.space_max_size:
            raise PainterlyError(f"size must be between 32 and {self.config.space_max_size}, not {size}")
        return size

    def point(self, upload: str, a: str, b: str, t: float, size: int, priority: int | None) -> dict:
        """One point of a path: cached, queued (if ``priority`` is given and it is neither) or missing."""
        key = self.key(upload, a, b, t, size)
        url = f"/api/space/renders/{key}"
        if self.render_path(key).is_file():
            return {"t": t, "status": "done", "cached": True, "result": url, "id": None}
        with self._lock:
            task = self._tasks.get(key)
            if task is None and priority is not None and not self.render_path(key).is_file():
                job = self.store.create({"method": self.method(), "style": f"vae:{a}..{b}@{t:g}", "size": size,
                                         "iterations": self.config.space_iterations, "kind": "space",
                                         "a": a, "b": b, "t": t, "upload": upload, "image": url}, "photo")
                task = self._tasks[key] = Task(key, job.id, upload, a, b, t, size)
                self._push(task, priority)
                self.runner.submit_task(self._run_next)
            elif task is not None and priority == INTERACTIVE and not task.started:
                self._push(task, priority)            # asked for now: ahead of the prefetched points
        if self.render_path(key).is_file():           # finished meanwhile
            return {"t": t, "status": "done", "cached": task is None, "result": url,
                    "id": None if task is None else task.job_id}
        if task is None:
            return {"t": t, "status": "missing", "cached": False, "result": None, "id": None}
        return {"t": t, "status": "running" if task.started else "queued", "cached": False, "result": None,
                "id": task.job_id}

    def _push(self, task: Task, priority: int) -> None:
        order = next(self._order)
        heapq.heappush(self._heap, (priority, -order if priority == INTERACTIVE else order, task.key))

    def room(self, wanted: int) -> None:
        counts = self.store.counts()
        if counts["queued"] + counts["running"] + wanted > self.config.max_queued:
            raise HTTPException(503, "the job queue is full; try again later")

    def _run_next(self) -> None:
        """One worker turn: the most urgent space task not yet started (one turn is queued per task)."""
        with self._lock:
            task = None
            while self._heap:
                _, _, key = heapq.heappop(self._heap)
                candidate = self._tasks.get(key)
                if candidate is not None and not candidate.started:
                    task = candidate
                    task.started = True
                    break
        if task is None:
            return
        try:
            self._execute(task)
        finally:
            with self._lock:
                self._tasks.pop(task.key, None)

    def _execute(self, task: Task) -> None:
        from ..io.image import load_image, save_image, tensor_to_pil
        from ..stylespace.render import RenderConfig, render
        from ..stylespace.vae import interpolate

        self.store.start(task.job_id)
        try:
            space = self.space()
            stats = space.stats(interpolate(space.code(task.a), space.code(task.b), task.t))
            photo = load_image(self.photo_path(task.upload), size=None)
            cfg = RenderConfig(method=self.method(), size=task.size, iterations=self.config.space_iterations,
                               device=self.config.device)

            def report(event) -> None:
                self.store.progress(task.job_id, event.step / max(event.total, 1))

            picture = tensor_to_pil(render(photo, stats, cfg, callbacks=[report]))
            path = save_image(picture, self.render_path(task.key))
            prune_cache(path.parent, self.config.space_cache_mb * 1e6, keep=path)
            result = self.runner.result_path(task.job_id)      # /api/jobs/{id}/result serves it too
            result.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, result)
            except OSError:
                save_image(picture, result)
        except PainterlyError as exc:
            self.store.fail(task.job_id, str(exc))
        except Exception as exc:  # a bug or an out-of-memory: the job fails, the server goes on
            log.exception("style-space job %s failed", task.job_id)
            self.store.fail(task.job_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.store.finish(task.job_id, *picture.size)


# ------------------------------------------------------------------ routes

def create_space_router(config: ServeConfig, store: JobStore, runner: JobRunner) -> tuple[APIRouter, SpaceRenderer]:
    """The style-space API (see the module doc) and the renderer behind it."""
    renderer = SpaceRenderer(config, store, runner)
    router = APIRouter()
    step = config.space_t_step

    def checked(upload: str, a: str, b: str, size: int | None):
        renderer.check_upload(upload)
        try:
            space = renderer.space()
        except PainterlyError as exc:
            raise HTTPException(409, str(exc)) from None
        return renderer.check_name(space, a, "a"), renderer.check_name(space, b, "b"), renderer.size(size)

    def points_of(points: int | None, most: int = config.space_prefetch_points) -> list[float]:
        n = config.space_prefetch_points if points is None else points
        if not 2 <= n <= most:
            raise PainterlyError(f"points must be between 2 and {most}, not {n}")
        return path_points(n, step)

    @router.post("/api/uploads", status_code=201, summary="store a photo for the style-space page")
    async def upload_photo(request: Request):
        form = await request.form()
        photo = form.get("photo")
        if photo is None or isinstance(photo, str):
            raise PainterlyError("photo: an image file is required (multipart field 'photo')")
        data = await read_limited(photo, config.max_upload_bytes)
        return await run_in_threadpool(renderer.store_photo, data, photo.filename)

    @router.get("/api/uploads/{upload}", summary="a stored photo", responses={200: {"content": {"image/png": {}}}})
    def uploaded_photo(upload: str):
        renderer.check_upload(upload)
        return FileResponse(renderer.photo_path(upload), media_type="image/png")

    @router.get("/api/space", summary="the style space: installed or not, its paintings and render method")
    def describe():
        return renderer.describe()

    @router.post("/api/space/render", summary="render the photo at point t of the path from a to b")
    def render_point(body: RenderBody):
        a, b, size = checked(body.upload, body.a, body.b, body.size)
        t = round_t(body.t, step)
        renderer.room(1)
        point = renderer.point(body.upload, a, b, t, size, INTERACTIVE)
        return {**point, "a": a, "b": b, "size": size, "method": renderer.method()}

    @router.post("/api/space/prefetch", summary="render the whole path in the background")
    def prefetch(body: PrefetchBody):
        a, b, size = checked(body.upload, body.a, body.b, body.size)
        ts = points_of(body.points)
        renderer.room(len(ts))
        done = {t: renderer.point(body.upload, a, b, t, size, None) for t in ts}
        for t in coarse_to_fine([t for t in ts if done[t]["status"] != "done"]):
            done[t] = renderer.point(body.upload, a, b, t, size, PREFETCH)
        points = [done[t] for t in ts]
        return {"a": a, "b": b, "size": size, "total": len(points),
                "cached": sum(p["cached"] for p in points),
                "done": sum(p["status"] == "done" for p in points),
                "queued": sum(p["status"] in ("queued", "running") for p in points), "points": points}

    @router.get("/api/space/path", summary="which points of a path are rendered (nothing is queued)")
    def path_status(upload: str, a: str, b: str, size: int | None = None,
                    points: int | None = Query(None, description="points on the path (default: the server's)")):
        a, b, size = checked(upload, a, b, size)
        listed = [renderer.point(upload, a, b, p, size, None) for p in points_of(points, round(1 / step) + 1)]
        return {"a": a, "b": b, "size": size, "total": len(listed),
                "done": sum(p["status"] == "done" for p in listed), "points": listed}

    @router.get("/api/space/renders/{key}", summary="a rendered point of a path",
                responses={200: {"content": {"image/png": {}}}})
    def rendered(key: str):
        path = renderer.render_path(key) if KEY_PATTERN.fullmatch(key) else None
        if path is None or not path.is_file():
            raise HTTPException(404, "no such render")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    return router, renderer


__all__ = ["SpaceRenderer", "create_space_router", "round_t", "path_points", "coarse_to_fine"]
