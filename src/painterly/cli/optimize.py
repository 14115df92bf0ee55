"""``painterly optimize``: Gatys optimisation with every control exposed."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..methods.optimize import INITS, STYLE_BALANCE, STYLE_LOSSES, OptimizeConfig
from .common import (ProgressBar, add_device_argument, ensure_new_output, non_negative_float, positive_int,
                     resolve_device)

DEFAULTS = OptimizeConfig()
GIF_FRAMES = 60  # frames in a --gif when --save-every is not given


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("optimize", help="stylise a photo by optimisation (Gatys et al. 2016)",
                              description="Optimise an image to match a photo's content and one or more "
                                          "styles' Gram statistics on VGG19.")
    p.add_argument("content", help="content photo")
    p.add_argument("-o", "--output", required=True, help="result image (.png, .jpg, .webp)")
    p.add_argument("--style", action="append", required=True, metavar="NAME|IMAGE[:WEIGHT]",
                   help="built-in style name or style image, optionally :weight; repeat to blend styles; "
                        "or a point of the style space: vae:NAME, vae:A..B@T, vae:random (with --seed)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, help="longer side of the result in px")
    p.add_argument("--iterations", type=int, default=DEFAULTS.iterations, help="optimiser steps at the final scale")
    p.add_argument("--coarse-iterations", type=int, default=None,
                   help="steps at each coarser scale (default: same as --iterations)")
    p.add_argument("--scales", type=positive_int, default=DEFAULTS.scales,
                   help="coarse-to-fine levels, each twice the size of the previous (default: 2 from 128 px up)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SEC", help="stop after this many seconds")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=DEFAULTS.optimizer)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 1.0 L-BFGS, 0.02 Adam)")
    p.add_argument("--max-step", type=float, default=DEFAULTS.max_step, metavar="F",
                   help="largest change of any pixel in one step, 0-1 (L-BFGS trust region)")
    p.add_argument("--precondition", type=float, default=DEFAULTS.precondition, metavar="A",
                   help="L-BFGS preconditioner strength: gradients plus A x their Gaussian blurs at 2, 4, 8, ... px, "
                        "so large areas change as fast as detail (0: off)")
    p.add_argument("--init", default=DEFAULTS.init, metavar="|".join(INITS) + "|PATH",
                   help="start from the content, noise, the style image, the content recoloured to the style's "
                        "colours (match) or an image file")
    p.add_argument("--content-layers", nargs="+", default=list(DEFAULTS.content_layers), metavar="L",
                   help="VGG19 layers for content (names like relu4_2, or 0-4 for relu1_1..relu5_1)")
    p.add_argument("--style-layers", nargs="+", default=None, metavar="L",
                   help=f"VGG19 layers for style (default {' '.join(DEFAULTS.style_layers)}; for vae: styles "
                        f"relu1_1 relu2_1 relu3_1 relu4_1, the layers the style space holds)")
    p.add_argument("--style-layer-weights", nargs="+", type=float, default=None, metavar="W",
                   help="one weight per style layer (default 1e3/C^2 each)")
    p.add_argument("--content-weight", type=non_negative_float, default=DEFAULTS.content_weight, help="alpha")
    p.add_argument("--style-weight", type=non_negative_float, default=None,
                   help="beta (default: balanced, see --style-balance, with the Gram loss; 10 with the mean/std loss)")
    p.add_argument("--style-balance", type=float, default=None, metavar="R",
                   help="without --style-weight (Gram loss): beta = R x the photo's content energy / its style loss, "
                        f"measured at --size, so R means the same for every pair (default {STYLE_BALANCE:g}, or a "
                        "built-in style's own: great_wave 10; higher = more style; 330 = pastiche's trade-off)")
    p.add_argument("--style-vae", default=None, metavar="PATH",
                   help="style-vae model for vae: styles (default: the built-in one)")
    p.add_argument("--style-loss", choices=STYLE_LOSSES, default=None,
                   help="gram (Gatys, the default) or meanstd (channel mean/std, Huang & Belongie; the "
                        "default for vae: styles, which carry no Gram matrices)")
    p.add_argument("--tv-weight", type=non_negative_float, default=DEFAULTS.tv_weight, help="gamma")
    p.add_argument("--style-scale", type=float, default=DEFAULTS.style_scale,
                   help="style image size relative to the result (bigger = larger brush strokes)")
    p.add_argument("--preserve-color", nargs="?", const="luminance", choices=("luminance", "match"), default=None,
                   help="keep the photo's colours: luminance-only transfer (default) or match the style's colours")
    p.add_argument("--pooling", choices=("max", "avg"), default=DEFAULTS.pooling)
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                   help="write the current image every N steps into --frames-dir")
    p.add_argument("--frames-dir", default=None, help="folder for frames (default: OUTPUT's name + _frames)")
    p.add_argument("--gif", default=None, metavar="PATH", help="animation of the run (.gif or .mp4)")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second of --gif")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULTS.max_pixels, help="refuse larger inputs")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=run)


def config_from_args(args, device: str) -> OptimizeConfig:
    return OptimizeConfig(
        size=args.size, iterations=args.iterations, coarse_iterations=args.coarse_iterations, scales=args.scales,
        time_limit=args.time_limit, optimizer=args.optimizer, lr=args.lr, max_step=args.max_step,
        precondition=args.precondition, init=args.init,
        content_layers=tuple(args.content_layers), style_layers=default_style_layers(args),
        style_layer_weights=tuple(args.style_layer_weights) if args.style_layer_weights else None,
        content_weight=args.content_weight, style_weight=args.style_weight,
        style_balance=args.style_balance,
        style_loss=args.style_loss or default_style_loss(args.style),
        tv_weight=args.tv_weight,
        style_scale=args.style_scale, preserve_color=args.preserve_color, pooling=args.pooling, seed=args.seed,
        device=device, max_pixels=args.max_pixels).validate()


def default_style_layers(args) -> tuple[str, ...]:
    """--style-layers, else the style space's layers for vae: styles, else the Gatys layers."""
    if args.style_layers:
        return tuple(args.style_layers)
    if any(str(s).startswith("vae:") for s in args.style):
        from ..stylespace.vectors import VECTOR_LAYERS

        return VECTOR_LAYERS
    return tuple(DEFAULTS.style_layers)


