"""``painterly stylize``: feed-forward style transfer of files and folders."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..io.formats import IMAGE_SUFFIXES
from ..methods.stylize import METHODS, StylizeConfig
from ..tiling import STATS_MODES
from .common import (add_detail_arguments, add_device_argument, add_precision_argument, add_prefer_argument,
                     positive_int, resolve_device)

DEFAULTS = StylizeConfig()
OPTIMIZE_RENDER_SIZE = 256   # default longer side for vae: styles rendered by optimisation


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="stylise photos with a trained network (fast, multistyle, adain)",
                              description="Stylise images or folders of images with a feed-forward network: a "
                                          "per-style model, a multi-style model (blend with NAME:WEIGHT) or "
                                          "AdaIN with any style image.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True,
                   help="result image for one input file; a folder (created) for several inputs or a folder")
    p.add_argument("--style", action="append", default=None, metavar="NAME|IMAGE[:WEIGHT]",
                   help="built-in style name or style image, optionally :weight; repeat to blend "
                        "(default: the style of a single-style --model); or a point of the style space: "
                        "vae:NAME, vae:A..B@T (T in [0, 1]) or vae:random (with --seed)")
    p.add_argument("--method", choices=METHODS, default=DEFAULTS.method,
                   help="auto: a model of the named style, adain for a style image (default auto)")
    p.add_argument("--model", default=DEFAULTS.model, metavar="PATH|NAME", help="model file or built-in model name")
    add_prefer_argument(p, DEFAULTS.prefer)
    p.add_argument("--strength", type=float, default=DEFAULTS.strength,
                   help=f"0 = the photo, 1 = full style (default {DEFAULTS.strength:g})")
    p.add_argument("--mask", action="append", default=None, metavar="IMAGE",
                   help="AdaIN: one grey-level image per --style, the photo's size; white is where that style "
                        "goes (soft edges blend)")
    p.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance-only transfer)")
    add_detail_arguments(p)
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, help="longer side of the result in px")
    p.add_argument("--tile", type=positive_int, default=DEFAULTS.tile, metavar="PX",
                   help="process in tiles of at most PX px a side (for images too large for memory)")
    p.add_argument("--tile-stats", choices=STATS_MODES, default=DEFAULTS.tile_stats,
                   help="instance-norm statistics when tiling: from a preview (fast), exact (slow), per tile")
    add_precision_argument(p)
    p.add_argument("--runtime", choices=("auto", "torch", "onnx"), default=DEFAULTS.runtime,
                   help="auto: a model's shipped .onnx export with onnxruntime on the CPU (faster), else PyTorch")
    p.add_argument("--model-dir", default=DEFAULTS.model_dir, help="look up model names here instead of built-ins")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULTS.max_pixels, help="refuse larger inputs")
    p.add_argument("--seed", type=int, default=0, help="the draw of --style vae:random")
    p.add_argument("--iterations", type=positive_int, default=150,
                   help="optimisation steps when a vae: style is rendered without an AdaIN decoder (default 150)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_device_argument(p)
    p.set_defaults(func=run)


def config_from_args(args, device: str) -> StylizeConfig:
    return StylizeConfig(method=args.method, model=args.model, strength=args.strength,
                         preserve_color=args.preserve_color, detail=args.detail, detail_radius=args.detail_radius,
                         size=args.size, tile=args.tile, tile_stats=args.tile_stats, device=device, precision=args.precision, runtime=args.runtime,
                         max_pixels=args.max_pixels, model_dir=args.model_dir, prefer=args.prefer).validate()


def collect_inputs(inputs: list[str]) -> tuple[list[Path], bool]:
    """The image files to process, and whether the output is a folder (several inputs or a folder)."""
    from ..errors import ImageError

    files: list[Path] = []
    folder_mode = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            folder_mode = True
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"{path}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ImageError(f"{path}: no such file or folder")
    return files, folder_mode


def plan_outputs(files: list[Path], output: str, folder_mode: bool, styles: list[str]) -> list[Path]:
    """One output path per input: OUTPUT itself, or OUTPUT/<input name> in folder mode.

    Refuses duplicate names, writing over an input or a style image, and unknown extensions.
    """
    from ..errors import ImageError, PainterlyError
    from .common import ensure_new_output

    protected = files + [Path(s.rsplit(":", 1)[0]) for s in styles] + [Path(s) for s in styles]
    if not folder_mode:
        if Path(output).is_dir():
            return plan_outputs(files, output, True, styles)
        return [ensure_new_output(output, protected)]
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise ImageError(f"{output}: several inputs need a folder as --output, and this is a file")
    outputs = [folder / f.name for f in files]
    seen: dict[Path, Path] = {}
    for source, target in zip(files, outputs):
        if target in seen:
            raise PainterlyError(f"{seen[target]} and {source} would both be written to {target}")
        seen[target] = source
        ensure_new_output(target, protected)
    return outputs


def run(args) -> int:
    from ..io.image import open_image, save_image
    from ..errors import PainterlyError
    from ..methods.adain import load_masks
    from ..methods.stylize import _load_content, prepare, stylize_tensor

    styles = args.style or []
    files, folder_mode = collect_inputs(args.inputs)
    outputs = plan_outputs(files, args.output, folder_mode, [s for s in styles if not s.startswith("vae:")])
    config = config_from_args(args, resolve_device(args.device))
    masks = args.mask or []
    if masks and len(masks) != len(styles):
        raise PainterlyError(f"{len(masks)} --mask for {len(styles)} --style: give one mask per style")
    if any(s.startswith("vae:") for s in styles):
        if masks:
            raise PainterlyError("--mask works with painting or built-in styles, not vae: points")
        return run_style_space(args, styles, files, outputs, config)
    prepared = prepare(styles if len(styles) > 1 else (styles[0] if styles else None), config)
    if masks and prepared.method != "adain":
        raise PainterlyError(f"--mask assigns styles to regions with --method adain, not {prepared.method}")
    region_masks = None   # the same mask files serve every input: loaded once, sizes checked per input
    for path in files:  # every input (and the masks) must be readable before anything is written
        size = open_image(path, config.max_pixels).size
        if masks and region_masks is None:
            region_masks = load_masks(masks, size, config.max_pixels)
        elif masks and (region_masks.shape[-1], region_masks.shape[-2]) != size:
            raise PainterlyError(f"{path}: photo is {size[0]}x{size[1]} but the masks are "
                                 f"{region_masks.shape[-1]}x{region_masks.shape[-2]}")

    records = []
    start_all = time.perf_counter()
    for source, target in zip(files, outputs):
        content = _load_content(source, config)
        start = time.perf_counter()
        result = stylize_tensor(content, prepared, replace(config, size=None), masks=region_masks)
        seconds = time.perf_counter() - start
        save_image(result, target)
        record = {"input": str(source), "output": str(target), "width": result.shape[-1],
                  "height": result.shape[-2], "seconds": round(seconds, 4)}
        records.append(record)
        if not args.json:
            print(f"wrote {target} ({record['width']}x{record['height']}, {seconds:.2f}s)", file=sys.stderr)
    if args.json:
        summary = {"method": prepared.method, "model": prepared.model, "styles": styles,
                   "style_names": list(getattr(prepared.stylizer, "style_names", [])),
                   "device": config.device, "precision": config.precision, "strength": config.strength,
                   "preserve_color": config.preserve_color, "detail": config.detail,
                   "detail_radius": config.detail_radius, "tile": config.tile, "images": records,
                   "total_seconds": round(time.perf_counter() - start_all, 4)}
        print(json.dumps(summary, indent=2))
    return 0


def run_style_space(args, styles: list[str], files: list[Path], outputs: list[Path], config: StylizeConfig) -> int:
    """``--style vae:...``: render the decoded statistics (AdaIN when a decoder is installed, else optimisation)."""
    from ..errors import PainterlyError
    from ..io.image import load_image, open_image, save_image
    from ..ops import luminance_transfer, resize_longer_side
    from ..stylespace.render import RenderConfig, render, resolve_method
    from ..stylespace.space import load_style_space
    from .common import ProgressBar

    if len(styles) > 1:
        raise PainterlyError("a vae: style cannot be blended with other styles: give one --style vae:... "
                             "(a path A..B@T is the blend)")
    if config.method not in ("auto", "adain"):
        raise PainterlyError(f"vae: styles are statistics that --method adain (or auto) renders, not {config.method}")
    if config.tile:
        raise PainterlyError("--tile does not apply to vae: styles")
    space = load_style_space(config.model)   # --model: a style-vae file (default: the built-in one)
    stats = space.spec_stats(styles[0], args.seed)
    for path in files:
        open_image(path, config.max_pixels)
    method = resolve_method(config.method)
    # without a decoder the render is an optimisation: a smaller default keeps it near half a minute on a CPU
    size = config.size or (512 if method == "adain" else OPTIMIZE_RENDER_SIZE)
    render_cfg = RenderConfig(method=method, size=size, device=config.device, iterations=args.iterations,
                              seed=args.seed).validate()
    if method == "optimize" and not args.json:
        print(f"no AdaIN decoder installed: rendering {styles[0]} by optimisation at {size} px (--size sets it; "
              f"larger sizes take minutes on a CPU)", file=sys.stderr)
    records = []
    start_all = time.perf_counter()
    bar = ProgressBar(f"stylize ({render_cfg.method})", len(files), enabled=not args.json and len(files) > 1).bar
    try:
        for source, target in zip(files, outputs):
            content = load_image(source, max_pixels=config.max_pixels)
            start = time.perf_counter()
            steps = ProgressBar(f"{source.name} (optimisation)", None,
                                enabled=not args.json and render_cfg.method == "optimize")
            try:
                result = render(content, stats, render_cfg, callbacks=[steps])
            finally:
                steps.close()
            photo = resize_longer_side(content, max(result.shape[-2:])).to(result.device)
            photo = torch_resize_to(photo, result)
            if config.preserve_color:
                result = luminance_transfer(result, photo)
            result = (config.strength * result + (1 - config.strength) * photo).clamp(0, 1)
            seconds = time.perf_counter() - start
            save_image(result, target)
            bar.update(1)
            records.append({"input": str(source), "output": str(target), "width": result.shape[-1],
                            "height": result.shape[-2], "seconds": round(seconds, 4)})
            if not args.json:
                print(f"wrote {target} ({result.shape[-1]}x{result.shape[-2]}, {seconds:.2f}s)", file=sys.stderr)
    finally:
        bar.close()
    if args.json:
        print(json.dumps({"method": render_cfg.method, "style": styles[0], "style_space": str(space.path),
                          "seed": args.seed, "strength": config.strength, "preserve_color": config.preserve_color,
                          "images": records, "total_seconds": round(time.perf_counter() - start_all, 4)}, indent=2))
    return 0


def torch_resize_to(image, like):
    """``image`` resized to exactly ``like``'s height and width."""
    import torch.nn.functional as F

    if image.shape[-2:] == like.shape[-2:]:
        return image
    return F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
