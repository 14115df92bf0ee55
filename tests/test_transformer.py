"""TransformerNet through the feed-forward Stylizer: shapes, style selection and blending, errors."""

from __future__ import annotations

import pytest
import torch

from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.methods.feedforward import (Stylizer, TransformerStylizer, autocast_dtype, style_index,
                                           style_weight_vector)
from painterly.nets.transformer import HEAD_CHANNELS, ConditionalInstanceNorm2d, TransformerConfig, TransformerNet

NAMES = ["udnie", "great_wave", "the_scream"]


def make_net(n_styles: int = 1, seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet(TransformerConfig(width=4, depth=1, n_styles=n_styles))
    with torch.no_grad():  # distinct, non-trivial norm parameters per style
        for module in net.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                module.weight.normal_(1.0, 0.5)
                module.bias.normal_(0.0, 0.5)
    return net.eval()


@pytest.fixture
def fast() -> TransformerStylizer:
    return TransformerStylizer(make_net(1), "fast", ["starry_night"], name="tiny_fast")


@pytest.fixture
def multi() -> TransformerStylizer:
    return TransformerStylizer(make_net(3), "multistyle", NAMES, name="tiny_multi")


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (37, 64), (9, 13)])
def test_output_has_input_size_and_range(fast, size):
    images = torch.rand(2, 3, *size)
    out = fast(images)
    assert out.shape == images.shape
    assert out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_is_a_stylizer(fast, multi):
    assert isinstance(fast, Stylizer) and isinstance(multi, Stylizer)
    assert fast.kind == "fast" and multi.kind == "multistyle"
    assert multi.style_names == NAMES


def test_fast_style_can_be_omitted_or_named(fast, content_tensor):
    ref = fast(content_tensor)
    assert torch.equal(fast(content_tensor, 0), ref)
    assert torch.equal(fast(content_tensor, "starry_night"), ref)
    with pytest.raises(StyleNotFoundError, match="no style 'udnie'"):
        fast(content_tensor, "udnie")


def test_style_by_index_name_and_one_hot_blend_agree(multi, content_tensor):
    by_index = multi(content_tensor, 1)
    assert torch.allclose(multi(content_tensor, "great_wave"), by_index, atol=1e-6)
    assert torch.allclose(multi(content_tensor, {"great_wave": 1.0}), by_index, atol=1e-6)
    assert torch.allclose(multi(content_tensor, [0.0, 2.0, 0.0]), by_index, atol=1e-6)  # normalised
    assert not torch.allclose(multi(content_tensor, 0), by_index, atol=1e-3)


def test_blend_is_linear_in_the_norm_parameters(multi, content_tensor):
    """A 0.3/0.7 blend equals a one-style net whose norm parameters are the 0.3/0.7 mix."""
    blended = multi(content_tensor, {"udnie": 0.3, "the_scream": 0.7})
    mixed = make_net(3)
    with torch.no_grad():
        for module in mixed.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                for param in (module.weight, module.bias):
                    param[0] = 0.3 * param[0] + 0.7 * param[2]
    expected = TransformerStylizer(mixed, "multistyle", NAMES)(content_tensor, 0)
    assert torch.allclose(blended, expected, atol=1e-5)


def test_style_errors(multi, content_tensor):
    with pytest.raises(StyleNotFoundError, match=r"index 3 out of range.*3 styles \(0-2"):
        multi(content_tensor, 3)
    with pytest.raises(StyleNotFoundError, match="did you mean udnie"):
        multi(content_tensor, "udnei")
    with pytest.raises(StyleNotFoundError, match="holds 3 styles"):
        multi(content_tensor)
    with pytest.raises(StyleNotFoundError, match=">= 0"):
        multi(content_tensor, {"udnie": -1.0, "great_wave": 2.0})
    with pytest.raises(StyleNotFoundError, match="needs 3 values"):
        multi(content_tensor, [0.5, 0.5])
    with pytest.raises(PainterlyError, match="B x 3 x H x W"):
        multi(content_tensor[0], 0)


def test_numeric_string_is_an_index_unless_a_name():
    assert style_index("2", NAMES) == 2
    assert style_index("2", ["1", "2"]) == 1
    weights = style_weight_vector([("udnie", 1.0), ("the_scream", 3.0)], NAMES)
    assert torch.allclose(weights, torch.tensor([0.25, 0.0, 0.75]))


def test_call_keeps_network_and_input_unchanged(multi, content_tensor):
    before = {k: v.clone() for k, v in multi.net.state_dict().items()}
    image = content_tensor.clone()
    multi(image, 0)
    assert torch.equal(image, content_tensor)
    assert all(torch.equal(before[k], v) for k, v in multi.net.state_dict().items())


def test_autocast_dtype_choice():
    assert autocast_dtype("auto", "cpu") is None
    assert autocast_dtype("auto", "cuda") is torch.float16
    assert autocast_dtype("bf16", "cuda") is torch.bfloat16
    assert autocast_dtype("fp32", "cuda") is None
    with pytest.raises(PainterlyError, match="unknown precision"):
        autocast_dtype("fp8", "cpu")


@pytest.mark.parametrize("h, w", [(32, 32), (37, 50), (17, 9)])
def test_fast_variant_keeps_the_size_and_styles(h, w):
    net = TransformerNet(TransformerConfig(width=4, depth=1, n_styles=3, fast_variant=True)).eval()
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = net(x, 1)
        blend = net(x, torch.tensor([0.0, 1.0, 0.0]))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert torch.allclose(y, blend, atol=1e-6)
    net.add_styles(1)
    assert net.config.fast_variant and net.n_styles == 4


def test_fast_variant_runs_one_thin_conv_at_full_size():
    """Only the last conv (HEAD_CHANNELS -> RGB after nearest upsampling) sees full-size maps."""
    net = TransformerNet(TransformerConfig(width=4, depth=1, fast_variant=True)).eval()
    full_size = []

    def hook(module, inputs, output):
        if output.shape[-2:] == (32, 48):
            full_size.append((module.in_channels, module.out_channels, module.kernel_size))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.rand(1, 3, 32, 48))
    for handle in handles:
        handle.remove()
    assert full_size == [(HEAD_CHANNELS, 3, (3, 3))]


@pytest.mark.parametrize("fast_variant", [False, True])
def test_single_style_computes_what_the_multistyle_slot_computes(fast_variant):
    torch.manual_seed(1)
    net = TransformerNet(TransformerConfig(width=4, depth=1, n_styles=3, fast_variant=fast_variant))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                module.weight.normal_(1.0, 0.5)
                module.bias.normal_(0.0, 0.5)
    x = torch.rand(2, 3, 21, 30)
    outputs = []
    for k in range(3):
        single = net.single_style(k)
        assert single.config == TransformerConfig(4, 1, 1, fast_variant)
        assert not any(isinstance(m, ConditionalInstanceNorm2d) for m in single.modules())
        outputs.append(single(x))
        torch.testing.assert_close(outputs[-1], net(x, k), atol=1e-6, rtol=1e-5)
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3              # the slots differ, so the rows were picked
    one = make_net(1)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(one.single_style(0)(x), one(x))
    with pytest.raises(IndexError, match="out of range"):
        net.single_style(3)
