"""A compact AdaIN encoder and decoder, distilled from VGG19 and the AdaIN decoder.

The VGG19 encoder to relu4_1 costs about 60 GMAC at 512 px, which no CPU runs in real time.
Following Wang et al. 2020 (Collaborative Distillation for Ultra-Resolution Universal Style
Transfer) a much thinner network of the same shape learns VGG19's features: its relu1_1 ..
relu4_1 analogues, each mapped by a 1x1 "linear embedding" (used in training only), must match
VGG19's normalised features there. AdaIN then runs in the student's relu4_1 space and a
mirrored thin decoder turns the result back into an image.

Shape (widths ``c1..c4``, default 16/32/64/128, a quarter of VGG19's 64/128/256/512)::

    encoder  conv 3->c1 (relu1_1) | pool | conv c1->c2 (relu2_1) | pool
             conv c2->c3 (relu3_1), conv c3->c3 | pool | conv c3->c4 (relu4_1)
    decoder  conv c4->c3 | up | conv c3->c3, conv c3->c2 | up | conv c2->c2, conv c2->c1 | up
             conv c1->3 (no activation)

Every convolution is 3x3 with reflection padding and (but the last) a leaky ReLU; upsampling
is nearest-neighbour. At 512 px the pair costs 3.9 GMAC (VGG19 to relu4_1 and the AdaIN
decoder shipped with painterly: 80).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# the photo's pixels are centred roughly like ImageNet's before the first convolution
PIXEL_MEAN, PIXEL_STD = 0.45, 0.25


@dataclass(frozen=True)
class CompactAdainConfig:
    """Channel widths at the four levels (relu1_1 .. relu4_1)."""

    widths: tuple[int, int, int, int] = (16, 32, 64, 128)
    # negative slope of the activations (0: ReLU). Leaky: with ReLU our third CPU run had 64-75 % of
    # the decoder's channels dead after 400 steps, and a plain autoencoder of this shape learnt faster.
    slope: float = 0.2

    def __post_init__(self):
        widths = tuple(int(w) for w in self.widths)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"expected four positive widths, got {self.widths!r}")
        if not 0.0 <= self.slope < 1.0:
            raise ValueError(f"the activations' negative slope must be in [0, 1), not {self.slope}")
        object.__setattr__(self, "widths", widths)

    @property
    def feature_channels(self) -> int:
        return self.widths[-1]

    def to_dict(self) -> dict:
        return {"widths": list(self.widths), "slope": self.slope}

    @classmethod
    def from_dict(cls, data: dict) -> "CompactAdainConfig":
        return cls(**{k: tuple(v) if k == "widths" else v for k, v in data.items() if k in cls.__dataclass_fields__})


def _conv(cin: int, cout: int, relu: bool = True, slope: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    if not relu:
        return nn.Sequential(*layers)
    return nn.Sequential(*layers, nn.LeakyReLU(slope) if slope else nn.ReLU())


class CompactEncoder(nn.Module):
    """Images (N x 3 x H x W in [0, 1]) -> ``{level: features}`` for the levels asked for."""

    def __init__(self, config: CompactAdainConfig | None = None):
        super().__init__()
        self.config = config or CompactAdainConfig()
        c1, c2, c3, c4 = self.config.widths
        pool = lambda: nn.MaxPool2d(2)  # noqa: E731
        conv = lambda cin, cout: _conv(cin, cout, slope=self.config.slope)  # noqa: E731
        self.stages = nn.ModuleList([
            conv(3, c1),                                        # relu1_1
            nn.Sequential(pool(), conv(c1, c2)),                # relu2_1
            nn.Sequential(pool(), conv(c2, c3)),                # relu3_1
            nn.Sequential(conv(c3, c3), pool(), conv(c3, c4)),  # relu3_2, relu4_1
        ])

    def forward(self, images: torch.Tensor, levels: tuple[str, ...] = ("relu4_1",)) -> dict[str, torch.Tensor]:
        unknown = set(levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown levels {sorted(unknown)}: the compact encoder has {', '.join(LEVELS)}")
        last = max(LEVELS.index(level) for level in levels)
        x = (images - PIXEL_MEAN) / PIXEL_STD
        out = {}
        for level, stage in zip(LEVELS[:last + 1], self.stages):
            x = stage(x)
            if level in levels:
                out[level] = x
        return out


class CompactDecoder(nn.Module):
    """relu4_1-level features (N x c4 x h x w) -> image (N x 3 x 8h x 8w), unclamped."""

    def __init__(self, config: CompactAdainConfig | None = None):
        super().__init__()
        self.config = config or CompactAdainConfig()
        c1, c2, c3, c4 = self.config.widths
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        conv = lambda cin, cout: _conv(cin, cout, slope=self.config.slope)  # noqa: E731
        self.net = nn.Sequential(
            conv(c4, c3), up(),
            conv(c3, c3), conv(c3, c2), up(),
            conv(c2, c2), conv(c2, c1), up(),
            _conv(c1, 3, relu=False),
        )

    def forward(self, features: torch.Tensor, taps: bool = False):
        """The image; with ``taps`` also the activations entering each upsampling (1/8, 1/4, 1/2 scale)."""
        if features.ndim != 4 or features.shape[1] != self.config.feature_channels:
            raise ValueError(f"expected N x {self.config.feature_channels} x h x w features, "
                             f"got {tuple(features.shape)}")
        if not taps:
            return self.net(features)
        return run_with_taps(self.net, features)


def run_with_taps(net: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``net(x)`` and the input of every ``nn.Upsample`` in it (a decoder's activation at each scale)."""
    taps = []
    for module in net:
        if isinstance(module, nn.Upsample):
            taps.append(x)
        x = module(x)
    return x, taps


def embeddings(config: CompactAdainConfig, teacher_channels: dict[str, int]) -> nn.ModuleDict:
    """The 1x1 linear embeddings (student level -> VGG19 channels) used to distil the encoder."""
    return nn.ModuleDict({level: nn.Conv2d(width, teacher_channels[level], 1)
                          for level, width in zip(LEVELS, config.widths) if level in teacher_channels})


__all__ = ["CompactAdainConfig", "CompactEncoder", "CompactDecoder", "embeddings", "run_with_taps", "LEVELS"]
