"""Benchmark: ``painterly optimize`` against the ``pastiche`` package on the same wall-clock budget.

The acceptance check this script answers (see benchmarks/README.md):

    ``painterly optimize`` on photos and paintings it has never seen, at 256-512 px on a
    2-core CPU, with a fixed ``--time-limit``: its result must be at least as close to the
    style (Gram loss) at comparable content preservation as ``pastiche`` gets in the same
    wall time, measured with ``painterly evaluate``. Target: reach pastiche's 300-iteration
    result in at most half of pastiche's time.

For every (content, style) pair and size:

1. ``pastiche`` (Python API, L-BFGS, its default weights) runs ``--iterations`` steps in a
   child process. T = wall time of its ``draw()`` loop only (model load, target Gram
   matrices and its initial loss evaluation are *not* in T). A snapshot is written every
   ``--snapshot-every`` steps with the clock paused, so its result at T/2 ("same wall time")
   and its loss curve are known too.
2. ``painterly optimize CONTENT --style STYLE --size S --time-limit T*fraction --json`` runs
   once per variant (the balanced style weight at pastiche's trade-off, ``--style-balance 330``,
   and the same without the preconditioner and without the balance, to show what each
   contributes) as a child process. painterly's time limit starts after its VGG19 is built, so it
   *includes* the style/content target computation that pastiche's T excludes.
3. Every result (and pastiche's snapshots every 50 steps) is scored with
   :func:`painterly.analysis.metrics.evaluate` (what ``painterly evaluate`` prints) at the
   same size against the same content and style: content loss, Gram style loss, SSIM,
   colour distance.
4. A Markdown table goes to stdout and OUT/results.md, the raw numbers to OUT/results.json,
   and a contact sheet of all images to OUT/sheet.png.

Usage (from the repository root, in the project's virtualenv)::

    python benchmarks/optimize_vs_pastiche.py                       # defaults, about 25 min on 2 cores
    python benchmarks/optimize_vs_pastiche.py --sizes 256 384 --out bench-out/full
    python benchmarks/optimize_vs_pastiche.py --pairs skimage_coffee.jpg:hokusai_poppies.jpg --sizes 256 \\
        --iterations 100 --variant "sw3e-5:--style-weight 3e-5"

The two internal sub-commands ``_pastiche`` and ``_painterly_api`` are the child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"
# Photos and paintings that painterly's built-in presets (scripts/build_style_presets.py) do not use.
DEFAULT_PAIRS = (
    "gcompris_chateaudechenonceau.jpg:van_gogh_cafe_terrace_at_night.jpg",
    "gcompris_cheetah.jpg:turner_shipwreck_of_the_minotaur.jpg",
)
PRESET_PAINTINGS = {"van_gogh_starry_night.jpg", "hokusai_great_wave.jpg", "munch_the_scream.jpg",
                    "kandinsky_composition_vii.jpg", "monet_water_lilies_1919.jpg", "picabia_udnie.jpg"}
# --style-balance 330 is the balance whose content loss matches pastiche's defaults (painterly's own
# default, 100, keeps more of the photo); the other two take away the preconditioner or the balance.
DEFAULT_VARIANTS = ("balance330:--style-balance 330", "no-precondition:--style-balance 330 --precondition 0",
                    "fixed-beta:--style-weight 1e-6")
CURVE_EVERY = 50  # pastiche snapshots evaluated for the curve (plus the one at the budget)


# ----------------------------------------------------------------------------------------------
# child process: pastiche
# ----------------------------------------------------------------------------------------------

def pastiche_worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="_pastiche")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--out", required=True, help="final PNG; snapshots go next to it")
    p.add_argument("--snapshot-every", type=int, default=10)
    p.add_argument("--style-size", choices=("longer-side", "pixels"), default="longer-side")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch
    from pastiche.pastiche import PasticheArtist, save_image

    torch.manual_seed(args.seed)
    out = Path(args.out)
    snap_dir = out.with_name(out.stem + "_snapshots")
    snap_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    artist = PasticheArtist(args.content, [args.style], size=args.size, optimizer="lbfgs", device="cpu",
                            style_size=args.size if args.style_size == "longer-side" else None)
    setup = time.perf_counter() - t0
    elapsed, times, losses, snapshots = 0.0, [], [], []
    for step in range(1, args.iterations + 1):
        start = time.perf_counter()
        artist.draw()
        elapsed += time.perf_counter() - start
        times.append(elapsed)
        losses.append(artist.loss)
        if step % args.snapshot_every == 0 and step < args.iterations:
            path = snap_dir / f"{step:05d}.png"
            save_image(artist.pastiche, str(path))          # clock paused while saving
            snapshots.append({"iteration": step, "seconds": elapsed, "path": str(path)})
    save_image(artist.pastiche, str(out))
    snapshots.append({"iteration": args.iterations, "seconds": elapsed, "path": str(out)})
    print(json.dumps({"setup_seconds": setup, "seconds": elapsed, "iterations": args.iterations,
                      "size": list(artist.content_size), "style_size": artist.style_sizes[0],
                      "threads": torch.get_num_threads(), "times": times, "losses": losses,
                      "snapshots": snapshots}))
    return 0


# ----------------------------------------------------------------------------------------------
# child process: painterly through the Python API (records the per-step history)
# ----------------------------------------------------------------------------------------------

def painterly_api_worker(argv: list[str]) -> int:
    """Same run as ``painterly optimize ... --json`` but with a per-step history (elapsed, scale, losses)."""
    from painterly.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["optimize", *argv])
    import torch
    from painterly.cli.optimize import config_from_args
    from painterly.io.image import load_image, save_image
    from painterly.methods.optimize import load_styles, run_optimization

    t0 = time.perf_counter()
    cfg = config_from_args(args, "cpu")
    content = load_image(args.content, max_pixels=cfg.max_pixels)
    styles = load_styles(args.style, max_pixels=cfg.max_pixels)
    steps = []

    def record(progress) -> None:
        steps.append({"step": progress.step, "scale": progress.scale, "elapsed": progress.elapsed,
                      "total": progress.losses.get("total")})

    result = run_optimization(content, styles, cfg, [record])
    save_image(result.image, args.output)
    print(json.dumps({"output": args.output, "iterations": result.iterations, "seconds": result.seconds,
                      "wall_seconds": time.perf_counter() - t0, "losses": result.losses,
                      "threads": torch.get_num_threads(), "history": steps}, default=str))
    return 0


# ----------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------

@dataclass
class Run:
    pair: str
    size: int
    tool: str                 # pastiche | painterly
    label: str                # settings in words
    seconds: float            # the timed part (see module docstring)
    iterations: int
    image: str
    budget: float | None = None
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def child(argv: list[str], threads: int | None = None) -> tuple[dict, float]:
    """Run ``argv`` with this interpreter (``threads`` intra-op threads), return (its JSON stdout, wall seconds)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {' '.join(map(shlex.quote, argv))}\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    # the CLI prints indented JSON; the workers one line
    text = proc.stdout[proc.stdout.index("{"):] if lines else "{}"
    return json.loads(text), wall


