"""``painterly train multistyle``: many styles in one conditional-IN network (Dumoulin et al. 2017)."""

from __future__ import annotations

from pathlib import Path

from ..train.multistyle import MultiStyleTrainConfig
from .train import add_trainer_arguments, run_dir_for, run_training, trainer_config_from_args, training_device
from .train_fast import add_data_arguments, add_loss_arguments, check_output, prepare_data

DEFAULTS = MultiStyleTrainConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("multistyle", help="train one network for many styles (Dumoulin et al. 2017)",
                              description="Train one network with a conditional instance norm per style, or add "
                                          "styles to a trained one with --add-style (old styles stay unchanged).")
    p.add_argument("--styles", nargs="+", required=True, metavar="DIR|IMG|NAME",
                   help="style images, folders of them, or built-in style names")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--add-style", default=None, metavar="MODEL",
                       help="a trained multistyle model: add --styles to it, training only their norm parameters")
    start.add_argument("--init", default=None, metavar="MODEL",
                       help="a trained multistyle model of the same --styles: fine-tune all of it, keeping its "
                            "calibrated weights unless --style-weight/--tv-weight are given")
    add_data_arguments(p)
    add_loss_arguments(p, DEFAULTS)
    add_trainer_arguments(p)
    p.set_defaults(func=run)


def expand_styles(items: list[str]) -> tuple[str, ...]:
    """Folders become the images in them (sorted); files and names stay."""
    from ..train.data import find_images

    out: list[str] = []
    for item in items:
        out += [str(p) for p in find_images(item)] if Path(item).is_dir() else [item]
    return tuple(out)


def run(args) -> int:
    from ..train.multistyle import build_multistyle_task

    output = check_output(args.output)
    device = training_device(args.device)
    if args.style_weight is not None:
        style_weights = (args.style_weight,) * len(expand_styles(args.styles))
    else:
        style_weights = None
    cfg = MultiStyleTrainConfig(
        styles=expand_styles(args.styles), base_model=args.add_style, init_model=args.init, style_size=args.style_size,
        content_layers=tuple(args.content_layers), style_layers=tuple(args.style_layers) if args.style_layers else None,
        content_weight=args.content_weight, style_weights=style_weights, tv_weight=args.tv_weight,
        style_ratio=args.style_ratio, tv_ratio=args.tv_ratio, crop=args.crop, width=args.width, depth=args.depth, fast_variant=args.fast_variant,
        loss_margin=args.loss_margin,
        seed=args.seed).validate()
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    batches, validation = prepare_data(args, cfg.crop)
    return run_training("train multistyle", lambda: build_multistyle_task(cfg, batches, device), batches, tcfg,
                        validation, output, args.quiet)
