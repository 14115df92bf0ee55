"""Stylise four scikit-image photos (never seen in training) with a single-style model (a per-style
network or an artist-level model) and write a contact sheet: photos in the top row, stylisations below.

    python scripts/make_fast_samples.py src/painterly/data/models/wheat_field.safetensors -o docs/fast_samples.png
    python scripts/make_fast_samples.py van_gogh --size 512 -o docs/van_gogh_samples.jpg
"""

from __future__ import annotations

import argparse

from skimage import data

from painterly.io.image import load_image, save_image, tensor_to_pil
from painterly.io.sheet import contact_sheet
from painterly.methods.feedforward import read_model_meta, resolve_model_path
from painterly.methods.stylize import stylize

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--size", type=int, default=384, help="longer side of each photo")
    parser.add_argument("--height", type=int, default=256, help="height of each image in the sheet")
    args = parser.parse_args()

    path = resolve_model_path(args.model)
    label = read_model_meta(path)["styles"][0]["name"]
    items = []
    outputs = []
    for name in PHOTOS:
        photo = tensor_to_pil(load_image(getattr(data, name)(), size=args.size))
        items.append((photo, name))
        outputs.append((stylize(photo, model=path, runtime="torch"), label))
    sheet = contact_sheet(items + outputs, height=args.height, columns=len(PHOTOS))
    save_image(sheet, args.output)


if __name__ == "__main__":
    main()
