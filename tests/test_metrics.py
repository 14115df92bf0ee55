"""painterly.analysis.metrics: reference values on tiny synthetic images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.analysis.metrics import (EvaluateConfig, Metrics, chroma_noise, color_distance, evaluate, gaussian_w2,
                                        lab_gaussian, luminance_ssim, make_features)
from painterly.errors import ImageError, PainterlyError, StyleNotFoundError
from painterly.features import UnknownLayerError

CONFIG = EvaluateConfig(size=64)
KEYS = {"content_loss", "style_loss", "ssim", "color_distance"}


@pytest.fixture(scope="module")
def vgg():
    return make_features(CONFIG)


def photo_array(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth 'photo': colour gradients with a bright disc, uint8 H x W x 3."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width]).reshape(2, 1, 1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05).astype(float)
    rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.5 - 0.3 * x + 0.4 * disc], axis=-1)
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def painting_array(height: int = 48, width: int = 64) -> np.ndarray:
    """A busy 'painting': seeded coloured diagonal stripes with noise, uint8 H x W x 3."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    stripes = np.sin((x + y) / 2.0)[..., None] * np.array([0.4, -0.3, 0.2])
    rgb = 0.5 + stripes + 0.15 * rng.standard_normal((height, width, 3))
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def uniform(rgb: tuple[int, int, int], height: int = 32, width: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (height, width, 3)).copy()


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).float().div(255).permute(2, 0, 1).unsqueeze(0)


@pytest.fixture
def files(tmp_path):
    paths = {"photo": tmp_path / "photo.png", "painting": tmp_path / "painting.png"}
    Image.fromarray(photo_array()).save(paths["photo"])
    Image.fromarray(painting_array()).save(paths["painting"])
    return paths


def test_identical_output_and_content_give_zero_content_loss_and_ssim_one(files, vgg):
    metrics = evaluate(files["photo"], files["photo"], files["painting"], CONFIG, vgg)
    assert metrics.content_loss == 0.0
    assert metrics.ssim == pytest.approx(1.0, abs=1e-9)
    assert metrics.style_loss > 0 and metrics.color_distance > 1.0


def test_output_equal_to_style_gives_zero_style_loss_and_colour_distance(files, vgg):
    as_content = evaluate(files["photo"], files["photo"], files["painting"], CONFIG, vgg)
    as_style = evaluate(files["painting"], files["photo"], files["painting"], CONFIG, vgg)
    assert as_style.style_loss <= 1e-6 * as_content.style_loss
    assert as_style.color_distance == pytest.approx(0.0, abs=1e-3)
    assert as_style.content_loss > 0 and as_style.ssim < 0.9


def test_style_loss_grows_as_the_output_moves_away_from_the_style(vgg):
    photo, painting = to_tensor(photo_array()), to_tensor(painting_array())
    losses = [evaluate(t * painting + (1 - t) * photo, photo, painting, CONFIG, vgg).style_loss
              for t in (1.0, 0.75, 0.5, 0.25, 0.0)]
    assert all(a < b for a, b in zip(losses, losses[1:])), losses


def test_colour_distance_of_black_and_white_is_100_lab_units():
    black, white = to_tensor(uniform((0, 0, 0))), to_tensor(uniform((255, 255, 255)))
    assert color_distance(white, black) == pytest.approx(100.0, abs=0.01)


def test_colour_distance_of_uniform_red_and_blue_is_delta_e_1976():
    # sRGB (D65) red = Lab (53.2408, 80.0925, 67.2032), blue = Lab (32.2970, 79.1875, -107.8602)
    expected = math.dist((53.2408, 80.0925, 67.2032), (32.2970, 79.1875, -107.8602))  # 176.31
    red, blue = to_tensor(uniform((255, 0, 0))), to_tensor(uniform((0, 0, 255), 16, 40))
    assert color_distance(red, blue) == pytest.approx(expected, abs=0.05)


def test_colour_distance_counts_the_spread_of_colours():
    # half black / half white: L has mean 50 and standard deviation 50, a = b = 0;
    # against uniform black: W2^2 = 50^2 (means) + 50^2 (spreads) = 5000
    half = uniform((0, 0, 0))
    half[:, 16:] = 255
    assert color_distance(to_tensor(half), to_tensor(uniform((0, 0, 0)))) == pytest.approx(math.sqrt(5000), abs=0.01)


