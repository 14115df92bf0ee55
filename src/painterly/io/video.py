"""Video files: streaming frame reader, atomic writer, and the input's audio muxed back.

Frames are H x W x 3 uint8 RGB numpy arrays, read and written one at a time through the
ffmpeg binary that ``imageio-ffmpeg`` ships (optional extra ``video``), so a video of any
length never sits in memory. :class:`VideoWriter` encodes into a temporary file next to the
output, then copies the source's audio stream into it (re-encoding to the container's codec
only if a plain copy is refused) and renames it into place; on any error nothing is left.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PainterlyError
from .atomic import publish

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm")
#: video codec, audio codec to re-encode to when the source's audio cannot be copied
CODECS = {".mp4": ("libx264", "aac"), ".mkv": ("libx264", "aac"), ".mov": ("libx264", "aac"),
          ".webm": ("libvpx-vp9", "libopus")}


class VideoError(PainterlyError):
    """A video that cannot be read or written."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (before any frame is decoded)."""

    path: Path
    fps: float
    width: int
    height: int
    duration: float      # seconds, 0.0 when unknown
    audio_codec: str | None

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_codec)

    @property
    def frame_count_estimate(self) -> int:
        """fps x duration, rounded; 0 when the duration is unknown (use it for progress only)."""
        return max(0, round(self.fps * self.duration))


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoError("video needs ffmpeg: pip install 'painterly[video]'") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:160]


class _DropRotationNotice(logging.Filter):
    """imageio-ffmpeg warns when a rotated video's frames differ in size from the stored ones:
    that is the rotation being applied, as wanted."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "different from the source frame size" not in record.getMessage()


def _open_reader(path: Path, **kwargs):
    import imageio_ffmpeg

    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    generator = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", **kwargs)
    quiet = _DropRotationNotice()
    logging.getLogger("imageio_ffmpeg").addFilter(quiet)
    try:
        meta = next(generator)
    except (RuntimeError, OSError, StopIteration) as exc:
        generator.close()
        raise VideoError(f"{path}: not a readable video ({_first_line(exc)})") from None
    finally:
        logging.getLogger("imageio_ffmpeg").removeFilter(quiet)
    if not meta.get("size") or not meta.get("fps"):
        generator.close()
        raise VideoError(f"{path}: no video stream")
    return generator, meta


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """The video's frame rate, size, duration and audio codec; :class:`VideoError` if unreadable."""
    ffmpeg_exe()
    path = Path(path)
    generator, meta = _open_reader(path)
    generator.close()
    width, height = meta["size"]
    return VideoInfo(path=path, fps=float(meta["fps"]), width=int(width), height=int(height),
                     duration=float(meta.get("duration") or 0.0), audio_codec=meta.get("audio_codec"))


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frames one at a time (H x W x 3 uint8 RGB); at most ``max_frames``."""
    ffmpeg_exe()
    path = Path(path)
    generator, meta = _open_reader(path)
    width, height = meta["size"]
    count = 0
    try:
        for buffer in generator:
            if max_frames is not None and count >= max_frames:
                break
            count += 1
            yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3).copy()  # writable
    except RuntimeError as exc:
        raise VideoError(f"{path}: cannot decode frame {count + 1} ({_first_line(exc)})") from None
    finally:
        generator.close()
    if count == 0:
        raise VideoError(f"{path}: the video has no frames")


def even_size(width: int, height: int) -> tuple[int, int]:
    """The largest even size that fits (yuv420p encoders need even sides)."""
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def check_video_output(path: str | os.PathLike, inputs: list[str | os.PathLike] = ()) -> Path:
    """A usable output path: known extension, not a folder, not one of the inputs."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise VideoError(f"{path}: unknown video type {path.suffix!r} (use {', '.join(VIDEO_EXTENSIONS)})")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder")
    for item in inputs:
        if Path(item).exists() and Path(item).resolve() == path.resolve():
            raise VideoError(f"{path}: refusing to overwrite an input file")
    return path


