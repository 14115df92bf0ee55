"""The model-agnostic training loop shared by every trained method (see docs/dev/trainer-api.md).

A method supplies a :class:`TrainTask` (its networks, its losses, how to make samples and
how to export the model) and a :class:`BatchSource`; :func:`train` does the rest: Adam with a
warm-up and a learning-rate schedule, gradient clipping, checkpoints that resume exactly,
sample sheets and a GIF of them, TensorBoard scalars, progress callbacks, a time budget,
bf16 autocast and channels_last on CUDA, and the final export with training metadata.
Under ``torchrun`` it trains in several processes with DistributedDataParallel
(:mod:`.distributed`): each process takes its part of the global batch, rank 0 writes.

Run folder layout (``TrainerConfig.out_dir``)::

    config.json                      resolved trainer config (+ the task's, if it has one)
    checkpoints/step_000500.pt       the last ``keep_checkpoints`` checkpoints
    samples/step_000250.png          validation photos (top row) and their outputs
    samples.gif                      all sample sheets as an animation
    tb/                              TensorBoard event files
    model.safetensors (+ .json)      the exported model (unless an export path is given)
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..errors import PainterlyError
from . import distributed
from .distributed import World

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine", "step")
CHECKPOINT_PATTERN = re.compile(r"step_(\d+)\.pt$")


@dataclass
class TrainerConfig:
    """One per run; saved as config.json next to every checkpoint."""

    out_dir: str                     # run folder: checkpoints/, samples/, tb/, model files
    iterations: int = 20000
    batch_size: int = 4
    lr: float = 1e-3
    lr_schedule: str = "cosine"      # constant | cosine | step
    warmup: int = 0                  # linear warm-up steps
    checkpoint_every: int = 500
    sample_every: int = 250
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"
    mixed_precision: bool = True     # bf16 autocast + channels_last on CUDA only
    tensorboard: bool = True
    resume: bool = False
    max_seconds: float | None = None
    grad_clip: float | None = 10.0   # max global gradient norm (None: no clipping)
    min_lr_factor: float = 0.05      # the cosine schedule ends at lr * min_lr_factor
    keep_checkpoints: int = 2        # older checkpoints are deleted (at least ``average_last`` are kept)
    sample_gif: bool = True          # write samples.gif at the end
    # the exported weights: the mean of the last N checkpoints' (checkpoint averaging, Vaswani et al. 2017;
    # SWA, Izmailov et al. 2018); 1 = the final weights. Checkpoints stay as trained, so --resume goes on
    average_last: int = 1

    def validate(self) -> "TrainerConfig":
        if self.iterations < 0:
            raise PainterlyError(f"iterations must be >= 0, not {self.iterations}")
        if self.batch_size < 1:
            raise PainterlyError(f"batch size must be at least 1, not {self.batch_size}")
        if not self.lr > 0:
            raise PainterlyError(f"learning rate must be positive, not {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise PainterlyError(f"unknown lr schedule {self.lr_schedule!r}: use {', '.join(LR_SCHEDULES)}")
        if min(self.checkpoint_every, self.sample_every, self.log_every) < 1 or self.warmup < 0:
            raise PainterlyError("checkpoint/sample/log intervals must be >= 1 and warm-up >= 0")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise PainterlyError(f"time limit must be positive, not {self.max_seconds}")
        if self.keep_checkpoints < 1:
            raise PainterlyError("keep at least one checkpoint")
        if self.average_last < 1:
            raise PainterlyError(f"--average-last must be at least 1, not {self.average_last}")
        return self

    @property
    def checkpoints_kept(self) -> int:
        """How many checkpoints stay on disk: ``keep_checkpoints``, and at least the ``average_last`` to average."""
        return max(self.keep_checkpoints, self.average_last)


@runtime_checkable
class TrainTask(Protocol):
    """What a method gives the loop."""

    kind: str

    def modules(self) -> dict[str, nn.Module]: ...

    def parameters(self) -> Iterable[nn.Parameter]: ...

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]: ...

    def samples(self, photos: torch.Tensor) -> torch.Tensor: ...

    def export(self, path: Path, meta: dict) -> Path: ...


class BatchSource(Protocol):
    """``batch(step)`` depends only on the source's seed and ``step``.

    Optional: ``batch_part(step, part)`` builds only the samples at positions ``part`` (a slice)
    of that batch, so that each process of a distributed run builds only its own.
    """

    def batch(self, step: int) -> dict[str, torch.Tensor]: ...


@dataclass
class TrainProgress:
    """What callbacks receive after every step."""

    step: int                        # steps done
    total: int                       # planned steps
    losses: dict[str, float] = field(default_factory=dict)   # latest logged values (every log_every steps)
    lr: float = 0.0
    elapsed: float = 0.0             # seconds in this process
    images_per_second: float = 0.0
    eta: float | None = None         # seconds left at the current speed
    sample_path: Path | None = None  # set on the steps a sample sheet was written


TrainCallback = Callable[[TrainProgress], None]


@dataclass
class TrainResult:
    steps: int                       # total steps done (including those before a resume)
    seconds: float                   # training time over all sessions
    losses: dict[str, float]         # last logged losses
    model_path: Path | None
    stopped: str                     # "done" | "time limit"
    history: list[dict[str, float]] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    gif: Path | None = None


# --------------------------------------------------------------------------- pure pieces


def lr_factor(step: int, total: int, schedule: str = "cosine", warmup: int = 0, min_factor: float = 0.05) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based): linear warm-up, then the schedule.

    cosine: from 1 down to ``min_factor`` over the steps after warm-up; step: 1, then 0.1
    for the last third; constant: 1.
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return 1.0 if progress < 2 / 3 else 0.1
    raise ValueError(f"unknown lr schedule {schedule!r}")


def hardware_info(device: str | torch.device) -> dict[str, str]:
    """CPU model or GPU name, and the torch version, for model sidecars."""
    device = torch.device(device)
    info = {"device": str(device), "torch": torch.__version__, "cpu": _cpu_name(),
            "threads": str(torch.get_num_threads())}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sample_sheet(photos: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Photos in the top row, their outputs below (one column per photo): 3 x H' x NW."""
    if outputs.shape[-1] != photos.shape[-1]:  # keep the aspect (outputs may be several styles tall)
        height = round(outputs.shape[-2] * photos.shape[-1] / outputs.shape[-1])
        outputs = torch.nn.functional.interpolate(outputs.float(), size=(height, photos.shape[-1]), mode="bilinear",
                                                  align_corners=False)
    top = torch.cat(list(photos.float().cpu()), dim=-1)
    bottom = torch.cat(list(outputs.float().cpu().clamp(0, 1)), dim=-1)
    return torch.cat([top, bottom], dim=-2)


