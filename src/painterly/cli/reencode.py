"""``painterly reencode``: feed a stylised image back through the stylizer N times.

For each input image, OUTPUT/NAME/ gets ``pass_NNNNNN.png`` for passes 0, K, 2K, ... N
(pass 0 is the input), with ``--embeddings`` the stylizer's embedding of each of them as
``pass_NNNNNN.npy`` plus ``distances.csv``; OUTPUT/NAME.gif (or .mp4) animates the saved
passes, and OUTPUT/reencode.json records the settings and what was written. ``--log DIR``
adds TensorBoard scalars (DIR/NAME) and projector data with thumbnails (DIR/projector).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

from ..analysis.reencode import ReencodeConfig
from ..errors import PainterlyError
from ..methods.stylize import METHODS
from .common import ProgressBar, add_device_argument, positive_int, resolve_device

DEFAULTS = ReencodeConfig()
SUMMARY_NAME = "reencode.json"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "reencode", help="re-stylise an image's own result N times; record images and embeddings",
        description="Feed a stylised image back through a feed-forward stylizer N times. Saves every K-th pass "
                    "(pass 0 = the input) as OUTPUT/NAME/pass_NNNNNN.png, an animation OUTPUT/NAME.gif, with "
                    "--embeddings the stylizer's embedding at those passes as .npy, and with --log TensorBoard "
                    "scalars and projector data. Streams everything: memory does not grow with N.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the results (created)")
    p.add_argument("--style", action="append", default=None, metavar="NAME|IMAGE[:WEIGHT]",
                   help="built-in style name (fast, multistyle) or style image (adain); repeat to blend "
                        "(default: the style of a single-style --model)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto: a model of the named style, adain for a style image (default auto)")
    p.add_argument("--model", default=None, metavar="PATH|NAME", help="model file or built-in model name")
    p.add_argument("--model-dir", default=None, help="look up model names here instead of built-ins")
    p.add_argument("--reencodes", type=positive_int, required=True, metavar="N", help="passes through the stylizer")
    p.add_argument("--reencode-steps", type=positive_int, default=DEFAULTS.every, metavar="K",
                   help=f"save every K-th pass, pass 0 included: floor(N/K)+1 images (default {DEFAULTS.every})")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, metavar="PX",
                   help="resize inputs to this longer side first (default: as they are)")
    p.add_argument("--embeddings", action="store_true",
                   help="save the stylizer's embedding of every saved pass as NAME/pass_NNNNNN.npy")
    p.add_argument("--log", default=None, metavar="DIR",
                   help="TensorBoard logs: embedding norm and distances per pass, projector with thumbnails")
    p.add_argument("--projector-points", type=positive_int, default=DEFAULTS.projector_points, metavar="N",
                   help="at most N points (with thumbnails) in the TensorBoard projector, all images together; "
                        f"every k-th saved pass when there are more (default {DEFAULTS.projector_points})")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--gif", dest="animation", action="store_const", const="gif",
                      help="animate the saved passes as OUTPUT/NAME.gif (the default)")
    kind.add_argument("--mp4", dest="animation", action="store_const", const="mp4",
                      help="animate as OUTPUT/NAME.mp4 instead (needs the video extra)")
    kind.add_argument("--no-animation", dest="animation", action="store_const", const="none", help="no animation")
    p.set_defaults(animation=DEFAULTS.animation)
    p.add_argument("--fps", type=float, default=DEFAULTS.fps, help=f"animation frame rate (default {DEFAULTS.fps:g})")
    p.add_argument("--quantize", action=argparse.BooleanOptionalAction, default=DEFAULTS.quantize,
                   help="round to 8 bits between passes, as saving and reloading a PNG (default on)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (for methods that use one)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the pass_* files of an earlier run in OUTPUT/NAME (else refused)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(p)
    p.set_defaults(func=run)


def config_from_args(args) -> ReencodeConfig:
    return ReencodeConfig(reencodes=args.reencodes, every=args.reencode_steps, size=args.size,
                          embeddings=args.embeddings, quantize=args.quantize, seed=args.seed,
                          animation=args.animation, fps=args.fps, projector_points=args.projector_points).validate()


def plan_names(files: list[Path]) -> list[str]:
    """One output name per input (its file stem); two inputs with one stem are refused."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise PainterlyError(f"{seen[path.stem]} and {path} would both be written to the folder {path.stem}/; "
                                 f"rename one or run them separately")
        seen[path.stem] = path
    return list(seen)