def test_colour_distance_through_evaluate_with_uniform_images(tmp_path, vgg):
    Image.fromarray(uniform((255, 255, 255), 48, 48)).save(tmp_path / "white.png")
    Image.fromarray(uniform((0, 0, 0), 20, 30)).save(tmp_path / "black.png")
    metrics = evaluate(tmp_path / "white.png", tmp_path / "white.png", tmp_path / "black.png", CONFIG, vgg)
    assert metrics.color_distance == pytest.approx(100.0, abs=0.01)


def test_gaussian_w2_hand_computed():
    # commuting covariances: W2^2 = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2 = 9 + 1 + 0 + 4 = 14
    mean_a, mean_b = np.zeros(3), np.array([1.0, 2.0, 2.0])
    cov_a, cov_b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert gaussian_w2(mean_a, cov_a, mean_b, cov_b) == pytest.approx(math.sqrt(14))


def test_gaussian_w2_is_symmetric_and_zero_on_itself():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(3), b @ b.T
    mean_a, mean_b = rng.standard_normal(3), rng.standard_normal(3)
    assert gaussian_w2(mean_a, cov_a, mean_b, cov_b) == pytest.approx(gaussian_w2(mean_b, cov_b, mean_a, cov_a))
    assert gaussian_w2(mean_a, cov_a, mean_a, cov_a) == pytest.approx(0.0, abs=1e-6)


