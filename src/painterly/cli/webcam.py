"""``painterly webcam``: live stylisation of a camera (or a video file standing in for one).

A window shows the stylised picture with the frame rate and the style's name; keys: ``n``/
``p`` next/previous style, ``1``-``9`` pick a style, ``q``/Esc quit. ``--headless`` opens no
window (for servers and tests) and can write the overlaid frames to ``-o OUT.mp4``.
OpenCV is imported only when the command runs (optional extra ``video``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import PainterlyError
from ..temporal import TemporalConfig
from .common import add_device_argument, non_negative_float, positive_int, resolve_device
from .video import add_model_arguments, make_stylize, model_config_from_args

WINDOW = "painterly webcam"
QUIT_KEYS = (ord("q"), ord("Q"), 27)


@dataclass(frozen=True)
class WebcamConfig:
    """Settings of :func:`run_loop`; the command's defaults come from here."""

    camera: str = "0"              # camera index, or a video file used as the camera
    size: int = 384                # longer side of the processed picture (px)
    frames: int | None = None      # stop after this many frames (None: until q / end of file)
    headless: bool = False         # no window
    overlay: bool = True           # draw fps and style name
    switch_every: int | None = None  # cycle styles every N frames (demos, headless tests)
    mirror: bool = False           # flip left-right (a selfie view)
    temporal: float = 0.0          # flicker reduction weight (see painterly.temporal), 0 = off


@dataclass
class WebcamResult:
    frames: int
    seconds: float
    fps: float
    styles_shown: list[str]
    output: str | None
    models: list[str] = field(default_factory=list)   # the model that renders each style, in --style order

    def to_dict(self) -> dict:
        return asdict(self)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise PainterlyError("the webcam needs OpenCV: pip install 'painterly[video]'") from None
    return cv2


def open_camera(spec: str):
    """``cv2.VideoCapture`` for a camera index (``"0"``) or a video file; one-line error if it fails."""
    cv2 = _cv2()
    if not spec.isdigit() and not os.path.isfile(spec):
        raise PainterlyError(f"--camera {spec}: no such camera index or video file")
    what = f"camera {spec}" if spec.isdigit() else f"--camera {spec}"
    with _quiet_opencv(cv2):  # its own warnings would add lines to our one-line error
        capture = cv2.VideoCapture(int(spec) if spec.isdigit() else spec)
        opened = capture.isOpened()
    if not opened:
        capture.release()
        raise PainterlyError(f"{what}: cannot open it (is it connected, or a readable video?)")
    return capture


@contextlib.contextmanager
def _quiet_opencv(cv2):
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def key_action(key: int, current: int, count: int) -> int | None:
    """The style index after pressing ``key`` (``-1``/``255`` = no key); None means quit."""
    key &= 0xFF
    if key in QUIT_KEYS:
        return None
    if key in (ord("n"), ord("N"), ord(" ")):
        return (current + 1) % count
    if key in (ord("p"), ord("P")):
        return (current - 1) % count
    if ord("1") <= key <= ord("9") and key - ord("1") < count:
        return key - ord("1")
    return current


class FpsMeter:
    """Frames per second, smoothed over the last frames (exponential moving average of intervals)."""

    def __init__(self, smoothing: float = 0.9):
        self.smoothing, self.interval, self._last = smoothing, None, None

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            dt = now - self._last
            self.interval = dt if self.interval is None else self.smoothing * self.interval + (1 - self.smoothing) * dt
        self._last = now
        return self.fps

    @property
    def fps(self) -> float:
        return 1.0 / self.interval if self.interval else 0.0


