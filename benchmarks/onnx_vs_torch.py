"""Time per image of a transformer network: eager PyTorch vs onnxruntime, on this CPU.

Both run the same network (a model file, or a random TransformerNet of the given width and
depth: the weights do not change the cost) with the same number of threads, alternating
one call each so that a busy neighbour slows both alike; the median of --repeats calls is
reported after --warmup calls. Printed as a Markdown table (also written to --out).

    python benchmarks/onnx_vs_torch.py                         # width 32, depth 5 (the paper's net)
    python benchmarks/onnx_vs_torch.py --width 16 --depth 3    # the small real-time variant
    python benchmarks/onnx_vs_torch.py --model m.safetensors --sizes 512 1024 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def build_net(args):
    from painterly.nets.transformer import TransformerConfig, TransformerNet

    if args.model:
        from painterly.methods.feedforward import load_transformer_stylizer

        stylizer = load_transformer_stylizer(args.model, precision="fp32")
        return stylizer.net, Path(args.model).name
    net = TransformerNet(TransformerConfig(width=args.width, depth=args.depth, n_styles=args.n_styles)).eval()
    return net, f"random TransformerNet width {args.width}, depth {args.depth}, {args.n_styles} style(s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="fast/multistyle model file (default: random network)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--n-styles", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="square image sides (px)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="threads for both runtimes (default 1)")
    parser.add_argument("--out", default="bench-out/onnx_vs_torch")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime
    import torch

    from painterly.methods.onnx_runtime import OnnxStylizer, export_onnx

    torch.set_num_threads(args.threads)
    net, label = build_net(args)
    style = None if net.n_styles == 1 else [1.0 / net.n_styles] * net.n_styles
    torch_style = None if style is None else torch.tensor(style)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_onnx(net, Path(tmp) / "net.onnx", size=64, tolerance=1e-3)
        ort = OnnxStylizer(exported.path, threads=args.threads)
        rows, load_before = [], os.getloadavg()
        for size in args.sizes:
            x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size))
            times = {"torch": [], "onnxruntime": []}
            calls = {"torch": lambda: net(x, torch_style), "onnxruntime": lambda: ort(x, style)}
            with torch.inference_mode():
                for i in range(args.warmup + args.repeats):
                    for name, call in calls.items():
                        start = time.perf_counter()
                        result = call()
                        if i >= args.warmup:
                            times[name].append(time.perf_counter() - start)
                diff = float((net(x, torch_style) - ort(x, style)).abs().max())
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"size": size, "torch_s": med["torch"], "onnxruntime_s": med["onnxruntime"],
                         "speedup": med["torch"] / med["onnxruntime"], "max_abs_diff": diff, "times": times,
                         "loadavg": os.getloadavg()})
            del result
    lines = [f"{label}; {args.threads} thread(s) each; median of {args.repeats} after {args.warmup} warm-up; "
             f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, numpy {np.__version__}; "
             f"load average before {load_before[0]:.2f}",
             "",
             "| image | PyTorch eager (s) | onnxruntime (s) | speed-up (PyTorch / ORT) | max abs diff |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']}x{r['size']} | {r['torch_s']:.3f} | {r['onnxruntime_s']:.3f} | "
                     f"{r['speedup']:.2f}x | {r['max_abs_diff']:.1e} |")
    text = "\n".join(lines)
    print(text)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"label": label, "args": vars(args), "rows": rows,
                                                  "loadavg_before": load_before,
                                                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                                 indent=2))


if __name__ == "__main__":
    main()