def test_lab_gaussian_of_a_uniform_image():
    mean, cov = lab_gaussian(to_tensor(uniform((0, 0, 0))))
    np.testing.assert_allclose(mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(cov, 0.0, atol=1e-9)


def test_ssim_drops_for_a_different_image_and_content_is_resized_to_the_output(files, vgg):
    other = evaluate(files["painting"], files["photo"], files["painting"], CONFIG, vgg)
    assert other.ssim < 0.5 and other.content_loss > 0
    big = Image.fromarray(photo_array()).resize((128, 96), Image.LANCZOS)
    resized = evaluate(files["photo"], big, files["painting"], CONFIG, vgg)
    assert resized.ssim > 0.95
    assert resized.content_loss < 0.1 * other.content_loss


def test_luminance_ssim_sees_only_luminance():
    image = to_tensor(photo_array()) * 0.8 + 0.1
    # a colour shift orthogonal to rgb2gray's weights (0.2125, 0.7154, 0.0721) keeps Y unchanged
    shift = torch.tensor([0.7154, -0.2125, 0.0]).view(1, 3, 1, 1) * 0.1
    assert luminance_ssim(image, image + shift) == pytest.approx(1.0, abs=1e-9)
    assert luminance_ssim(image, to_tensor(painting_array())) < 0.5
    with pytest.raises(PainterlyError, match="too small"):
        luminance_ssim(image[..., :8, :8], image[..., :8, :8])


def test_builtin_style_name_gives_style_loss_and_no_colour_distance(files, vgg):
    metrics = evaluate(files["photo"], files["photo"], "starry_night", CONFIG, vgg)
    assert math.isfinite(metrics.style_loss) and metrics.style_loss > 0
    assert metrics.color_distance is None
    assert metrics.to_dict() == {"content_loss": 0.0, "style_loss": metrics.style_loss, "ssim": metrics.ssim,
                                 "color_distance": None}


def test_builtin_statistics_and_the_painting_file_agree(tmp_path, files, vgg):
    """Statistics stored the way scripts/build_style_presets.py stores them give the file's style loss."""
    from painterly.ops import resize_longer_side
    from painterly.styles import StyleInfo, StyleRegistry, compute_style_stats, save_style_stats

    big = painting_array(96, 128)  # measured at 64 px: both paths must resample it the same way
    Image.fromarray(big).save(tmp_path / "big.png")
    stats = compute_style_stats(make_features(EvaluateConfig(content_layers=("relu1_1",))),
                                resize_longer_side(to_tensor(big), 64))
    save_style_stats({64: stats}, StyleInfo(name="stripes", title="Stripes", artist="test"), tmp_path / "styles")
    registry = StyleRegistry(tmp_path / "styles")
    by_name = evaluate(files["photo"], files["photo"], "stripes", CONFIG, vgg, registry=registry)
    by_file = evaluate(files["photo"], files["photo"], tmp_path / "big.png", CONFIG, vgg)
    assert by_name.style_loss == pytest.approx(by_file.style_loss, rel=1e-3)  # fp16 storage
    assert by_name.color_distance is None


def test_unknown_style_name_and_missing_style_file(files, vgg):
    with pytest.raises(StyleNotFoundError, match="did you mean starry_night"):
        evaluate(files["photo"], files["photo"], "starry_nigth", CONFIG, vgg)
    with pytest.raises(ImageError, match="no such file"):
        evaluate(files["photo"], files["photo"], str(files["photo"].with_name("missing.jpg")), CONFIG, vgg)


def test_bad_output_file_is_an_image_error(tmp_path, files, vgg):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        evaluate(text, files["photo"], files["painting"], CONFIG, vgg)


def test_paths_pil_arrays_and_tensors_give_the_same_numbers(files, vgg):
    from_paths = evaluate(files["photo"], files["photo"], files["painting"], CONFIG, vgg)
    photo, painting = photo_array(), painting_array()
    from_pil = evaluate(Image.fromarray(photo), Image.fromarray(photo), Image.fromarray(painting), CONFIG, vgg)
    from_arrays = evaluate(photo, photo, painting, CONFIG, vgg)
    from_tensors = evaluate(to_tensor(photo), to_tensor(photo), to_tensor(painting), CONFIG, vgg)
    assert from_paths == from_pil == from_arrays == from_tensors


def test_deterministic_with_or_without_a_shared_features_module(files, vgg):
    args = (files["painting"], files["photo"], files["painting"])
    first, second = evaluate(*args, CONFIG, vgg), evaluate(*args, CONFIG, vgg)
    own = evaluate(*args, CONFIG)
    assert first == second == own
    assert isinstance(first, Metrics) and set(first.to_dict()) == KEYS


def test_features_without_the_needed_layers_are_refused(files):
    small = make_features(EvaluateConfig(size=64, content_layers=("relu1_1",), style_layers=("relu1_1",)))
    with pytest.raises(ValueError, match="relu4_2"):
        evaluate(files["photo"], files["photo"], files["painting"], CONFIG, small)


def test_config_validation():
    cfg = EvaluateConfig(content_layers=("conv4_2",), style_layers=("0", "3")).validate()
    assert cfg.style_layers == ("relu1_1", "relu4_1")
    assert cfg.layers == ("conv4_2", "relu1_1", "relu4_1")
    with pytest.raises(UnknownLayerError, match="did you mean"):
        EvaluateConfig(style_layers=("relu4_9",)).validate()
    with pytest.raises(PainterlyError, match="at least 16"):
        EvaluateConfig(size=8).validate()


def test_chroma_noise_of_blue_and_black_columns_is_hand_computed():
    # Cb of pure blue is 0.5*255 = 127.5, Cr is -0.081312*255; every pixel differs from its 3x3 mean
    # by 2/3 of that (blue among two black columns, or black between two blue ones)
    image = torch.zeros(1, 3, 5, 8)
    image[:, 2, :, ::2] = 1.0
    expected = (2 / 3 * 127.5 + 2 / 3 * 0.081312 * 255) / 2
    assert chroma_noise(image) == pytest.approx(expected, rel=1e-9)


def test_chroma_noise_ignores_grey_texture_and_smooth_colour():
    stripes = torch.zeros(3, 6, 6)
    stripes[:, :, ::2] = 1.0                      # black and white columns: luminance only
    ramp = torch.linspace(0, 1, 9).repeat(1, 9, 1).expand(3, 9, 9).clone()
    ramp[1:] = 0.2                                # red rising linearly across the image
    assert chroma_noise(stripes) == pytest.approx(0, abs=1e-9)
    assert chroma_noise(ramp) == pytest.approx(0, abs=1e-9)
    with pytest.raises(PainterlyError):
        chroma_noise(torch.zeros(1, 3, 2, 9))
