"""Numbers that describe a stylised image: how much content it kept, how close it is to the style.

:func:`evaluate` compares an ``output`` with the ``content`` photo it came from and the
``style`` it was meant to take on, and returns four numbers (:class:`Metrics`).

Sizes and inputs
----------------
All three images are first converted to 8-bit RGB (as :func:`painterly.io.image.as_pil`
does; a tensor therefore gives the same numbers as the PNG it would be saved as) and then to
float tensors in [0, 1] (RGB, 1 x 3 x H x W). Then:

* ``output`` is resized so its longer side is ``EvaluateConfig.size`` (``None``: left at
  its own size); call the result H x W;
* ``content`` is resized to exactly H x W (its aspect ratio is not kept if it differs);
* a ``style`` image is resized so its longer side equals max(H, W), keeping its aspect ratio.
  A built-in style name uses the stored Gram matrices
  (:meth:`painterly.styles.StyleRegistry.stats`) at the reference size nearest max(H, W).

Resizing is bilinear, antialiased when shrinking (:func:`painterly.ops.resize_longer_side`),
the resampling the optimiser and the built-in style statistics use: Gram matrices at small
sizes depend strongly on the resampling filter (a Lanczos-resized painting has several times
the style loss against the stored statistics at 128 px), so this keeps the style loss
measured against the same targets a run optimised, and a built-in name and its painting
file in agreement at a reference size. The VGG19 (Caffe) normalisation happens inside
:class:`painterly.features.VGG19Features`.

The four numbers
----------------
``content_loss``
    :func:`painterly.losses.content_loss` (mean squared difference of the Caffe-scale VGG19
    activations) between output and content, summed over ``content_layers`` (default
    ``relu4_2`` only, so by default it is exactly that layer's MSE). 0 for identical images;
    lower = more content kept.
``style_loss``
    :func:`painterly.losses.gram_style_loss` of the output against the style's Gram
    matrices at ``style_layers`` (default relu1_1 .. relu5_1) with the library's default
    per-layer weight 1e3 / C^2: the sum over layers of 1e3 times the mean squared
    difference of the Gram entries, Gram matrices normalised by H*W. 0 when the output is
    the style image; lower = closer to the style's textures.
``ssim``
    :func:`skimage.metrics.structural_similarity` between the luminance of output and
    content (:func:`skimage.color.rgb2gray`: Y = 0.2125 R + 0.7154 G + 0.0721 B on the
    [0, 1] values), ``data_range=1``, with the settings of Wang et al. 2004 (Gaussian
    window, sigma 1.5, population covariances). 1 for identical images; both images need
    at least 11 px a side.
``color_distance``
    The 2-Wasserstein (Fréchet) distance between Gaussian fits of the pixel colours of
    output and style image in CIELAB (:func:`skimage.color.rgb2lab`, sRGB, D65)::

        W2 = sqrt( |mu_o - mu_s|^2 + tr(S_o + S_s - 2 (S_o^1/2 S_s S_o^1/2)^1/2) )

    with mu the mean Lab colour and S the 3 x 3 (population) covariance of all pixels.
    It is in CIELAB units: for two uniformly coloured images it is the Euclidean Lab
    difference of the two colours (Delta E*ab 1976), e.g. 100 between black and white.
    0 when the palettes match in mean and covariance. A built-in style ships no
    painting, so there is nothing to measure: ``color_distance`` is ``None`` then.

Everything runs without gradients in float32 (the colour and SSIM parts in float64 NumPy)
and is deterministic for a given device. Building VGG19 costs more than evaluating a small
image: make one with :func:`make_features` and pass it to every :func:`evaluate` call when
evaluating many images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import PainterlyError
from ..features import VGG19Features, resolve_layers
from ..io.image import DEFAULT_MAX_PIXELS, ImageLike, as_pil, pil_to_tensor
from ..losses import content_loss, gram, gram_style_loss
from ..ops import resize_longer_side
from ..styles import StyleRegistry, stats_for_layers

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
MIN_SIZE = 16           # smallest EvaluateConfig.size
SSIM_SIGMA = 1.5        # Wang et al. 2004
SSIM_MIN_SIDE = 11      # the Gaussian window skimage uses for sigma 1.5 (truncate 3.5)


@dataclass(frozen=True)
class EvaluateConfig:
    """Settings of :func:`evaluate`; the ``painterly evaluate`` flags derive from these fields."""

    size: int | None = 512              # longer side (px) at which everything is compared; None: output's own
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    device: str = "cpu"                 # where make_features puts VGG19 (evaluate follows the features given)
    max_pixels: int = DEFAULT_MAX_PIXELS  # refuse larger input files

    def validate(self) -> "EvaluateConfig":
        """A copy with canonical layer names; a :class:`PainterlyError` for unusable settings."""
        if self.size is not None and self.size < MIN_SIZE:
            raise PainterlyError(f"size must be at least {MIN_SIZE} px, not {self.size}")
        return replace(self, content_layers=resolve_layers(self.content_layers),
                       style_layers=resolve_layers(self.style_layers))

    @property
    def layers(self) -> tuple[str, ...]:
        """Every VGG19 layer the metrics read (content layers first, no duplicates)."""
        return tuple(dict.fromkeys((*resolve_layers(self.content_layers), *resolve_layers(self.style_layers))))


@dataclass(frozen=True)
class Metrics:
    """The four numbers of :func:`evaluate` (definitions in the module docstring)."""

    content_loss: float
    style_loss: float
    ssim: float
    color_distance: float | None        # None for a built-in style (no painting to measure)

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def make_features(config: EvaluateConfig | None = None) -> VGG19Features:
    """A VGG19 with every layer ``config`` needs, on ``config.device``; build once, evaluate many."""
    config = (config or EvaluateConfig()).validate()
    return VGG19Features(config.layers).to(config.device)


def evaluate(output: ImageLike, content: ImageLike, style: ImageLike | str, config: EvaluateConfig | None = None,
             features: VGG19Features | None = None, registry: StyleRegistry | None = None) -> Metrics:
    """Content loss, style loss, SSIM and colour distance of ``output`` (see the module docstring).

    ``output`` and ``content`` are anything :func:`painterly.io.image.load_image` accepts;
    ``style`` too, or the name of a built-in style (then ``color_distance`` is ``None``).
    ``features`` is a :class:`VGG19Features` returning at least ``config.layers`` (made
    with :func:`make_features` when not given); the images go to its device.
    """
    config = (config or EvaluateConfig()).validate()
    out = _load(output, config.max_pixels)
    out = out if config.size is None else resize_longer_side(out, config.size)
    photo = _resize_exact(_load(content, config.max_pixels), tuple(out.shape[-2:]))
    style_image, builtin_grams = load_style(style, max(out.shape[-2:]), config, registry)
    features = features if features is not None else make_features(config)
    _check_layers(features, config.layers)
    device = next(features.parameters()).device

    out, photo = out.to(device), photo.to(device)
    with torch.no_grad():
        out_feats, photo_feats = _float_features(features, out), _float_features(features, photo)
        style_grams = _target_grams(features, style_image, builtin_grams, config.style_layers)
        return Metrics(
            content_loss=content_distance(out_feats, photo_feats, config.content_layers),
            style_loss=float(gram_style_loss(out_feats, style_grams)),
            ssim=luminance_ssim(out, photo),
            color_distance=None if style_image is None else color_distance(out, style_image),
        )


def _target_grams(features: VGG19Features, style_image: torch.Tensor | None,
                  builtin_grams: dict[str, torch.Tensor] | None, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Gram matrices of the style image at ``layers``, or the built-in ones, on the features' device."""
    device = next(features.parameters()).device
    if style_image is None:
        return {layer: builtin_grams[layer].to(device, torch.float32) for layer in layers}
    style_feats = _float_features(features, style_image.to(device))
    return {layer: gram(style_feats[layer]) for layer in layers}