def resolve(path: str, folder: Path) -> Path:
    candidate = Path(path)
    if candidate.is_file():
        return candidate.resolve()
    candidate = folder / path
    if candidate.is_file():
        return candidate.resolve()
    raise SystemExit(f"error: {path}: not a file, nor in {folder}")


def parse_variants(specs: list[str]) -> list[tuple[str, list[str]]]:
    variants = []
    for spec in specs:
        label, _, flags = spec.partition(":")
        variants.append((label.strip(), shlex.split(flags)))
    return variants


def loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_pastiche(content: Path, style: Path, size: int, args, out_dir: Path, pair: str) -> Run:
    out = out_dir / "pastiche.png"
    before = loadavg()
    data, wall = child([__file__, "_pastiche", "--content", str(content), "--style", str(style), "--size", str(size),
                        "--iterations", str(args.iterations), "--out", str(out),
                        "--snapshot-every", str(args.snapshot_every), "--style-size", args.pastiche_style_size],
                       args.threads)
    per_step = [b - a for a, b in zip([0.0] + data["times"], data["times"])]
    extra = {"setup_seconds": data["setup_seconds"], "wall_seconds": wall, "threads": data["threads"],
             "median_step_seconds": statistics.median(per_step), "loss_curve": data["losses"][::10],
             "times": data["times"], "snapshots": data["snapshots"], "pastiche_size_hw": data["size"],
             "pastiche_style_size_hw": data["style_size"], "loadavg": [before, loadavg()]}
    return Run(pair, size, "pastiche", f"pastiche lbfgs {args.iterations} it", data["seconds"], data["iterations"],
               str(out), extra=extra)


