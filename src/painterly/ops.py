"""Pure tensor operations shared by the methods: colour handling, detail and resizing.

All images are float tensors in [0, 1], N x 3 x H x W, RGB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 RGB <-> YIQ (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]], dtype=torch.float64)


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    matrix = _RGB_TO_YIQ.to(images.device, images.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    matrix = torch.linalg.inv(_RGB_TO_YIQ).to(images.device, images.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, images)


def luminance_transfer(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the luminance (Y) of ``stylized`` and the chrominance (I, Q) of ``content``."""
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def _sqrtm_psd(matrix: torch.Tensor, inverse: bool = False, eps: float = 1e-5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    values = values.clamp_min(eps)
    power = -0.5 if inverse else 0.5
    return vectors @ torch.diag_embed(values**power) @ vectors.transpose(-2, -1)


def match_color(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Recolour ``image`` so its RGB mean and covariance equal those of ``reference``.

    The linear map x -> C_r^{1/2} C_i^{-1/2} (x - mu_i) + mu_r (symmetric square roots) of
    Gatys et al. 2016 "colour histogram matching"; used to give a style image the content's
    palette before transfer. Computed in float64 for stability.
    """
    n, c, h, w = image.shape
    x = image.double().reshape(n, c, -1)
    r = reference.double().reshape(reference.shape[0], c, -1)
    mu_x, mu_r = x.mean(-1, keepdim=True), r.mean(-1, keepdim=True)
    xc, rc = x - mu_x, r - mu_r
    cov_x = xc @ xc.transpose(1, 2) / xc.shape[-1]
    cov_r = rc @ rc.transpose(1, 2) / rc.shape[-1]
    transform = _sqrtm_psd(cov_r) @ _sqrtm_psd(cov_x, inverse=True)
    out = transform @ xc + mu_r
    return out.reshape(n, c, h, w).clamp(0, 1).to(image.dtype)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every channel (kernel radius 3 sigma rounded, edges reflected,
    or repeated where the image is too small to reflect)."""
    radius = max(1, int(3 * sigma + 0.5))
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-taps**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    mode = "reflect" if min(images.shape[-2:]) > radius else "replicate"
    out = F.pad(images, (radius, radius, radius, radius), mode=mode)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def restore_detail(stylized: torch.Tensor, content: torch.Tensor, amount: float = 1.0,
                   radius: float = 2.0) -> torch.Tensor:
    """Put the photo's fine detail back into a stylised image.

    Adds ``amount * (Y - G_radius * Y)`` to every channel of ``stylized``, where Y is the
    luminance of ``content`` (resized to ``stylized``) and G_radius a Gaussian of standard
    deviation ``radius`` px: the photo's luminance detail finer than about ``radius`` px
    (whiskers, hair, small text, the edge of an eye), grey so the style's colours stay. The
    stylisation's own strokes are kept (nothing is taken out). 0 returns ``stylized``
    unchanged; 1 adds all of that band.
    """
    if amount == 0:
        return stylized
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False,
                                antialias=True)
    luma = rgb_to_yiq(content.to(stylized.dtype))[:, :1]
    return (stylized + amount * (luma - gaussian_blur(luma, radius))).clamp(0, 1)


def resize_longer_side(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the longer side is ``size`` (bilinear, antialiased when shrinking)."""
    h, w = images.shape[-2:]
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return images
    return F.interpolate(images, size=new, mode="bilinear", align_corners=False, antialias=scale < 1)


# --- Adaptive instance normalisation (Huang & Belongie 2017) ---------------------------------

ADAIN_EPS = 1e-5
"""Added to the variance before the square root: sigma(x) = sqrt(var(x) + eps), with the
biased variance over positions per sample and channel (the form of the authors' code)."""


def channel_mean_std(features: torch.Tensor, eps: float = ADAIN_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and channel: mean and sqrt(biased variance + eps) over positions, each N x C x 1 x 1."""
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    shape = (features.shape[0], features.shape[1], 1, 1)
    return mean.view(shape), std.view(shape)


def adain_from_stats(content_feat: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                     eps: float = ADAIN_EPS) -> torch.Tensor:
    """AdaIN with given target statistics: std * (x - mu(x)) / sigma(x) + mean.

    ``mean`` and ``std`` broadcast against N x C x 1 x 1 (shapes C, 1 x C, N x C or
    N x C x 1 x 1 are accepted); sigma(x) = sqrt(var(x) + eps).
    """
    n, c = content_feat.shape[:2]
    mean = mean.reshape(-1, c, 1, 1) if mean.numel() in (c, n * c) else mean
    std = std.reshape(-1, c, 1, 1) if std.numel() in (c, n * c) else std
    mu, sigma = channel_mean_std(content_feat, eps)
    return std * (content_feat - mu) / sigma + mean


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor, eps: float = ADAIN_EPS) -> torch.Tensor:
    """Adaptive instance normalisation: sigma(y) * (x - mu(x)) / sigma(x) + mu(y).

    x = ``content_feat`` (N x C x H x W), y = ``style_feat`` (N or 1 x C x H' x W'); mu and
    sigma are per-channel statistics over positions, sigma = sqrt(biased variance + eps).
    """
    if content_feat.shape[1] != style_feat.shape[1]:
        raise ValueError(f"channel mismatch: content {content_feat.shape[1]}, style {style_feat.shape[1]}")
    mean, std = channel_mean_std(style_feat, eps)
    return adain_from_stats(content_feat, mean, std, eps)
