"""``painterly styles``: one style a line, its name first, then title and artist, then the
methods that can render it (``optimize`` and ``adain`` from stored statistics, ``fast`` and
``multistyle`` from trained networks)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("styles", help="list the built-in styles and the methods for each")
    p.add_argument("--model-dir", default=None, help="list the networks in this folder instead of the built-in ones")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..catalog import list_styles

    import sys

    from ..stylespace.space import builtin_style_vae_path

    for entry in list_styles(model_dir=args.model_dir):
        print(f"{entry.name}\t{entry.label()}\t[{', '.join(entry.methods)}]")
    if builtin_style_vae_path().is_file():
        print("style space: the [optimize] names above and the paintings `painterly styles-map` shows, as "
              "--style vae:NAME, vae:A..B@T or vae:random", file=sys.stderr)
    return 0
