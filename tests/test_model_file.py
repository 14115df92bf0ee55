"""Model files for feed-forward stylizers: round trips, built-in lookup by name, and every load error."""

from __future__ import annotations

import json

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.io.model_file import ModelFileError, load_model_file, save_model_file
from painterly.methods.feedforward import (available_models, find_models_for_style, load_stylizer,
                                           load_transformer_stylizer, read_model_meta, resolve_model_path)
from painterly.nets.transformer import TransformerConfig, TransformerNet


def save_tiny(folder, name, kind="fast", styles=("starry_night",), seed=0, header_only=False, **meta):
    torch.manual_seed(seed)
    config = TransformerConfig(width=4, depth=1, n_styles=len(styles))
    net = TransformerNet(config)
    path = save_model_file(folder / name, kind, net.state_dict(),
                           {"architecture": config.to_dict(), "styles": [{"name": s} for s in styles], **meta})
    if header_only:
        path.with_suffix(".json").unlink()
    return path, net


def test_round_trip_gives_the_same_images(tmp_path, content_tensor):
    path, net = save_tiny(tmp_path, "tiny")
    assert load_model_file(path).state["down.0.conv.weight"].dtype == torch.float32  # stored fp16, read fp32
    stylizer = load_transformer_stylizer(path)
    with torch.no_grad():
        expected = net(content_tensor)
    assert torch.allclose(stylizer(content_tensor), expected, atol=2e-3)  # fp16 weights
    assert stylizer.kind == "fast" and stylizer.style_names == ["starry_night"] and stylizer.name == "tiny"


def test_header_alone_describes_the_model(tmp_path):
    path, _ = save_tiny(tmp_path, "lone", kind="multistyle", styles=("a", "b"), header_only=True)
    assert not path.with_suffix(".json").exists()
    assert read_model_meta(path)["styles"] == [{"name": "a"}, {"name": "b"}]
    assert load_stylizer(path).style_names == ["a", "b"]


def test_models_by_name_and_listing(tmp_path):
    save_tiny(tmp_path, "starry_fast")
    save_tiny(tmp_path, "trio", kind="multistyle", styles=("udnie", "starry_night", "the_scream"))
    (tmp_path / "broken.safetensors").write_bytes(b"not a model")
    models = available_models(tmp_path)
    assert [(m.name, m.kind) for m in models] == [("starry_fast", "fast"), ("trio", "multistyle")]
    assert [m.name for m in find_models_for_style("starry_night", tmp_path)] == ["starry_fast", "trio"]
    assert [m.name for m in find_models_for_style("udnie", tmp_path)] == ["trio"]
    assert resolve_model_path("trio", tmp_path) == tmp_path / "trio.safetensors"
    assert resolve_model_path(tmp_path / "trio", tmp_path) == tmp_path / "trio.safetensors"
    assert load_stylizer("trio", folder=tmp_path).kind == "multistyle"
    assert available_models(tmp_path / "nowhere") == []


def test_unknown_model_name_suggests(tmp_path):
    save_tiny(tmp_path, "starry_fast")
    with pytest.raises(ModelFileError, match="did you mean starry_fast"):
        resolve_model_path("stary_fast", tmp_path)
    with pytest.raises(ModelFileError, match="model file not found"):
        resolve_model_path(tmp_path / "missing.safetensors", tmp_path)


def test_wrong_kind_is_refused(tmp_path):
    path, _ = save_tiny(tmp_path, "trio", kind="multistyle", styles=("a", "b", "c"))
    with pytest.raises(ModelFileError, match="is a 'multistyle' model, expected 'fast'"):
        load_stylizer(path, kind="fast")
    other = save_model_file(tmp_path / "vgg", "artist", {"w": torch.zeros(2)}, {})
    with pytest.raises(PainterlyError, match="not a feed-forward stylizer"):
        load_stylizer(other)
    with pytest.raises(ModelFileError, match="expected 'fast' or 'multistyle'"):
        load_transformer_stylizer(other)


def test_unreadable_and_inconsistent_files(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_stylizer(tmp_path / "junk.safetensors")
    path, _ = save_tiny(tmp_path, "future")
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["architecture"]["colour_head"] = True  # a field from a future version
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="colour_head need a newer painterly"):
        load_stylizer(path)
    meta["architecture"].pop("colour_head")
    meta["architecture"]["fast_variant"] = True  # known field, but the weights are of the classic net
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="weights do not match"):
        load_stylizer(path)
    wrong = save_model_file(tmp_path / "wrong", "fast", {"w": torch.zeros(2)},
                            {"architecture": TransformerConfig(width=4, depth=1).to_dict()})
    with pytest.raises(ModelFileError, match="weights do not match"):
        load_stylizer(wrong)
    multi_as_fast, _ = save_tiny(tmp_path, "liar", kind="fast", styles=("a", "b"))
    with pytest.raises(ModelFileError, match="must hold one style"):
        load_stylizer(multi_as_fast)


def test_onnx_files_load_through_the_same_entry(tmp_path, content_tensor):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    onnx_runtime = pytest.importorskip("painterly.methods.onnx_runtime")
    path, _ = save_tiny(tmp_path, "tiny")
    onnx_runtime.export_model_file(path, tmp_path / "tiny.onnx", size=32)
    stylizer = load_stylizer(tmp_path / "tiny.onnx")
    assert stylizer.kind == "fast"
    expected = load_stylizer(path)(content_tensor)
    assert torch.allclose(stylizer(content_tensor), expected, atol=1e-4)