def _check_layers(features: VGG19Features, layers: tuple[str, ...]) -> None:
    missing = [layer for layer in layers if layer not in features.layers]
    if missing:
        raise ValueError(f"the features module does not return {', '.join(missing)}; "
                         f"build it with make_features(config)")


def _float_features(features: VGG19Features, image: torch.Tensor) -> dict[str, torch.Tensor]:
    return {layer: value.float() for layer, value in features(image).items()}


def _load(image: ImageLike, max_pixels: int) -> torch.Tensor:
    """Any accepted image -> 8-bit RGB -> 1 x 3 x H x W float tensor in [0, 1], at its own size."""
    return pil_to_tensor(as_pil(image, max_pixels))


def _resize_exact(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize to exactly ``size`` (height, width): bilinear, antialiased when shrinking."""
    height, width = image.shape[-2:]
    if (height, width) == size:
        return image
    shrinking = size[0] < height or size[1] < width
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def is_style_name(style: object) -> bool:
    """True for a string meant as a built-in style name: not a file, no folder, no extension.

    Anything else (paths, images, arrays, tensors) is read as a style image, so a missing
    ``painting.jpg`` gives a "no such file" error and a typo of a name a "did you mean" one.
    """
    if not isinstance(style, str) or not style or Path(style).is_file():
        return False
    path = Path(style)
    return path.suffix == "" and path.name == style


def load_style(style: ImageLike | str, longer_side: int, config: EvaluateConfig,
               registry: StyleRegistry | None = None) -> tuple[torch.Tensor | None, dict[str, torch.Tensor] | None]:
    """``(image, None)`` for a style image, resized to ``longer_side``; ``(None, grams)`` for a name.

    A built-in style's Gram matrices are those stored at the reference size nearest
    ``longer_side``; an unknown name raises :class:`~painterly.errors.StyleNotFoundError`.
    """
    if is_style_name(style):
        stats = (registry or StyleRegistry()).stats(style, size=longer_side)
        return None, dict(stats_for_layers(stats, config.style_layers))
    return resize_longer_side(_load(style, config.max_pixels), longer_side), None


def content_distance(features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                     layers: tuple[str, ...]) -> float:
    """Sum over ``layers`` of the mean squared feature difference (:func:`losses.content_loss`)."""
    return float(sum(content_loss(features[layer], targets[layer]) for layer in layers))


def _to_numpy(image: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W (or 3 x H x W) tensor in [0, 1] -> H x W x 3 float64 array."""
    if image.ndim == 4:
        image = image[0]
    return image.detach().cpu().double().clamp(0, 1).permute(1, 2, 0).numpy()


def luminance_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of the greyscale (rgb2gray) versions of two same-size [0, 1] images, data_range 1."""
    from skimage.color import rgb2gray
    from skimage.metrics import structural_similarity

    grey_a, grey_b = rgb2gray(_to_numpy(a)), rgb2gray(_to_numpy(b))
    if grey_a.shape != grey_b.shape:
        raise ValueError(f"SSIM needs images of one size, got {grey_a.shape} and {grey_b.shape}")
    if min(grey_a.shape) < SSIM_MIN_SIDE:
        raise PainterlyError(f"{grey_a.shape[1]}x{grey_a.shape[0]} is too small for SSIM "
                             f"(need at least {SSIM_MIN_SIDE} px a side)")
    return float(structural_similarity(grey_a, grey_b, data_range=1.0, gaussian_weights=True, sigma=SSIM_SIGMA,
                                       use_sample_covariance=False))


def lab_gaussian(image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (3,) and population covariance (3, 3) of an image's pixels in CIELAB (D65)."""
    from skimage.color import rgb2lab

    pixels = rgb2lab(_to_numpy(image)).reshape(-1, 3)
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    return mean, centred.T @ centred / len(pixels)


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues < 0 -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_w2(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """2-Wasserstein (Fréchet) distance between N(mean_a, cov_a) and N(mean_b, cov_b).

    sqrt(|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)), in the units of the means.
    """
    root_a = _sqrtm_psd(np.asarray(cov_a, dtype=np.float64))
    cross = _sqrtm_psd(root_a @ np.asarray(cov_b, dtype=np.float64) @ root_a)
    squared = float(np.sum((np.asarray(mean_a) - np.asarray(mean_b)) ** 2)
                    + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cross))
    return float(np.sqrt(max(squared, 0.0)))


def color_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """W2 distance between Gaussian fits of two [0, 1] RGB images' colours in CIELAB (any sizes)."""
    return gaussian_w2(*lab_gaussian(a), *lab_gaussian(b))


def chroma_noise(image: torch.Tensor) -> float:
    """High-frequency colour of a [0, 1] RGB image: the mean |C - box3(C)| over Cb and Cr, 0-255 units.

    Cb and Cr are the BT.601 (JPEG) chroma channels without their offset (both 0 for any grey);
    box3 is the 3 x 3 mean around each pixel, over pixels whose window fits (1 px border left out).
    0 for an image whose colour is locally constant or linear; coloured pixel-scale noise (the red
    and blue dashes of an undertrained network) raises it, luminance texture does not.
    """
    x = (image if image.ndim == 4 else image.unsqueeze(0)).detach().double().clamp(0, 1) * 255
    if min(x.shape[-2:]) < 3:
        raise PainterlyError("chroma noise needs an image of at least 3 x 3 px")
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    chroma = torch.stack([-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b], dim=1)
    local = F.avg_pool2d(chroma, 3, stride=1)
    return float((chroma[..., 1:-1, 1:-1] - local).abs().mean())
