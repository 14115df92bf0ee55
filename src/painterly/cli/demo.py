"""`painterly demo` (placeholder while it is written)."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="(not yet available)")
    p.set_defaults(func=lambda args: 2)
