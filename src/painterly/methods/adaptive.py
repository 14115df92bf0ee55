"""Inference with an artist-level model (``kind: adaptive``, trained by ``painterly train adaptive``).

The generator takes any photo size in one pass (reflection-padded to a multiple of 16), so
``painterly stylize --method adaptive --model FILE`` works at HD sizes; ``--tile`` bounds the
memory for larger ones. :meth:`AdaptiveStylizer.embed` gives the encoder's bottleneck, pooled
to a vector (the re-encoding study's embedding).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PainterlyError
from ..io.model_file import ModelFileError, load_model_file
from ..nets.adaptive import AdaptiveConfig, AdaptiveGenerator, pad_to_multiple
from .feedforward import StyleArg, autocast_context, autocast_dtype, available_models, resolve_model_path


class AdaptiveStylizer:
    kind = "adaptive"

    def __init__(self, generator: AdaptiveGenerator, name: str, style_names: list[str], meta: dict | None = None,
                 precision: str = "auto"):
        self.net = generator.eval()
        self.name = name
        self.style_names = style_names
        self.meta = dict(meta or {})
        self.device = next(generator.parameters()).device
        self.amp_dtype = autocast_dtype(precision, self.device)

    def __repr__(self) -> str:
        return f"AdaptiveStylizer({self.name!r}, styles={self.style_names})"

    def _check_style(self, style: StyleArg) -> None:
        if style is None or style == 0 or style in self.style_names:
            return
        raise PainterlyError(f"the artist-level model {self.name!r} holds only {', '.join(self.style_names)}, "
                             f"not {style!r}")

    def __call__(self, images: torch.Tensor, style: StyleArg = None) -> torch.Tensor:
        self._check_style(style)
        if images.ndim != 4 or images.shape[1] != 3:
            raise PainterlyError(f"expected B x 3 x H x W images, got shape {tuple(images.shape)}")
        with torch.inference_mode(), autocast_context(self.device, self.amp_dtype):
            out = self.net(images.to(self.device, torch.float32))
        return out.float().to(images.device)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B x (2 * C): channel means and standard deviations of the encoder's bottleneck."""
        with torch.inference_mode():
            padded, _ = pad_to_multiple(images.to(self.device, torch.float32))
            z = self.net.encode(padded)
        return torch.cat([z.mean(dim=(2, 3)), z.std(dim=(2, 3))], dim=1).float().cpu()


def load_adaptive_stylizer(model: str | Path | None = None, device: str = "cpu", precision: str = "auto",
                           **_) -> AdaptiveStylizer:
    if model is None:   # the first shipped artist-level model
        shipped = [m for m in available_models() if m.kind == "adaptive"]
        if not shipped:
            raise PainterlyError("no artist-level model ships in this release: train one with "
                                 "`painterly train adaptive` and pass it with --model")
        model = shipped[0].path
    loaded = load_model_file(resolve_model_path(model), expected_kind="adaptive")   # a path or a built-in name
    try:
        config = AdaptiveConfig.from_dict(loaded.meta.get("architecture", {}))
        generator = AdaptiveGenerator(config)
        generator.load_state_dict(loaded.state)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{loaded.path}: weights do not match the stored architecture "
                             f"({str(exc).splitlines()[0][:120]})") from None
    names = [s.get("name", "artist") if isinstance(s, dict) else str(s) for s in loaded.meta.get("styles", [])]
    return AdaptiveStylizer(generator.to(device), Path(loaded.path).stem, names or ["artist"], loaded.meta, precision)


__all__ = ["AdaptiveStylizer", "load_adaptive_stylizer"]
