"""Coloured pixel noise of multi-style networks: high-frequency chroma of their outputs, per style.

Stylises one photo at --size px with every model and style asked for and prints
:func:`painterly.analysis.metrics.chroma_noise` of each output (mean |C - box3(C)| over the
BT.601 chroma channels, 0-255 units; lower = calmer colour), next to the photo's own value and,
with --paintings, the paintings' at the same size. Used to choose between the stages of the
shipped `zoo` network (docs/training.md); Markdown table, also written to --out.

    python benchmarks/multistyle_chroma_noise.py zoo --styles starry_night the_scream great_wave
    python benchmarks/multistyle_chroma_noise.py stage1.safetensors stage3.safetensors \\
        --styles the_scream --paintings shared/data/styles/munch_the_scream.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # load_photo of quality_report


def main() -> None:
    from PIL import Image
    from quality_report import load_photo

    from painterly.analysis.metrics import chroma_noise
    from painterly.io.image import pil_to_tensor
    from painterly.methods.feedforward import load_transformer_stylizer
    from painterly.methods.stylize import stylize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="multistyle model files or built-in model names")
    parser.add_argument("--styles", nargs="+", default=None, help="style names (default: every style of the first model)")
    parser.add_argument("--photo", default="skimage:astronaut", help="skimage:NAME, sklearn:FILE or a path")
    parser.add_argument("--size", type=int, default=512, help="longer side of the photo and paintings")
    parser.add_argument("--paintings", nargs="*", default=(), help="painting files to measure at --size")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()

    styles = args.styles or load_transformer_stylizer(args.models[0], kind="multistyle").style_names
    photo, photo_name = load_photo(args.photo)
    photo.thumbnail((args.size, args.size), Image.LANCZOS)
    lines = [f"Chroma noise at {args.size} px on {photo_name} (mean |C - box3(C)|, Cb and Cr, 0-255; lower = calmer).",
             "", "| model | " + " | ".join(styles) + " |", "|---|" + "---|" * len(styles)]
    for model in args.models:
        values = [chroma_noise(pil_to_tensor(stylize(photo, style=style, model=model, method="multistyle")))
                  for style in styles]
        lines.append(f"| {Path(model).stem} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    lines += ["", f"the photo itself: {chroma_noise(pil_to_tensor(photo)):.2f}"]
    for path in args.paintings:
        painting = Image.open(path).convert("RGB")
        painting.thumbnail((args.size, args.size), Image.LANCZOS)
        lines.append(f"{Path(path).name} at {args.size} px: {chroma_noise(pil_to_tensor(painting)):.2f}")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
