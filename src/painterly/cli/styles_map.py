"""``painterly styles-map``: a map of the style space, as one self-contained interactive HTML page.

    painterly styles-map -o map.html [--styles MY_STYLES/] [--method pca|tsne|umap] [--png map.png]

Every painting of the style VAE is placed by its latent code (shown by its swatch: a texture with
its decoded statistics, since the paintings themselves do not ship), and with ``--styles`` every
image of that folder too (shown by itself), projected to 2-D together. The page works offline:
drag to pan, wheel or +/- to zoom, hover for a name, search names, click two items for the
``painterly style-path`` command between them. See :mod:`painterly.stylespace.map`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import PainterlyError

METHODS = ("pca", "tsne", "umap")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "styles-map", help="an interactive map of the style space (HTML, works offline)",
        description="Place every painting of the style space by its latent code, and with --styles your own "
                    "images, projected to 2-D (PCA, t-SNE or UMAP), on one self-contained HTML page: pan, zoom, "
                    "hover for names, search, and click two items for the `painterly style-path` command "
                    "between them.")
    p.add_argument("-o", "--output", required=True, metavar="MAP.html", help="the page to write (a new file)")
    p.add_argument("--styles", default=None, metavar="DIR",
                   help="also place the images in this folder (encoded into the space; unreadable files skipped)")
    p.add_argument("--method", choices=METHODS, default="pca",
                   help="projection: pca (linear: a straight latent path stays straight), tsne (scikit-learn) "
                        "or umap (umap-learn) (default pca)")
    p.add_argument("--model", default=None, metavar="PATH", help="a style-vae model file (default: the built-in one)")
    p.add_argument("--png", default=None, metavar="MAP.png", help="also write a static plot (matplotlib)")
    p.add_argument("--seed", type=int, default=0, help="random seed of t-SNE / UMAP")
    p.add_argument("--title", default="", help="page title")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def check_new_file(path: str, flag: str, suffixes: tuple[str, ...]) -> Path:
    """A path to create: the right suffix, not a folder, nothing there yet (nothing is overwritten)."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise PainterlyError(f"{flag} {path}: give a file name ending in {' or '.join(suffixes)}")
    if out.is_dir():
        raise PainterlyError(f"{flag} {path}: is a folder; give a file name ending in {suffixes[0]}")
    if out.exists() or out.is_symlink():
        raise PainterlyError(f"{flag} {path}: exists (nothing is overwritten; choose a new name)")
    return out


def run(args) -> int:
    from ..analysis.embedding_plot import require
    from ..stylespace.map import build_style_map, plot_style_map, write_style_map_html
    from ..stylespace.space import load_style_space
    from .common import ProgressBar, ensure_new_output

    output = check_new_file(args.output, "-o", (".html", ".htm"))
    png = None
    if args.png:
        png = check_new_file(args.png, "--png", (".png",))
        ensure_new_output(png, [args.output])
        if png.resolve() == output.resolve():
            raise PainterlyError("-o and --png name the same file")
    require("umap" if args.method == "umap" else "sklearn")   # a missing extra fails before any work
    if png is not None:
        require("matplotlib")
    if args.styles is not None:
        from ..stylespace.map import image_files

        image_files(args.styles)                           # no folder / no images: fail before loading
    space = load_style_space(args.model)

    bar = None
    if args.styles is not None and not args.quiet:
        bar = ProgressBar("encode images", None).bar

    def skip(path: Path, reason: str) -> None:
        message = f"warning: skipped {path}: {reason}"
        if bar is not None:
            bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        style_map = build_style_map(space, args.styles, args.method, args.seed, on_skip=skip,
                                    progress=progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    written = {"html": str(write_style_map_html(style_map, output, args.title))}
    if png is not None:
        written["png"] = str(plot_style_map(style_map, png, args.title))
    summary = {**written, **style_map.summary()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        extra = f" and {summary['user_images']} of your images" if args.styles is not None else ""
        print(f"wrote {', '.join(written.values())} ({summary['paintings']} paintings{extra}, "
              f"{args.method})", file=sys.stderr)
    return 0
