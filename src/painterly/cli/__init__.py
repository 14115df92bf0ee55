"""The ``painterly`` command line: one small module per subcommand.

Each subcommand module has ``add_parser(subparsers)`` that registers its flags and sets
``func`` to a ``run(args) -> int`` that parses nothing itself: it calls the library with
explicit arguments and writes files.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

from .common import ArgumentParser, report_errors

SUBCOMMANDS = ("demo", "optimize", "visualize", "gif", "evaluate", "styles", "info", "train", "tune", "video", "webcam",
               "export", "stylize", "serve", "reencode", "embeddings", "batch", "vae_interpolate", "style_path", "styles_map")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="painterly", description="Neural style transfer toolkit and studio.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"painterly {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"painterly.cli.{name}").add_parser(subparsers)
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    with report_errors(debug) as outcome:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                            format="%(message)s")
        outcome.code = args.func(args)
    return outcome.code