# --------------------------------------------------------------------------- RNG and checkpoints


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def checkpoint_paths(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(folder: Path, step: int, state: dict, keep: int) -> Path:
    """Write ``step_XXXXXX.pt`` atomically (temp file + rename), then delete all but the last ``keep``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:06d}.pt"
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in checkpoint_paths(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a half-written file cannot exist (atomic), but a foreign one can
        raise PainterlyError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0][:120]})") from None


def load_module_states(modules: dict[str, nn.Module], states: dict, path: Path) -> None:
    """Load each of ``modules`` from ``states`` (a checkpoint's ``modules``); one-line error on any mismatch."""
    try:
        for name, module in modules.items():
            module.load_state_dict(states[name])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise PainterlyError(f"{path}: does not match this run's networks "
                             f"({str(exc).splitlines()[0][:160]})") from None


def average_module_states(states: Sequence[dict[str, dict[str, torch.Tensor]]]) -> dict[str, dict[str, torch.Tensor]]:
    """The element-wise mean of several checkpoints' ``modules`` (same networks): floating tensors are
    averaged in float64 and cast back; integer ones (counters) are taken from the last."""
    if not states:
        raise ValueError("nothing to average")
    out = {}
    for name, last in states[-1].items():
        out[name] = {}
        for key, value in last.items():
            if value.is_floating_point():
                total = sum(state[name][key].double() for state in states)
                out[name][key] = (total / len(states)).to(value.dtype)
            else:
                out[name][key] = value.clone()
    return out


def load_checkpoint_average(modules: dict[str, nn.Module], paths: Sequence[Path]) -> list[int]:
    """Load the mean of the checkpoints ``paths`` into ``modules``; returns their steps."""
    states = [load_checkpoint(path) for path in paths]
    for path, state in zip(paths, states):
        if set(state.get("modules", {})) != set(modules):
            raise PainterlyError(f"{path}: does not match this run's networks (modules "
                                 f"{sorted(state.get('modules', {}))}, not {sorted(modules)})")
    load_module_states(modules, average_module_states([s["modules"] for s in states]), paths[-1])
    return [int(s["step"]) for s in states]


# --------------------------------------------------------------------------- logging sinks


class _TensorBoard:
    """SummaryWriter imported lazily; tensorboard is optional (one warning when missing)."""

    def __init__(self, folder: Path, enabled: bool):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard is not installed: no TensorBoard logs (pip install 'painterly[train]')")
            return
        self.writer = SummaryWriter(log_dir=str(folder))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def image(self, name: str, image: torch.Tensor, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(name, image.clamp(0, 1), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --------------------------------------------------------------------------- the loop


class _Run:
    """State of one call of :func:`train` (kept out of module globals)."""

    def __init__(self, task: TrainTask, cfg: TrainerConfig, validation: torch.Tensor | None, world: World = World()):
        self.task, self.cfg, self.world = task, cfg, world
        self.out = Path(cfg.out_dir)
        self.device = distributed.local_device(cfg.device, world)
        self.cuda = self.device.type == "cuda"
        self.amp = self.cuda and cfg.mixed_precision
        self.modules = task.modules()
        for module in self.modules.values():
            module.to(self.device)
            if self.amp:
                module.to(memory_format=torch.channels_last)
        self.params = [p for p in task.parameters() if p.requires_grad]
        if not self.params:
            raise PainterlyError("nothing to train: the task has no trainable parameters")
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.iterations, cfg.lr_schedule, cfg.warmup, cfg.min_lr_factor))
        self.validation = validation.to(self.device) if validation is not None else None
        self.step = 0
        self.seconds_before = 0.0
        self.samples: list[Path] = []
        self.history: list[dict[str, float]] = []
        self.last_losses: dict[str, float] = {}
        self.checkpoint_losses: dict[str, float] = {}   # the resumed checkpoint's last logged losses
        self.saved_at = -1               # step of the last checkpoint written by this session

    # -- checkpoints
    def state(self) -> dict:
        return {"step": self.step, "seconds": self.seconds_before + self.elapsed(),
                "modules": {name: m.state_dict() for name, m in self.modules.items()},
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(), "config": asdict(self.cfg), "kind": self.task.kind,
                "samples": [str(p) for p in self.samples], "losses": dict(self.last_losses or self.checkpoint_losses)}

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path)
        if state.get("kind") != self.task.kind:
            raise PainterlyError(f"{path}: a {state.get('kind')!r} checkpoint cannot resume a {self.task.kind!r} run")
        load_module_states(self.modules, state.get("modules", {}), path)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise PainterlyError(f"{path}: does not match this run's networks "
                                 f"({str(exc).splitlines()[0][:160]})") from None
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.seconds_before = float(state.get("seconds", 0.0))
        self.samples = [Path(p) for p in state.get("samples", []) if Path(p).is_file()]
        self.checkpoint_losses = {k: float(v) for k, v in state.get("losses", {}).items()}
        self.saved_at = self.step        # that checkpoint exists: a session that trains nothing rewrites nothing
        logger.info("resumed from %s at step %d", path, self.step)

    def checkpoint(self) -> Path | None:
        self.saved_at = self.step
        if not self.world.main:  # every process holds the same state: rank 0 writes it
            return None
        return save_checkpoint(self.out / "checkpoints", self.step, self.state(), self.cfg.checkpoints_kept)

    # -- timing
    def start_clock(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    # -- samples
    def write_sample(self, tb: _TensorBoard) -> Path | None:
        if self.validation is None or not self.world.main:
            return None
        from ..io.image import save_image

        for module in self.modules.values():
            module.eval()
        with torch.no_grad(), self.autocast():
            outputs = self.task.samples(self.validation)
        for module in self.modules.values():
            module.train()
        sheet = sample_sheet(self.validation, outputs)
        path = save_image(sheet, self.out / "samples" / f"step_{self.step:06d}.png")
        if path not in self.samples:
            self.samples.append(path)
        tb.image("samples", sheet, self.step)
        return path

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        import contextlib

        return contextlib.nullcontext()

    # -- one step
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = {k: self._to_device(v) for k, v in batch.items()}
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            losses = self.task.losses(batch, self.step)
        total = losses["total"]
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss became {float(total)} at step {self.step}: lower the learning rate")
        total.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return losses

    def _to_device(self, value):
        if not isinstance(value, torch.Tensor):
            return value
        value = value.to(self.device, non_blocking=True)
        if self.amp and value.ndim == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        return value


def train(task: TrainTask, batches: BatchSource, cfg: TrainerConfig, validation: torch.Tensor | None = None,
          callbacks: Sequence[TrainCallback] = (), export_path: str | os.PathLike | None = None,
          task_config: dict | None = None) -> TrainResult:
    """Train ``task`` on ``batches`` for ``cfg.iterations`` steps (or until ``cfg.max_seconds``).

    ``validation`` (N x 3 x H x W in [0, 1]) is stylised every ``cfg.sample_every`` steps into
    ``samples/``. The model is exported with ``task.export`` to ``export_path`` (default
    ``out_dir/model.safetensors``) with the training metadata; ``task_config`` (the method's
    resolved config) is written into config.json and the metadata.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this with the same arguments
    (the task built on :func:`painterly.train.distributed.local_device`): it joins the process
    group unless the caller has (:func:`painterly.train.distributed.init`), trains its part of
    each global batch of ``cfg.batch_size`` with the task's trained modules in
    DistributedDataParallel (the task must have ``distribute``, see docs/dev/trainer-api.md),
    and only rank 0 writes config.json, checkpoints, samples, TensorBoard logs and the model,
    and calls ``callbacks``.
    """
    cfg.validate()
    world = distributed.world_from_env()
    if world.distributed:
        distributed.shard(cfg.batch_size, world)  # a batch size that does not split is an error before any work
        if not hasattr(task, "distribute"):
            raise PainterlyError(f"the {task.kind!r} trainer cannot train in several processes (no distribute())")
        distributed.init(world, distributed.local_device(cfg.device, world))
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:
        seed_everything(cfg.seed)
    run = _Run(task, cfg, validation, world)
    if cfg.resume:
        found = checkpoint_paths(out / "checkpoints")
        if found:
            run.restore(found[-1])  # on every process: all hold the same state
        else:
            logger.warning("--resume: no checkpoint in %s, starting from step 0", out / "checkpoints")
            seed_everything(cfg.seed)
        distributed.check_same_step(run.step, world)
    if world.distributed:
        task.distribute(distributed.wrap(run.modules, run.params, run.device), world)
    if world.main:
        _write_config(out, cfg, task_config)
    tb = _TensorBoard(out / "tb", cfg.tensorboard and world.main)
    run.start_clock()
    try:
        stopped = _loop(run, batches, tb, callbacks if world.main else ())
    except KeyboardInterrupt:  # Ctrl-C (or a callback) stops the run resumably
        if run.saved_at != run.step and run.step > 0:
            run.checkpoint()
        raise
    finally:
        tb.close()
    seconds = run.seconds_before + run.elapsed()
    gif = _write_gif(run.samples, out / "samples.gif") if cfg.sample_gif and len(run.samples) > 1 else None
    hardware = hardware_info(run.device)
    if world.distributed:
        hardware["processes"] = str(world.size)
    meta = {"training": {"trainer": asdict(cfg), "task": task_config or {}, "steps": run.step,
                         "seconds": round(seconds, 1), "stopped": stopped,
                         # a resumed session that trained nothing exports the checkpoint's weights and losses
                         "final_losses": run.last_losses or run.checkpoint_losses,
                         "hardware": hardware}}
    model_path = Path(export_path) if export_path else out / "model.safetensors"
    if world.main:
        if cfg.average_last > 1:
            averaged = checkpoint_paths(out / "checkpoints")[-cfg.average_last:]
            steps = load_checkpoint_average(run.modules, averaged)
            meta["training"]["averaged_checkpoints"] = steps
            if len(steps) < cfg.average_last:
                logger.warning("--average-last %d: only %d checkpoints to average (steps %s)", cfg.average_last,
                               len(steps), steps)
        model_path = task.export(model_path, meta)
    distributed.barrier(world)  # the model file exists when train() returns, on every process
    logger.info("trained %d steps in %.0f s (%s); model: %s", run.step, seconds, stopped, model_path)
    return TrainResult(run.step, seconds, run.last_losses, model_path, stopped, run.history, run.samples, gif)


def _loop(run: _Run, batches: BatchSource, tb: _TensorBoard, callbacks: Sequence[TrainCallback]) -> str:
    """Steps until ``cfg.iterations`` or the time budget; returns why it stopped."""
    cfg, stopped, images = run.cfg, "done", 0
    if run.step == 0:
        run.write_sample(tb)
    while run.step < cfg.iterations:  # every process takes the same steps: rank 0 decides on the time limit
        if cfg.max_seconds is not None and distributed.rank0_decides(run.elapsed() >= cfg.max_seconds, run.world):
            stopped = "time limit"
            break
        batch = distributed.local_batch(batches, run.step, run.world, cfg.batch_size)
        lr = run.optimizer.param_groups[0]["lr"]
        losses = run.train_step(batch)
        images += next(iter(batch.values())).shape[0] * run.world.size
        step, elapsed = run.step, run.elapsed()
        speed = images / max(elapsed, 1e-9)
        # the first step of every session is logged too, so a resumed session that stops early still reports losses
        if step % cfg.log_every == 0 or step == cfg.iterations or step == 1 or not run.last_losses:
            run.last_losses = distributed.mean_losses(losses, run.world)  # of the global batch
            run.history.append({"step": step, **run.last_losses})
            tb.scalars({**{f"loss/{k}": v for k, v in run.last_losses.items()}, "lr": lr,
                        "images_per_second": speed}, step)
        sample = run.write_sample(tb) if step % cfg.sample_every == 0 else None
        if step % cfg.checkpoint_every == 0:
            run.checkpoint()
        eta = (cfg.iterations - step) * cfg.batch_size / speed if speed > 0 else None
        event = TrainProgress(step, cfg.iterations, dict(run.last_losses), lr, elapsed, speed, eta, sample)
        for callback in callbacks:
            callback(event)
    if not run.samples or run.samples[-1].name != f"step_{run.step:06d}.png":
        run.write_sample(tb)
    if run.saved_at != run.step:
        run.checkpoint()
    return stopped


def _write_config(out: Path, cfg: TrainerConfig, task_config: dict | None) -> None:
    from ..io.image import atomic_write_bytes

    text = json.dumps({"trainer": asdict(cfg), "task": task_config or {}}, indent=2, sort_keys=True, default=str)
    atomic_write_bytes(out / "config.json", (text + "\n").encode())


def _write_gif(samples: list[Path], path: Path) -> Path | None:
    from ..io.animation import write_animation

    frames = [p for p in samples if p.is_file()]
    return write_animation(frames, path, fps=4) if len(frames) > 1 else None


__all__ = ["TrainerConfig", "TrainTask", "BatchSource", "TrainProgress", "TrainResult", "TrainCallback", "train",
           "lr_factor", "hardware_info", "sample_sheet", "checkpoint_paths", "average_module_states", "LR_SCHEDULES"]
