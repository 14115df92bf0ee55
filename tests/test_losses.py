"""painterly.losses: hand-worked values, normalisations, gradchecks, modules vs functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from painterly.losses import (ContentLoss, GramStyleLoss, TVLoss, calc_mean_std, content_loss,
                              default_style_layer_weight, gram, gram_distance, gram_style_loss, mean_std_style_loss,
                              relative_gram_loss, tv_loss)

# Two channels on a 2 x 2 grid: channel 0 = [[1, 2], [3, 4]], channel 1 = [[0, 1], [0, 1]].
HAND_FEATURES = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
# G = F F^T / (H W) with flattened rows a = [1, 2, 3, 4], b = [0, 1, 0, 1], H W = 4:
#   a.a = 1 + 4 + 9 + 16 = 30 -> 7.5;  a.b = 2 + 4 = 6 -> 1.5;  b.b = 2 -> 0.5
HAND_GRAM = torch.tensor([[[7.5, 1.5], [1.5, 0.5]]])
# ||G||_F^2 = 7.5^2 + 2 * 1.5^2 + 0.5^2 = 56.25 + 4.5 + 0.25
HAND_GRAM_SQ_NORM = 61.0


def seeded(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --------------------------------------------------------------------------- gram


def test_gram_hand_example():
    torch.testing.assert_close(gram(HAND_FEATURES), HAND_GRAM)


def test_gram_shape_symmetry_and_batch():
    feats = seeded(3, 5, 4, 6)
    g = gram(feats)
    assert g.shape == (3, 5, 5)
    torch.testing.assert_close(g, g.transpose(1, 2))
    torch.testing.assert_close(g[2], gram(feats[2:])[0])
    eigenvalues = torch.linalg.eigvalsh(g.double())
    assert (eigenvalues > -1e-6).all()  # positive semi-definite


def test_gram_distance_hand_example():
    assert gram_distance(HAND_GRAM, torch.zeros(2, 2)).item() == pytest.approx(HAND_GRAM_SQ_NORM)
    # averaged over the batch
    both = torch.cat([HAND_GRAM, torch.zeros(1, 2, 2)])
    assert gram_distance(both, torch.zeros(2, 2)).item() == pytest.approx(HAND_GRAM_SQ_NORM / 2)


# --------------------------------------------------------------------------- gram style loss


def test_default_style_layer_weight():
    assert default_style_layer_weight(2) == pytest.approx(250.0)
    assert default_style_layer_weight(64) == pytest.approx(1e3 / 4096)
    assert default_style_layer_weight(512) == pytest.approx(1e3 / 512**2)


def test_gram_style_loss_default_weight_hand_example():
    # 1e3 / C^2 with C = 2 is 250; 250 * 61 = 15250
    loss = gram_style_loss({"x": HAND_FEATURES}, {"x": torch.zeros(2, 2)})
    assert loss.item() == pytest.approx(15250.0)


def test_gram_style_loss_explicit_weights_vs_manual_formula():
    feats = {"a": seeded(1, 2, 3, 3, seed=1), "b": seeded(1, 4, 4, 4, seed=2)}
    targets = {"a": gram(seeded(1, 2, 5, 5, seed=3))[0], "b": gram(seeded(1, 4, 2, 2, seed=4))}  # C x C and 1 x C x C
    weights = {"a": 2.0, "b": 0.5}
    manual = sum(weights[k] * ((gram(feats[k])[0] - targets[k].reshape(feats[k].shape[1], -1)) ** 2).sum()
                 for k in feats)
    torch.testing.assert_close(gram_style_loss(feats, targets, weights), manual)


def test_gram_style_loss_partial_weights_fall_back_to_default():
    feats = {"a": seeded(1, 2, 3, 3, seed=1), "b": seeded(1, 4, 4, 4, seed=2)}
    targets = {k: torch.zeros(v.shape[1], v.shape[1]) for k, v in feats.items()}
    expected = 3.0 * (gram(feats["a"]) ** 2).sum() + 1e3 / 16 * (gram(feats["b"]) ** 2).sum()
    torch.testing.assert_close(gram_style_loss(feats, targets, {"a": 3.0}), expected)


def test_gram_style_loss_averages_over_batch_and_ignores_extra_layers():
    f1, f2 = seeded(1, 3, 4, 4, seed=5), seeded(1, 3, 4, 4, seed=6)
    target = {"x": gram(seeded(1, 3, 4, 4, seed=7))[0]}
    both = gram_style_loss({"x": torch.cat([f1, f2]), "unused": seeded(2, 8, 2, 2)}, target)
    torch.testing.assert_close(both, (gram_style_loss({"x": f1}, target) + gram_style_loss({"x": f2}, target)) / 2)


def test_gram_style_loss_zero_at_target_and_needs_a_layer():
    feats = seeded(1, 3, 4, 4)
    assert gram_style_loss({"x": feats}, {"x": gram(feats)[0]}).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError):
        gram_style_loss({"x": feats}, {})


def test_gram_style_loss_casts_target_dtype():
    feats = seeded(1, 3, 4, 4, dtype=torch.float64)
    loss = gram_style_loss({"x": feats}, {"x": torch.zeros(3, 3, dtype=torch.float32)})
    assert loss.dtype == torch.float64


# --------------------------------------------------------------------------- content


def test_content_loss_hand_example_and_mse():
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert content_loss(a, torch.zeros_like(a)).item() == pytest.approx(7.5)  # (1 + 4 + 9 + 16) / 4
    x, y = seeded(2, 3, 4, 5, seed=1), seeded(2, 3, 4, 5, seed=2)
    torch.testing.assert_close(content_loss(x, y), F.mse_loss(x, y))
    torch.testing.assert_close(content_loss(x, y), ((x - y) ** 2).mean())


def test_content_loss_broadcasts_a_single_target_over_the_batch():
    x, y = seeded(2, 3, 4, 5, seed=1), seeded(1, 3, 4, 5, seed=2)
    torch.testing.assert_close(content_loss(x, y), ((x - y) ** 2).mean())


# --------------------------------------------------------------------------- mean / std


def test_calc_mean_std_against_numpy():
    x = seeded(2, 3, 4, 5, seed=3) * 2 + 1
    mean, std = calc_mean_std(x)
    assert mean.shape == std.shape == (2, 3, 1, 1)
    flat = x.numpy().reshape(2, 3, -1).astype(np.float64)
    np.testing.assert_allclose(mean.flatten().numpy(), flat.mean(-1).flatten(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.flatten().numpy(), np.sqrt(flat.var(-1, ddof=0) + 1e-5).flatten(), rtol=1e-5)


def test_calc_mean_std_constant_channel_is_sqrt_eps():
    mean, std = calc_mean_std(torch.full((1, 1, 3, 3), 2.0), eps=1e-4)
    assert mean.item() == pytest.approx(2.0)
    assert std.item() == pytest.approx(1e-2)


def test_mean_std_style_loss_manual():
    feats = {"a": seeded(1, 3, 4, 4, seed=1), "b": seeded(1, 5, 2, 2, seed=2)}
    targets = {k: (seeded(1, v.shape[1], 1, 1, seed=10 + i), seeded(1, v.shape[1], 1, 1, seed=20 + i).abs())
               for i, (k, v) in enumerate(feats.items())}
    expected = 0.0
    for layer, (tm, ts) in targets.items():
        flat = feats[layer].reshape(1, feats[layer].shape[1], -1)
        m = flat.mean(-1)
        s = (flat.var(-1, unbiased=False) + 1e-5).sqrt()
        expected = expected + ((m - tm.flatten(1)) ** 2).mean() + ((s - ts.flatten(1)) ** 2).mean()
    torch.testing.assert_close(mean_std_style_loss(feats, targets), expected)
    with pytest.raises(ValueError):
        mean_std_style_loss(feats, {})


def test_mean_std_style_loss_zero_at_own_stats():
    x = seeded(1, 4, 3, 3)
    assert mean_std_style_loss({"x": x}, {"x": calc_mean_std(x)}).item() == pytest.approx(0.0, abs=1e-12)


def test_relative_gram_loss_hand_example():
    # one channel pair: rows a = [1, 2], b = [3, 4] on 1 x 2 positions -> G = [[5, 11], [11, 25]] / 2
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    # ||G - T||^2 = 0.5^2 + 5.5^2 + 5.5^2 + 10.5^2 = 171, ||T||^2 = 8
    assert relative_gram_loss({"x": x}, {"x": target}).item() == pytest.approx(171 / 8)


def test_relative_gram_loss_ignores_units_sums_layers_and_averages_the_batch():
    x, y = seeded(2, 3, 4, 4, seed=1), seeded(2, 3, 4, 4, seed=2)
    targets = gram(y)
    one = relative_gram_loss({"x": x}, {"x": targets})
    # the same features in units 10 times larger score the same against the target in those units
    assert relative_gram_loss({"x": 10 * x}, {"x": 100 * targets}).item() == pytest.approx(one.item(), rel=1e-5)
    per_sample = [relative_gram_loss({"x": x[i:i + 1]}, {"x": targets[i]}) for i in range(2)]
    assert one.item() == pytest.approx(sum(per_sample).item() / 2, rel=1e-6)
    both = relative_gram_loss({"x": x, "z": y}, {"x": targets, "z": gram(x)})
    assert both.item() == pytest.approx(one.item() + relative_gram_loss({"z": y}, {"z": gram(x)}).item(), rel=1e-6)
    assert relative_gram_loss({"x": y}, {"x": targets}).item() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError):
        relative_gram_loss({"x": x}, {})


def test_relative_gram_loss_weighs_each_layer():
    x, y = seeded(1, 3, 4, 4, seed=3), seeded(1, 3, 4, 4, seed=4)
    targets = {"x": gram(y), "z": gram(x) * 2}
    features = {"x": x, "z": y}
    parts = {k: relative_gram_loss({k: features[k]}, {k: targets[k]}).item() for k in targets}
    # named layers get their weight, the others keep 1
    assert relative_gram_loss(features, targets, {"x": 3.0}).item() == pytest.approx(3 * parts["x"] + parts["z"])
    assert relative_gram_loss(features, targets, {"x": 0.0, "z": 0.5}).item() == pytest.approx(0.5 * parts["z"])


def test_gradcheck_relative_gram_loss():
    target = gram(_double(1, 3, 3, 3, seed=5))
    assert torch.autograd.gradcheck(lambda a: relative_gram_loss({"a": a}, {"a": target}), (_double(1, 3, 3, 3, seed=1),))


# --------------------------------------------------------------------------- tv


def test_tv_loss_hand_example():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # horizontal diffs 1, 2 -> mean sq 2.5; vertical diffs 2, 3 -> mean sq 6.5
    assert tv_loss(image).item() == pytest.approx(9.0)


def test_tv_loss_constant_is_zero():
    assert tv_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


# --------------------------------------------------------------------------- gradcheck


def _double(*shape, seed):
    return seeded(*shape, seed=seed, dtype=torch.float64).requires_grad_(True)


def test_gradcheck_gram():
    assert torch.autograd.gradcheck(gram, (_double(2, 3, 3, 2, seed=1),))


def test_gradcheck_content_loss():
    target = seeded(1, 3, 3, 3, seed=2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: content_loss(x, target), (_double(1, 3, 3, 3, seed=1),))


def test_gradcheck_gram_style_loss():
    targets = {"a": gram(seeded(1, 3, 3, 3, seed=3, dtype=torch.float64))[0],
               "b": gram(seeded(1, 2, 2, 2, seed=4, dtype=torch.float64))[0]}
    weights = {"a": 0.7}
    assert torch.autograd.gradcheck(lambda a, b: gram_style_loss({"a": a, "b": b}, targets, weights),
                                    (_double(1, 3, 3, 3, seed=1), _double(1, 2, 2, 2, seed=2)))


def test_gradcheck_mean_std_style_loss():
    targets = {"a": (seeded(1, 3, 1, 1, seed=3, dtype=torch.float64),
                     seeded(1, 3, 1, 1, seed=4, dtype=torch.float64).abs() + 0.1)}
    assert torch.autograd.gradcheck(lambda a: mean_std_style_loss({"a": a}, targets), (_double(1, 3, 3, 3, seed=1),))


def test_gradcheck_tv_loss():
    assert torch.autograd.gradcheck(tv_loss, (_double(1, 3, 4, 5, seed=1),))


# --------------------------------------------------------------------------- modules


def test_content_loss_module_agrees():
    x, y = seeded(1, 3, 4, 4, seed=1), seeded(1, 3, 4, 4, seed=2)
    module = ContentLoss(y)
    torch.testing.assert_close(module(x), content_loss(x, y))
    assert "target" in dict(module.named_buffers())
    assert not module.target.requires_grad


def test_gram_style_loss_module_agrees():
    feats = {"relu1_1": seeded(1, 3, 4, 4, seed=1), "relu2_1": seeded(1, 4, 2, 2, seed=2)}
    targets = {"relu1_1": gram(seeded(1, 3, 4, 4, seed=3))[0], "relu2_1": gram(seeded(1, 4, 2, 2, seed=4))[0]}
    for weights in (None, {"relu2_1": 5.0}):
        module = GramStyleLoss(targets, weights)
        torch.testing.assert_close(module(feats), gram_style_loss(feats, targets, weights))
    assert len(list(GramStyleLoss(targets).buffers())) == 2


def test_gram_style_loss_module_follows_dtype():
    feats = {"a": seeded(1, 3, 4, 4, seed=1, dtype=torch.float64)}
    module = GramStyleLoss({"a": torch.eye(3)}).double()
    expected = gram_style_loss(feats, {"a": torch.eye(3, dtype=torch.float64)})
    torch.testing.assert_close(module(feats), expected)


def test_tv_loss_module_agrees():
    x = seeded(2, 3, 5, 4)
    torch.testing.assert_close(TVLoss()(x), tv_loss(x))


# --------------------------------------------------------------------------- size invariance


def test_gram_of_tiled_features_equals_gram_of_tile():
    tile = seeded(1, 4, 3, 5)
    tiled = tile.repeat(1, 1, 3, 2)
    torch.testing.assert_close(gram(tiled), gram(tile))


def test_style_losses_invariant_to_tiling():
    tile = seeded(1, 4, 3, 3, seed=1)
    target_gram = gram(seeded(1, 4, 5, 5, seed=2))[0]
    target_stats = calc_mean_std(seeded(1, 4, 5, 5, seed=3))
    tiled = tile.repeat(1, 1, 4, 4)
    torch.testing.assert_close(gram_style_loss({"x": tiled}, {"x": target_gram}),
                               gram_style_loss({"x": tile}, {"x": target_gram}))
    torch.testing.assert_close(mean_std_style_loss({"x": tiled}, {"x": target_stats}),
                               mean_std_style_loss({"x": tile}, {"x": target_stats}))


def test_content_loss_invariant_to_tiling():
    a, b = seeded(1, 3, 3, 3, seed=1), seeded(1, 3, 3, 3, seed=2)
    torch.testing.assert_close(content_loss(a.repeat(1, 1, 2, 3), b.repeat(1, 1, 2, 3)), content_loss(a, b))


def test_tv_loss_is_a_mean_not_a_sum():
    # a checkerboard of any size has every neighbour difference equal to 1
    small = (torch.arange(4).view(1, 4) + torch.arange(4).view(4, 1)) % 2
    large = (torch.arange(16).view(1, 16) + torch.arange(16).view(16, 1)) % 2
    assert tv_loss(small.float().view(1, 1, 4, 4)).item() == pytest.approx(2.0)
    assert tv_loss(large.float().view(1, 1, 16, 16)).item() == pytest.approx(2.0)
