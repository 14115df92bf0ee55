"""``painterly styles``: one built-in style a line, its name first."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("styles", help="list the built-in styles")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..styles import StyleRegistry

    registry = StyleRegistry()
    for name in registry.names():
        info = registry.info(name)
        year = f" ({info.year})" if info.year else ""
        print(f"{name}\t{info.title}{year}, {info.artist}\t[{', '.join(info.methods)}]")
    return 0
