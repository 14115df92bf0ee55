"""painterly.styles: style specs, statistics files, blending and the registry."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.features import VGG19Features
from painterly.losses import calc_mean_std, gram
from painterly.styles import (STATS_SUFFIX, StyleInfo, StyleRegistry, StyleStats, blend_stats, compute_style_stats,
                              load_style_stats, low_rank_factor, nearest_size, parse_style_spec, save_style_stats,
                              stats_for_layers)


def symmetric(channels: int, scale: float, seed: int) -> torch.Tensor:
    """A symmetric PSD matrix like a Gram matrix, entries up to about ``scale``."""
    a = torch.rand(channels, channels * 2, generator=torch.Generator().manual_seed(seed))
    g = a @ a.T
    return g / g.abs().max() * scale


def fake_stats(seed: int, scale: float = 1.0, layers=("relu1_1", "relu2_1"), channels=(4, 6)) -> StyleStats:
    gen = torch.Generator().manual_seed(seed + 1000)
    stats = StyleStats()
    for k, (layer, c) in enumerate(zip(layers, channels)):
        stats.grams[layer] = symmetric(c, scale, seed + k)
        stats.means[layer] = torch.rand(c, generator=gen) * scale
        stats.stds[layer] = torch.rand(c, generator=gen) * scale + 0.1
    return stats


def info(name: str, **extra) -> StyleInfo:
    return StyleInfo(name=name, title=f"Title of {name}", artist="Anon", year="1889", licence="public domain",
                     **extra)


# --------------------------------------------------------------------------- specs


def test_parse_plain_name():
    spec = parse_style_spec("starry_night")
    assert spec.source == "starry_night" and spec.weight == 1.0


def test_parse_weight():
    spec = parse_style_spec("a.jpg:0.7")
    assert spec.source == "a.jpg" and spec.weight == pytest.approx(0.7)
    assert parse_style_spec("udnie:2").weight == 2.0
    assert parse_style_spec("x.png:0").weight == 0.0


def test_parse_path_containing_colon_that_exists(tmp_path):
    path = tmp_path / "study:0.5.png"
    path.write_bytes(b"whatever")
    spec = parse_style_spec(str(path))
    assert spec.source == str(path) and spec.weight == 1.0
    assert spec.is_file
    spec = parse_style_spec(f"{path}:0.25")  # and a weight after it
    assert spec.source == str(path) and spec.weight == 0.25


def test_parse_non_numeric_tail_is_part_of_the_name():
    spec = parse_style_spec("C:/paintings/x.jpg")
    assert spec.source == "C:/paintings/x.jpg" and spec.weight == 1.0
    assert not spec.is_file


def test_parse_negative_weight_raises():
    with pytest.raises(StyleNotFoundError, match=">= 0"):
        parse_style_spec("a.jpg:-0.5")
    assert issubclass(StyleNotFoundError, PainterlyError)


# --------------------------------------------------------------------------- stats files


def test_style_balance_round_trips_and_is_left_out_when_unset(tmp_path):
    import json

    save_style_stats({512: fake_stats(1)}, info("plain"), tmp_path)
    save_style_stats({512: fake_stats(2)}, info("wave", style_balance=10.0), tmp_path)
    assert "style_balance" not in json.loads((tmp_path / "plain.json").read_text())
    registry = StyleRegistry(tmp_path)
    assert registry.info("plain").style_balance is None and registry.info("wave").style_balance == 10.0


def test_save_load_round_trip_with_large_grams(tmp_path):
    small, large = fake_stats(1, scale=3.0), fake_stats(2, scale=2.5e6)  # > 65504, the float16 maximum
    assert max(g.abs().max() for g in large.grams.values()) > 65504
    path = save_style_stats({256: small, 512: large}, info("mine"), tmp_path)
    assert path == tmp_path / f"mine{STATS_SUFFIX}"

    raw = load_file(str(path))
    assert raw["512.gram.relu1_1"].dtype == torch.float16
    assert raw["512.gram.relu1_1"].numel() == 4 * 5 // 2     # upper triangle only
    assert raw["scale.512.gram.relu1_1"].dtype == torch.float32
    assert torch.isfinite(raw["512.gram.relu2_1"].float()).all()  # scaled into float16's range

    loaded = load_style_stats(path)
    assert sorted(loaded) == [256, 512]
    for size, original in ((256, small), (512, large)):
        for table in ("grams", "means", "stds"):
            got, want = getattr(loaded[size], table), getattr(original, table)
            assert sorted(got) == sorted(want)
            for layer in want:
                assert got[layer].shape == want[layer].shape and got[layer].dtype == torch.float32
                top = float(want[layer].abs().max())
                torch.testing.assert_close(got[layer], want[layer], rtol=2e-3, atol=top * 1e-3)
        for layer, g in loaded[size].grams.items():
            torch.testing.assert_close(g, g.T)  # rebuilt symmetric


def test_low_rank_factor_recovers_a_gram_of_few_positions():
    features = torch.randn(1, 64, 2, 5, generator=torch.Generator().manual_seed(3)).relu()
    g = gram(features)[0]                                        # 64 x 64 of rank <= 10
    factor = low_rank_factor(g)
    assert factor.shape[0] == 64 and factor.shape[1] <= 10
    assert float((factor @ factor.T - g).norm() / g.norm()) <= 1e-4
    full = gram(torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(4)))[0]
    assert low_rank_factor(full) is None                         # rank 8 of 8: the upper triangle is smaller
    assert low_rank_factor(symmetric(6, 1.0, 5)) is None         # not positive semi-definite: kept whole


def test_low_rank_grams_are_stored_as_factors_and_load_back(tmp_path):
    features = torch.rand(1, 64, 3, 4, generator=torch.Generator().manual_seed(6))
    stats = compute_from_features({"relu3_1": features, "relu1_1": torch.rand(1, 4, 8, 8)})
    path = save_style_stats({128: stats}, info("few"), tmp_path)
    raw = load_file(str(path))
    assert "128.gram.relu3_1" not in raw and raw["128.gramfactor.relu3_1"].shape[1] <= 12
    assert raw["128.gram.relu1_1"].numel() == 4 * 5 // 2          # full rank: the upper triangle as before
    assert path.stat().st_size < 64 * 65 // 2 * 2                  # smaller than the triangle alone
    loaded = load_style_stats(path)[128]
    for layer, want in stats.grams.items():
        assert float((loaded.grams[layer] - want).norm() / want.norm()) < 1e-3   # float16's rounding
        torch.testing.assert_close(loaded.grams[layer], loaded.grams[layer].T)


def compute_from_features(feats: dict[str, torch.Tensor]) -> StyleStats:
    stats = StyleStats()
    for layer, value in feats.items():
        stats.grams[layer] = gram(value)[0]
        stats.means[layer], stats.stds[layer] = value.mean(dim=(0, 2, 3)), value.std(dim=(0, 2, 3))
    return stats


def test_sidecar_json(tmp_path):
    save_style_stats({512: fake_stats(1), 128: fake_stats(2)}, info("mine"), tmp_path)
    meta = json.loads((tmp_path / "mine.json").read_text())
    assert meta["name"] == "mine" and meta["title"] == "Title of mine" and meta["artist"] == "Anon"
    assert meta["reference_sizes"] == [128, 512]
    assert meta["layers"] == list(StyleInfo.__dataclass_fields__["layers"].default)


def test_compute_style_stats_matches_losses():
    vgg = VGG19Features(["relu1_1", "relu2_1"])
    image = torch.linspace(0, 1, 3 * 16 * 16).reshape(1, 3, 16, 16)
    stats = compute_style_stats(vgg, image)
    feats = vgg(image)
    assert sorted(stats.grams) == ["relu1_1", "relu2_1"]
    assert stats.grams["relu2_1"].shape == (128, 128)
    assert stats.means["relu1_1"].shape == stats.stds["relu1_1"].shape == (64,)
    torch.testing.assert_close(stats.grams["relu1_1"], gram(feats["relu1_1"])[0])
    torch.testing.assert_close(stats.stds["relu2_1"], calc_mean_std(feats["relu2_1"])[1].flatten())
    assert not stats.grams["relu1_1"].requires_grad


def test_style_stats_to():
    moved = fake_stats(1).to("cpu", torch.float64)
    assert all(v.dtype == torch.float64 for v in moved.grams.values())


# --------------------------------------------------------------------------- blending


def test_blend_stats_weights_are_normalised():
    a, b = fake_stats(1), fake_stats(2)
    blended = blend_stats([(a, 3.0), (b, 1.0)])
    for table in ("grams", "means", "stds"):
        for layer in getattr(a, table):
            expected = 0.75 * getattr(a, table)[layer] + 0.25 * getattr(b, table)[layer]
            torch.testing.assert_close(getattr(blended, table)[layer], expected)


def test_blend_single_and_shared_layers_only():
    a = fake_stats(1)
    torch.testing.assert_close(blend_stats([(a, 0.2)]).grams["relu2_1"], a.grams["relu2_1"])
    b = fake_stats(2, layers=("relu1_1",), channels=(4,))
    assert sorted(blend_stats([(a, 1.0), (b, 1.0)]).grams) == ["relu1_1"]


def test_blend_stats_needs_positive_total():
    with pytest.raises(ValueError):
        blend_stats([(fake_stats(1), 0.0)])


def test_blended_gram_gives_the_same_gradient_as_the_weighted_sum():
    """The docstring's claim: sum_k w_k ||G - A_k||^2 and (sum w)||G - mean_w A||^2 differ by a constant."""
    a, b = symmetric(3, 1.0, 1), symmetric(3, 1.0, 2)
    blended = blend_stats([(StyleStats(grams={"x": a}), 2.0), (StyleStats(grams={"x": b}), 1.0)]).grams["x"]
    g = symmetric(3, 1.0, 3).requires_grad_(True)
    (2 * (g - a).pow(2).sum() + (g - b).pow(2).sum()).backward()
    grad_sum = g.grad.clone()
    g.grad = None
    (3 * (g - blended).pow(2).sum()).backward()
    torch.testing.assert_close(g.grad, grad_sum)


