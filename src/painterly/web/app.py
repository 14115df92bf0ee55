"""The web studio's application: the page, its static files and the JSON/multipart API.

    POST /api/jobs              multipart: content (file), style (name) or style_image (file),
                                method, strength, preserve_color, detail, size, iterations
                                -> {"id", "status"}
    GET  /api/jobs/{id}         {"status": queued|running|done|failed, "progress", "error", ...}
    GET  /api/jobs/{id}/result  the image (?download=1: as an attachment)
    GET  /api/results.zip?ids=  finished results of several jobs in one zip
    GET  /api/styles            [{"name", "title", "artist", "methods", "thumbnail"}]
    GET  /api/styles/{name}/thumbnail
    GET  /api/methods           {"method": {"available", "reason"}}
    POST /api/frame             one webcam frame stylised synchronously (fast networks)
    GET  /api/health
    POST /api/uploads, GET /api/space, POST /api/space/render, POST /api/space/prefetch, ...
                                the style-space page at /space (see :mod:`painterly.web.space`)
    OpenAPI at /openapi.json, interactive docs at /docs.

Job ids are 128 random bits; files live under the data directory with names made from the
id alone; every error is a JSON ``{"detail": ...}`` with a 4xx status the page shows as is.
"""

from __future__ import annotations

import difflib
import io
import re
import tempfile
import threading
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..catalog import CatalogEntry, find_style, list_styles, method_status
from ..errors import PainterlyError
from ..methods.stylize import MAX_DETAIL
from .config import ServeConfig
from .jobs import WEB_METHODS, JobRequest, JobRunner
from .space import create_space_router
from .store import JobStore, valid_job_id
from .thumbnails import ThumbnailStore
from .uploads import UploadTooLarge, display_name, read_limited, store_image

STATIC_DIR = Path(__file__).resolve().parent / "static"
JOB_FIELDS = ("content", "style", "style_image", "method", "strength", "preserve_color", "detail", "size",
              "iterations")
STYLE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ZIP_IDS = 500


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _send_json(send, 413, f"request body larger than the limit of {self.limit:,} bytes")
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise UploadTooLarge(f"request body larger than the limit of {self.limit:,} bytes")
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except UploadTooLarge as exc:
            if not started:
                await _send_json(send, 413, str(exc))


