"""Render docs/gallery.md: every built-in style on three sample photos.

    python scripts/make_gallery.py [--size 256] [--iterations 100] [--workers 2] [--only NAME ...]
    python scripts/make_gallery.py --markdown-only     # rewrite docs/gallery.md from docs/gallery.json

The photos are scikit-image's public-domain samples (astronaut, coffee, chelsea); the
astronaut is in no training set, coffee and chelsea are also among the training photos of the
per-style networks and `zoo`. Each style is rendered with every feed-forward method that ships
for it here, in `painterly.catalog.METHOD_ORDER` (its per-style network, its slot of a
multi-style network, AdaIN from its stored statistics; the first is what `painterly stylize
--style NAME` picks; a style with a full and a CPU-speed network gets a row for each), else with optimisation from the stored statistics (painterly's defaults: two
scales, preconditioned L-BFGS, balanced β; `--iterations` steps). Writes docs/gallery/NAME.jpg (one
row per method, the three results side by side) and docs/gallery.md (name, title, methods,
seconds per photo on this machine, after one untimed call per row; `--workers 1` for steady figures
when re-rendering a few styles), with docs/gallery.json keeping the figures so `--only` can
re-render some styles.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "coffee", "chelsea")


def photo(name: str, size: int):
    import skimage.data
    from PIL import Image

    image = Image.fromarray(getattr(skimage.data, name)())
    image.thumbnail((size, size), Image.LANCZOS)
    return image


FEED_FORWARD = ("fast", "multistyle", "adain")
SPEED_ROW = "fast (speed variant)"   # a style with both a full and a CPU-speed network: the second one's row


def has_both_variants(name: str) -> bool:
    from painterly.methods.feedforward import find_models_for_style, is_speed_variant

    single = [m for m in find_models_for_style(name) if m.kind == "fast"]
    return len({is_speed_variant(m) for m in single}) == 2


def per_style_recipes(names) -> str:
    """The built-in per-style networks of ``names`` (full and CPU-speed), grouped by the crop and
    steps their training records hold: "`a`, `b` at 192 px crops and 900 steps; ..."."""
    from painterly.methods.feedforward import available_models

    groups: dict[tuple[int, int], list[str]] = {}
    for model in available_models():
        if model.kind == "fast" and model.styles and model.styles[0] in names:
            training = model.meta.get("training", {})
            task = training.get("task", {})
            key = (task.get("crop"), training.get("steps"), bool(training.get("earlier_stages")), bool(task.get("teacher")))
            groups.setdefault(key, []).append(model.name)
    tuned_note = " fine-tuned from another style's network"
    taught_note = " taught by the optimisation method's results (`train fast --teacher`)"
    return "; ".join(f"{', '.join(f'`{n}`' for n in sorted(models))} at {crop} px crops and {steps:,} steps"
                     f"{tuned_note if tuned else ''}{taught_note if taught else ''}"
                     for (crop, steps, tuned, taught), models in sorted(groups.items(),
                                                                        key=lambda kv: (-len(kv[1]), kv[0])))


def render(task: tuple[str, str, int, int]) -> dict:
    """One style with one method on the three photos -> {name, method, seconds, row} (runs in a worker process)."""
    import torch

    from PIL import Image

    from painterly.methods.optimize import optimize
    from painterly.methods.stylize import stylize

    torch.set_num_threads(1)
    name, method, size, iterations = task

    def run(image):
        if method == "optimize":
            return optimize(image, style=name, size=size, iterations=iterations, seed=0)   # the defaults
        if method == SPEED_ROW:
            return stylize(image, style=name, method="fast", size=size, prefer="speed")
        return stylize(image, style=name, method=method, size=size)

    if method != "optimize":     # one untimed call: a worker's first pays one-time imports and kernel set-up
        run(photo(PHOTOS[0], size))
    panels, seconds = [], []
    for photo_name in PHOTOS:
        start = time.perf_counter()
        out = run(photo(photo_name, size))
        seconds.append(time.perf_counter() - start)
        panels.append(out.resize((round(out.width * size / out.height), size), Image.LANCZOS))
    row = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), size), "white")
    left = 0
    for panel in panels:
        row.paste(panel, (left, 0))
        left += panel.width + 4
    return {"name": name, "method": method, "seconds": sum(seconds) / len(seconds), "row": row}


def stack(rows: list):
    """Rows of panels one above the other, 4 px apart."""
    from PIL import Image

    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + 4 * (len(rows) - 1)), "white")
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height + 4
    return sheet


def main() -> None:
    from painterly.catalog import list_styles, method_status
    from painterly.io.image import save_image

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--markdown-only", action="store_true", help="rewrite docs/gallery.md from docs/gallery.json")
    args = p.parse_args()
    if args.markdown_only:
        write_markdown(json.loads((ROOT / "docs" / "gallery.json").read_text()))
        return
    ready = method_status()
    entries = [e for e in list_styles() if not args.only or e.name in args.only]
    tasks, labels = [], {}
    for entry in entries:
        methods = [m for m in entry.methods if m in FEED_FORWARD and ready.get(m) is None]
        methods = methods or [next(m for m in entry.methods if ready.get(m) is None)]
        if "fast" in methods and has_both_variants(entry.name):
            methods.insert(methods.index("fast") + 1, SPEED_ROW)
        tasks += [(entry.name, method, args.size, args.iterations) for method in methods]
        labels[entry.name] = entry.label()
    (ROOT / "docs" / "gallery").mkdir(parents=True, exist_ok=True)
    index = ROOT / "docs" / "gallery.json"
    known = json.loads(index.read_text()) if index.is_file() else {}
    done: dict[str, list[dict]] = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for r in pool.map(render, tasks):   # a style is recorded once all its methods are done
            print(f"{r['name']}: {r['method']}, {r['seconds']:.1f} s per photo", flush=True)
            done.setdefault(r["name"], []).append(r)
            if len(done[r["name"]]) < sum(t[0] == r["name"] for t in tasks):
                continue
            path = ROOT / "docs" / "gallery" / f"{r['name']}.jpg"
            save_image(stack([d["row"] for d in done[r["name"]]]), path, quality=85)
            known[r["name"]] = {"name": r["name"], "label": labels[r["name"]], "size": args.size,
                                "path": str(path.relative_to(ROOT)),
                                "methods": [{"method": d["method"], "seconds": round(d["seconds"], 2),
                                             "iterations": args.iterations if d["method"] == "optimize" else None}
                                            for d in done[r["name"]]]}
            index.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
            write_markdown(known)


def write_markdown(known: dict) -> None:
    lines = ["# Gallery: every built-in style on three sample photos", "",
             "scikit-image's astronaut, coffee and chelsea photos (public domain; the astronaut is in no",
             "training set, coffee and chelsea are also among the photos of shared/data/content that the",
             "per-style networks and `zoo` trained on), each style rendered with every feed-forward method",
             "that ships for it, one row",
             "per method. The top row is what `painterly stylize photo.jpg --style NAME` gives: the style's",
             "per-style network (the full architecture where a style also has the CPU-speed `NAME_fast`, whose",
             "row comes second), else its slot of the multi-style network, else the artist-level model of that",
             "name, else the AdaIN decoder from the style's stored statistics (optimisation from the stored",
             "statistics when none ships).",
             "Seconds are per photo on the team's shared 2-core CPU with one thread per render and other jobs",
             "running: a record of the run, not a speed benchmark.", "",
             "Left to right: astronaut, coffee, chelsea. Regenerate: `python scripts/make_gallery.py`",
             "(add `--only NAME ...` for some styles).", "",
             "Every network here was trained on a CPU at reduced size (docs/training.md, docs/adain.md): the",
             "multi-style network `zoo` at 160-192 px crops and 4,360 steps (the last 300 for the rows of",
             "`wheat_field` and `shipwreck` alone), the per-style networks",
             f"{per_style_recipes(set(known))},",
             "the AdaIN decoder at 64 px crops, the artist-level `van_gogh` at 192 px crops",
             "and 3,059 steps with a 1/4 bottleneck instead of the paper's 1/16 ([artist.md](artist.md)). The",
             "optimisation method (`painterly optimize --style NAME`) keeps more of the photo; its defaults on",
             "three of these styles, old against new, are in [gallery_defaults.jpg](gallery_defaults.jpg) (left",
             "to right: the photo, the defaults before the smoothing preconditioner and balanced β, the new ones",
             "at balance 330 and at the default 100). How close each method comes to the optimisation result",
             "is measured in [quality_report.md](quality_report.md).", "",
             "| style | rows, top to bottom | s / photo |", "| --- | --- | --- |"]
    for name, r in sorted(known.items()):
        how = "; ".join(m["method"] + (f", {m['iterations']} steps" if m["iterations"] else "") for m in r["methods"])
        secs = "; ".join(f"{m['seconds']:.1f}" for m in r["methods"])
        lines.append(f"| `{name}`: {r['label']} | {how} (at {r['size']} px) | {secs} |")
    lines.append("")
    for name, r in sorted(known.items()):
        lines += [f"### `{name}`: {r['label']}", "", f"![{name}]({Path(r['path']).relative_to('docs')})", ""]
    (ROOT / "docs" / "gallery.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
