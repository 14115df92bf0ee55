"""``painterly evaluate``: content loss, style loss, SSIM and colour distance of a result."""

from __future__ import annotations

import json
import math

from ..analysis.metrics import EvaluateConfig, Metrics
from .common import add_device_argument, positive_int, resolve_device

DEFAULTS = EvaluateConfig()

# metric key -> (label, what it means) for the readable table
DESCRIPTIONS = {
    "content_loss": ("content loss", "VGG19 feature MSE vs the content photo (0 = same content; lower = closer)"),
    "style_loss": ("style loss", "Gram loss vs the style, 1e3/C^2 per layer (0 = same textures; lower = closer)"),
    "ssim": ("SSIM", "structural similarity to the content, luminance (1 = identical)"),
    "color_distance": ("colour distance", "W2 distance of CIELAB colours vs the style, Delta E units (0 = same)"),
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="measure how a result relates to its content and style",
                              description="Print content loss, style loss, SSIM and colour distance of a "
                                          "stylised image (definitions: painterly.analysis.metrics).")
    p.add_argument("output", help="the stylised image")
    p.add_argument("--content", required=True, help="the content photo it was made from")
    p.add_argument("--style", required=True, metavar="NAME|IMAGE",
                   help="the style image, or a built-in style name (then no colour distance)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size,
                   help=f"longer side in px at which everything is compared (default {DEFAULTS.size})")
    p.add_argument("--content-layers", nargs="+", default=list(DEFAULTS.content_layers), metavar="L",
                   help="VGG19 layers of the content loss")
    p.add_argument("--style-layers", nargs="+", default=list(DEFAULTS.style_layers), metavar="L",
                   help="VGG19 layers of the style loss")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULTS.max_pixels, help="refuse larger inputs")
    p.add_argument("--json", action="store_true", help="print a JSON object on stdout instead of a table")
    add_device_argument(p)
    p.set_defaults(func=run)


def format_value(value: float | None) -> str:
    """Four significant digits; ``n/a`` for a metric that could not be computed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def format_table(metrics: Metrics) -> str:
    """One metric a line: label, value, meaning."""
    rows = [(DESCRIPTIONS[key][0], format_value(value), DESCRIPTIONS[key][1])
            for key, value in metrics.to_dict().items()]
    width = max(len(label) for label, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    return "\n".join(f"{label:<{width}}  {value:>{value_width}}  {meaning}" for label, value, meaning in rows)


def run(args) -> int:
    from ..analysis.metrics import evaluate, make_features

    config = EvaluateConfig(size=args.size, content_layers=tuple(args.content_layers),
                            style_layers=tuple(args.style_layers), device=resolve_device(args.device),
                            max_pixels=args.max_pixels).validate()
    metrics = evaluate(args.output, args.content, args.style, config, make_features(config))
    print(json.dumps(metrics.to_dict(), indent=2) if args.json else format_table(metrics))
    return 0