def run_painterly(content: Path, style: Path, size: int, budget: float, label: str, flags: list[str], args,
                  out_dir: Path, pair: str) -> Run:
    out = out_dir / f"painterly_{label}.png"
    if out.exists():
        out.unlink()  # painterly refuses to overwrite
    common = [str(content), "-o", str(out), "--style", str(style), "--size", str(size), "--iterations",
              str(args.iterations), "--time-limit", f"{budget:.3f}", "--device", "cpu", *flags]
    before = loadavg()
    if args.runner == "cli":
        data, wall = child(["-c", "import sys; from painterly.cli import main; sys.exit(main())", "optimize",
                            *common, "--json", "--quiet"], args.threads)
    else:
        data, wall = child([__file__, "_painterly_api", *common], args.threads)
    extra = {"wall_seconds": wall, "losses": data.get("losses"), "flags": flags, "loadavg": [before, loadavg()]}
    if "history" in data:
        history = data["history"]
        extra["history"] = history
        extra["steps_per_scale"] = {str(s): sum(1 for h in history if h["scale"] == s)
                                    for s in sorted({h["scale"] for h in history})}
        gaps = [b["elapsed"] - a["elapsed"] for a, b in zip(history, history[1:]) if a["scale"] == b["scale"]]
        last = max((h["scale"] for h in history), default=0)
        final = [b["elapsed"] - a["elapsed"] for a, b in zip(history, history[1:]) if a["scale"] == b["scale"] == last]
        if final:
            extra["median_final_scale_step_seconds"] = statistics.median(final)
        if gaps:
            extra["median_step_seconds_all_scales"] = statistics.median(gaps)
    text = f"painterly {label}" + (f" ({' '.join(flags)})" if flags else "")
    return Run(pair, size, "painterly", text, data["seconds"], data["iterations"], str(out), budget=budget,
               extra=extra)


def layer_style_losses(image: str, style: Path, config, features) -> dict[str, float]:
    """Diagnostic: the per-layer terms of evaluate()'s Gram style loss (same resizing, same weights)."""
    import torch
    from painterly.analysis.metrics import load_style
    from painterly.io.image import load_image
    from painterly.losses import default_style_layer_weight, gram, gram_distance
    from painterly.ops import resize_longer_side

    out = resize_longer_side(load_image(image), config.size)
    style_image, _ = load_style(str(style), max(out.shape[-2:]), config)
    with torch.no_grad():
        fo, fs = features(out), features(style_image)
        return {layer: float(default_style_layer_weight(fo[layer].shape[1]) * gram_distance(gram(fo[layer]),
                                                                                          gram(fs[layer])))
                for layer in config.validate().style_layers}