async def _send_json(send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _parse_bool(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    text = value.strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no"):
        return False
    raise PainterlyError(f"{name} must be true or false, not {value!r}")


def _parse_number(value: str | None, name: str, kind, default, low, high):
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except ValueError:
        raise PainterlyError(f"{name} must be a{'n integer' if kind is int else ' number'}, not {value!r}") from None
    if not low <= number <= high:
        raise PainterlyError(f"{name} must be between {low} and {high}, not {value}")
    return number


def resolve_method(requested: str, entry: CatalogEntry | None, ready: dict[str, str | None]) -> str:
    """The method a submission runs with: ``auto`` picks the first that can render the style."""
    if requested not in WEB_METHODS:
        raise PainterlyError(f"unknown method {requested!r}: use {', '.join(WEB_METHODS)}")
    possible = entry.methods if entry is not None else ("adain", "optimize")
    if requested == "auto":
        for method in possible:
            if ready.get(method) is None:
                return method
        raise PainterlyError("no installed method can render this style")
    if requested not in possible:
        what = f"style {entry.name!r}" if entry is not None else "an uploaded style image"
        raise PainterlyError(f"method {requested!r} cannot render {what} (it can use: {', '.join(possible)})")
    if ready.get(requested) is not None:
        raise PainterlyError(f"method {requested!r} is not available: {ready[requested]}")
    return requested


def create_app(config: ServeConfig):
    """The FastAPI application for ``config`` (creates the data directory)."""
    config = config.validate()
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(data_dir / "jobs.sqlite")
    runner = JobRunner(store, data_dir, config.workers, config.device, config.model_dir)
    thumbnails = ThumbnailStore(data_dir / "thumbnails", model_dir=config.model_dir)
    frame_slots = threading.BoundedSemaphore(max(1, config.workers))

    def catalog() -> list[CatalogEntry]:
        return list_styles(model_dir=config.model_dir)

    @asynccontextmanager
    async def lifespan(app):
        store.fail_unfinished()
        yield
        runner.shutdown(wait=False)

    app = FastAPI(title="painterly studio", version=__version__, lifespan=lifespan,
                  description="Neural style transfer in the browser and over HTTP. The page at / uses this API.")
    app.state.store = store
    app.state.runner = runner
    app.state.config = config
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(PainterlyError)
    async def painterly_error(request, exc: PainterlyError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(UploadTooLarge)
    async def too_large(request, exc: UploadTooLarge):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request, exc: RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/space", response_class=HTMLResponse, include_in_schema=False)
    def space_page():
        return HTMLResponse((STATIC_DIR / "space.html").read_text(encoding="utf-8"))

    space_router, app.state.space = create_space_router(config, store, runner)
    app.include_router(space_router)

    @app.get("/api/health", summary="server status")
    def health():
        return {"status": "ok", "version": __version__, "workers": config.workers, "device": config.device,
                "jobs": store.counts()}

    @app.get("/api/methods", summary="which methods can run here")
    def methods():
        return {name: {"available": reason is None, "reason": reason}
                for name, reason in method_status(config.model_dir).items()}

    @app.get("/api/styles", summary="the named styles and the methods that render each")
    def styles():
        return [{"name": e.name, "title": e.title, "artist": e.artist, "year": e.year, "methods": list(e.methods),
                 "thumbnail": f"/api/styles/{e.name}/thumbnail"} for e in catalog()]

    @app.get("/api/styles/{name}/thumbnail", summary="a thumbnail painterly rendered in the style",
             responses={200: {"content": {"image/jpeg": {}}}})
    def thumbnail(name: str):
        if not STYLE_NAME.fullmatch(name):
            raise HTTPException(404, f"unknown style {name!r}")
        try:
            entry = find_style(name, catalog())
        except PainterlyError as exc:
            raise HTTPException(404, str(exc)) from None
        return FileResponse(thumbnails.path(entry), media_type="image/jpeg",
                            headers={"Cache-Control": "public, max-age=3600"})

    @app.post("/api/jobs", status_code=202, summary="submit a photo to stylise")
    async def submit(request: Request):
        form = await request.form()
        unknown = [key for key in form.keys() if key not in JOB_FIELDS]
        if unknown:
            hints = [f"{key!r} (did you mean {difflib.get_close_matches(key, JOB_FIELDS, 1, 0.5)[0]!r}?)"
                     if difflib.get_close_matches(key, JOB_FIELDS, 1, 0.5) else repr(key) for key in unknown]
            raise PainterlyError(f"unknown field {', '.join(hints)}; fields: {', '.join(JOB_FIELDS)}")
        content = form.get("content")
        if content is None or isinstance(content, str):
            raise PainterlyError("content: a photo file is required (multipart field 'content')")
        style_name = form.get("style")
        style_file = form.get("style_image")
        if isinstance(style_file, str):
            if style_file:
                raise PainterlyError("style_image must be a file upload")
            style_file = None
        if style_name is not None and not isinstance(style_name, str):
            raise PainterlyError("style must be a style name, not a file (use style_image for a painting)")
        style_name = (style_name or "").strip() or None
        if (style_name is None) == (style_file is None):
            raise PainterlyError("give exactly one of style (a name from /api/styles) or style_image (a file)")
        entry = find_style(style_name, catalog()) if style_name else None
        method = resolve_method(str(form.get("method") or "auto"), entry, method_status(config.model_dir))
        max_size = config.max_optimize_size if method == "optimize" else config.max_size
        job_request = JobRequest(
            method=method, style=style_name,
            strength=_parse_number(form.get("strength"), "strength", float, 1.0, 0.0, 1.0),
            preserve_color=_parse_bool(form.get("preserve_color"), "preserve_color"),
            detail=_parse_number(form.get("detail"), "detail", float, 0.0, 0.0, MAX_DETAIL),
            size=_parse_number(form.get("size"), "size", int, min(512, max_size), 32, max_size),
            iterations=_parse_number(form.get("iterations"), "iterations", int, 150, 1, config.max_iterations))
        counts = store.counts()
        if counts["queued"] + counts["running"] >= config.max_queued:
            raise HTTPException(503, "the job queue is full; try again later")
        content_bytes = await read_limited(content, config.max_upload_bytes)
        style_bytes = await read_limited(style_file, config.max_upload_bytes) if style_file is not None else None
        job = store.create(job_request.params(), display_name(content.filename, "photo"))
        try:  # decoding and re-encoding take a while: off the event loop
            await run_in_threadpool(store_image, content_bytes, "content", runner.upload_path(job.id, "content"),
                                    config.max_pixels)
            if style_bytes is not None:
                await run_in_threadpool(store_image, style_bytes, "style_image", runner.upload_path(job.id, "style"),
                                        config.max_pixels)
        except PainterlyError as exc:
            store.fail(job.id, str(exc))
            for role in ("content", "style"):
                runner.upload_path(job.id, role).unlink(missing_ok=True)
            raise
        runner.submit(job.id, job_request, style_bytes is not None)
        return {"id": job.id, "status": "queued"}

    def _job_or_404(job_id: str):
        job = store.get(job_id) if valid_job_id(job_id) else None
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/api/jobs/{job_id}", summary="a job's status and progress")
    def job_status(job_id: str):
        return _job_or_404(job_id).public()

    def _download_name(job) -> str:
        style = job.params.get("style") or "own_style"
        return f"{job.filename}_{style}.png"

    @app.get("/api/jobs/{job_id}/result", summary="a finished job's image",
             responses={200: {"content": {"image/png": {}}}})
    def job_result(job_id: str, download: bool = False):
        job = _job_or_404(job_id)
        path = runner.result_path(job.id)
        if job.status != "done" or not path.is_file():
            raise HTTPException(409 if job.status in ("queued", "running") else 404,
                                f"job is {job.status}" + (f": {job.error}" if job.error else ""))
        disposition = "attachment" if download else "inline"
        return FileResponse(path, media_type="image/png",
                            headers={"Content-Disposition": f'{disposition}; filename="{_download_name(job)}"'})

    @app.get("/api/results.zip", summary="several finished results in one zip",
             responses={200: {"content": {"application/zip": {}}}})
    def results_zip(ids: str = Query(..., description="job ids separated by commas")):
        wanted = [i for i in dict.fromkeys(ids.split(",")) if i]
        if not wanted or len(wanted) > MAX_ZIP_IDS:
            raise HTTPException(422, f"ids: give 1 to {MAX_ZIP_IDS} job ids separated by commas")
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
        names: set[str] = set()
        written = 0
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            for job_id in wanted:
                job = store.get(job_id) if valid_job_id(job_id) else None
                path = runner.result_path(job_id)
                if job is None or job.status != "done" or not path.is_file():
                    continue
                name = _download_name(job)
                stem, n = name[:-4], 1
                while name in names:
                    n += 1
                    name = f"{stem}_{n}.png"
                names.add(name)
                archive.write(path, name)
                written += 1
        if not written:
            raise HTTPException(404, "none of these jobs has a finished result")
        spool.seek(0)

        def chunks():
            with spool:
                while block := spool.read(1 << 20):
                    yield block

        return StreamingResponse(chunks(), media_type="application/zip",
                                 headers={"Content-Disposition": 'attachment; filename="painterly-results.zip"'})

    @app.post("/api/frame", summary="stylise one webcam frame now (fast networks only)",
              responses={200: {"content": {"image/jpeg": {}}}})
    async def frame(request: Request):
        form = await request.form()
        upload, name = form.get("frame"), form.get("style")
        if upload is None or isinstance(upload, str) or not isinstance(name, str):
            raise PainterlyError("a 'frame' image file and a 'style' name are required")
        entry = find_style(name, catalog())
        method = next((m for m in ("fast", "multistyle") if m in entry.methods), None)
        if method is None:
            raise PainterlyError(f"style {name!r} has no fast network for live video (try one marked fast)")
        data = await read_limited(upload, config.max_upload_bytes)
        jpeg = await run_in_threadpool(_stylize_frame, data, method, name)
        return Response(jpeg, media_type="image/jpeg")

    def _stylize_frame(data: bytes, method: str, name: str) -> bytes:
        from ..io.image import load_image, tensor_to_pil
        from ..methods.stylize import StylizeConfig, prepare, stylize_tensor

        with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
            path = Path(tmp) / "frame.png"
            store_image(data, "frame", path, config.max_pixels)
            content = load_image(path, size=None)
        if max(content.shape[-2:]) > config.max_frame_size:
            from ..ops import resize_longer_side

            content = resize_longer_side(content, config.max_frame_size)
        cfg = StylizeConfig(method=method, device=config.device, model_dir=config.model_dir)
        with frame_slots:
            prepared = runner.cache.get((method, name), lambda: prepare(name, cfg))
            out = stylize_tensor(content, prepared, cfg)
        buffer = io.BytesIO()
        tensor_to_pil(out).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    app.add_middleware(BodyLimit, limit=config.body_limit)
    return app


__all__ = ["create_app", "resolve_method", "BodyLimit"]