def check_outputs(folder: Path, names: list[str], files: list[Path], config: ReencodeConfig, log: str | None,
                  overwrite: bool) -> list[Path]:
    """Refuse outputs that are files, would overwrite an input, or mix with an earlier run.

    Returns the earlier run's files to delete (only with ``overwrite``).
    """
    from ..analysis.reencode import animation_path, stale_files

    if folder.exists() and not folder.is_dir():
        raise PainterlyError(f"{folder}: exists and is not a folder")
    if log is not None and Path(log).exists() and not Path(log).is_dir():
        raise PainterlyError(f"--log {log}: exists and is not a folder")
    inputs = {p.resolve() for p in files}
    stale: list[Path] = []
    for name in names:
        sub, anim = folder / name, animation_path(folder, name, config)
        if sub.exists() and not sub.is_dir():
            raise PainterlyError(f"{sub}: exists and is not a folder")
        if anim is not None and anim.resolve() in inputs:
            raise PainterlyError(f"{anim}: refusing to overwrite an input image; choose another -o folder")
        found = stale_files(sub)
        if any(path.resolve() in inputs for path in found):
            raise PainterlyError(f"{sub}: holds an input image of this run; choose another -o folder")
        if found and not overwrite:
            raise PainterlyError(f"{sub}: holds an earlier run ({found[0].name}, ...); choose another -o folder "
                                 f"or add --overwrite")
        stale.extend(found)
    return stale


def run(args) -> int:
    from ..analysis.embeddings import embedding_description, embedding_probe, plain_probe
    from ..analysis.reencode import require_tensorboard, run_reencode
    from ..io.image import atomic_write_bytes, load_image, open_image
    from ..methods.stylize import StylizeConfig, prepare
    from .stylize import collect_inputs

    config = config_from_args(args)
    files, _ = collect_inputs(args.inputs)
    names = plan_names(files)
    folder = Path(args.output)
    stale = check_outputs(folder, names, files, config, args.log, args.overwrite)
    styles = args.style or []
    stylize_config = StylizeConfig(method=args.method, model=args.model, device=resolve_device(args.device),
                                   runtime="torch", model_dir=args.model_dir)
    prepared = prepare(styles if len(styles) > 1 else (styles[0] if styles else None), stylize_config)
    embed = config.embeddings or args.log is not None
    probe = (embedding_probe if embed else plain_probe)(prepared.stylizer, prepared.style)
    if args.log is not None:
        require_tensorboard()  # a missing extra is reported before anything is written
    for path in files:  # every input must be readable before anything is written
        open_image(path, stylize_config.max_pixels)
    for path in stale:
        path.unlink()

    inputs = [(name, partial(load_image, path, size=config.size)) for name, path in zip(names, files)]  # lazily
    bar = ProgressBar("reencode", len(files) * config.reencodes, enabled=not args.quiet)
    start = time.perf_counter()
    try:
        results = run_reencode(inputs, probe, config, folder, log_dir=args.log, callbacks=[bar])
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    summary = {"output": str(folder), "method": prepared.method, "model": prepared.model, "styles": styles,
               "embedding": embedding_description(prepared.stylizer) if embed else None,
               "embedding_dim": next((r.embedding_dim for r in results if r.embedding_dim), None), "log": args.log, "settings": config.to_dict(),
               "saved_per_image": config.saved_count, "inputs": [str(p) for p in files],
               "images": [r.to_dict() for r in results], "total_seconds": round(seconds, 3),
               "seconds_per_pass": round(seconds / max(1, len(files) * config.reencodes), 5)}
    atomic_write_bytes(folder / SUMMARY_NAME, (json.dumps(summary, indent=2) + "\n").encode())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for result in results:
            what = _count(result.images, "image") + (f", {_count(result.embeddings, 'embedding')}"
                                                    if result.embeddings else "")
            anim = f", {result.animation}" if result.animation else ""
            print(f"wrote {result.folder}/ ({what}{anim}, {result.seconds:.1f}s)", file=sys.stderr)
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
