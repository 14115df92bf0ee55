"""``painterly gif``: the frames of a run (a folder of images, in name order) as a GIF or MP4."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from ..errors import PainterlyError
from .common import non_negative_float, positive_int

DEFAULT_FPS = 10.0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("gif", help="turn a folder of frames into a GIF or MP4",
                              description="Write the image files in DIR, in name order (how --save-every "
                                          "numbers them), as an animated GIF or a video (.mp4 needs "
                                          "pip install 'painterly[video]').")
    p.add_argument("frames", metavar="DIR", help="folder of frames (.png, .jpg, .webp, .bmp)")
    p.add_argument("-o", "--output", required=True, help="animation to write (.gif, .mp4, .webm, .mkv, .mov)")
    p.add_argument("--fps", type=positive_float, default=DEFAULT_FPS, help=f"frames per second (default {DEFAULT_FPS:g})")
    p.add_argument("--size", type=positive_int, default=None, metavar="PX",
                   help="longer side of the animation (default: the last frame's size)")
    p.add_argument("--every", type=positive_int, default=1, metavar="K",
                   help="take every K-th frame (the last frame is always kept)")
    p.add_argument("--hold-last", type=non_negative_float, default=0.0, metavar="SEC",
                   help="show the last frame this many seconds longer")
    p.set_defaults(func=run)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def pick_frames(frames: Sequence[Path], every: int) -> list[Path]:
    """Every ``every``-th frame from the first, plus the last one so the animation ends on the result."""
    picked = list(frames[::every])
    if frames and picked[-1] != frames[-1]:
        picked.append(frames[-1])
    return picked


def hold_frames(fps: float, seconds: float) -> int:
    """How many extra copies of the last frame show it ``seconds`` longer at ``fps`` (rounded)."""
    return round(seconds * fps)


def scaled_size(size: tuple[int, int], longer_side: int | None) -> tuple[int, int] | None:
    """(width, height) with the longer side ``longer_side``, aspect kept; None leaves the default."""
    if longer_side is None:
        return None
    scale = longer_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def check_output(output: Path, frames: Sequence[Path]) -> None:
    """Refuse an unknown animation type, a folder, a frame as output, or video without ffmpeg."""
    from ..io.animation import ANIMATION_EXTENSIONS

    suffix = output.suffix.lower()
    if suffix not in ANIMATION_EXTENSIONS:
        raise PainterlyError(f"{output}: unknown animation type {suffix!r} (use {', '.join(ANIMATION_EXTENSIONS)})")
    if output.is_dir():
        raise PainterlyError(f"{output}: is a folder; give a file name such as run.gif")
    if any(output.resolve() == frame.resolve() for frame in frames):
        raise PainterlyError(f"{output}: refusing to overwrite one of the frames")
    if suffix != ".gif" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise PainterlyError(f"{output}: writing {suffix} needs ffmpeg: pip install 'painterly[video]' "
                             f"(or imageio-ffmpeg), or write a .gif")


def load_frames(paths: Sequence[Path]) -> list[Image.Image]:
    """Open and validate each frame (an unreadable one is an ImageError naming it)."""
    from ..io.image import open_image

    return [open_image(path) for path in paths]


def run(args) -> int:
    from ..io.animation import list_frames, write_animation

    output = Path(args.output)
    frames = list_frames(args.frames)
    check_output(output, frames)
    images = load_frames(pick_frames(frames, args.every))
    images += [images[-1]] * hold_frames(args.fps, args.hold_last)
    size = scaled_size(images[-1].size, args.size)
    write_animation(images, output, fps=args.fps, size=size)
    print(f"wrote {output} ({len(images)} frames at {args.fps:g} fps from {len(frames)} in {args.frames})",
          file=sys.stderr)
    return 0
