"""Frame streams: temporal consistency for video, a flicker metric, and the video pipeline.

A feed-forward stylizer run frame by frame flickers: small changes of the input (noise,
compression, motion) change the brush strokes everywhere. :class:`TemporalBlender` reduces
it in the spirit of Ruder et al. 2016 ("Artistic style transfer for videos"), without
re-optimising: the previous *output* frame is warped onto the current one with dense optical
flow computed on the *input* frames (OpenCV DIS or Farneback), and blended into the current
stylisation where the flow is reliable:

    out_t = s_t + w * c * (warp(out_{t-1}) - s_t)

with ``s_t`` the stylised frame, ``w`` the ``--temporal`` weight, and ``c`` in [0, 1] the
confidence: 1 where the forward and backward flows agree (Ruder's consistency test:
``|b + f(x + b)|^2 <= 0.01 (|b|^2 + |f(x + b)|^2) + tol``), the warped input matches the
current input, and the sample lies inside the frame; 0 at occlusions and disocclusions, where
the fresh stylisation is kept. The blend is recursive, so strokes persist along motion paths.
Averaging strokes that do not line up blurs them, so by default the blend's fine detail is
rescaled to the contrast a single frame has (:func:`detail_preserving_blend`).

The flicker metric (:func:`flicker`) is the mean absolute difference between consecutive
frames in [0, 1] units; divided by the input's (:func:`relative_flicker`), 1.0 means "changes
as much as the video itself", and a stylizer that flickers scores well above 1. It also
counts texture that moves with the picture, so it rewards blur; the warping error
(:class:`WarpingErrorMeter`, Lai et al. 2018: the difference after motion compensation, over
pixels with reliable flow) separates flicker from motion and is the number to judge by.

OpenCV is imported lazily (optional extra ``video``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .errors import PainterlyError
from .progress import Progress, ProgressCallback, notify

FLOW_METHODS = ("dis", "farneback")
BLENDS = ("detail", "mean")


@dataclass(frozen=True)
class TemporalConfig:
    """Settings of :class:`TemporalBlender`; ``weight=0`` switches it off."""

    weight: float = 0.0           # share of the warped previous output where the flow is reliable, 0..1
    flow: str = "dis"             # "dis" (fast, robust) or "farneback"
    consistency_px: float = 0.5   # forward-backward tolerance (px^2 term of Ruder's test)
    photometric: float = 0.08     # largest |warped previous input - input| (0..1) still trusted
    feather: int = 5              # Gaussian blur (px, odd) of the confidence mask; 0 = hard mask
    blend: str = "detail"         # "detail": restore the texture contrast averaging removes; "mean": plain blend

    def validate(self) -> "TemporalConfig":
        if not 0.0 <= self.weight <= 1.0:
            raise PainterlyError(f"temporal weight must be between 0 and 1, got {self.weight}")
        if self.flow not in FLOW_METHODS:
            raise PainterlyError(f"unknown optical flow {self.flow!r}: use {' or '.join(FLOW_METHODS)}")
        if self.blend not in BLENDS:
            raise PainterlyError(f"unknown temporal blend {self.blend!r}: use {' or '.join(BLENDS)}")
        if self.consistency_px < 0 or self.photometric <= 0 or self.feather < 0:
            raise PainterlyError(f"invalid temporal settings {self}")
        return self

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def _cv2():
    try:
        import cv2
    except ImportError:
        raise PainterlyError("temporal consistency needs OpenCV: pip install 'painterly[video]'") from None
    return cv2


# --------------------------------------------------------------------------- flow and warping


def to_gray(frame: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 RGB -> H x W uint8 luma."""
    return _cv2().cvtColor(np.ascontiguousarray(frame), _cv2().COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow (H x W x 2, float32, (dx, dy)) with ``source[y, x] ~ target[y + dy, x + dx]``.

    ``source`` and ``target`` are H x W uint8 grey images.
    """
    cv2 = _cv2()
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(source, target, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(source, target, None, pyr_scale=0.5, levels=4, winsize=15,
                                            iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
    raise PainterlyError(f"unknown optical flow {method!r}: use {' or '.join(FLOW_METHODS)}")


def sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling maps (map_x, map_y) for ``x + flow``."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """``image`` sampled at ``x + flow(x)`` (bilinear, or bicubic; border replicated); float32 or uint8 H x W [x C]."""
    cv2 = _cv2()
    map_x, map_y = sample_grid(flow)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def inside_mask(flow: np.ndarray) -> np.ndarray:
    """1.0 where ``x + flow(x)`` lies inside the frame, else 0.0 (H x W float32)."""
    height, width = flow.shape[:2]
    map_x, map_y = sample_grid(flow)
    return ((map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)).astype(np.float32)


def consistency_mask(backward: np.ndarray, forward: np.ndarray, tolerance: float = 0.5) -> np.ndarray:
    """Ruder et al.'s forward-backward test, 1.0 = consistent (H x W float32).

    ``backward`` maps the current frame into the previous one, ``forward`` the previous into
    the current; where both are right, ``backward(x) + forward(x + backward(x)) = 0``.
    """
    forward_at = warp(forward, backward)
    error = np.sum((backward + forward_at) ** 2, axis=-1)
    bound = 0.01 * (np.sum(backward**2, axis=-1) + np.sum(forward_at**2, axis=-1)) + tolerance
    return (error <= bound).astype(np.float32)


def blend(stylized: np.ndarray, warped: np.ndarray, confidence: np.ndarray, weight: float) -> np.ndarray:
    """``stylized + weight * confidence * (warped - stylized)``; float32 H x W x 3 in [0, 1]."""
    alpha = (weight * confidence)[..., None]
    return stylized + alpha * (warped - stylized)


def _high_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    return image - _cv2().GaussianBlur(image, (0, 0), sigma)


def detail_preserving_blend(stylized: np.ndarray, warped: np.ndarray, confidence: np.ndarray, weight: float,
                            sigma: float = 2.0, window: float = 4.0) -> np.ndarray:
    """:func:`blend`, with the fine detail's contrast restored (float32 H x W x 3 in [0, 1]).

    Averaging two brush textures that do not line up flattens them: with weights (1 - a, a)
    and local correlation rho of their high-pass parts (``sigma``), the mix has
    ``(1 - a)^2 + a^2 + 2 a (1 - a) rho`` times their variance. Dividing the mix's high-pass
    part by the square root of that (rho measured over a Gaussian ``window``; the gain is
    capped at 2) keeps the strokes as crisp as a single frame's while the low frequencies
    and the stroke *positions* stay stable; where the two agree (rho = 1) it is :func:`blend`.
    This is variance-preserving blending (Heitz & Neyret 2018, "High-Performance By-Example
    Noise using a Histogram-Preserving Blending Operator") applied to temporal filtering.
    """
    cv2 = _cv2()
    alpha = (weight * confidence)[..., None].astype(np.float32)
    mixed = stylized + alpha * (warped - stylized)
    hs, hw = _high_pass(stylized, sigma), _high_pass(warped, sigma)

    def local(x):
        return cv2.GaussianBlur(x, (0, 0), window)

    rho = np.clip(local(hs * hw) / np.sqrt(local(hs * hs) * local(hw * hw) + 1e-8), -1.0, 1.0)
    variance = (1 - alpha) ** 2 + alpha**2 + 2 * alpha * (1 - alpha) * rho
    gain = 1.0 / np.sqrt(np.clip(variance, 0.25, 1.0))
    detail = _high_pass(mixed, sigma)
    return np.clip(mixed + detail * (gain - 1.0), 0.0, 1.0)


def flow_confidence(previous: np.ndarray, current: np.ndarray, config: TemporalConfig = TemporalConfig()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(backward flow current -> previous, confidence in [0, 1]) for grey uint8 frames."""
    backward = optical_flow(current, previous, config.flow)
    forward = optical_flow(previous, current, config.flow)
    mask = consistency_mask(backward, forward, config.consistency_px) * inside_mask(backward)
    photometric = np.abs(warp(previous, backward).astype(np.float32) - current.astype(np.float32)) / 255.0
    mask *= (photometric <= config.photometric).astype(np.float32)
    if config.feather > 1:
        k = config.feather | 1
        mask = _cv2().GaussianBlur(mask, (k, k), 0) * mask  # soften edges, never trust an excluded pixel
    return backward, mask


class TemporalBlender:
    """Stateful per-video blender: call it on each (input frame, stylised frame) in order."""

    def __init__(self, config: TemporalConfig = TemporalConfig()):
        self.config = config.validate()
        self._previous_input: np.ndarray | None = None   # grey uint8
        self._previous_output: np.ndarray | None = None  # float32 H x W x 3

    def reset(self) -> None:
        """Forget the previous frame (a cut, or a style switch)."""
        self._previous_input = self._previous_output = None

    def confidence(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return flow_confidence(previous, current, self.config)

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """``frame``: H x W x 3 uint8 input; ``stylized``: H x W x 3 float32 [0, 1]; returns the blend."""
        output = stylized
        if self.config.enabled:
            gray = to_gray(frame)
            same_size = self._previous_input is not None and self._previous_input.shape == gray.shape
            if same_size:
                backward, mask = self.confidence(self._previous_input, gray)
                # bicubic: the output is resampled again every frame, bilinear would blur it cumulatively
                warped = np.clip(warp(self._previous_output, backward, cubic=True), 0.0, 1.0)
                mix = detail_preserving_blend if self.config.blend == "detail" else blend
                output = mix(stylized, warped, mask, self.config.weight)
            self._previous_input, self._previous_output = gray, output
        return output


# --------------------------------------------------------------------------- flicker


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames, in [0, 1] units (uint8 frames are divided by 255)."""
    if a.shape != b.shape:
        raise ValueError(f"frames of different shapes {a.shape} and {b.shape}")
    scale = 255.0 if a.dtype == np.uint8 else 1.0
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))) / scale


def flicker(frames: Iterable[np.ndarray]) -> float:
    """Mean over consecutive pairs of :func:`frame_change`; 0.0 for fewer than two frames."""
    meter = FlickerMeter()
    for frame in frames:
        meter.add(frame)
    return meter.value


def relative_flicker(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """``flicker(outputs) / flicker(inputs)``: how much more the result changes than the video; inf for a still input."""
    reference = flicker(inputs)
    value = flicker(outputs)
    return value / reference if reference > 0 else (0.0 if value == 0 else float("inf"))


class FlickerMeter:
    """Streaming :func:`flicker`: ``add`` frames in order, read ``value``."""

    def __init__(self):
        self._previous: np.ndarray | None = None
        self.total, self.pairs = 0.0, 0

    def add(self, frame: np.ndarray) -> None:
        if self._previous is not None and self._previous.shape == frame.shape:
            self.total += frame_change(self._previous, frame)
            self.pairs += 1
        self._previous = frame

    @property
    def value(self) -> float:
        return self.total / self.pairs if self.pairs else 0.0


def sharpness(frame: np.ndarray) -> float:
    """Mean |Laplacian| of the luma, in [0, 1] units: how much fine detail (brush texture) a frame has."""
    cv2 = _cv2()
    gray = to_gray(frame).astype(np.float32) / 255.0 if frame.ndim == 3 else frame.astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F)).mean())


class WarpingErrorMeter:
    """Streaming warping error (Lai et al. 2018): mean |out_t - warp(out_{t-1})| where motion is reliable.

    The flow comes from the uint8 *input* frames, so real motion is compensated and what
    remains is flicker; one flow per frame pair serves every output stream (``add(input,
    stylized=..., output=...)``). In [0, 1] units; ``values`` maps stream name -> error.
    """

    def __init__(self, flow: str = "dis"):
        self.config = TemporalConfig(flow=flow, feather=0)
        self._previous: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
        self.totals: dict[str, float] = {}
        self.weight = 0.0

    def add(self, frame: np.ndarray, **outputs: np.ndarray) -> None:
        gray = to_gray(frame)
        if self._previous is not None and self._previous[0].shape == gray.shape:
            backward, mask = flow_confidence(self._previous[0], gray, self.config)
            self.weight += float(mask.sum())
            for name, out in outputs.items():
                scale = 255.0 if out.dtype == np.uint8 else 1.0
                warped = warp(self._previous[1][name].astype(np.float32), backward)
                diff = np.abs(out.astype(np.float32) - warped).mean(axis=-1) / scale
                self.totals[name] = self.totals.get(name, 0.0) + float((diff * mask).sum())
        self._previous = (gray, outputs)

    @property
    def values(self) -> dict[str, float]:
        return {name: total / self.weight if self.weight > 0 else 0.0 for name, total in self.totals.items()}


def warping_error(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], flow: str = "dis") -> float:
    """:class:`WarpingErrorMeter` over whole sequences; 0.0 for fewer than two frames."""
    meter = WarpingErrorMeter(flow)
    for frame, out in zip(inputs, outputs):
        meter.add(frame, out=out)
    return meter.values.get("out", 0.0)


# --------------------------------------------------------------------------- the video pipeline


@dataclass(frozen=True)
class VideoConfig:
    """How :func:`stylize_frames` treats each frame; the CLI's ``video`` defaults come from here."""

    size: int | None = None       # longer side of the result (px); None keeps the input's size
    max_frames: int | None = None  # stop after this many frames
    temporal: TemporalConfig = field(default_factory=TemporalConfig)

    def validate(self) -> "VideoConfig":
        if self.size is not None and self.size < 8:
            raise PainterlyError(f"--size must be at least 8 px, got {self.size}")
        if self.max_frames is not None and self.max_frames < 1:
            raise PainterlyError(f"--max-frames must be at least 1, got {self.max_frames}")
        self.temporal.validate()
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def frame_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(W, H) with the longer side ``size`` (None: unchanged), both rounded down to even."""
    if size is not None:
        scale = size / max(width, height)
        width, height = max(2, round(width * scale)), max(2, round(height * scale))
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an H x W x 3 uint8 frame to (W, H) (Lanczos; a no-op at the same size)."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize(size, Image.LANCZOS))


def frame_to_tensor(frame: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> 1 x 3 x H x W float [0, 1] (a copy)."""
    if not frame.flags.writeable or not frame.flags.c_contiguous:
        frame = np.array(frame)
    return torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def tensor_to_frame(tensor: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W [0, 1] -> H x W x 3 float32 numpy (not quantised)."""
    return tensor[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def quantize(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@dataclass
class FrameResult:
    """One frame of :func:`stylize_frames`: all three H x W x 3 uint8."""

    index: int
    input: np.ndarray        # the (resized) input frame
    stylized: np.ndarray     # the stylizer's output, before temporal blending
    output: np.ndarray       # what goes into the video


def stylize_frames(frames: Iterable[np.ndarray], stylize: Callable[[torch.Tensor], torch.Tensor],
                   config: VideoConfig = VideoConfig(), device: str | torch.device = "cpu") -> Iterator[FrameResult]:
    """Stylise a stream of H x W x 3 uint8 frames one at a time.

    ``stylize`` maps a 1 x 3 x H x W [0, 1] tensor (on ``device``) to one of the same shape,
    e.g. ``lambda x: apply_stylizer(stylizer, x, style, strength)``. Frames are resized by
    ``config.size``, stylised, then made temporally consistent.
    """
    config.validate()
    blender = TemporalBlender(config.temporal)
    for index, frame in enumerate(frames):
        if config.max_frames is not None and index >= config.max_frames:
            break
        frame = resize_frame(frame, frame_size(frame.shape[1], frame.shape[0], config.size))
        content = frame_to_tensor(frame).to(device)
        with torch.inference_mode():
            result = stylize(content)
        stylized = tensor_to_frame(result)
        output = blender(frame, stylized)
        yield FrameResult(index, frame, quantize(stylized), quantize(output))


@dataclass
class VideoResult:
    """Summary of :func:`stylize_video` (what ``painterly video --json`` prints)."""

    output: str
    frames: int
    fps_in: float
    fps_out: float                # frames processed per second of wall time
    seconds: float
    width: int
    height: int
    audio: bool
    flicker: dict[str, float]     # input, stylized (per frame, no temporal), output, relative (output / input),
                                  # warping_error_stylized, warping_error_output
    config: dict

    def to_dict(self) -> dict:
        return asdict(self)


def stylize_video(input_path, output_path, stylize: Callable[[torch.Tensor], torch.Tensor],
                  config: VideoConfig = VideoConfig(), device: str | torch.device = "cpu",
                  callbacks: Sequence[ProgressCallback] = (),
                  on_frame: Callable[[FrameResult], None] | None = None, measure_warping: bool = True) -> VideoResult:
    """Read ``input_path``, stylise every frame, write ``output_path`` (same frame rate, audio kept).

    Progress events carry ``step`` = frames done and ``total`` = the container's frame-count
    estimate (capped by ``max_frames``); ``on_frame`` sees every :class:`FrameResult`.
    ``measure_warping`` adds the motion-compensated flicker (:class:`WarpingErrorMeter`) of
    the plain stylisation and of the output to ``flicker`` (two optical flows per frame).
    """
    from .io.video import VideoWriter, check_video_output, probe_video, read_frames

    config.validate()
    info = probe_video(input_path)
    output_path = check_video_output(output_path, [input_path])
    total = info.frame_count_estimate or 0
    if config.max_frames is not None:
        total = min(total, config.max_frames) if total else config.max_frames
    meters = {"input": FlickerMeter(), "stylized": FlickerMeter(), "output": FlickerMeter()}
    warping = WarpingErrorMeter(config.temporal.flow) if measure_warping else None
    start = time.perf_counter()
    with VideoWriter(output_path, fps=info.fps, audio_from=input_path if info.has_audio else None) as writer:
        for result in stylize_frames(read_frames(input_path, config.max_frames), stylize, config, device):
            writer.write(result.output)
            for name, meter in meters.items():
                meter.add(getattr(result, name))
            if warping is not None:
                warping.add(result.input, stylized=result.stylized, output=result.output)
            if on_frame is not None:
                on_frame(result)
            done = result.index + 1
            notify(callbacks, Progress(step=done, total=max(total, done), elapsed=time.perf_counter() - start))
    seconds = time.perf_counter() - start
    values = {name: meter.value for name, meter in meters.items()}
    values["relative"] = values["output"] / values["input"] if values["input"] > 0 else 0.0
    values["relative_stylized"] = values["stylized"] / values["input"] if values["input"] > 0 else 0.0
    if warping is not None:
        values.update({f"warping_error_{name}": value for name, value in warping.values.items()})
    width, height = writer.size
    return VideoResult(output=str(output_path), frames=writer.frames, fps_in=info.fps,
                       fps_out=writer.frames / seconds if seconds > 0 else 0.0, seconds=seconds, width=width,
                       height=height, audio=info.has_audio, flicker={k: round(v, 6) for k, v in values.items()},
                       config=config.to_dict())


__all__ = ["FLOW_METHODS", "FlickerMeter", "FrameResult", "TemporalBlender", "TemporalConfig", "VideoConfig",
           "VideoResult", "blend", "consistency_mask", "flicker", "frame_change", "frame_size", "inside_mask",
           "optical_flow", "relative_flicker", "stylize_frames", "stylize_video", "warp", "flow_confidence",
           "warping_error", "WarpingErrorMeter", "sharpness", "detail_preserving_blend", "BLENDS"]
