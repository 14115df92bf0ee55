"""``painterly train fast``: a per-style network (Johnson et al. 2016)."""

from __future__ import annotations

from pathlib import Path

from ..train.fast import FastTrainConfig
from .common import non_negative_float, positive_int
from .train import add_trainer_arguments, run_dir_for, run_training, trainer_config_from_args, training_device

DEFAULTS = FastTrainConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("fast", help="train a per-style network (Johnson et al. 2016)",
                              description="Train a small image transformation network for one style on a folder "
                                          "of photos. Style/TV weights are calibrated from the untrained network's "
                                          "losses unless given (see docs/training.md).")
    p.add_argument("--style", required=True, metavar="IMAGE|NAME", help="style image or built-in style name")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from a trained model (a file or a built-in name): a fast model of this style, or a "
                        "multistyle model, whose slot for this style becomes the network; its architecture and its "
                        "style and TV weights are kept unless given")
    add_data_arguments(p)
    add_loss_arguments(p, DEFAULTS)
    g = p.add_argument_group("distillation")
    g.add_argument("--teacher", default=None, metavar="DIR",
                   help="folder of teacher images, one per training photo with the photo's relative path and stem "
                        "(e.g. painterly optimize results of the whole photo): the network learns to reproduce them "
                        "(content loss to the teacher's features plus a pixel term); photos without one are not "
                        "trained on and supply the --holdout samples")
    g.add_argument("--pixel-weight", type=non_negative_float, default=DEFAULTS.pixel_weight,
                   help="delta, the L1 pixel distance to the teacher (default: calibrated from --pixel-ratio)")
    g.add_argument("--pixel-ratio", type=non_negative_float, default=DEFAULTS.pixel_ratio,
                   help="calibration: weighted pixel / content loss of the untrained network (default %(default)s)")
    p.add_argument("--name", default=None, help="style name stored in the model (default: image file stem)")
    p.add_argument("--title", default="", help="painting title stored in the model")
    p.add_argument("--artist", default="", help="artist stored in the model")
    add_trainer_arguments(p)
    p.set_defaults(func=run)


def add_data_arguments(p) -> None:
    p.add_argument("--data", required=True, metavar="DIR", help="folder of training photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help="the trained model file")
    p.add_argument("--validation", nargs="+", default=None, metavar="DIR|IMG",
                   help="photos to stylise in the sample sheets (default: --holdout photos kept out of --data)")
    p.add_argument("--holdout", type=int, default=4, metavar="N",
                   help="without --validation: hold N training photos out as validation photos")
    p.add_argument("--sample-size", type=positive_int, default=None, metavar="PX",
                   help="side of the validation samples (default: --crop)")


def add_loss_arguments(p, defaults) -> None:
    g = p.add_argument_group("losses and network")
    g.add_argument("--content-weight", type=non_negative_float, default=defaults.content_weight, help="alpha")
    g.add_argument("--style-weight", type=non_negative_float, default=getattr(defaults, "style_weight", None),
                   help="beta, for every style (default: calibrated per style from --style-ratio)")
    g.add_argument("--tv-weight", type=non_negative_float, default=defaults.tv_weight,
                   help="gamma (default: calibrated from --tv-ratio)")
    g.add_argument("--style-ratio", type=non_negative_float, default=defaults.style_ratio,
                   help="calibration: weighted style / content loss of the untrained network")
    g.add_argument("--tv-ratio", type=non_negative_float, default=defaults.tv_ratio,
                   help="calibration: weighted TV of the photos / content loss of the untrained network")
    g.add_argument("--content-layers", nargs="+", default=list(defaults.content_layers), metavar="L")
    g.add_argument("--style-layers", nargs="+", default=None, metavar="L",
                   help="default relu1_2 relu2_2 relu3_3 relu4_3 (image) or relu1_1..relu5_1 (built-in style)")
    g.add_argument("--style-size", type=positive_int, default=defaults.style_size, metavar="PX",
                   help="longer side of the style image (default 1.5 x --crop)")
    g.add_argument("--crop", type=positive_int, default=defaults.crop, metavar="PX", help="training crop side")
    g.add_argument("--width", type=positive_int, default=defaults.width, help="network width (channels)")
    g.add_argument("--depth", type=int, default=defaults.depth, help="residual blocks")
    g.add_argument("--loss-margin", type=int, default=defaults.loss_margin, metavar="PX",
                   help="px of reflection the loss network sees around each output (multiple of 8; 16 removes the "
                        "speckled border band that VGG19's zero padding teaches; default %(default)s)")
    g.add_argument("--fast-variant", action="store_true",
                   help="CPU-speed architecture: pixel-unshuffle stem, one thin conv at full size (w16 d5: ~2.5x faster)")


def check_output(output: str) -> Path:
    from ..errors import PainterlyError

    path = Path(output)
    if path.suffix != ".safetensors":
        raise PainterlyError(f"{output}: the model file name must end in .safetensors")
    if path.is_dir():
        raise PainterlyError(f"{output}: is a folder")
    return path


def prepare_data(args, crop: int, teacher: str | None = None):
    """(batches, validation photos) from --data / --validation / --holdout, and --teacher: then the photos
    with a teacher image are trained on and the held-out samples come from those without one."""
    from ..train.data import FolderBatches, PairedFolderBatches, find_images, load_photos, pair_with_teachers, split_holdout

    paths = find_images(args.data)
    held_out = list(args.validation or [])
    if teacher:
        paths, targets, spare = pair_with_teachers(paths, args.data, teacher)
        if not held_out:
            held_out = spare if len(spare) <= args.holdout else split_holdout(spare, args.holdout, args.seed)[1]
        batches = PairedFolderBatches(paths, targets, crop, args.batch_size, args.seed)
    else:
        if not held_out:
            paths, held_out = split_holdout(paths, min(args.holdout, len(paths) - 1), args.seed)
        batches = FolderBatches(paths, crop, args.batch_size, args.seed)
    return batches, load_photos(held_out, args.sample_size or crop) if held_out else None


def run(args) -> int:
    from ..train.fast import build_fast_task

    output = check_output(args.output)
    device = training_device(args.device)
    cfg = FastTrainConfig(
        style=args.style, style_size=args.style_size, content_layers=tuple(args.content_layers),
        style_layers=tuple(args.style_layers) if args.style_layers else None, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, style_ratio=args.style_ratio,
        tv_ratio=args.tv_ratio, crop=args.crop, width=args.width, depth=args.depth, fast_variant=args.fast_variant,
        loss_margin=args.loss_margin, seed=args.seed, init_model=args.init, teacher=args.teacher,
        pixel_weight=args.pixel_weight, pixel_ratio=args.pixel_ratio,
        name=args.name, title=args.title, artist=args.artist).validate()
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    batches, validation = prepare_data(args, cfg.crop, cfg.teacher)
    return run_training("train fast", lambda: build_fast_task(cfg, batches, device), batches, tcfg, validation,
                        output, args.quiet)
