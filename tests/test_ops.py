"""painterly.ops: colour spaces, luminance transfer, colour matching, resizing."""

from __future__ import annotations

import pytest
import torch

from painterly.ops import (gaussian_blur, luminance_transfer, match_color, resize_longer_side, restore_detail,
                          rgb_to_yiq, yiq_to_rgb)


def rand(*shape, seed=0, low=0.0, high=1.0, dtype=torch.float32):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return low + (high - low) * x


def stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB mean (3) and covariance (3 x 3), float64, of a 1 x 3 x H x W image."""
    x = image.double().reshape(3, -1)
    mean = x.mean(1)
    centred = x - mean[:, None]
    return mean, centred @ centred.T / x.shape[1]


# --------------------------------------------------------------------------- YIQ


def test_yiq_known_values():
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(red).flatten(), torch.tensor([0.299, 0.595716, 0.211456]))
    grey = torch.full((1, 3, 2, 2), 0.25)
    torch.testing.assert_close(rgb_to_yiq(grey)[:, 0], torch.full((1, 2, 2), 0.25))


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_yiq_round_trip(dtype, tol):
    x = rand(2, 3, 5, 7, dtype=dtype)
    back = yiq_to_rgb(rgb_to_yiq(x))
    assert back.dtype == dtype
    torch.testing.assert_close(back, x, atol=tol, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(yiq_to_rgb(x)), x, atol=tol * 10, rtol=0)


# --------------------------------------------------------------------------- luminance transfer


def test_luminance_transfer_keeps_stylised_y_and_content_iq():
    # mid-range colours so nothing is clipped by the final clamp
    stylized = rand(1, 3, 16, 16, seed=1, low=0.35, high=0.65)
    content = rand(1, 3, 16, 16, seed=2, low=0.35, high=0.65)
    out = luminance_transfer(stylized, content)
    assert out.shape == stylized.shape and out.min() > 0 and out.max() < 1
    torch.testing.assert_close(rgb_to_yiq(out)[:, :1], rgb_to_yiq(stylized)[:, :1], atol=1e-5, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5, rtol=0)


def test_luminance_transfer_resizes_content_and_clamps():
    stylized = rand(1, 3, 16, 24, seed=1)
    content = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 8, 12).contiguous()  # saturated red
    out = luminance_transfer(stylized, content)
    assert out.shape == (1, 3, 16, 24)
    assert out.min() >= 0 and out.max() <= 1


def test_luminance_transfer_of_grey_content_is_grey():
    out = luminance_transfer(rand(1, 3, 8, 8, seed=3), torch.full((1, 3, 8, 8), 0.5))
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 1], out[:, 2], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- match colour


def test_match_color_gives_reference_mean_and_covariance():
    image = rand(1, 3, 32, 32, seed=1, low=0.1, high=0.9)
    # a reference with a different, correlated palette that stays inside [0, 1]
    base = rand(1, 3, 32, 32, seed=2)
    mix = torch.tensor([[0.30, 0.10, 0.00], [0.10, 0.20, 0.05], [0.00, 0.05, 0.10]])
    reference = (torch.einsum("ij,njhw->nihw", mix, base) + torch.tensor([0.25, 0.35, 0.45]).view(1, 3, 1, 1))
    assert reference.min() >= 0 and reference.max() <= 1
    out = match_color(image, reference)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert out.min() > 0 and out.max() < 1  # no clipping, so the match is exact
    mean_out, cov_out = stats(out)
    mean_ref, cov_ref = stats(reference)
    torch.testing.assert_close(mean_out, mean_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(cov_out, cov_ref, atol=1e-6, rtol=1e-3)
    mean_in, cov_in = stats(image)
    assert (cov_in - cov_ref).abs().max() > 1e-2  # it really changed something


def test_match_color_is_identity_on_itself():
    image = rand(1, 3, 16, 16, seed=4, low=0.2, high=0.8)
    torch.testing.assert_close(match_color(image, image), image, atol=1e-4, rtol=0)


def test_match_color_reference_of_another_size():
    out = match_color(rand(1, 3, 16, 16, seed=5), rand(1, 3, 8, 40, seed=6, low=0.3, high=0.7))
    assert out.shape == (1, 3, 16, 16)
    assert out.min() >= 0 and out.max() <= 1


# --------------------------------------------------------------------------- resize


@pytest.mark.parametrize("shape, size, expected", [
    ((1, 3, 20, 40), 10, (5, 10)),
    ((1, 3, 40, 20), 10, (10, 5)),
    ((1, 3, 8, 16), 32, (16, 32)),
    ((2, 3, 30, 45), 16, (11, 16)),
    ((1, 3, 100, 1), 10, (10, 1)),
])
def test_resize_longer_side_shapes(shape, size, expected):
    out = resize_longer_side(rand(*shape), size)
    assert out.shape == (*shape[:2], *expected)


def test_resize_longer_side_same_size_is_a_no_op():
    x = rand(1, 3, 12, 16)
    assert resize_longer_side(x, 16) is x


def test_resize_longer_side_keeps_constants_and_range():
    out = resize_longer_side(torch.full((1, 3, 40, 64), 0.7), 16)
    torch.testing.assert_close(out, torch.full((1, 3, 10, 16), 0.7))
    noisy = resize_longer_side(rand(1, 3, 64, 64), 16)  # antialiased: averages, stays near 0.5
    assert 0.35 < noisy.mean() < 0.65 and noisy.std() < rand(1, 3, 64, 64).std()


# --------------------------------------------------------------------------- detail


@pytest.mark.parametrize("sigma", [0.8, 1.5, 2.0, 3.0])
def test_gaussian_blur_matches_scipy(sigma):
    from scipy.ndimage import gaussian_filter

    x = rand(2, 3, 23, 31, seed=1, dtype=torch.float64)
    ours = gaussian_blur(x, sigma)
    # scipy's "mirror" is torch's "reflect" (the edge sample is not repeated); same truncation at 3 sigma
    reference = gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=3.0)
    torch.testing.assert_close(ours, torch.from_numpy(reference), atol=1e-12, rtol=0)


def test_gaussian_blur_keeps_constants_and_small_images():
    flat = torch.full((1, 1, 3, 4), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(flat, 4.0), flat)   # too small to reflect: edges repeated
    assert gaussian_blur(rand(1, 2, 5, 6), 1.0).shape == (1, 2, 5, 6)


def test_gaussian_blur_gradcheck():
    x = rand(1, 2, 7, 8, seed=3, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: gaussian_blur(t, 1.2), (x,))


def test_restore_detail_adds_the_photos_fine_luminance_as_grey():
    stylized = rand(1, 3, 40, 50, seed=4, low=0.3, high=0.7, dtype=torch.float64)
    photo = rand(1, 3, 40, 50, seed=5, dtype=torch.float64)
    out = restore_detail(stylized, photo, amount=0.5, radius=1.5)
    # by hand: Y = 0.299 R + 0.587 G + 0.114 B (BT.601), detail = Y - blur(Y), added to R, G and B alike
    y = 0.299 * photo[:, 0:1] + 0.587 * photo[:, 1:2] + 0.114 * photo[:, 2:3]
    expected = (stylized + 0.5 * (y - gaussian_blur(y, 1.5))).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    added = out - stylized
    inside = ((out > 0) & (out < 1)).all(dim=1)
    assert inside.float().mean() > 0.95
    torch.testing.assert_close(added[:, 0][inside], added[:, 1][inside])
    torch.testing.assert_close(added[:, 0][inside], added[:, 2][inside])
    assert added.abs().max() > 0.05      # a noisy photo has detail to give


def test_restore_detail_zero_amount_flat_photo_and_resizing():
    stylized = rand(1, 3, 16, 20, seed=6)
    assert restore_detail(stylized, rand(1, 3, 16, 20, seed=7), amount=0.0) is stylized
    flat = torch.full((1, 3, 16, 20), 0.4)
    torch.testing.assert_close(restore_detail(stylized, flat, amount=2.0), stylized)    # no detail to give
    bigger = rand(1, 3, 32, 40, seed=8)
    assert restore_detail(stylized, bigger).shape == stylized.shape
