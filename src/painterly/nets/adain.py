"""The AdaIN decoder (Huang & Belongie 2017): a mirror of VGG19 up to relu4_1.

Pooling layers become nearest-neighbour 2x upsampling, every convolution is 3x3 with
reflection padding (fewer border artefacts than zero padding), and the last convolution
maps to RGB with no activation (the stylizer clamps to [0, 1]).

``width`` scales the hidden channel counts (256, 128, 64 in the paper) so small models can
be trained on a CPU and tiny ones used in tests; the input always has 512 channels (relu4_1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ENCODER_LAYER = "relu4_1"
ENCODER_CHANNELS = 512


@dataclass(frozen=True)
class AdainDecoderConfig:
    """Shape of a decoder. ``width`` multiplies the hidden widths 256/128/64 (paper: 1.0)."""

    width: float = 1.0
    in_channels: int = ENCODER_CHANNELS
    # relu4_1 of the raw Caffe VGG19 averages ~700 per channel on photos (the paper's code uses a
    # normalised VGG with means ~1). Unscaled, Adam steps move the first layer's pre-activations
    # by hundreds and its ReLUs die (94 % dead channels after 500 steps at lr 5e-4 in our first
    # CPU run); scaling the input by ~1/700 restores the paper's regime.
    input_scale: float = 1.0 / 700.0
    # Per-channel input scales (a buffer saved with the weights) instead of one number: the trainer
    # sets them to 1 / each relu4_1 channel's mean activation on its data, so the decoder reads the
    # features of the paper's normalised VGG (every channel's mean activation 1).
    channel_scaled: bool = False

    def channels(self) -> tuple[int, int, int]:
        return tuple(max(4, int(round(c * self.width))) for c in (256, 128, 64))  # type: ignore[return-value]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdainDecoderConfig":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU()] if relu else layers


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


class AdainDecoder(nn.Module):
    """relu4_1 features (N x 512 x h x w) -> image (N x 3 x 8h x 8w), unclamped."""

    def __init__(self, config: AdainDecoderConfig | None = None):
        super().__init__()
        self.config = config or AdainDecoderConfig()
        c3, c2, c1 = self.config.channels()
        layers = _conv(self.config.in_channels, c3) + [_up()]          # mirrors conv4_1 + pool3
        layers += _conv(c3, c3) + _conv(c3, c3) + _conv(c3, c3)        # conv3_4 .. conv3_2
        layers += _conv(c3, c2) + [_up()]                              # conv3_1 + pool2
        layers += _conv(c2, c2) + _conv(c2, c1) + [_up()]              # conv2_2, conv2_1 + pool1
        layers += _conv(c1, c1) + _conv(c1, 3, relu=False)             # conv1_2, conv1_1
        self.net = nn.Sequential(*layers)
        if self.config.channel_scaled:
            self.register_buffer("channel_scale", torch.full((self.config.in_channels,), self.config.input_scale))

    def set_channel_scale(self, scale: torch.Tensor) -> None:
        """Per-channel input scales (``in_channels`` positive numbers) of a ``channel_scaled`` decoder."""
        if not self.config.channel_scaled:
            raise ValueError("this decoder has one input scale, not one per channel (channel_scaled=False)")
        scale = torch.as_tensor(scale, dtype=self.channel_scale.dtype).flatten()
        if scale.shape != self.channel_scale.shape or not bool((scale > 0).all()):
            raise ValueError(f"expected {self.config.in_channels} positive channel scales, got {tuple(scale.shape)}")
        self.channel_scale.copy_(scale.to(self.channel_scale.device))

    def scale_input(self, features: torch.Tensor) -> torch.Tensor:
        """relu4_1 features as the first convolution reads them (times the input scale(s))."""
        if features.ndim != 4 or features.shape[1] != self.config.in_channels:
            raise ValueError(f"expected N x {self.config.in_channels} x h x w features, got {tuple(features.shape)}")
        if self.config.channel_scaled:
            return features * self.channel_scale.view(1, -1, 1, 1).to(features.dtype)
        return features * self.config.input_scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.scale_input(features))


__all__ = ["AdainDecoder", "AdainDecoderConfig", "ENCODER_LAYER", "ENCODER_CHANNELS"]