def evaluate_runs(runs: list[Run], pairs: dict[str, tuple[Path, Path]], fraction: float) -> list[dict]:
    """Score every result, plus pastiche's curve and its snapshot at the painterly budget."""
    from painterly.analysis.metrics import EvaluateConfig, evaluate, make_features

    features = make_features(EvaluateConfig())
    curve_rows, baselines = [], {}
    for run in runs:
        content, style = pairs[run.pair]
        config = EvaluateConfig(size=run.size)
        run.metrics = evaluate(run.image, content, style, config, features).to_dict()
        # The 1e3/C^2 weighting leaves relu4_1 with ~99% of the Gram loss, so also report a layer-balanced
        # number: the mean over layers of (this image's term) / (the content photo's term).
        if (run.pair, run.size) not in baselines:
            baselines[run.pair, run.size] = layer_style_losses(str(content), style, config, features)
        base = baselines[run.pair, run.size]
        layers = layer_style_losses(run.image, style, config, features)
        run.extra["style_loss_by_layer"] = layers
        run.extra["content_photo_style_loss_by_layer"] = base
        run.extra["balanced_style"] = sum(layers[k] / base[k] for k in layers) / len(layers)
        if run.tool != "pastiche":
            continue
        budget = run.seconds * fraction
        snaps = run.extra["snapshots"]
        at_budget = max((s for s in snaps if s["seconds"] <= budget), key=lambda s: s["seconds"], default=None)
        for snap in snaps:
            if snap["iteration"] % CURVE_EVERY == 0 or snap is at_budget:
                m = evaluate(snap["path"], content, style, config, features).to_dict()
                layers = layer_style_losses(snap["path"], style, config, features)
                m["balanced_style"] = sum(layers[k] / base[k] for k in layers) / len(layers)
                curve_rows.append({"pair": run.pair, "size": run.size, "iteration": snap["iteration"],
                                   "seconds": snap["seconds"], **m, "at_budget": snap is at_budget})
                if snap is at_budget:
                    run.extra["at_budget"] = {"iteration": snap["iteration"], "seconds": snap["seconds"],
                                              "path": snap["path"], "metrics": m}
    return curve_rows


def verdicts(runs: list[Run], fraction: float, content_tol: float, time_tol: float) -> list[dict]:
    """Per pair and size: does a painterly run meet the target against pastiche's full run?"""
    out = []
    for key in dict.fromkeys((r.pair, r.size) for r in runs):
        group = [r for r in runs if (r.pair, r.size) == key]
        ref = next(r for r in group if r.tool == "pastiche")
        for run in (r for r in group if r.tool == "painterly"):
            m, p = run.metrics, ref.metrics
            in_time = run.seconds <= ref.seconds * fraction * (1 + time_tol)
            content_ok = m["content_loss"] <= p["content_loss"] * (1 + content_tol)
            style_ok = m["style_loss"] <= p["style_loss"]
            same_time = ref.extra.get("at_budget", {}).get("metrics")
            out.append({"pair": key[0], "size": key[1], "variant": run.label, "in_time": in_time,
                        "content_comparable": content_ok, "style_at_least_as_close": style_ok,
                        "target_met": in_time and content_ok and style_ok,
                        "style_ratio": m["style_loss"] / p["style_loss"],
                        "content_ratio": m["content_loss"] / p["content_loss"],
                        "beats_pastiche_same_time": None if same_time is None else
                        (m["style_loss"] <= same_time["style_loss"]
                         and m["content_loss"] <= same_time["content_loss"] * (1 + content_tol))})
    return out


