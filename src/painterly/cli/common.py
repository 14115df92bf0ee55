"""Shared pieces of the command line: errors, devices, progress bars, output paths."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..errors import PainterlyError
from ..progress import Progress

EXIT_USAGE = 2


class UsageError(PainterlyError):
    """A bad command line (unknown flag, bad value)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so every error is one ``error:`` line."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see `{self.prog} --help`)")


@dataclass
class Outcome:
    code: int = 0


@contextlib.contextmanager
def report_errors(debug: bool = False):
    """Turn user errors into one ``error:`` line and exit status 2; Ctrl-C into 130."""
    outcome = Outcome()
    try:
        yield outcome
    except PainterlyError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        outcome.code = EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        outcome.code = 130
    except BrokenPipeError:   # the reader went away (``painterly styles | head -1``): stop quietly, like SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so the interpreter's last flush does not fail again
        outcome.code = 141
    except MemoryError:
        print("error: out of memory: try a smaller --size or more --scales", file=sys.stderr)
        outcome.code = 1


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` if available else ``cpu``; a clear error for a missing GPU."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PainterlyError(f"--device {name}: no CUDA GPU is available here (use --device cpu or auto)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise PainterlyError("--device mps: Apple GPU is not available here (use --device cpu or auto)")
    if name != "cpu" and not name.startswith(("cuda", "mps")):
        raise PainterlyError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")
    return name


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")


class ProgressBar:
    """A tqdm bar fed by :class:`~painterly.progress.Progress` callbacks."""

    def __init__(self, description: str, total: int, enabled: bool = True):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=description, unit="it", disable=not enabled, dynamic_ncols=True,
                        leave=True, file=sys.stderr)

    def __call__(self, event: Progress) -> None:
        self.bar.total = event.total
        self.bar.update(event.step - self.bar.n)
        if event.losses:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in event.losses.items()}, refresh=False)

    def close(self) -> None:
        self.bar.close()


def add_prefer_argument(parser: argparse.ArgumentParser, default: str = "quality") -> None:
    """``--prefer``: which of a style's two networks ``stylize``, ``video`` and ``webcam`` take."""
    from ..methods.feedforward import PREFERENCES

    parser.add_argument("--prefer", choices=PREFERENCES, default=default,
                        help="a style with two networks: quality = the full architecture, speed = the CPU-speed "
                             "variant (default %(default)s)")


def add_detail_arguments(parser: argparse.ArgumentParser) -> None:
    """``--detail`` and ``--detail-radius``: put the photo's fine detail back (``stylize``, ``video``, ``webcam``)."""
    from ..methods.stylize import MAX_DETAIL, MAX_DETAIL_RADIUS, StylizeConfig

    defaults = StylizeConfig()
    parser.add_argument("--detail", type=float, default=defaults.detail, metavar="F",
                        help=f"put back the photo's fine luminance detail (whiskers, hair, small text) over the "
                             f"style: 0 = off (default), 1 = all of it, up to {MAX_DETAIL:g}")
    parser.add_argument("--detail-radius", type=float, default=defaults.detail_radius, metavar="PX",
                        help=f"--detail brings back what is finer than about this many px (default "
                             f"{defaults.detail_radius:g}, at most {MAX_DETAIL_RADIUS:g})")


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """``--precision``: what the networks compute in (``stylize``, ``video``, ``webcam``)."""
    from ..methods.feedforward import PRECISIONS
    from ..methods.stylize import StylizeConfig

    parser.add_argument("--precision", choices=PRECISIONS, default=StylizeConfig().precision,
                        help="auto = fp16 on CUDA (autocast), fp32 on CPU; bf16 runs the compact AdaIN model about "
                             "2x faster on CPUs with bf16 units")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def ensure_new_output(path: str | Path, inputs: list) -> Path:
    """The output path, after checking it is a known image type and not one of the inputs."""
    from ..io.image import check_output_path

    return check_output_path(path, inputs)
