"""Render the web studio's gallery thumbnails for the built-in styles into the package.

    python scripts/render_style_thumbnails.py [--only NAME ...]

Writes ``src/painterly/data/thumbnails/NAME.jpg``: scikit-image's cat photo rendered in each
style (its network when one ships, else a short optimisation from the stored statistics).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from painterly.catalog import list_styles
from painterly.io.image import save_image
from painterly.web.thumbnails import render_thumbnail

OUT = Path(__file__).resolve().parent.parent / "src" / "painterly" / "data" / "thumbnails"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="render only these styles")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for entry in list_styles():
        if args.only and entry.name not in args.only:
            continue
        start = time.perf_counter()
        path = save_image(render_thumbnail(entry), OUT / f"{entry.name}.jpg", quality=88)
        print(f"{entry.name}: {path} ({time.perf_counter() - start:.1f} s, {path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