class VideoWriter:
    """Write frames to ``path`` atomically at ``fps``; optionally copy ``audio_from``'s audio in.

    Use as a context manager: the file appears (complete, with audio) only when the block
    ends without an error. Frames must all have the size of the first one; odd sides are
    cropped by one pixel to the even size the codecs need.
    """

    def __init__(self, path: str | os.PathLike, fps: float, audio_from: str | os.PathLike | None = None,
                 quality: int = 23):
        self.path = check_video_output(path)
        if not fps or fps <= 0:
            raise VideoError(f"frame rate must be positive, got {fps}")
        self.fps, self.quality = float(fps), quality
        self.audio_from = Path(audio_from) if audio_from else None
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._encoder = None
        self._tmp: Path | None = None

    def __enter__(self) -> "VideoWriter":
        ffmpeg_exe()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".video" + self.path.suffix,
                                       dir=self.path.parent)
        os.close(handle)
        self._tmp = Path(tmp)
        return self

    def write(self, frame: np.ndarray) -> None:
        import imageio_ffmpeg

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be H x W x 3 uint8, got {frame.dtype} {frame.shape}")
        if self._encoder is None:
            self.size = even_size(frame.shape[1], frame.shape[0])
            codec = CODECS[self.path.suffix.lower()][0]
            params = ["-crf", str(self.quality)] + (["-b:v", "0"] if codec == "libvpx-vp9" else [])
            self._encoder = imageio_ffmpeg.write_frames(
                str(self._tmp), self.size, fps=self.fps, codec=codec, pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
                macro_block_size=1, output_params=params, ffmpeg_log_level="error")
            self._encoder.send(None)
        width, height = self.size
        if frame.shape[:2] != (height, width):
            if frame.shape[0] - height > 1 or frame.shape[1] - width > 1 or frame.shape[0] < height:
                raise ValueError(f"frame of {frame.shape[1]}x{frame.shape[0]}, the video is {width}x{height}")
            frame = frame[:height, :width]
        self._encoder.send(np.ascontiguousarray(frame))
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._encoder is not None:
                self._encoder.close()
            if exc_type is None:
                if self.frames == 0:
                    raise VideoError(f"{self.path}: no frames to write")
                self._finish()
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        if self.audio_from is not None and probe_video(self.audio_from).has_audio:
            muxed = self._tmp.with_name(self._tmp.name.replace(".video", ".muxed"))
            try:
                mux_audio(self._tmp, self.audio_from, muxed, CODECS[self.path.suffix.lower()][1])
                publish(muxed, self.path)
            finally:
                muxed.unlink(missing_ok=True)
        else:
            publish(self._tmp, self.path)


def mux_audio(video: Path, audio_from: Path, output: Path, fallback_codec: str = "aac") -> Path:
    """``video``'s picture with ``audio_from``'s first audio stream, cut to the picture's length.

    The audio is copied bit for bit; if the output container refuses the source codec (PCM
    into MP4, AAC into WebM), it is re-encoded to ``fallback_codec``.
    """
    base = [ffmpeg_exe(), "-y", "-v", "error", "-i", str(video), "-i", str(audio_from),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-shortest"]
    last = ""
    for audio in (["-c:a", "copy"], ["-c:a", fallback_codec]):
        result = subprocess.run(base + audio + [str(output)], capture_output=True, text=True)
        if result.returncode == 0:
            return output
        last = (result.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        log.info("audio %s into %s failed: %s", " ".join(audio), output.suffix, last)
    raise VideoError(f"{audio_from}: cannot copy its audio into {output.suffix} ({last[:160]})")


def audio_streams(path: str | os.PathLike) -> list[str]:
    """Descriptions of the audio streams ffmpeg finds in ``path`` (e.g. ``'aac (LC) ... mono'``)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return [line.split("Audio:", 1)[1].strip() for line in result.stderr.splitlines() if "Audio:" in line]


__all__ = ["VIDEO_EXTENSIONS", "VideoError", "VideoInfo", "VideoWriter", "audio_streams", "check_video_output",
           "even_size", "mux_audio", "probe_video", "read_frames"]
