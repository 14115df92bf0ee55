"""The Ray runner: the same jobs, manifest and resume as the local runner, on a Ray cluster.

The driver (this process) walks the input lazily and writes the jobs still to do as
JSON-lines shards into ``OUT_DIR/.painterly-batch/plan`` (constant memory whatever the
dataset's size). Ray Data then streams::

    read_text(shards) -> decode (CPU tasks) -> stylise (actor pool holding the model; GPU
    actors when the cluster has GPUs) -> encode + write atomically + sha256 (CPU tasks)

and the driver appends the rows that come back to the manifest, as the local runner does.
Every step is the function the local runner uses (:mod:`painterly.batch.work`), so the
outputs and the manifest are byte-identical on the CPU. ``IN_DIR`` and ``OUT_DIR`` must be
visible at the same paths on every node (a shared file system), and painterly must be
installed there. Ray is imported here only (optional extra ``cluster``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass

import numpy as np

from ..errors import PainterlyError
from .config import BatchConfig
from .plan import ImageJob
from .session import BatchSession
from .work import Stylist, WorkerSpec, decode_job, finish_task

log = logging.getLogger(__name__)

SHARD_BATCHES = 4         # actor batches per plan shard: a shard is one Ray block, and blocks are what
                          # Ray spreads over the actors (one big shard would keep all but one idle)
LOCAL_ADDRESSES = (None, "", "local")
AUTH_HINT = ("if the cluster uses token authentication (the default of `ray start` in recent Ray), set "
             "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or ~/.ray/auth_token) here, or run on a cluster node "
             "with --ray auto")


@dataclass
class RayCluster:
    """A connection made by :func:`connect_ray`: the module, and what the cluster offers."""

    ray: object
    gpus: float
    cpus: float
    local: bool


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PainterlyError("--ray needs Ray: pip install 'painterly[cluster]' (or 'ray[data]')") from None
    return ray


def check_address(address: str, timeout: float) -> None:
    """Fail fast, with one line, when nothing listens at a ``HOST:PORT`` / ``ray://HOST:PORT`` address."""
    if address == "auto":
        return
    text = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PainterlyError(f"bad Ray address {address!r}: use auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise PainterlyError(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start one with "
                             f"`ray start --head` or leave out the address for a local Ray instance") from None


@contextlib.contextmanager
def connect_ray(config: BatchConfig):
    """Start a local Ray instance (no address) or connect to a cluster; shut down / disconnect afterwards."""
    address = config.ray_address
    local = address in LOCAL_ADDRESSES
    if not local:
        check_address(address, config.connect_timeout)  # before importing Ray: a typo fails in a moment
    ray = import_ray()
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                   ignore_reinit_error=True)
    if local:
        cpus = config.ray_cpus or max(os.cpu_count() or 1, config.workers + 1)
        ray.init(address="local", num_cpus=cpus, **options)
    else:
        try:
            _init_with_timeout(ray, address, config.connect_timeout, options)
        except PainterlyError:
            raise
        except Exception as exc:  # ConnectionError, RuntimeError, grpc errors: all "cannot connect"
            raise PainterlyError(f"cannot connect to the Ray cluster at {address}: "
                                 f"{' '.join(str(exc).split())[:300]} ({AUTH_HINT})") from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        resources = ray.cluster_resources()
        yield RayCluster(ray, float(resources.get("GPU", 0)), float(resources.get("CPU", 0)), local)
    finally:
        ray.shutdown()


def _init_with_timeout(ray, address: str, timeout: float, options: dict) -> None:
    """``ray.init(address)`` giving up after ``timeout`` seconds (something listens there but is not Ray)."""
    import threading

    outcome: list = []

    def attempt():
        try:
            ray.init(address=address, **options)
            outcome.append(None)
        except BaseException as exc:  # reported in the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True, name="ray-connect")
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise PainterlyError(f"no answer from a Ray cluster at {address} within {timeout:g}s (--connect-timeout; "
                             f"{AUTH_HINT})")
    if outcome[0] is not None:
        raise outcome[0]


# --------------------------------------------------------------------------- the plan on disk


def write_plan(session: BatchSession, shard_jobs: int) -> list[str]:
    """The session's jobs as JSON-lines shards of ``shard_jobs`` images each; their paths."""
    folder = session.work_dir / "plan"
    if folder.exists():
        for old in folder.glob("*.jsonl"):
            old.unlink()
    folder.mkdir(exist_ok=True)
    paths, handle, count = [], None, 0
    try:
        for job in session.jobs():
            if count % shard_jobs == 0:
                if handle is not None:
                    handle.close()
                paths.append(str((folder / f"shard-{len(paths):06d}.jsonl").resolve()))
                handle = open(paths[-1], "w", encoding="utf-8")
            handle.write(json.dumps(job.to_dict(), separators=(",", ":")) + "\n")
            count += 1
    finally:
        if handle is not None:
            handle.close()
    return paths


# --------------------------------------------------------------------------- the stages (run on Ray workers)


