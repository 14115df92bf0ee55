"""``painterly export``: a fast / multistyle model, or a compact AdaIN model's encoder and decoder,
as ONNX, verified against PyTorch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import positive_int

DEFAULT_OPSET = 17
DEFAULT_SIZE = 256
DEFAULT_TOLERANCE = 1e-4


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a fast, multistyle or compact AdaIN model to ONNX",
                              description="Write a transformer model as ONNX (dynamic batch, height and width; "
                                          "multi-style models take a style-weight vector input), then run it "
                                          "with onnxruntime on a random input and compare with PyTorch. "
                                          "The .onnx file works as --model for stylize, video and webcam. "
                                          "A compact AdaIN model (train adain-compact) becomes two files, "
                                          "NAME.encoder.onnx and NAME.decoder.onnx for -o NAME.onnx; placed "
                                          "next to NAME.safetensors they run it on onnxruntime.")
    p.add_argument("model", metavar="MODEL", help="model file (.safetensors) or built-in model name")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=positive_int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    p.add_argument("--size", type=positive_int, default=DEFAULT_SIZE, metavar="PX",
                   help="side of the example input used to trace and check (default %(default)s)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="largest accepted difference from PyTorch (default %(default)g); above it nothing is written")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import PainterlyError
    from ..methods.feedforward import read_model_meta, resolve_model_path
    from ..methods.onnx_runtime import export_compact_adain, export_model_file

    output = Path(args.output)
    if output.suffix.lower() != ".onnx":
        raise PainterlyError(f"{output}: the output must end in .onnx")
    if output.exists() and Path(args.model).exists() and output.resolve() == Path(args.model).resolve():
        raise PainterlyError(f"{output}: refusing to overwrite the model")
    if read_model_meta(resolve_model_path(args.model))["kind"] == "adain":
        results = export_compact_adain(args.model, output, opset=args.opset, size=args.size, tolerance=args.tolerance)
        if args.json:
            print(json.dumps({"model": str(args.model), "files": [r.to_dict() for r in results]}, indent=2))
        for r in results if not args.json else []:
            print(f"wrote {r.path} (opset {r.opset}, {r.bytes / 1e6:.2f} MB); onnxruntime vs PyTorch on "
                  f"{r.check_size[1]}x{r.check_size[0]}: max abs diff {r.max_abs_diff:.2e}", file=sys.stderr)
        return 0
    result = export_model_file(args.model, output, opset=args.opset, size=args.size, tolerance=args.tolerance)
    if args.json:
        print(json.dumps({**result.to_dict(), "model": str(args.model)}, indent=2))
    else:
        print(f"wrote {result.path} (opset {result.opset}, {result.bytes / 1e6:.2f} MB, "
              f"{result.n_styles} style{'s' if result.n_styles != 1 else ''}); onnxruntime vs PyTorch on "
              f"{result.check_size[1]}x{result.check_size[0]}: max abs diff {result.max_abs_diff:.2e}", file=sys.stderr)
    return 0
