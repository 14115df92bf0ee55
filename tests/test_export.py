"""ONNX export of transformer networks and the onnxruntime stylizer."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from painterly.errors import PainterlyError  # noqa: E402
from painterly.methods.feedforward import TRANSFORMER_KINDS, available_models, is_speed_variant, load_stylizer  # noqa: E402
from painterly.methods.onnx_runtime import OnnxStylizer, export_model_file, load_onnx_stylizer  # noqa: E402
from test_video import run_cli, save_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model file, onnx file) for a one-style and a three-style tiny model."""
    folder = tmp_path_factory.mktemp("export")
    pairs = {}
    for n in (1, 3):
        model = save_tiny_model(folder / f"m{n}.safetensors", n_styles=n, seed=n)
        result = export_model_file(model, folder / f"m{n}.onnx", size=32)
        pairs[n] = (model, result)
    return pairs


@pytest.mark.parametrize("n", [1, 3])
def test_export_round_trip(exported, n):
    _, result = exported[n]
    assert result.max_abs_diff < 1e-4 and result.path.is_file() and result.n_styles == n


@pytest.mark.parametrize("n, style", [(1, None), (1, "tiny"), (3, "s1"), (3, {"s0": 0.3, "s2": 0.7}),
                                      (3, [0.2, 0.3, 0.5])])
def test_onnx_stylizer_equals_torch(exported, n, style):
    model, result = exported[n]
    torch_stylizer = load_stylizer(model)
    onnx_stylizer = OnnxStylizer(result.path, threads=1)
    assert onnx_stylizer.kind == torch_stylizer.kind and onnx_stylizer.style_names == torch_stylizer.style_names
    images = torch.rand(2, 3, 30, 45, generator=torch.Generator().manual_seed(1))  # not multiples of 4
    expected = torch_stylizer(images, style)
    got = onnx_stylizer(images, style)
    assert got.shape == images.shape
    assert (got - expected).abs().max().item() < 1e-4


def test_onnx_stylizer_style_errors(exported):
    stylizer = load_onnx_stylizer(exported[3][1].path)
    with pytest.raises(PainterlyError, match="s1"):
        stylizer(torch.rand(1, 3, 16, 16), "s9")
    with pytest.raises(PainterlyError):
        stylizer(torch.rand(1, 3, 16, 16))          # a multi-style model needs a style
    with pytest.raises(PainterlyError):
        load_onnx_stylizer(exported[3][1].path, kind="fast")