def draw_overlay(frame_bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Text lines on a dark box in the top-left corner (in place; returns the frame)."""
    cv2 = _cv2()
    scale = max(0.35, frame_bgr.shape[0] / 720)
    thickness = max(1, round(scale * 1.5))
    y = 0
    for line in lines:
        (w, h), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.rectangle(frame_bgr, (0, y), (w + 8, y + h + base + 6), (0, 0, 0), -1)
        cv2.putText(frame_bgr, line, (4, y + h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
        y += h + base + 6
    return frame_bgr


def check_display() -> None:
    """Refuse to open a window where none can appear (instead of OpenCV aborting the process)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise PainterlyError("no display here: use --headless (with -o OUT.mp4 to keep the result)")


def run_loop(capture, styles: Sequence[tuple[str, Callable]], config: WebcamConfig, writer=None,
             show: Callable[[np.ndarray], int] | None = None, device: str = "cpu") -> WebcamResult:
    """Read, stylise, overlay, show/write until q, ``config.frames`` or the end of the file.

    ``styles`` are (label, images -> images) pairs; ``show(frame_bgr) -> key`` displays a
    frame and returns the key pressed (-1 for none); ``writer`` has ``write(rgb_uint8)``.
    """
    import torch

    from ..temporal import (TemporalBlender, TemporalConfig, frame_size, frame_to_tensor, quantize, resize_frame,
                            tensor_to_frame)

    cv2 = _cv2()
    blender = TemporalBlender(TemporalConfig(weight=config.temporal))
    current, frames, shown = 0, 0, []
    meter, start = FpsMeter(), time.perf_counter()
    while config.frames is None or frames < config.frames:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(cv2.flip(bgr, 1) if config.mirror else bgr, cv2.COLOR_BGR2RGB)
        rgb = resize_frame(rgb, frame_size(rgb.shape[1], rgb.shape[0], config.size))
        label, stylize = styles[current]
        with torch.inference_mode():
            content = frame_to_tensor(rgb).to(device)
            result = stylize(content)
        out = cv2.cvtColor(quantize(blender(rgb, tensor_to_frame(result))), cv2.COLOR_RGB2BGR)
        fps = meter.tick()
        if config.overlay:
            draw_overlay(out, [f"{fps:5.1f} fps", f"[{current + 1}/{len(styles)}] {label}"])
        if writer is not None:
            writer.write(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
        frames += 1
        if not shown or shown[-1] != label:
            shown.append(label)
        key = show(out) if show is not None else -1
        if config.switch_every and frames % config.switch_every == 0:
            key = ord("n")
        chosen = key_action(key, current, len(styles))
        if chosen is None:
            break
        if chosen != current:
            blender.reset()  # never blend one style into another
        current = chosen
    seconds = time.perf_counter() - start
    return WebcamResult(frames, seconds, frames / seconds if seconds > 0 else 0.0, shown, None)


def window_show(frame_bgr: np.ndarray) -> int:
    cv2 = _cv2()
    try:
        cv2.imshow(WINDOW, frame_bgr)
        key = cv2.waitKey(1)
        if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            return 27  # the window was closed: quit like Esc
        return key
    except cv2.error:
        raise PainterlyError("this OpenCV cannot open windows (opencv-python-headless): use --headless, "
                             "or pip install opencv-python") from None


# --------------------------------------------------------------------------- command line

DEFAULTS = WebcamConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("webcam", help="live stylisation of a camera",
                              description="Stylise a camera live in a window (keys: n/p or 1-9 switch styles, "
                                          "q/Esc quit). --camera PATH reads a video file instead; --headless "
                                          "opens no window and writes the frames to -o.")
    add_model_arguments(p, "a style to show (built-in name, or style image with --method adain); repeat to "
                           "switch between several", prefer="speed")
    p.add_argument("--camera", default=DEFAULTS.camera, metavar="N|PATH",
                   help="camera index or a video file standing in for the camera (default %(default)s)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, metavar="PX",
                   help="longer side of the picture (default %(default)s)")
    p.add_argument("--frames", type=positive_int, default=DEFAULTS.frames, metavar="N", help="stop after N frames")
    p.add_argument("--headless", action="store_true", help="no window (servers, tests)")
    p.add_argument("-o", "--output", default=None, metavar="OUT.mp4", help="also write the shown frames to a video")
    p.add_argument("--fps", type=non_negative_float, default=None,
                   help="frame rate of -o (default: the camera's, else 30)")
    p.add_argument("--switch-every", type=positive_int, default=DEFAULTS.switch_every, metavar="N",
                   help="go to the next style every N frames")
    p.add_argument("--mirror", action="store_true", help="flip left-right")
    p.add_argument("--temporal", type=non_negative_float, default=DEFAULTS.temporal, metavar="F",
                   help="flicker reduction 0-1 (see `painterly video --help`; default %(default)g = off)")
    p.add_argument("--no-overlay", action="store_true", help="no fps / style text")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.video import VideoWriter, check_video_output

    config = WebcamConfig(camera=args.camera, size=args.size, frames=args.frames,
                          headless=args.headless, overlay=not args.no_overlay, switch_every=args.switch_every,
                          mirror=args.mirror, temporal=args.temporal)
    TemporalConfig(weight=config.temporal).validate()
    if args.output:
        check_video_output(args.output, [args.camera])
    if not config.headless:
        check_display()
    device = resolve_device(args.device)
    specs = args.style or [None]
    styles, models, cache = [], [], {}
    model_config = model_config_from_args(args, device)
    for spec in specs:
        stylize, prepared = make_stylize([spec] if spec else None, model_config, cache)
        styles.append((spec or prepared.model, stylize))
        models.append(prepared.model)
    capture = open_camera(config.camera)
    try:
        fps = args.fps or capture.get(_cv2().CAP_PROP_FPS) or 30.0
        writer_context = VideoWriter(args.output, fps=fps) if args.output else contextlib.nullcontext()
        with writer_context as writer:
            result = run_loop(capture, styles, config, writer=writer,
                              show=None if config.headless else window_show, device=device)
    finally:
        capture.release()
        if not config.headless:
            _cv2().destroyAllWindows()
    result.output, result.models = args.output, models
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{result.frames} frames, {result.fps:.1f} frames/s" + (f", wrote {args.output}" if args.output else ""),
              file=sys.stderr)
    return 0