def default_style_loss(styles) -> str:
    """meanstd when a style is a point of the style space (vae:...), which has no Gram matrices; else gram."""
    return "meanstd" if any(str(s).startswith("vae:") for s in styles) else "gram"


def run(args) -> int:
    from ..errors import PainterlyError
    from ..io.animation import ANIMATION_EXTENSIONS, FrameWriter, list_frames, write_animation
    from ..io.image import load_image, save_image
    from ..methods.optimize import load_styles, resolve_scales, run_optimization

    inputs = [args.content] + [s.split(":")[0] for s in args.style if not s.startswith("vae:")] + ([args.init] if args.init not in INITS else [])
    output = ensure_new_output(args.output, inputs)
    cfg = config_from_args(args, resolve_device(args.device))
    if args.init not in INITS and not Path(args.init).is_file():
        raise PainterlyError(f"--init {args.init!r}: not content, noise, style or an image file")
    if args.gif:
        if Path(args.gif).suffix.lower() not in ANIMATION_EXTENSIONS:
            raise PainterlyError(f"--gif {args.gif}: use one of {', '.join(ANIMATION_EXTENSIONS)}")
        if args.fps <= 0:
            raise PainterlyError(f"--fps must be positive, got {args.fps}")
    content = load_image(args.content, max_pixels=cfg.max_pixels)
    cfg = resolve_scales(cfg, *content.shape[-2:])
    space = None
    if any(s.startswith("vae:") for s in args.style):
        from ..stylespace.space import load_style_space

        space = load_style_space(args.style_vae)
    styles = load_styles(args.style, max_pixels=cfg.max_pixels, seed=cfg.seed, style_space=space)

    total = sum(cfg.steps_per_scale())
    callbacks = []
    bar = ProgressBar("optimize", total, enabled=not args.quiet)
    callbacks.append(bar)
    frames_dir = args.frames_dir or (str(output.with_name(output.stem + "_frames")) if args.save_every else None)
    scratch = None
    if args.gif and not frames_dir:
        scratch = tempfile.TemporaryDirectory(prefix="painterly-frames-")
        frames_dir = scratch.name
    if frames_dir:
        callbacks.append(FrameWriter(frames_dir, args.save_every or max(1, total // GIF_FRAMES)))
    try:
        result = run_optimization(content, styles, cfg, callbacks)
        bar.close()
        save_image(result.image, output)
        written = {"output": str(output)}
        if args.gif:
            frames = list_frames(frames_dir) + [output]
            written["gif"] = str(write_animation(frames, args.gif, fps=args.fps))
        if frames_dir and not scratch:
            written["frames"] = frames_dir
    finally:
        bar.close()
        if scratch:
            scratch.cleanup()
    summary = {**written, "iterations": result.iterations, "seconds": round(result.seconds, 3),
               "losses": result.losses, "settings": {k: v for k, v in result.config.items()}}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(f"wrote {output} ({result.iterations} steps, {result.seconds:.1f}s)", file=sys.stderr)
    return 0