# --------------------------------------------------------------------------- registry


@pytest.fixture
def registry(tmp_path) -> StyleRegistry:
    save_style_stats({256: fake_stats(1, 10.0), 1024: fake_stats(2, 20.0)}, info("blue_river"), tmp_path)
    save_style_stats({512: fake_stats(3)}, info("red_hill", methods=("optimize", "adain")), tmp_path)
    return StyleRegistry(tmp_path)


def test_registry_names_and_info(registry):
    assert registry.names() == ["blue_river", "red_hill"]
    meta = registry.info("red_hill")
    assert meta.title == "Title of red_hill" and meta.artist == "Anon" and meta.year == "1889"
    assert meta.reference_sizes == (512,)
    assert meta.methods == ("optimize", "adain")
    assert isinstance(meta.layers, tuple)


def test_registry_stats_nearest_reference_size(registry):
    assert sorted(registry.all_stats("blue_river")) == [256, 1024]
    assert registry.size_for("blue_river", None) == 1024
    assert registry.size_for("blue_river", 300) == 256
    assert registry.size_for("blue_river", 700) == 1024   # log scale: 700/256 = 2.7 > 1024/700 = 1.5
    big = registry.stats("blue_river")
    torch.testing.assert_close(big.grams["relu1_1"], fake_stats(2, 20.0).grams["relu1_1"], rtol=2e-3, atol=0.02)


