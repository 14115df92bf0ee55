"""Render the style map's swatches for every painting of the installed style space into the package.

    OMP_NUM_THREADS=1 python scripts/render_style_swatches.py [--only NAME ...] [--force]

Writes ``src/painterly/data/stylespace/swatches/NAME.jpg``: a small texture synthesised from noise
with the channel means and stds decoded from the painting's latent code
(:func:`painterly.stylespace.swatches.render_swatch`, seeded by the painting's name), never a copy
of the painting. Existing
swatches are kept unless ``--force`` (so an interrupted run resumes); swatches of paintings no
longer in the space are listed and, with ``--prune``, removed. About 3-6 s a painting on one core.
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path

import torch

from painterly.io.image import save_image
from painterly.stylespace.space import load_style_space
from painterly.stylespace.swatches import render_swatch

OUT = Path(__file__).resolve().parent.parent / "src" / "painterly" / "data" / "stylespace" / "swatches"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a style-vae model file (default: the built-in one)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the swatches")
    parser.add_argument("--size", type=int, default=72, help="side of a swatch in px")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    parser.add_argument("--only", nargs="*", default=None, help="render only these paintings")
    parser.add_argument("--force", action="store_true", help="render again the swatches that exist")
    parser.add_argument("--prune", action="store_true", help="remove swatches of paintings not in the space")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_style_space(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    start_all, rendered = time.perf_counter(), 0
    for i, name in enumerate(space.names):
        path = args.out / f"{name}.jpg"
        if (args.only and name not in args.only) or (path.exists() and not args.force):
            continue
        start = time.perf_counter()
        seed = zlib.crc32(name.encode())          # one composition per painting, the same every run
        image = render_swatch(space.stats(space.codes[i]), size=args.size, seed=seed)
        save_image(image, path, quality=args.quality)
        rendered += 1
        print(f"[{i + 1}/{len(space.names)}] {name}: {time.perf_counter() - start:.1f} s, {path.stat().st_size} bytes",
              flush=True)
    stale = sorted(p for p in args.out.glob("*.jpg") if p.stem not in space.names)
    for path in stale:
        print(f"{'removed' if args.prune else 'not in the space (--prune removes it)'}: {path.name}")
        if args.prune:
            path.unlink()
    files = list(args.out.glob("*.jpg"))
    print(f"rendered {rendered} in {time.perf_counter() - start_all:.0f} s; {len(files)} swatches, "
          f"{sum(p.stat().st_size for p in files) / 1024:.0f} KiB in {args.out}")


if __name__ == "__main__":
    main()
