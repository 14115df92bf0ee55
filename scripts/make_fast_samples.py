"""Stylise four scikit-image photos with one or more feed-forward models and write a contact sheet:
photos in the top row, then one row per model. The astronaut is in no training set; coffee, chelsea and
rocket are also in shared/data/content, which the per-style networks, zoo and van_gogh trained on.

    python scripts/make_fast_samples.py src/painterly/data/models/wheat_field.safetensors -o docs/fast_samples.png
    python scripts/make_fast_samples.py van_gogh --size 512 -o docs/van_gogh_samples.jpg
    python scripts/make_fast_samples.py zoo:great_wave great_wave_fast -o docs/great_wave_fast_samples.jpg

A model is a file or a built-in model name; ``MODEL:STYLE`` picks a style of a multi-style model.
"""

from __future__ import annotations

import argparse

from skimage import data

from painterly.io.image import load_image, save_image, tensor_to_pil
from painterly.io.sheet import contact_sheet
from painterly.methods.feedforward import read_model_meta, resolve_model_path
from painterly.methods.stylize import stylize

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def parse_model(spec: str) -> tuple[str, str | None]:
    """``MODEL`` or ``MODEL:STYLE`` -> (model, style or None); a path with a drive letter is not split."""
    model, sep, style = spec.rpartition(":")
    return (model, style) if sep and model and "/" not in style else (spec, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", metavar="MODEL[:STYLE]")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--size", type=int, default=384, help="longer side of each photo")
    parser.add_argument("--height", type=int, default=256, help="height of each image in the sheet")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the sheet")
    args = parser.parse_args()

    photos = [tensor_to_pil(load_image(getattr(data, name)(), size=args.size)) for name in PHOTOS]
    items = list(zip(photos, PHOTOS))
    for spec in args.models:
        model, style = parse_model(spec)
        path = resolve_model_path(model)
        style = style or read_model_meta(path)["styles"][0]["name"]
        label = style if len(args.models) == 1 else f"{style} ({path.stem})"
        items += [(stylize(photo, style=style, model=path, runtime="torch"), label) for photo in photos]
    sheet = contact_sheet(items, height=args.height, columns=len(PHOTOS))
    save_image(sheet, args.output, quality=args.quality)


if __name__ == "__main__":
    main()
