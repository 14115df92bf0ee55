"""``painterly train``: one sub-subcommand per trained method.

Each module in :data:`TRAINERS` exposes ``add_parser(subparsers)`` like a top-level command.
The flags every trainer shares (iterations, batch size, checkpoints, run folder, ...) are added
by :func:`add_trainer_arguments` with defaults taken from
:class:`~painterly.train.loop.TrainerConfig`, and read back by :func:`trainer_config_from_args`.
Under ``torchrun`` every process runs the command: :func:`training_device` gives each its GPU,
and only rank 0 shows the progress bar and the final report.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..train.distributed import local_device, world_from_env
from ..train.loop import LR_SCHEDULES, TrainerConfig
from .common import ArgumentParser, ProgressBar, add_device_argument, positive_int, resolve_device

TRAINERS = ("train_fast", "train_multistyle", "train_adain", "train_adain_compact", "train_adaptive", "train_style_vae", "train_image_vae")
TRAINER_DEFAULTS = TrainerConfig(out_dir="")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a feed-forward stylisation network",
                              description="Train a network: fast (one style), multistyle (many styles in one "
                                          "network), and other methods as they are added.")
    sub = p.add_subparsers(dest="trainer", metavar="METHOD", parser_class=ArgumentParser, required=True)
    for name in TRAINERS:
        importlib.import_module(f"painterly.cli.{name}").add_parser(sub)


def add_trainer_arguments(p, defaults: TrainerConfig = TRAINER_DEFAULTS) -> None:
    """The shared training flags; defaults come from ``defaults``."""
    g = p.add_argument_group("training")
    g.add_argument("--iterations", type=positive_int, default=defaults.iterations, help="training steps")
    g.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                   help="the global batch: split over the processes when run under torchrun")
    g.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=defaults.lr_schedule)
    g.add_argument("--warmup", type=int, default=defaults.warmup, help="linear warm-up steps")
    g.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="max gradient norm (0: off)")
    g.add_argument("--checkpoint-every", type=positive_int, default=defaults.checkpoint_every, metavar="N")
    g.add_argument("--sample-every", type=positive_int, default=defaults.sample_every, metavar="N")
    g.add_argument("--log-every", type=positive_int, default=defaults.log_every, metavar="N")
    g.add_argument("--run-dir", default=None, metavar="DIR",
                   help="folder for checkpoints, samples and logs (default: OUTPUT's name + _run)")
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --run-dir")
    g.add_argument("--average-last", type=positive_int, default=defaults.average_last, metavar="N",
                   help="export the mean of the last N checkpoints' weights (checkpoint averaging: less "
                        "step-to-step noise; N checkpoints are kept); 1: the final weights")
    g.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=defaults.tensorboard,
                   help="TensorBoard logs in RUN_DIR/tb (--no-tensorboard: off)")
    g.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=defaults.mixed_precision,
                   help="bf16 autocast on CUDA")
    g.add_argument("--seed", type=int, default=defaults.seed)
    g.add_argument("--time-limit", type=float, default=None, metavar="SEC", help="stop after this many seconds")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--verbose", action="store_true", help="log calibration and checkpoints")
    add_device_argument(p)


def run_dir_for(output: str | Path, run_dir: str | None) -> Path:
    output = Path(output)
    return Path(run_dir) if run_dir else output.with_name(output.stem + "_run")


def training_device(name: str) -> str:
    """``--device`` for this process: under torchrun, ``cuda`` (or ``auto``) is GPU ``LOCAL_RANK``,
    made the current device before anything touches CUDA (no stray contexts on GPU 0)."""
    world = world_from_env()
    device = local_device(resolve_device(name), world)
    if world.distributed and device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    return str(device)


def trainer_config_from_args(args, device: str, out_dir: Path) -> TrainerConfig:
    return TrainerConfig(
        out_dir=str(out_dir), iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
        lr_schedule=args.lr_schedule, warmup=args.warmup, checkpoint_every=args.checkpoint_every,
        sample_every=args.sample_every, log_every=args.log_every, seed=args.seed, device=device,
        mixed_precision=args.mixed_precision, tensorboard=args.tensorboard, resume=args.resume,
        max_seconds=args.time_limit, grad_clip=args.grad_clip or None, average_last=args.average_last).validate()


class TrainBar:
    """A tqdm bar for :class:`~painterly.train.loop.TrainProgress` events (losses, images/s, ETA)."""

    def __init__(self, description: str, total: int, enabled: bool = True):
        self.bar = ProgressBar(description, total, enabled and world_from_env().main).bar

    def __call__(self, event) -> None:
        self.bar.total = event.total
        self.bar.update(event.step - self.bar.n)
        if event.losses:
            shown = {k: f"{v:.3g}" for k, v in event.losses.items()}
            shown["img/s"] = f"{event.images_per_second:.1f}"
            self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        self.bar.close()


def report(result, output: Path) -> None:
    if not world_from_env().main:
        return
    # a resumed run with nothing left to train (e.g. to export --average-last) has no loss of its own
    loss = f"loss {result.losses['total']:.4g}" if "total" in result.losses else "no steps this session"
    print(f"wrote {output} ({result.steps} steps, {result.seconds:.0f}s, {result.stopped}; {loss})", file=sys.stderr)


def run_training(label: str, make_task, batches, tcfg, validation, output, quiet: bool,
                 task_config=None) -> int:
    """The end every ``painterly train`` command shares: a progress bar, ``make_task()`` (built
    inside, so a failing calibration still closes the bar and the batch source), the loop, the
    report. ``task_config`` defaults to the task's own ``config_dict()``."""
    from ..train.loop import train

    bar = TrainBar(label, tcfg.iterations, enabled=not quiet)
    try:
        task = make_task()
        config = task_config if task_config is not None else task.config_dict()
        result = train(task, batches, tcfg, validation, [bar], export_path=output, task_config=config)
    finally:
        bar.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    report(result, output)
    return 0
