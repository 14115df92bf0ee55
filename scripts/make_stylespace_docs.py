"""Figures and numbers for docs/stylespace.md (issue #8).

    python scripts/make_stylespace_docs.py --photo PHOTO --out docs/ [--size 256] [--iterations 150]

Writes into --out:

* ``style_space_paths.png``: the photo along two latent paths (built-in styles, and two paintings
  the VAE never trained on), rendered by ``painterly style-path``'s code, plus a row of
  ``vae:random`` samples;
* ``style_space_vs_image_vae.png``: for the same two pairs, the image-space VAE's decoded path
  (``painterly vae-interpolate``) above the statistics-space path on the photo;
* ``style_space_paths.json``: the distances to both ends at every point (the smoothness check).

No painting pixels are written: only decodes and renders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from painterly.io.image import load_image, save_image, tensor_to_pil
from painterly.io.sheet import contact_sheet
from painterly.stylespace.path import render_path
from painterly.stylespace.render import RenderConfig, render
from painterly.stylespace.space import load_style_space, parse_vae_spec

PAIRS = (("starry_night", "great_wave", "built-in styles"),
         ("van_gogh_olive_trees", "mondrian_composition_1913", "paintings held out of training"))


def titled(image: Image.Image, title: str) -> Image.Image:
    head = Image.new("RGB", (image.width, 20), (255, 255, 255))
    ImageDraw.Draw(head).text((6, 4), title, fill=(0, 0, 0), font=ImageFont.load_default())
    out = Image.new("RGB", (image.width, image.height + head.height), (255, 255, 255))
    out.paste(head, (0, 0))
    out.paste(image, (0, head.height))
    return out


def stack(rows: list[Image.Image]) -> Image.Image:
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), (255, 255, 255))
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    return sheet


def image_vae_row(a: str, b: str, styles_dir: Path, steps: int, cell: int) -> Image.Image:
    from painterly.cli.vae_interpolate import interpolation_path, prepare
    from painterly.nets.image_vae import load_image_vae

    vae, _ = load_image_vae(None)
    source = {name: styles_dir / f"{name}.jpg" for name in (a, b)}
    for name in (a, b):   # built-in names: their source painting
        if not source[name].is_file():
            from painterly.styles import StyleRegistry

            source[name] = styles_dir / Path(StyleRegistry().info(name).source).name
    ia, ib = prepare(source[a], vae.config.size, 64_000_000), prepare(source[b], vae.config.size, 64_000_000)
    decoded, ts, _ = interpolation_path(vae, ia, ib, steps, "linear")
    return contact_sheet([(tensor_to_pil(d), f"t={t:.2f}") for d, t in zip(decoded, ts)], height=cell)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", required=True)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--styles-dir", default="../shared/data/styles", help="for the image-space VAE's inputs")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--randoms", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out)
    photo = load_image(args.photo)
    space = load_style_space()
    cfg = RenderConfig(method="auto", size=args.size, iterations=args.iterations)
    cell = min(200, args.size)
    rows, compare, numbers = [], [], {}
    for a, b, note in PAIRS:
        path = render_path(photo, space, a, b, args.steps, cfg, on_point=lambda p: print(f"{a}..{b} t={p.t:.2f} "
                                                                                       f"{p.seconds:.0f}s", flush=True))
        strip = contact_sheet([(tensor_to_pil(p.image), f"t={p.t:.2f}") for p in path.points], height=cell)
        rows.append(titled(strip, f"vae:{a}..{b}@t ({note}), rendered by {cfg.method if cfg.method != 'auto' else 'auto'}"))
        numbers[f"{a}..{b}"] = {"distance_to_a_rises": path.rises_from_a(), "distance_to_b_falls": path.approaches_b(),
                                "points": [{"t": p.t, "stats_to_a": p.stats_to_a, "stats_to_b": p.stats_to_b,
                                            "style_loss_to_a": p.style_loss_to_a, "style_loss_to_b": p.style_loss_to_b,
                                            "seconds": p.seconds} for p in path.points]}
        compare.append(titled(image_vae_row(a, b, Path(args.styles_dir), args.steps, cell),
                              f"image-space VAE: decoded path {a} -> {b} ({note})"))
        compare.append(titled(strip, f"statistics-space VAE: the photo along {a} -> {b}"))
    randoms = []
    for seed in range(args.randoms):
        stats = space.stats(space.point(parse_vae_spec("vae:random"), seed))
        randoms.append((tensor_to_pil(render(photo, stats, cfg)), f"vae:random --seed {seed}"))
        print(f"random {seed}", flush=True)
    rows.append(titled(contact_sheet(randoms, height=cell), "samples from the prior (new styles)"))
    save_image(stack(rows), out / "style_space_paths.png")
    save_image(stack(compare), out / "style_space_vs_image_vae.png")
    (out / "style_space_paths.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print(json.dumps({k: [v["distance_to_a_rises"], v["distance_to_b_falls"]] for k, v in numbers.items()}))


if __name__ == "__main__":
    main()
