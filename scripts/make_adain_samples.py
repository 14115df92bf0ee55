"""Render docs/adain_samples.png: photos the decoder never saw (scikit-image's astronaut and
scikit-learn's china.jpg are not in the shared data at all; coffee and chelsea are in it but held
out of training) stylised by the AdaIN decoder with paintings it never saw (held out), at strengths 0.25 / 0.5 / 0.75 / 1.0, plus one row
interpolating between two paintings. The paintings themselves are not put in the sheet (no
third-party images in the repository); captions name them.

    python scripts/make_adain_samples.py --styles ../shared/data/styles -o docs/adain_samples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROWS = (("astronaut", "van_gogh_starry_night_over_the_rhone", "Van Gogh, Starry Night Over the Rhone"),
        ("china", "hokusai_great_wave", "Hokusai, The Great Wave"),
        ("coffee", "monet_cliffs_etretat", "Monet, The Cliffs at Etretat"),
        ("chelsea", "munch_the_scream", "Munch, The Scream"))
BLEND = ("astronaut", "kandinsky_composition_x", "Kandinsky, Composition X", "picabia_edtaonisl",
         "Picabia, Edtaonisl")
STRENGTHS = (0.25, 0.5, 0.75, 1.0)


def sample_photo(name: str):
    """A scikit-image sample photo, or scikit-learn's ``china`` (neither needs a download)."""
    if name == "china":
        from sklearn.datasets import load_sample_image

        return load_sample_image("china.jpg")
    import skimage.data

    return getattr(skimage.data, name)()


def main() -> None:
    from painterly.io.image import load_image, save_image, tensor_to_pil
    from painterly.io.sheet import contact_sheet
    from painterly.methods.adain import load_adain_stylizer

    p = argparse.ArgumentParser()
    p.add_argument("--styles", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "styles"))
    p.add_argument("--model", default=None)
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("-o", "--output", default="docs/adain_samples.png")
    args = p.parse_args()
    torch.set_num_threads(1)
    stylizer = load_adain_stylizer(args.model, style_size=args.size)
    style = lambda stem: load_image(Path(args.styles) / f"{stem}.jpg")  # noqa: E731
    photo = lambda name: load_image(sample_photo(name), size=args.size)  # noqa: E731
    items = []
    for name, stem, title in ROWS:
        content, painting = photo(name), style(stem)
        items.append((tensor_to_pil(content), f"{name} (photo)"))
        for strength in STRENGTHS:
            out = stylizer(content, painting, strength=strength)
            items.append((tensor_to_pil(out), f"{title[:26]} a={strength:g}" if strength == 1 else f"a={strength:g}"))
    name, stem_a, title_a, stem_b, title_b = BLEND
    content, a, b = photo(name), style(stem_a), style(stem_b)
    items.append((tensor_to_pil(content), f"{name}: {title_a.split(',')[0]} -> {title_b.split(',')[0]}"))
    for w in (1.0, 0.67, 0.33, 0.0):
        out = stylizer(content, [(a, w), (b, 1 - w)])
        items.append((tensor_to_pil(out), f"{w:.2g} {title_a.split(',')[0]} / {1 - w:.2g} {title_b.split(',')[0]}"))
    sheet = contact_sheet(items, height=args.height, columns=1 + len(STRENGTHS))
    save_image(sheet, args.output)


if __name__ == "__main__":
    main()
