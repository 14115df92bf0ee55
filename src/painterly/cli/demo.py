"""``painterly demo``: the main job on built-in defaults, no arguments needed.

Stylises a bundled sample photo (scikit-image's astronaut, a NASA public-domain photo) with a
built-in style by a short optimisation, and writes the result, a GIF of the run, the photo
through every installed feed-forward network (a fraction of a second each) and a contact
sheet of all of them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEMO_STYLE = "starry_night"


def default_output_dir() -> Path:
    """``$XDG_DATA_HOME/painterly/demo`` (``~/.local/share/painterly/demo``): never the current folder unasked."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "painterly" / "demo"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="stylise a sample photo with built-in defaults and show where it went")
    p.add_argument("-o", "--output-dir", default=None,
                   help=f"folder for the results (default: {default_output_dir()})")
    p.add_argument("--style", default=DEMO_STYLE, help="built-in style name or style image")
    p.add_argument("--size", type=int, default=256, help="longer side of the result in px")
    p.add_argument("--iterations", type=int, default=80, help="optimisation steps")
    p.add_argument("--time-limit", type=float, default=180.0, help="stop the optimisation after this many seconds")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def sample_photo():
    """The bundled sample photo as a PIL image (no network needed)."""
    import skimage.data
    from PIL import Image

    return Image.fromarray(skimage.data.astronaut())


def run(args) -> int:
    from ..io.animation import FrameWriter, list_frames, write_animation
    from ..io.image import load_image, save_image, tensor_to_pil
    from ..io.sheet import contact_sheet
    from ..methods.optimize import OptimizeConfig, load_styles, resolve_scales, run_optimization
    from .common import ProgressBar, resolve_device

    out = Path(args.output_dir) if args.output_dir else default_output_dir()
    out.mkdir(parents=True, exist_ok=True)
    photo = sample_photo()
    content = load_image(photo, size=args.size)
    styles = load_styles([args.style])
    cfg = OptimizeConfig(size=args.size, iterations=args.iterations, time_limit=args.time_limit,
                         device=resolve_device(args.device)).validate()
    cfg = resolve_scales(cfg, *content.shape[-2:])
    bar = ProgressBar(f"demo ({args.style})", sum(cfg.steps_per_scale()), enabled=not args.quiet)
    with tempfile.TemporaryDirectory(prefix="painterly-demo-") as frames_dir:
        try:
            result = run_optimization(content, styles, cfg, [bar, FrameWriter(frames_dir, 5)])
        finally:
            bar.close()
        stylised = tensor_to_pil(result.image)
        save_image(tensor_to_pil(content), out / "content.png")
        save_image(stylised, out / "result.png")
        write_animation(list_frames(frames_dir) + [out / "result.png"], out / "optimization.gif", fps=15)
    panels = [(tensor_to_pil(content), "photo"), (stylised, f"optimize: {args.style}")]
    written = ["result.png", "optimization.gif"]
    for label, image, stem in network_results(photo, args.size, cfg.device, args.style):
        name = f"{stem}.png"
        save_image(image, out / name)
        panels.append((image, label))
        written.append(name)
    save_image(contact_sheet(panels, height=args.size, columns=sheet_columns(len(panels))), out / "sheet.png")
    print(f"painterly demo: {result.iterations} optimisation steps in {result.seconds:.0f}s, "
          f"{len(panels) - 2} feed-forward network(s).\nWrote {', '.join(written)} and sheet.png to {out}")
    return 0


def network_results(photo, size: int, device: str, style_name: str = "starry_night"):
    """(label, image, file stem ``KIND_MODEL``) for the photo through every installed network: each fast model, a blend
    of two styles of each multi-style model (:func:`blend_pair`), an AdaIN decoder with ``style_name`` (any
    style works there), and the other kinds with their first style; grouped by method in
    :data:`painterly.catalog.METHOD_ORDER` (per-style, multi-style, AdaIN, artist-level), by name within one."""
    from ..catalog import METHOD_ORDER
    from ..methods.adain import BUILTIN_DECODER
    from ..methods.feedforward import LOADERS, available_models
    from ..methods.stylize import stylize

    rank = {kind: i for i, kind in enumerate(METHOD_ORDER)}
    for model in sorted(available_models(), key=lambda m: (rank.get(m.kind, len(rank)), m.name)):
        if model.kind not in LOADERS:   # e.g. the style-space VAEs: not stylizers
            continue
        styles = list(model.styles)
        if model.kind == "adain":   # the built-in VGG19 decoder plain, any other (e.g. the compact one) by name
            style, label = style_name, f"adain: {style_name}" + ("" if model.path.name == BUILTIN_DECODER
                                                                  else f" ({model.name})")
        elif model.kind == "multistyle" and len(styles) >= 2:
            first, second = blend_pair(styles, style_name)
            style, label = {first: 0.5, second: 0.5}, f"multistyle: {first}+{second}"
        else:
            style = styles[0] if styles else None
            label = f"{model.kind}: {style or model.name}" + (f" ({model.name})" if style and style != model.name else "")
        yield (label, stylize(photo, style=style, model=str(model.path), size=size, device=device),
               f"{model.kind}_{model.name}")


def sheet_columns(n_panels: int, most: int = 4) -> int:
    """Columns of the demo's contact sheet: one row up to ``most`` panels, else rows of ``most``."""
    return max(1, min(n_panels, most))


def blend_pair(styles: list[str], style_name: str) -> tuple[str, str]:
    """The two styles of a multi-style model the demo blends: ``style_name`` and the next one, else the first two."""
    if style_name in styles:
        index = styles.index(style_name)
        return style_name, styles[(index + 1) % len(styles)]
    return styles[0], styles[1]