def test_export_cli(tmp_path, capsys):
    model = save_tiny_model(tmp_path / "m.safetensors", n_styles=2)
    out = tmp_path / "m.onnx"
    code, stdout, err = run_cli(["export", model, "-o", out, "--size", "32", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["max_abs_diff"] < 1e-4 and summary["n_styles"] == 2 and out.is_file()
    assert OnnxStylizer(out).style_names == ["s0", "s1"]


@pytest.mark.parametrize("case", ["missing", "not_a_model", "bad_suffix"])
def test_export_cli_errors(tmp_path, capsys, case):
    junk = tmp_path / "junk.safetensors"
    junk.write_text("junk")
    model = save_tiny_model(tmp_path / "m.safetensors")
    argv = {"missing": ["export", tmp_path / "none.safetensors", "-o", tmp_path / "x.onnx"],
            "not_a_model": ["export", junk, "-o", tmp_path / "x.onnx"],
            "bad_suffix": ["export", model, "-o", tmp_path / "x.pt"]}[case]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*"))


def test_video_cli_runs_an_onnx_model(tmp_path, exported, capsys):
    from test_video import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli(["video", clip, "-o", out, "--model", exported[3][1].path, "--style", "s2",
                                 "--json", "--quiet"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["kind"] == "multistyle" and summary["frames"] == 4 and out.is_file()


def test_runtime_choice_uses_the_onnx_sibling(tmp_path):
    from painterly.methods.feedforward import TransformerStylizer

    model = save_tiny_model(tmp_path / "m.safetensors", n_styles=1, seed=5)
    assert isinstance(load_stylizer(model, runtime="auto"), TransformerStylizer)  # no export yet
    with pytest.raises(PainterlyError, match="painterly export"):
        load_stylizer(model, runtime="onnx")
    export_model_file(model, tmp_path / "m.onnx", size=32)
    auto = load_stylizer(model, runtime="auto")
    assert isinstance(auto, OnnxStylizer)
    assert isinstance(load_stylizer(model, runtime="torch"), TransformerStylizer)
    images = torch.rand(1, 3, 36, 40, generator=torch.Generator().manual_seed(2))
    assert (auto(images) - load_stylizer(model, runtime="torch")(images)).abs().max().item() < 1e-4
    with pytest.raises(PainterlyError, match="unknown runtime"):
        load_stylizer(model, runtime="tvm")


def test_every_shipped_network_has_an_onnx_twin_that_agrees_and_a_training_record():
    """A retrained built-in network with a stale .onnx beside it would change `--runtime auto` output.

    The CPU-speed and multi-style networks need their twin (onnxruntime is what makes them fast on a
    CPU); a full-architecture network may ship without one (onnxruntime gains nothing on it), but a
    twin that ships must agree."""
    shipped = [m for m in available_models() if m.kind in TRANSFORMER_KINDS]
    assert len(shipped) >= 2
    images = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(3))
    for model in shipped:
        training = model.meta["training"]
        assert training["steps"] > 0 and training["seconds"] > 0 and training["hardware"]["device"], model.name
        onnx_path = model.path.with_name(f"{model.name}.onnx")
        if not onnx_path.is_file():
            assert model.kind == "fast" and not is_speed_variant(model), f"{model.name}: no ONNX export beside it"
            continue
        style = model.styles[-1]
        expected = load_stylizer(model.path, runtime="torch")(images, style)
        got = OnnxStylizer(onnx_path, threads=1)(images, style)
        assert (got - expected).abs().max().item() < 1e-3, model.name


def _tiny_graph(weights: dict):
    """y = x @ W_a + x @ W_b + ... for float32 initializers ``weights`` (name -> 4 x 4 or smaller array)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes, terms = [], []
    for i, (name, value) in enumerate(weights.items()):
        nodes.append(helper.make_node("MatMul", ["x", name], [f"t{i}"]))
        terms.append(f"t{i}")
    nodes.append(helper.make_node("Sum", terms, ["y"]))
    inits = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), name=k) for k, v in weights.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_store_exact_float16_is_lossless_and_converts_only_exact_tensors(tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto

    from painterly.methods.onnx_runtime import store_exact_float16

    rng = np.random.default_rng(0)
    exact = rng.standard_normal((8, 8)).astype(np.float16).astype(np.float32)        # a float16 model's weights
    inexact = exact.copy()
    inexact[3, 5] = 1.0 / 3.0                                                       # one value float16 cannot hold
    proto = _tiny_graph({"exact": exact, "inexact": inexact})
    small = _tiny_graph({"exact": exact})
    x = rng.standard_normal((2, 8)).astype(np.float32)

    def run(model):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    before = run(proto)
    assert store_exact_float16(proto) == 1
    onnx.checker.check_model(proto)
    kinds = {init.name: init.data_type for init in proto.graph.initializer}
    assert kinds == {"exact__float16": TensorProto.FLOAT16, "inexact": TensorProto.FLOAT}
    assert proto.graph.node[0].op_type == "Cast" and proto.graph.node[0].output[0] == "exact"
    np.testing.assert_array_equal(run(proto), before)
    assert store_exact_float16(small, min_elements=65) == 0          # 64 values: under the threshold, untouched


def test_exported_files_hold_the_float16_weights_as_float16(exported):
    import onnx
    from onnx import TensorProto

    proto = onnx.load(str(exported[1][1].path))
    halves = [init for init in proto.graph.initializer if init.data_type == TensorProto.FLOAT16]
    assert halves and all(init.name.endswith("__float16") for init in halves)
