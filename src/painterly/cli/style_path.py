"""``painterly style-path``: a photo rendered along the latent path between two styles.

    painterly style-path photo.jpg starry_night great_wave --steps 8 -o path/

writes ``path/step_00.png`` ... (one per point), ``path/strip.png`` (all points side by side,
labelled with t), ``path/path.gif`` and ``path/path.json`` (t, seconds and the distances to both
ends for every point; see :mod:`painterly.stylespace.path`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..stylespace.render import RENDER_METHODS, RenderConfig
from .common import add_device_argument, positive_int, resolve_device

DEFAULTS = RenderConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("style-path", help="render a photo along the style-space path between two styles",
                              description="Render CONTENT at evenly spaced points of the straight latent path "
                                          "of the style VAE from style A to style B: a strip, a GIF, each image "
                                          "and the distances to both ends.")
    p.add_argument("content", help="the photo")
    p.add_argument("a", help="first style: a painting name of the style space, a built-in style or an image file")
    p.add_argument("b", help="second style (same kinds as A)")
    p.add_argument("--steps", type=int, default=8, help="points on the path, both ends included (2-64)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="new (or empty) folder for the results")
    p.add_argument("--render", choices=RENDER_METHODS, default=DEFAULTS.method,
                   help="adain (real time; needs a trained decoder), optimize (mean/std loss), auto (adain if installed)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, help="longer side of each image in px")
    p.add_argument("--iterations", type=positive_int, default=DEFAULTS.iterations,
                   help="optimisation steps per point (--render optimize)")
    p.add_argument("--style-weight", type=float, default=None, help="optimize: beta of the mean/std loss")
    p.add_argument("--model", default=None, metavar="PATH", help="a style-vae model file (default: the built-in one)")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second of the GIF (it plays there and back)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=run)


def check_output_dir(folder: Path) -> None:
    from ..errors import PainterlyError

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise PainterlyError(f"{folder}: exists and is not an empty folder (nothing is overwritten)")


def run(args) -> int:
    from ..errors import PainterlyError
    from ..io.animation import write_animation
    from ..io.image import load_image, save_image, tensor_to_pil
    from ..io.sheet import contact_sheet
    from ..stylespace.path import render_path
    from ..stylespace.render import resolve_method
    from ..stylespace.space import load_style_space
    from .common import ProgressBar

    if not 2 <= args.steps <= 64:
        raise PainterlyError(f"--steps must be between 2 and 64, not {args.steps}")
    folder = Path(args.output)
    check_output_dir(folder)
    content = load_image(args.content)
    space = load_style_space(args.model)
    space.code(args.a), space.code(args.b)      # unknown names fail before any work
    cfg = RenderConfig(method=resolve_method(args.render), size=args.size, iterations=args.iterations,
                       style_weight=args.style_weight, device=resolve_device(args.device)).validate()
    bar = ProgressBar(f"style-path ({cfg.method})", args.steps, enabled=not args.quiet).bar
    try:
        path = render_path(content, space, args.a, args.b, args.steps, cfg, on_point=lambda _: bar.update(1))
    finally:
        bar.close()
    folder.mkdir(parents=True, exist_ok=True)
    files = [save_image(p.image, folder / f"step_{i:02d}.png") for i, p in enumerate(path.points)]
    items = [(tensor_to_pil(p.image), f"t={p.t:.2f}") for p in path.points]
    save_image(contact_sheet(items, height=min(256, args.size)), folder / "strip.png")
    frames = files + files[-2:0:-1]
    gif = write_animation(frames, folder / "path.gif", fps=args.fps)
    summary = {"content": args.content, "a": args.a, "b": args.b, "render": cfg.method, "size": cfg.size,
               "model": str(space.path), "distance_to_a_rises": path.rises_from_a(),
               "distance_to_b_falls": path.approaches_b(), "gif": str(gif),
               "strip": str(folder / "strip.png"),
               "points": [{"t": p.t, "image": str(f), "seconds": round(p.seconds, 3),
                           "stats_to_a": p.stats_to_a, "stats_to_b": p.stats_to_b,
                           "style_loss_to_a": p.style_loss_to_a, "style_loss_to_b": p.style_loss_to_b}
                          for p, f in zip(path.points, files)]}
    (folder / "path.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {len(files)} images, {folder / 'strip.png'} and {gif} to {folder} "
              f"(distance to A {'rises steadily' if path.rises_from_a() else 'does not rise steadily'}, to B "
              f"{'falls steadily' if path.approaches_b() else 'does not fall steadily'})", file=sys.stderr)
    return 0