def fmt(value, digits=4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown(runs: list[Run], verdict_rows: list[dict], args) -> str:
    lines = ["| pair | size | tool / settings | seconds | iterations | s/step | content loss | style loss "
             "| style, layer-balanced | SSIM | colour dist |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        m = run.metrics
        lines.append(f"| {run.pair} | {run.size} | {run.label} | {run.seconds:.1f}"
                     + (f" (limit {run.budget:.1f})" if run.budget else "")
                     + f" | {run.iterations} | {run.seconds / max(1, run.iterations):.2f} | "
                       f"{fmt(m['content_loss'])} | {fmt(m['style_loss'])} | {fmt(run.extra.get('balanced_style'), 3)} | "
                       f"{fmt(m['ssim'], 3)} | "
                       f"{fmt(m['color_distance'], 3)} |")
        at = run.extra.get("at_budget")
        if at:
            a = at["metrics"]
            lines.append(f"| {run.pair} | {run.size} | pastiche at {args.fraction:g} T (same wall time as painterly) "
                         f"| {at['seconds']:.1f} | {at['iteration']} | | {fmt(a['content_loss'])} | "
                         f"{fmt(a['style_loss'])} | {fmt(a.get('balanced_style'), 3)} | {fmt(a['ssim'], 3)} | "
                         f"{fmt(a['color_distance'], 3)} |")
    lines += ["", f"Target: style loss <= pastiche's {args.iterations}-iteration result, content loss <= "
                  f"{1 + args.content_tolerance:g} x pastiche's, in <= {args.fraction:g} x pastiche's time "
                  f"(+{args.time_tolerance:.0%} for the step in flight at the deadline).", "",
              "| pair | size | painterly variant | time ok | content ok (ratio) | style ok (ratio) | target met "
              "| beats pastiche at same time |", "|---|---|---|---|---|---|---|---|"]
    for v in verdict_rows:
        lines.append(f"| {v['pair']} | {v['size']} | {v['variant']} | {'yes' if v['in_time'] else 'no'} | "
                     f"{'yes' if v['content_comparable'] else 'no'} ({v['content_ratio']:.2f}) | "
                     f"{'yes' if v['style_at_least_as_close'] else 'no'} ({v['style_ratio']:.2f}) | "
                     f"**{'yes' if v['target_met'] else 'no'}** | "
                     f"{fmt(v['beats_pastiche_same_time']) if v['beats_pastiche_same_time'] is not None else 'n/a'} |")
    return "\n".join(lines) + "\n"


def write_sheet(runs: list[Run], pairs: dict[str, tuple[Path, Path]], path: Path) -> None:
    from PIL import Image
    from painterly.io.sheet import contact_sheet

    items, columns = [], 0
    for key in dict.fromkeys((r.pair, r.size) for r in runs):
        group = [r for r in runs if (r.pair, r.size) == key]
        content, style = pairs[key[0]]
        row = [(Image.open(content), f"content {key[1]}px"), (Image.open(style), "style")]
        for run in group:
            m = run.metrics
            name = "pastiche" if run.tool == "pastiche" else run.label.split(" (")[0]
            row.append((Image.open(run.image), f"{name} {run.seconds:.0f}s c{m['content_loss']:.3g} "
                                               f"s{m['style_loss']:.3g}"))
            at = run.extra.get("at_budget")
            if at:
                row.append((Image.open(at["path"]), f"pastiche@{at['iteration']} {at['seconds']:.0f}s "
                                                    f"s{at['metrics']['style_loss']:.3g}"))
        columns = max(columns, len(row))
        items.append(row)
    flat = [cell for row in items for cell in row + [(Image.new("RGB", (8, 8), "white"), "")] * (columns - len(row))]
    contact_sheet(flat, height=200, columns=columns).save(path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_pastiche"]:
        return pastiche_worker(argv[1:])
    if argv[:1] == ["_painterly_api"]:
        return painterly_api_worker(argv[1:])

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), metavar="CONTENT:STYLE",
                   help="file names in DATA_DIR/content and DATA_DIR/styles, or paths")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--sizes", nargs="+", type=int, default=[256], help="longer side in px")
    p.add_argument("--iterations", type=int, default=300, help="pastiche steps (and painterly's step cap)")
    p.add_argument("--fraction", type=float, default=0.5, help="painterly's time limit as a fraction of pastiche's T")
    p.add_argument("--variant", action="append", default=None, metavar="LABEL:FLAGS",
                   help="painterly settings to run, repeatable (default: " + "; ".join(DEFAULT_VARIANTS) + ")")
    p.add_argument("--runner", choices=("cli", "api"), default="cli",
                   help="painterly through `painterly optimize --json`, or the Python API with a per-step history")
    p.add_argument("--pastiche-style-size", choices=("longer-side", "pixels"), default="longer-side",
                   help="style image for pastiche: longer side = size (as painterly and evaluate do) or "
                        "pastiche's own default (same pixel count as the content)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for both tools (OMP_NUM_THREADS); 0 = torch's default (one per core). "
                        "1 is the default because 2 threads on a shared 2-core machine are 2-3x slower "
                        "whenever another process holds a core (README)")
    p.add_argument("--snapshot-every", type=int, default=10, help="pastiche snapshot interval (steps)")
    p.add_argument("--content-tolerance", type=float, default=0.10,
                   help="'comparable content': painterly's content loss at most (1+tol) x pastiche's")
    p.add_argument("--time-tolerance", type=float, default=0.05,
                   help="slack on the time check for the step in flight at painterly's deadline")
    p.add_argument("--reuse-pastiche", metavar="RESULTS_JSON", default=None,
                   help="take pastiche's runs (same pair, size and --iterations) from an earlier results.json "
                        "instead of running it again: for trying painterly settings; timings then come from "
                        "different moments of a shared machine")
    p.add_argument("--out", default="bench-out", help="output folder")
    args = p.parse_args(argv)

    data_dir = Path(args.data_dir)
    pairs: dict[str, tuple[Path, Path]] = {}
    for spec in args.pairs:
        c, sep, s = spec.partition(":")
        if not sep:
            raise SystemExit(f"error: --pairs {spec!r}: expected CONTENT:STYLE")
        content, style = resolve(c, data_dir / "content"), resolve(s, data_dir / "styles")
        if style.name in PRESET_PAINTINGS:
            print(f"warning: {style.name} is a built-in preset painting; the check is meant for unseen paintings",
                  file=sys.stderr)
        pairs[f"{content.stem} + {style.stem}"] = (content, style)
    variants = parse_variants(args.variant or list(DEFAULT_VARIANTS))
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)

    reused: dict[tuple[str, int], Run] = {}
    if args.reuse_pastiche:
        for item in json.loads(Path(args.reuse_pastiche).read_text())["runs"]:
            if item["tool"] == "pastiche" and item["iterations"] == args.iterations:
                item["extra"].pop("at_budget", None)
                reused[item["pair"], item["size"]] = Run(**{**item, "metrics": {}})
    runs: list[Run] = []
    started = time.perf_counter()
    for size in args.sizes:
        for index, (name, (content, style)) in enumerate(pairs.items()):
            out_dir = out_root / f"{size}px" / f"pair{index + 1}_{content.stem}"
            out_dir.mkdir(parents=True, exist_ok=True)
            ref = reused.get((name, size)) or run_pastiche(content, style, size, args, out_dir, name)
            runs.append(ref)
            print(f"[{time.perf_counter() - started:6.0f}s] {name} {size}px pastiche{' (reused)' * (ref in reused.values())}: {ref.iterations} it in "
                  f"{ref.seconds:.1f}s (+{ref.extra['setup_seconds']:.1f}s setup)", file=sys.stderr, flush=True)
            budget = ref.seconds * args.fraction
            for label, flags in variants:
                run = run_painterly(content, style, size, budget, label, flags, args, out_dir, name)
                runs.append(run)
                print(f"[{time.perf_counter() - started:6.0f}s] {name} {size}px painterly {label}: "
                      f"{run.iterations} it in {run.seconds:.1f}s (limit {budget:.1f}s)", file=sys.stderr,
                      flush=True)

    curve = evaluate_runs(runs, pairs, args.fraction)
    verdict_rows = verdicts(runs, args.fraction, args.content_tolerance, args.time_tolerance)
    table = markdown(runs, verdict_rows, args)
    import platform

    import torch

    header = (f"# painterly optimize vs pastiche\n\n`{' '.join(map(shlex.quote, ['python', *sys.argv]))}`\n\n"
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
              f"{args.threads or torch.get_num_threads()} torch thread(s) per tool; total {time.perf_counter() - started:.0f}s. pastiche T = its "
              f"draw() loop only; painterly seconds = its run_optimization time (targets + steps, after the "
              f"model is built), limited to {args.fraction:g} T.\n\n")
    print(table)
    (out_root / "results.md").write_text(header + table)
    (out_root / "results.json").write_text(json.dumps({
        "argv": sys.argv, "args": vars(args), "pairs": {k: [str(c), str(s)] for k, (c, s) in pairs.items()},
        "runs": [vars(r) for r in runs], "pastiche_curve": curve, "verdicts": verdict_rows,
        "total_seconds": time.perf_counter() - started}, indent=1, default=str))
    write_sheet(runs, pairs, out_root / "sheet.png")
    print(f"wrote {out_root / 'results.md'}, results.json and sheet.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
