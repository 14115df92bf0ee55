"""Render docs/gallery.md: every built-in style on three sample photos.

    python scripts/make_gallery.py [--size 256] [--iterations 100] [--workers 2] [--only NAME ...]

The photos are scikit-image's public-domain samples (astronaut, coffee, chelsea), which no
built-in model was trained on. Each style is rendered with the first method that can render
it here, in `painterly.catalog.METHOD_ORDER`: its feed-forward network when one ships, else
AdaIN when a decoder ships (stored statistics), else optimisation from the stored statistics (painterly's defaults:
two scales, preconditioned L-BFGS, balanced β; `--iterations` steps). Writes docs/gallery/NAME.jpg (the three results side by side) and
docs/gallery.md (one row a style: name, title, method, seconds per photo on this machine), with
docs/gallery.json keeping the figures so `--only` can re-render some styles.
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


def render(task: tuple[str, str, int, int]) -> dict:
    """One style on the three photos -> {name, method, seconds, path} (runs in a worker process)."""
    import torch

    from PIL import Image

    from painterly.io.image import save_image
    from painterly.methods.optimize import optimize
    from painterly.methods.stylize import stylize

    torch.set_num_threads(1)
    name, method, size, iterations = task
    panels, seconds = [], []
    for photo_name in PHOTOS:
        start = time.perf_counter()
        image = photo(photo_name, size)
        if method == "optimize":
            out = optimize(image, style=name, size=size, iterations=iterations, seed=0)   # the defaults
        else:
            out = stylize(image, style=name, method=method, size=size)
        seconds.append(time.perf_counter() - start)
        panels.append(out.resize((round(out.width * size / out.height), size), Image.LANCZOS))
    row = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), size), "white")
    left = 0
    for panel in panels:
        row.paste(panel, (left, 0))
        left += panel.width + 4
    path = ROOT / "docs" / "gallery" / f"{name}.jpg"
    save_image(row, path, quality=85)
    return {"name": name, "method": method, "seconds": sum(seconds) / len(seconds), "path": str(path.relative_to(ROOT))}


def main() -> None:
    from painterly.catalog import list_styles, method_status

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", nargs="*", default=None)
    args = p.parse_args()
    ready = method_status()
    entries = [e for e in list_styles() if not args.only or e.name in args.only]
    tasks, labels = [], {}
    for entry in entries:
        method = next(m for m in entry.methods if ready.get(m) is None)
        tasks.append((entry.name, method, args.size, args.iterations))
        labels[entry.name] = entry.label()
    (ROOT / "docs" / "gallery").mkdir(parents=True, exist_ok=True)
    index = ROOT / "docs" / "gallery.json"
    known = json.loads(index.read_text()) if index.is_file() else {}
    with ProcessPoolExecutor(args.workers) as pool:
        for r in pool.map(render, tasks):   # recorded as each style is done, so a stopped run keeps them
            print(f"{r['name']}: {r['method']}, {r['seconds']:.1f} s per photo -> {r['path']}", flush=True)
            known[r["name"]] = {**r, "label": labels[r["name"]], "size": args.size,
                                "iterations": args.iterations if r["method"] == "optimize" else None}
            index.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
            write_markdown(known)


def write_markdown(known: dict) -> None:
    lines = ["# Gallery: every built-in style on three sample photos", "",
             "scikit-image's astronaut, coffee and chelsea photos (public domain; the AdaIN decoder never saw",
             "them), each style rendered with the first method that ships for it — what",
             "`painterly stylize photo.jpg --style NAME` gives: its feed-forward network, else the AdaIN",
             "decoder from the style's stored statistics, else optimisation from the stored statistics.",
             "Seconds are per photo on the team's shared 2-core CPU with one thread per render and other jobs",
             "running: a record of the run, not a speed benchmark.", "",
             "Left to right: astronaut, coffee, chelsea. Regenerate: `python scripts/make_gallery.py`",
             "(add `--only NAME ...` for some styles).", "",
             "The built-in AdaIN decoder was trained on a CPU at reduced size (docs/adain.md): strong, faithful",
             "palettes and brushwork, softer photo detail than a GPU-trained decoder. The optimisation method",
             "(`painterly optimize --style NAME`) keeps more of the photo; its defaults on three of these",
             "styles, old against new, are in [gallery_defaults.jpg](gallery_defaults.jpg) (left to right: the",
             "photo, the defaults before the smoothing preconditioner and balanced β, the new ones at balance",
             "330 and at the default 100).", "",
             "| style | rendered with | s / photo |", "| --- | --- | --- |"]
    for name, r in sorted(known.items()):
        how = r["method"] + (f", {r['iterations']} steps at {r['size']} px" if r["iterations"] else f" at {r['size']} px")
        lines.append(f"| `{name}`: {r['label']} | {how} | {r['seconds']:.1f} |")
    lines.append("")
    for name, r in sorted(known.items()):
        lines += [f"### `{name}`: {r['label']}", "", f"![{name}]({Path(r['path']).relative_to('docs')})", ""]
    (ROOT / "docs" / "gallery.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
