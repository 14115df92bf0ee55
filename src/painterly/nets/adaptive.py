"""Networks of the artist-level method (Sanakoyeu, Kotovenko, Lang & Ommer 2018, "A Style-Aware
Content Loss for Real-time HD Style Transfer").

- :class:`AdaptiveEncoder`: a stride-1 conv then ``downsampling`` stride-2 convs (instance norm,
  ReLU; the paper: four, the image at 1/16 resolution in ``8 * width`` channels). Its output is
  the space in which the style-aware content loss is measured, and the embedding the
  re-encoding study records.
- :class:`AdaptiveDecoder`: residual blocks, then as many nearest-upsample + conv stages and a
  7x7 output conv with a sigmoid.
- :class:`AdaptiveGenerator`: encoder + decoder; input and output in [0, 1]; any input size
  (reflection-padded to a multiple of 16 and cropped back).
- :class:`MultiScaleDiscriminator`: stride-2 convs with LeakyReLU and instance norm; patch
  predictions (one channel, no sigmoid) are taken after several layers, so it judges both
  fine brush texture and larger structure.

The paper uses ``width=32`` (32-32-64-128-256 channels), 9 residual blocks and a 7-layer
discriminator of 128-1024 channels on 768 px crops; the sizes are configurable so a small
version can be trained on a CPU. ``downsampling=2`` (32-32-64 channels, 1/4 resolution, as in
Johnson et al.'s networks) learns to keep the photo's detail in a few hundred CPU steps,
where the paper's 1/16 bottleneck needs a GPU's hundreds of thousands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

DOWNSAMPLING = 16                     # the largest factor (the paper's); crops and padding use it


@dataclass(frozen=True)
class AdaptiveConfig:
    width: int = 32                   # channels of the first conv; the bottleneck has 8 * width
    depth: int = 9                    # residual blocks in the decoder
    disc_width: int = 64              # channels of the discriminator's first conv (paper: 128)
    disc_layers: int = 6              # stride-2 convs in the discriminator (paper: 7)
    downsampling: int = 4             # stride-2 convs in the encoder, 1 to 4 (paper: 4, i.e. 1/16)

    def __post_init__(self):
        if not 1 <= self.downsampling <= 4:
            raise ValueError(f"downsampling must be 1 to 4 stride-2 stages, not {self.downsampling}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdaptiveConfig":
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(True),
                                  _conv(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _encoder_channels(config: AdaptiveConfig) -> list[int]:
    width = config.width
    return [width, width, 2 * width, 4 * width, 8 * width][: config.downsampling + 1]


class AdaptiveEncoder(nn.Module):
    def __init__(self, config: AdaptiveConfig):
        super().__init__()
        channels = _encoder_channels(config)
        layers: list[nn.Module] = [nn.InstanceNorm2d(3, affine=True), _conv(3, channels[0], 3),
                                   nn.InstanceNorm2d(channels[0], affine=True), nn.ReLU(True)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [_conv(cin, cout, 3, 2), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x * 2 - 1)


class AdaptiveDecoder(nn.Module):
    def __init__(self, config: AdaptiveConfig):
        super().__init__()
        channels = _encoder_channels(config)[::-1]
        layers: list[nn.Module] = [_ResidualBlock(channels[0]) for _ in range(config.depth)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, cout, 3),
                       nn.InstanceNorm2d(cout, affine=True), nn.ReLU(True)]
        layers += [_conv(channels[-1], 3, 7)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.layers(z))


def pad_to_multiple(x: torch.Tensor, multiple: int = DOWNSAMPLING) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad H and W (reflection; replication where the image is too small to reflect) up to a
    multiple of ``multiple``, at least two multiples, so the bottleneck is at least 2 x 2;
    returns the padded image and the original size."""
    height, width = x.shape[-2:]
    pad_h = max(2 * multiple, -(-height // multiple) * multiple) - height
    pad_w = max(2 * multiple, -(-width // multiple) * multiple) - width
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (height, width)


class AdaptiveGenerator(nn.Module):
    def __init__(self, config: AdaptiveConfig = AdaptiveConfig()):
        super().__init__()
        self.config = config
        self.encoder = AdaptiveEncoder(config)
        self.decoder = AdaptiveDecoder(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck of ``x`` (B x 3 x H x W, H and W multiples of 16)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded, (height, width) = pad_to_multiple(x)
        return self.decoder(self.encoder(padded))[..., :height, :width]


class MultiScaleDiscriminator(nn.Module):
    """Patch logits after layers 1, 2, 4, 6, ... (every scale that exists for the input size)."""

    def __init__(self, config: AdaptiveConfig = AdaptiveConfig()):
        super().__init__()
        widths = [min(config.disc_width * 2 ** max(0, i - 1), 16 * config.disc_width) for i in range(config.disc_layers)]
        self.blocks = nn.ModuleList()
        cin = 3
        for i, cout in enumerate(widths):
            norm = nn.Identity() if i == 0 else nn.InstanceNorm2d(cout, affine=True)
            self.blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 5 if i == 0 else 3, 2, 2 if i == 0 else 1), norm,
                                             nn.LeakyReLU(0.2, True)))
            cin = cout
        self.heads = nn.ModuleDict({str(i): nn.Conv2d(widths[i], 1, 3, 1, 1) for i in self.head_layers(config)})

    @staticmethod
    def head_layers(config: AdaptiveConfig) -> list[int]:
        return sorted({0, 1, *range(3, config.disc_layers, 2), config.disc_layers - 1})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        h = x * 2 - 1
        for i, block in enumerate(self.blocks):
            if min(h.shape[-2:]) < 4:  # the next stride-2 layer would leave a single pixel
                break
            h = block(h)
            if str(i) in self.heads:
                outputs.append(self.heads[str(i)](h))
        return outputs


__all__ = ["AdaptiveConfig", "AdaptiveEncoder", "AdaptiveDecoder", "AdaptiveGenerator", "MultiScaleDiscriminator",
           "pad_to_multiple", "DOWNSAMPLING"]
