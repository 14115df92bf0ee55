"""``painterly train adain-compact``: a real-time AdaIN model distilled from VGG19 and a trained decoder.

    painterly train adain-compact --content PHOTOS/ --styles PAINTINGS/ -o adain_compact.safetensors \\
        --iterations 4000 --crop 128 --time-limit 3600
"""

from __future__ import annotations

from ..train.adain_compact import CompactAdainTrainConfig
from ..train.loop import TrainerConfig
from .common import non_negative_float, positive_int

DEFAULTS = CompactAdainTrainConfig()
TRAINER_DEFAULTS = TrainerConfig(out_dir="", iterations=4000, batch_size=8, lr=1e-3, warmup=100,
                                 sample_every=250, grad_clip=None)


def add_parser(subparsers) -> None:
    from .train import add_trainer_arguments
    from .train_adain import add_data_arguments, add_holdout_arguments

    p = subparsers.add_parser(
        "adain-compact", help="distil a compact, real-time AdaIN model from VGG19 and an AdaIN decoder",
        description="Train a thin encoder (its features mapped onto VGG19's by 1x1 embeddings, Wang et al. "
                    "2020) and a thin decoder that reproduces the teacher AdaIN model's stylised images, on a "
                    "folder of photos and a folder of paintings. The model also stores the statistics of every "
                    "built-in style whose painting is in --styles.")
    add_data_arguments(p, "the distilled model")
    g = p.add_argument_group("distillation")
    g.add_argument("--teacher", default="", metavar="MODEL",
                   help="AdaIN model (VGG19 encoder) to distil (default: the built-in decoder)")
    g.add_argument("--widths", type=positive_int, nargs=4, default=list(DEFAULTS.widths), metavar="C",
                   help="channels at relu1_1..relu4_1 (VGG19: 64 128 256 512)")
    g.add_argument("--slope", type=float, default=DEFAULTS.slope,
                   help="negative slope of the student's leaky ReLUs (0: plain ReLU)")
    g.add_argument("--crop", type=positive_int, default=DEFAULTS.crop, metavar="PX",
                   help="training crop side (a multiple of 8)")
    g.add_argument("--content-size", type=positive_int, default=DEFAULTS.content_size, metavar="PX",
                   help="photos are cached with this shorter side before cropping")
    g.add_argument("--style-size", type=positive_int, default=DEFAULTS.style_size, metavar="PX",
                   help="paintings are cached with this shorter side before cropping")
    g.add_argument("--feature-weight", type=non_negative_float, default=DEFAULTS.feature_weight,
                   help="weight of the encoder's embedded-feature loss against VGG19")
    g.add_argument("--pixel-weight", type=non_negative_float, default=DEFAULTS.pixel_weight,
                   help="weight of the decoder's L1 loss against the teacher's image")
    g.add_argument("--decoder-feature-weight", type=non_negative_float, default=DEFAULTS.decoder_feature_weight,
                   help="weight of the decoder's activations (1/8, 1/4, 1/2 scale) against the teacher decoder's")
    g.add_argument("--content-weight", type=non_negative_float, default=DEFAULTS.content_weight,
                   help="weight of VGG19 relu4_1 of the student's image against the AdaIN target (the paper's "
                        "content loss; 0: off)")
    g.add_argument("--style-weight", type=non_negative_float, default=DEFAULTS.style_weight,
                   help="weight of the mean/std style loss of the student's image against the painting at "
                        "relu1_1..relu4_1 (the paper's style loss; 0: off)")
    g.add_argument("--gram-weight", type=non_negative_float, default=DEFAULTS.gram_weight,
                   help="weight of the Gram loss of the student's image against the painting at relu1_1..relu4_1 "
                        "in VGG19's own units, each layer relative to the painting's Gram (0: off)")
    g.add_argument("--gram-layer-weights", type=non_negative_float, nargs=4, default=list(DEFAULTS.gram_layer_weights),
                   metavar="W", help="each layer's weight in the Gram loss, relu1_1..relu4_1 (default: 1 1 1 1)")
    g.add_argument("--init", default="", metavar="MODEL|CHECKPOINT",
                   help="start from this compact AdaIN model (encoder and decoder) or a compact run's "
                        "checkpoint step_N.pt (with its embeddings): fine-tuning with a fresh optimiser")
    g.add_argument("--full-strength-fraction", type=float, default=DEFAULTS.full_strength_fraction, metavar="F",
                   help="share of samples stylised at strength 1 (the rest at a random strength)")
    g.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                   help="the image loss trains only the decoder (on detached student features)")
    add_holdout_arguments(g, DEFAULTS)
    add_trainer_arguments(p, TRAINER_DEFAULTS)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import PainterlyError
    from ..train.adain_compact import build_compact_training
    from .common import ProgressBar
    from .train import run_dir_for, run_training, trainer_config_from_args, training_device
    from .train_fast import check_output

    output = check_output(args.output)
    if args.holdout_photos < 0:
        raise PainterlyError(f"--holdout-photos must be >= 0, not {args.holdout_photos}")
    cfg = CompactAdainTrainConfig(
        content_dir=args.content, styles_dir=args.styles, teacher=args.teacher, widths=tuple(args.widths),
        slope=args.slope, crop=args.crop, content_size=args.content_size, style_size=args.style_size,
        feature_weight=args.feature_weight, pixel_weight=args.pixel_weight,
        decoder_feature_weight=args.decoder_feature_weight, content_weight=args.content_weight,
        style_weight=args.style_weight, gram_weight=args.gram_weight,
        gram_layer_weights=tuple(args.gram_layer_weights), init=args.init,
        full_strength_fraction=args.full_strength_fraction, end_to_end=args.end_to_end,
        holdout_styles=tuple(args.holdout_styles),
        holdout_photos=args.holdout_photos, seed=args.seed).validate()
    device = training_device(args.device)
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    bar = ProgressBar("prepare data", 1, enabled=not args.quiet).bar
    try:
        task, batches, info = build_compact_training(cfg, tcfg.batch_size, tcfg.seed,
                                                     progress=lambda stage, done, total: bar.update(1))
    finally:
        bar.close()
    config = {**cfg.to_dict(), "held_out_styles": info["val_styles"], "held_out_photos": info["val_content"]}
    return run_training("train adain-compact", lambda: task, batches, tcfg, info["validation"], output,
                        args.quiet, task_config=config)
