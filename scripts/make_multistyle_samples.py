"""Sample sheet of a multi-style network on four sample photos: one row per style, then a blend row.

    python scripts/make_multistyle_samples.py zoo -o docs/multistyle_samples.jpg

Rows: each style of the model on scikit-image's astronaut, coffee and chelsea and
scikit-learn's china.jpg (public domain / CC; coffee and chelsea are also in shared/data/content), labelled with the
style's name; the last row blends two styles (``--blend A B``) at weights 0, 1/3, 2/3 and 1 on
the astronaut, through the network's conditional-norm interpolation.
"""

from __future__ import annotations

import argparse

from PIL import Image


def photos(size: int) -> list[tuple[str, Image.Image]]:
    import skimage.data
    from sklearn.datasets import load_sample_image

    found = [(name, Image.fromarray(getattr(skimage.data, name)())) for name in ("astronaut", "coffee", "chelsea")]
    found.append(("china", Image.fromarray(load_sample_image("china.jpg"))))
    for _, image in found:
        image.thumbnail((size, size), Image.LANCZOS)
    return found


def main() -> None:
    from painterly.io.image import save_image
    from painterly.io.sheet import contact_sheet
    from painterly.methods.feedforward import load_transformer_stylizer
    from painterly.methods.stylize import stylize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="multistyle model file or built-in model name")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--size", type=int, default=256, help="longer side of each photo")
    parser.add_argument("--blend", nargs=2, default=("starry_night", "great_wave"), metavar=("A", "B"))
    args = parser.parse_args()

    styles = load_transformer_stylizer(args.model, kind="multistyle").style_names
    shots = photos(args.size)
    items = []
    for style in styles:
        for name, photo in shots:
            items.append((stylize(photo, style=style, model=args.model), f"{style}" if name == "astronaut" else ""))
    first, second = args.blend
    astronaut = shots[0][1]
    for weight in (0.0, 1 / 3, 2 / 3, 1.0):
        mix = {first: 1 - weight, second: weight} if 0 < weight < 1 else (second if weight else first)
        items.append((stylize(astronaut, style=mix, model=args.model),
                      f"{first} {1 - weight:.2g} + {second} {weight:.2g}"))
    header = [(photo, name) for name, photo in shots]
    save_image(contact_sheet(header + items, height=160, columns=len(shots)), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
