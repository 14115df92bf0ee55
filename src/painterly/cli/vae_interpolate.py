"""``painterly vae-interpolate A B``: walk the latent path of the image-space VAE between two images.

    painterly vae-interpolate great_wave.jpg starry_rhone.jpg -o strip.png --steps 8 --gif path.gif

A and B are centre-cropped to a square and resized to the model's size, encoded (posterior
means, no sampling), and ``--steps`` points from t = 0 (A's code) to t = 1 (B's code) are
decoded. The strip shows A (the input as the model sees it) | decoded t = 0 ... 1 | B.

This is the baseline the style-statistics VAE is compared with (docs/style_space_vs_image_vae.png):
a pixel-space latent code must hold layout, colour and texture at once, so decoded images are
blurry and the path cross-fades compositions rather than styles.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import PainterlyError
from .common import positive_int

DEFAULT_STEPS = 8
MAX_STEPS = 64


def add_parser(subparsers) -> None:
    from ..io.image import DEFAULT_MAX_PIXELS
    from ..nets.image_vae import INTERPOLATION_MODES
    from .common import add_device_argument

    p = subparsers.add_parser("vae-interpolate", help="interpolate between two images in an image-space VAE",
                              description="Encode images A and B with the image-space VAE (the built-in one "
                                          "unless --model), decode points on the latent path between them, and "
                                          "write a strip: A | t=0 ... t=1 | B. A baseline: decoded images are "
                                          "blurry (see docs/style_space_vs_image_vae.png).")
    p.add_argument("image_a", metavar="A", help="first image (t = 0)")
    p.add_argument("image_b", metavar="B", help="second image (t = 1)")
    p.add_argument("-o", "--output", required=True, metavar="STRIP.png", help="the strip to write")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="N",
                   help=f"decoded points from t=0 to t=1, both included (2..{MAX_STEPS}, default {DEFAULT_STEPS})")
    p.add_argument("--mode", choices=INTERPOLATION_MODES, default="linear",
                   help="straight line or great-circle (slerp) path between the codes (default linear)")
    p.add_argument("--model", default=None, metavar="PATH", help="an image-vae model file (default: the built-in one)")
    p.add_argument("--gif", default=None, metavar="PATH.gif", help="also write the decoded path as an animation")
    p.add_argument("--fps", type=float, default=6.0, help="frames per second of --gif (default 6)")
    p.add_argument("--cell", type=positive_int, default=None, metavar="PX",
                   help="height of each image in the strip (default: the model's size)")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_device_argument(p)
    p.set_defaults(func=run)


def prepare(path: str | Path, size: int, max_pixels: int):
    """The image file as the model sees it: a centre square crop of the shorter side, ``size`` px (PIL)."""
    from PIL import Image

    from ..io.image import open_image

    image = open_image(path, max_pixels)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square if side == size else square.resize((size, size), Image.BICUBIC, reducing_gap=2.0)


def interpolation_path(vae, image_a, image_b, steps: int, mode: str = "linear"):
    """(decoded images len(ts) x 3 x size x size, ts, codes of A and B) for two prepared PIL images."""
    import torch

    from ..io.image import pil_to_tensor
    from ..nets.image_vae import interpolate_latents

    device = next(vae.parameters()).device
    batch = torch.cat([pil_to_tensor(image_a), pil_to_tensor(image_b)]).to(device)
    ts = torch.linspace(0.0, 1.0, steps).tolist()
    with torch.no_grad():
        mu, _ = vae.encode(batch)
        decoded = vae.decode(interpolate_latents(mu[0], mu[1], ts, mode)).float().clamp(0, 1).cpu()
    return decoded, ts, mu.cpu()


def interpolation_strip(image_a, image_b, decoded, ts, cell: int, names: tuple[str, str] = ("A", "B")):
    """The labelled strip A | t=0 ... t=1 | B (PIL), every image ``cell`` px tall (io.sheet.contact_sheet)."""
    from ..io.image import tensor_to_pil
    from ..io.sheet import contact_sheet

    items = [(image_a, _caption(f"A: {names[0]}", cell))]
    items += [(tensor_to_pil(image), f"t={t:.2f}".rstrip("0").rstrip(".")) for image, t in zip(decoded, ts)]
    items.append((image_b, _caption(f"B: {names[1]}", cell)))
    return contact_sheet(items, height=cell)


def strip_width(steps: int, cell: int) -> int:
    """Width of the strip for ``steps`` decoded points (plus A and B) of ``cell`` px squares."""
    from ..io.sheet import GAP

    return GAP + (steps + 2) * (cell + GAP)


def _caption(text: str, cell: int) -> str:
    limit = max(4, cell // 6)  # PIL's default bitmap font: ~6 px a character
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _check_paths(args) -> tuple[Path, Path | None]:
    from ..io.animation import ANIMATION_EXTENSIONS
    from .common import ensure_new_output

    inputs = [args.image_a, args.image_b] + ([args.model] if args.model else [])
    output = ensure_new_output(args.output, inputs)
    gif = None
    if args.gif:
        gif = Path(args.gif)
        taken = [Path(p).resolve() for p in inputs if Path(p).exists()] + [output.resolve()]
        if gif.resolve() in taken:
            raise PainterlyError(f"{gif}: refusing to overwrite an input file or the strip")
        if gif.suffix.lower() not in ANIMATION_EXTENSIONS:
            raise PainterlyError(f"{gif}: unknown animation type {gif.suffix!r} (use .gif)")
        if gif.is_dir():
            raise PainterlyError(f"{gif}: is a folder; give a file name such as path.gif")
    if output.is_dir():
        raise PainterlyError(f"{output}: is a folder; give a file name such as strip.png")
    return output, gif


def run(args) -> int:
    import torch

    from ..io.animation import write_animation
    from ..io.image import pil_to_tensor, save_image, tensor_to_pil
    from ..nets.image_vae import builtin_image_vae_path, load_image_vae
    from .common import resolve_device

    if not 2 <= args.steps <= MAX_STEPS:
        raise PainterlyError(f"--steps must be between 2 and {MAX_STEPS} (t=0 and t=1 included), not {args.steps}")
    if not args.fps > 0:
        raise PainterlyError(f"--fps must be positive, not {args.fps}")
    output, gif = _check_paths(args)
    vae, meta = load_image_vae(args.model, device=resolve_device(args.device))
    size = vae.config.size
    image_a = prepare(args.image_a, size, args.max_pixels)
    image_b = prepare(args.image_b, size, args.max_pixels)
    decoded, ts, codes = interpolation_path(vae, image_a, image_b, args.steps, args.mode)
    cell = args.cell or size
    names = (Path(args.image_a).stem, Path(args.image_b).stem)
    save_image(interpolation_strip(image_a, image_b, decoded, ts, cell, names), output)
    if gif is not None:
        frames = [tensor_to_pil(image) for image in decoded]
        frames = frames + frames[-2:0:-1]  # there and back: the loop has no jump
        write_animation(frames, gif, fps=args.fps, size=(cell, cell))
    inputs = torch.cat([pil_to_tensor(image_a), pil_to_tensor(image_b)])
    ends = torch.stack([decoded[0], decoded[-1]])
    summary = {"output": str(output), "gif": str(gif) if gif else None,
               "model": str(args.model or builtin_image_vae_path()), "size": size, "mode": args.mode,
               "steps": args.steps, "ts": [round(t, 6) for t in ts],
               "latent_distance": round(float((codes[0] - codes[1]).norm()), 4),
               "reconstruction_mse": {"A": round(float((ends[0] - inputs[0]).pow(2).mean()), 6),
                                      "B": round(float((ends[1] - inputs[1]).pow(2).mean()), 6)},
               "trained_steps": meta.get("training", {}).get("steps")}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {output}" + (f" and {gif}" if gif else ""), file=sys.stderr)
    return 0
