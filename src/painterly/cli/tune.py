"""``painterly tune``: search the style/TV loss weights of a per-style network (Optuna TPE)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..train.fast import FastTrainConfig
from ..train.tune import TRIAL_CROP, TRIAL_DEPTH, TRIAL_WIDTH, TuneConfig
from .common import non_negative_float, positive_int, resolve_device

DEFAULTS = TuneConfig()
FAST = FastTrainConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tune", help="search loss weights for a fast network (Optuna TPE)",
                              description="Train short per-style networks with weights chosen by Optuna's TPE "
                                          "sampler, score them on held-out photos (style loss left + 1 - SSIM) and "
                                          "report the best weights as a table and JSON.")
    p.add_argument("--style", required=True, metavar="IMAGE|NAME", help="style image or built-in style name")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of training photos")
    p.add_argument("-o", "--output", default=None, metavar="JSON", help="write the results here as JSON")
    p.add_argument("--validation", nargs="+", default=None, metavar="DIR|IMG",
                   help="held-out photos to score on (default: --holdout photos kept out of --data)")
    p.add_argument("--holdout", type=positive_int, default=4, metavar="N")
    p.add_argument("--trials", type=positive_int, default=DEFAULTS.trials)
    p.add_argument("--steps", type=positive_int, default=DEFAULTS.steps, help="training steps per trial")
    p.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size)
    p.add_argument("--lr", type=float, default=DEFAULTS.lr)
    p.add_argument("--style-ratio-range", nargs=2, type=float, default=list(DEFAULTS.style_ratio_range),
                   metavar=("LOW", "HIGH"))
    p.add_argument("--tv-ratio-range", nargs=2, type=float, default=list(DEFAULTS.tv_ratio_range),
                   metavar=("LOW", "HIGH"))
    p.add_argument("--ssim-weight", type=non_negative_float, default=DEFAULTS.ssim_weight,
                   help="weight of 1 - SSIM in the score")
    p.add_argument("--crop", type=positive_int, default=TRIAL_CROP, help="training crop side of each trial")
    p.add_argument("--width", type=positive_int, default=TRIAL_WIDTH, help="network width of each trial")
    p.add_argument("--depth", type=int, default=TRIAL_DEPTH, help="residual blocks of each trial")
    p.add_argument("--style-size", type=positive_int, default=FAST.style_size)
    p.add_argument("--content-layers", nargs="+", default=list(FAST.content_layers), metavar="L")
    p.add_argument("--style-layers", nargs="+", default=None, metavar="L")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--time-limit", type=float, default=None, metavar="SEC", help="stop starting trials after this")
    p.add_argument("--json", action="store_true", help="print the JSON on stdout instead of the table")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    from ..errors import PainterlyError
    from ..train.data import FolderBatches, find_images, load_photos, split_holdout
    from ..train.tune import format_table, tune

    if args.output and Path(args.output).suffix.lower() != ".json":
        raise PainterlyError(f"{args.output}: the results file name must end in .json")
    device = resolve_device(args.device)
    base = FastTrainConfig(style=args.style, style_size=args.style_size, content_layers=tuple(args.content_layers),
                           style_layers=tuple(args.style_layers) if args.style_layers else None, crop=args.crop,
                           width=args.width, depth=args.depth, seed=args.seed).validate()
    cfg = TuneConfig(trials=args.trials, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                     style_ratio_range=tuple(args.style_ratio_range), tv_ratio_range=tuple(args.tv_ratio_range),
                     ssim_weight=args.ssim_weight, seed=args.seed, device=device,
                     max_seconds=args.time_limit).validate()
    paths = find_images(args.data)
    if args.validation:
        held_out = list(args.validation)
    else:
        paths, held_out = split_holdout(paths, min(args.holdout, len(paths) - 1), args.seed)
    if not held_out:
        raise PainterlyError(f"{args.data}: need at least 2 photos (one to train on, one to score on)")
    photos = load_photos(held_out, args.crop)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    with FolderBatches(paths, args.crop, args.batch_size, args.seed) as batches:
        result = tune(base, batches, photos, cfg,
                      [lambda t: print(f"trial {t.number}: score {t.score:.4f}", file=sys.stderr)])
    data = {**result.to_dict(), "style": args.style, "settings": {
        "trials": cfg.trials, "steps": cfg.steps, "crop": args.crop, "width": args.width, "depth": args.depth,
        "batch_size": cfg.batch_size, "lr": cfg.lr, "ssim_weight": cfg.ssim_weight}}
    text = json.dumps(data, indent=2)
    if args.output:
        from ..io.image import atomic_write_bytes

        atomic_write_bytes(args.output, (text + "\n").encode())
    if args.json:
        print(text)
    else:
        print(format_table(result))
        best = result.best
        print(f"\nbest: --content-weight {best.content_weight:g} --style-weight {best.style_weight:.4g} "
              f"--tv-weight {best.tv_weight:.4g}  (style ratio {best.style_ratio:.3g}, tv ratio {best.tv_ratio:.3g})")
    return 0