def test_registry_unknown_name_suggests(registry):
    with pytest.raises(StyleNotFoundError, match="did you mean blue_river") as info_:
        registry.info("blue_rivr")
    assert "\n" not in str(info_.value)
    with pytest.raises(StyleNotFoundError, match="painterly styles"):
        registry.stats("nonexistent_style_xyz")


def test_registry_missing_folder(tmp_path):
    assert StyleRegistry(tmp_path / "nope").names() == []


def test_builtin_registry_lists_shipped_styles():
    registry = StyleRegistry()
    names = registry.names()
    assert "starry_night" in names and len(names) >= 1
    for name in names:
        meta = registry.info(name)
        assert meta.name == name and meta.title and meta.reference_sizes


def test_stats_for_layers():
    stats = fake_stats(1)
    assert list(stats_for_layers(stats, ["relu2_1"])) == ["relu2_1"]
    with pytest.raises(StyleNotFoundError, match="relu4_1"):
        stats_for_layers(stats, ["relu1_1", "relu4_1"])


def test_nearest_size_on_log_scale():
    assert nearest_size([256, 512, 1024], 700) == 512    # |log 512/700| = 0.31 < |log 1024/700| = 0.38
    assert nearest_size([256, 512, 1024], 740) == 1024   # |log 512/740| = 0.37 > |log 1024/740| = 0.32
    assert nearest_size([256, 512], 0) == 256