def _decode_batch(batch: dict, spec: WorkerSpec) -> dict:
    columns = {k: [] for k in ("job", "pixels", "height", "width", "error", "seconds")}
    for line in batch["text"]:
        job = ImageJob.from_dict(json.loads(line))
        start = time.perf_counter()
        pixels, error = decode_job(job, spec)
        columns["job"].append(json.dumps(job.to_dict()))
        columns["pixels"].append(b"" if pixels is None else pixels.tobytes())
        columns["height"].append(0 if pixels is None else pixels.shape[0])
        columns["width"].append(0 if pixels is None else pixels.shape[1])
        columns["error"].append(error or "")
        columns["seconds"].append((time.perf_counter() - start) / max(1, len(job.tasks)))
    return _arrays(columns)


class _StylizeActor:
    """Holds the models (loaded once per actor) and stylises decoded images in every style they need."""

    def __init__(self, spec: WorkerSpec):
        self.stylist = Stylist(spec)

    def __call__(self, batch: dict) -> dict:
        columns = {k: [] for k in ("input", "style", "output", "pixels", "height", "width", "error", "seconds")}
        for index, text in enumerate(batch["job"]):
            job = ImageJob.from_dict(json.loads(text))
            if batch["error"][index]:
                results = [(s, o, None, str(batch["error"][index]), 0.0) for s, o in job.tasks]
            else:
                shape = (int(batch["height"][index]), int(batch["width"][index]), 3)
                pixels = np.frombuffer(batch["pixels"][index], dtype=np.uint8).reshape(shape)
                results = self.stylist.stylize_job(job, pixels)
            for style, output, result, error, seconds in results:
                columns["input"].append(job.input)
                columns["style"].append(style)
                columns["output"].append(output)
                columns["pixels"].append(b"" if result is None else result.tobytes())
                columns["height"].append(0 if result is None else result.shape[0])
                columns["width"].append(0 if result is None else result.shape[1])
                columns["error"].append(error or "")
                columns["seconds"].append(float(batch["seconds"][index]) + seconds)
        return _arrays(columns)


def _write_batch(batch: dict, spec: WorkerSpec) -> dict:
    rows = []
    for index in range(len(batch["input"])):
        job = ImageJob(str(batch["input"][index]), ())
        style, output, error = str(batch["style"][index]), str(batch["output"][index]), str(batch["error"][index])
        result = None
        if not error:
            shape = (int(batch["height"][index]), int(batch["width"][index]), 3)
            result = np.frombuffer(batch["pixels"][index], dtype=np.uint8).reshape(shape)
        rows.append(finish_task(job, style, output, result, error or None, float(batch["seconds"][index]), spec))
    return _arrays({k: [row[k] for row in rows] for k in ("input", "style", "output", "sha256", "bytes", "status",
                                                          "error", "seconds")})


def _arrays(columns: dict) -> dict:
    out = {}
    for name, values in columns.items():
        if name in ("height", "width", "bytes"):
            out[name] = np.asarray(values, dtype=np.int64)
        elif name == "seconds":
            out[name] = np.asarray(values, dtype=np.float64)
        else:
            array = np.empty(len(values), dtype=object)
            array[:] = values
            out[name] = array
    return out


# --------------------------------------------------------------------------- the driver


def run_ray(session: BatchSession, cluster: RayCluster) -> None:
    """Run the session's jobs on ``cluster`` (see the module docstring)."""
    ray, config = cluster.ray, session.config
    use_gpu = cluster.gpus >= 1 and config.device != "cpu"
    spec = session.spec(threads=config.threads or 1, device="cuda" if use_gpu else "cpu")
    shards = write_plan(session, SHARD_BATCHES * config.ray_batch_size)
    if not shards:
        return
    batch = config.ray_batch_size
    actor_resources = {"num_gpus": 1} if use_gpu else {"num_cpus": spec.threads}
    log.info("Ray: %d shard(s), %d %s actor(s)", len(shards), config.workers, "GPU" if use_gpu else "CPU")
    ds = ray.data.read_text(shards)
    ds = ds.map_batches(_decode_batch, fn_kwargs={"spec": spec}, batch_size=batch, batch_format="numpy")
    ds = ds.map_batches(_StylizeActor, fn_constructor_kwargs={"spec": spec}, batch_size=batch, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=config.workers), **actor_resources)
    ds = ds.map_batches(_write_batch, fn_kwargs={"spec": spec}, batch_size=batch, batch_format="numpy")
    try:
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            session.record([_row(out, i) for i in range(len(out["input"]))])
    except Exception as exc:
        cause = _painterly_cause(exc)
        if cause is not None:
            raise PainterlyError(str(cause)) from None
        raise
    shutil.rmtree(session.work_dir / "plan", ignore_errors=True)


def _row(columns: dict, index: int) -> dict:
    return {"input": str(columns["input"][index]), "style": str(columns["style"][index]),
            "output": str(columns["output"][index]), "sha256": str(columns["sha256"][index]),
            "bytes": int(columns["bytes"][index]), "status": str(columns["status"][index]),
            "error": str(columns["error"][index]), "seconds": float(columns["seconds"][index])}


def _painterly_cause(exc: BaseException) -> BaseException | None:
    """The PainterlyError (e.g. a full disk) behind Ray's wrapping of a failed task, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, PainterlyError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


__all__ = ["connect_ray", "run_ray", "check_address", "import_ray", "write_plan", "RayCluster"]
