"""``painterly video``: stylise a video file frame by frame, audio kept, optional flicker reduction.

Also home of the helpers the ``webcam`` command shares: picking a model for a style and
turning ``--style`` arguments into what a stylizer takes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..temporal import BLENDS, FLOW_METHODS, TemporalConfig, VideoConfig
from .common import (ProgressBar, add_detail_arguments, add_device_argument, add_precision_argument,
                     add_prefer_argument, non_negative_float, positive_int, resolve_device)

DEFAULTS = VideoConfig()
TEMPORAL_DEFAULTS = TemporalConfig()


def add_model_arguments(p, style_help: str, prefer: str = "quality") -> None:
    """``--style`` (repeatable), ``--model``, ``--method``, ``--strength``, ``--preserve-color``, ``--detail``,
    ``--detail-radius``, ``--precision``, ``--prefer``:
    the same meaning as for ``painterly stylize``; shared by ``video`` and ``webcam`` (``prefer``: the default)."""
    from ..methods.stylize import METHODS, StylizeConfig

    defaults = StylizeConfig()
    p.add_argument("--style", action="append", default=None, metavar="NAME|IMAGE[:WEIGHT]", help=style_help)
    p.add_argument("--model", default=defaults.model, metavar="PATH|NAME",
                   help="model file (.safetensors, or .onnx from `painterly export`) or built-in model name "
                        "(default: chosen by the style, as for `painterly stylize`)")
    p.add_argument("--method", choices=METHODS, default=defaults.method,
                   help="auto: a fast model of the style, else a multistyle one holding it, else adain")
    p.add_argument("--strength", type=non_negative_float, default=defaults.strength, metavar="F",
                   help="0 = the input, 1 = full style (default %(default)g)")
    p.add_argument("--preserve-color", action="store_true", help="keep the input's colours (luminance-only transfer)")
    add_detail_arguments(p)
    add_precision_argument(p)
    add_prefer_argument(p, prefer)


def model_config_from_args(args, device: str):
    """The :class:`~painterly.methods.stylize.StylizeConfig` of :func:`add_model_arguments`' flags."""
    from ..methods.stylize import StylizeConfig

    return StylizeConfig(method=args.method, model=args.model, strength=args.strength,
                         preserve_color=args.preserve_color, detail=args.detail, detail_radius=args.detail_radius,
                         precision=args.precision, device=device, prefer=args.prefer)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("video", help="stylise a video file (audio kept)",
                              description="Stylise every frame of a video with a feed-forward model, at the "
                                          "input's frame rate, and copy its audio track into the result. "
                                          "--temporal blends in the previous result along the optical flow "
                                          "to reduce flicker.")
    p.add_argument("input", metavar="IN", help="video file (anything ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="result video (.mp4, .mkv, .mov, .webm)")
    add_model_arguments(p, "built-in style name or style image (adain), optionally :weight; repeat to blend "
                           "the styles of a multi-style model")
    p.add_argument("--temporal", type=non_negative_float, default=TEMPORAL_DEFAULTS.weight, metavar="F",
                   help="flicker reduction, 0-1: weight of the motion-compensated previous frame where the "
                        f"optical flow is reliable (default {TEMPORAL_DEFAULTS.weight:g} = off; 0.5-0.8 typical)")
    p.add_argument("--flow", choices=FLOW_METHODS, default=TEMPORAL_DEFAULTS.flow,
                   help="optical flow for --temporal (default %(default)s)")
    p.add_argument("--temporal-blend", choices=BLENDS, default=TEMPORAL_DEFAULTS.blend,
                   help="detail: keep the strokes' contrast while blending (default); mean: plain average, "
                        "smoother but blurrier")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, metavar="PX",
                   help="longer side of the result in px (default: the input's size)")
    p.add_argument("--max-frames", type=positive_int, default=DEFAULTS.max_frames, metavar="N",
                   help="stop after N frames (the audio is cut to match)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- shared with webcam


def make_stylize(specs: Sequence[str] | None, config=None, cache: dict | None = None):
    """(``images -> images``, :class:`~painterly.methods.stylize.Prepared`) for the style flags:
    ``config`` is a :class:`~painterly.methods.stylize.StylizeConfig` (model, method, strength,
    colour, detail, precision, preference, device; default its defaults).

    The model is chosen and the style parsed exactly as ``painterly stylize`` does
    (:func:`painterly.methods.stylize.prepare`; ``.onnx`` models run on onnxruntime).
    ``cache`` maps (method, model) -> stylizer so several styles can share one loaded model.
    The style is checked on a tiny probe image before anything is written. An AdaIN model's paintings
    are encoded once here (:meth:`~painterly.methods.adain.AdainStylizer.encode_style`), not per frame,
    unless ``preserve_color`` recolours them to each frame.
    """
    from ..methods.stylize import Prepared, StylizeConfig, apply_stylizer, choose_model, parse_style, prepare, \
        style_argument

    config = config or StylizeConfig()
    style = list(specs) if specs else None
    request = parse_style(style)
    key = choose_model(request, config.method, config.model, prefer=config.prefer)
    cache = {} if cache is None else cache
    if key not in cache:
        prepared = prepare(style, config)       # checks the style against the model and encodes it once
        cache[key] = prepared.stylizer
        stylizer, arg = prepared.stylizer, prepared.style
    else:                                       # another style on a model already loaded
        stylizer = cache[key]
        arg = style_argument(stylizer, request, config.preserve_color)   # checked, and encoded once, not per frame

    def stylize(images):
        return apply_stylizer(stylizer, images, arg, config.strength, config.preserve_color,
                              detail=config.detail, detail_radius=config.detail_radius)

    stylize(_probe_image(config.device))
    name = getattr(stylizer, "name", None) or (Path(str(key[1])).stem if key[1] else stylizer.kind)
    return stylize, Prepared(stylizer, arg, stylizer.kind, str(name))


def _probe_image(device: str):
    import torch

    return torch.full((1, 3, 16, 16), 0.5, device=device)


# --------------------------------------------------------------------------- run


def config_from_args(args) -> VideoConfig:
    temporal = TemporalConfig(weight=args.temporal, flow=args.flow, blend=args.temporal_blend)
    return VideoConfig(size=args.size, max_frames=args.max_frames, temporal=temporal).validate()


def run(args) -> int:
    from ..io.video import check_video_output, probe_video
    from ..temporal import stylize_video

    output = check_video_output(args.output, [args.input])
    config = config_from_args(args)
    info = probe_video(args.input)
    device = resolve_device(args.device)
    stylize, prepared = make_stylize(args.style, model_config_from_args(args, device))
    total = info.frame_count_estimate
    bar = ProgressBar("video", min(total, config.max_frames or total) or 1, enabled=not args.quiet)
    bar.bar.unit = "frame"
    try:
        result = stylize_video(args.input, output, stylize, config, device=device, callbacks=[bar])
    finally:
        bar.close()
    if args.json:
        summary = {**result.to_dict(), "input": str(args.input), "model": prepared.model, "kind": prepared.method,
                   "style": args.style, "strength": args.strength, "preserve_color": args.preserve_color,
                   "detail": args.detail, "detail_radius": args.detail_radius}
        print(json.dumps(summary, indent=2, default=str))
    else:
        flick = result.flicker
        print(f"wrote {result.output} ({result.frames} frames, {result.width}x{result.height}, "
              f"{result.fps_out:.1f} frames/s, flicker {flick['output']:.4f} vs input {flick['input']:.4f}, "
              f"warping error {flick.get('warping_error_output', 0):.4f} "
              f"({flick.get('warping_error_stylized', 0):.4f} without --temporal)"
              f"{', audio kept' if result.audio else ''})", file=sys.stderr)
    return 0
