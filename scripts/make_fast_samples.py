"""Stylise four scikit-image photos (never seen in training) with a per-style model and write a
contact sheet: photos in the top row, stylisations below.

    python scripts/make_fast_samples.py src/painterly/data/models/wheat_field.safetensors -o docs/fast_samples.png
"""

from __future__ import annotations

import argparse

import torch
from skimage import data

from painterly.io.image import load_image, save_image, tensor_to_pil
from painterly.io.model_file import load_model_file
from painterly.io.sheet import contact_sheet
from painterly.nets.transformer import TransformerConfig, TransformerNet

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--size", type=int, default=384, help="longer side of each photo")
    parser.add_argument("--height", type=int, default=256, help="height of each image in the sheet")
    args = parser.parse_args()

    model = load_model_file(args.model, expected_kind="fast")
    net = TransformerNet(TransformerConfig(**model.architecture)).eval()
    net.load_state_dict(model.state)
    items = []
    outputs = []
    with torch.no_grad():
        for name in PHOTOS:
            photo = load_image(getattr(data, name)(), size=args.size)
            items.append((tensor_to_pil(photo), name))
            outputs.append((tensor_to_pil(net(photo)), f"{model.style_names[0]}"))
    sheet = contact_sheet(items + outputs, height=args.height, columns=len(PHOTOS))
    save_image(sheet, args.output)


if __name__ == "__main__":
    main()
