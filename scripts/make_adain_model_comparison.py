"""Render AdaIN models side by side: each row a photo and one painting (both unseen in training), then
every model's result at the same size, captioned with its time on one thread. The paintings are not put
in the picture (no third-party images in the repository); captions name them.

    python scripts/make_adain_model_comparison.py --model vgg=builtin compact=adain_compact \\
        -o docs/adain_compact_comparison.jpg
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

ROWS = (("rocket", "picabia_edtaonisl"), ("coffee", "hokusai_great_wave"), ("chelsea", "munch_the_scream"),
        ("astronaut", "van_gogh_starry_night_over_the_rhone"))


def main() -> None:
    import skimage.data

    from painterly.io.image import load_image, save_image, tensor_to_pil
    from painterly.io.sheet import contact_sheet
    from painterly.methods.adain import load_adain_stylizer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=["builtin"], metavar="[LABEL=]MODEL",
                   help="AdaIN model files or built-in names ('builtin': the VGG19 decoder)")
    p.add_argument("--styles", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "styles"))
    p.add_argument("--rows", nargs="+", default=[f"{a}:{b}" for a, b in ROWS], metavar="PHOTO:PAINTING")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--height", type=int, default=256, help="panel height in the picture")
    p.add_argument("-o", "--output", default="adain_comparison.jpg")
    args = p.parse_args()
    torch.set_num_threads(1)
    models = []
    for spec in args.model:
        label, _, model = spec.rpartition("=")
        models.append((label or Path(model).stem, load_adain_stylizer(None if model == "builtin" else model)))
    panels = []
    for row in args.rows:
        photo_name, stem = row.split(":")
        photo = load_image(getattr(skimage.data, photo_name)(), size=args.size)
        painting = load_image(Path(args.styles) / f"{stem}.jpg")
        panels.append((tensor_to_pil(photo), photo_name))
        for label, stylizer in models:
            stylizer(photo, painting, strength=args.strength)          # warm-up
            start = time.perf_counter()
            out = stylizer(photo, painting, strength=args.strength)
            panels.append((tensor_to_pil(out), f"{label}: {stem[:22]} {time.perf_counter() - start:.2f}s"))
    save_image(contact_sheet(panels, height=args.height, columns=len(models) + 1), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
