"""``painterly train adain``: the decoder for arbitrary style transfer (Huang & Belongie 2017).

    painterly train adain --content PHOTOS/ --styles PAINTINGS/ -o adain.safetensors \\
        --iterations 20000 --crop 256 --style-weight 10 --time-limit 3600
"""

from __future__ import annotations


from ..train.adain import AdainTrainConfig
from ..train.loop import TrainerConfig
from .common import non_negative_float, positive_int

DEFAULTS = AdainTrainConfig()
# lr: the paper's 1e-4 (1e-3 stalls the content loss; 5e-4 plateaued in our CPU run)
TRAINER_DEFAULTS = TrainerConfig(out_dir="", iterations=20000, lr=1e-4, warmup=50, sample_every=250,
                                grad_clip=None)  # losses are on Caffe-scale features: norms ~1e5+


def add_parser(subparsers) -> None:
    from .train import add_trainer_arguments

    p = subparsers.add_parser("adain", help="train an AdaIN decoder (any painting as style)",
                              description="Train the decoder of AdaIN arbitrary style transfer on a folder of "
                                          "photos and a folder of paintings. Some paintings and photos are held "
                                          "out (never trained on) for the sample sheets.")
    add_data_arguments(p, "the trained decoder")
    g = p.add_argument_group("losses and network")
    g.add_argument("--style-weight", type=non_negative_float, default=DEFAULTS.style_weight,
                   help="weight of the mean/std style loss (content weight 1)")
    g.add_argument("--content-weight", type=non_negative_float, default=DEFAULTS.content_weight)
    g.add_argument("--raw-features", action="store_true",
                   help="losses on the raw Caffe VGG19 features instead of the paper's normalised VGG (every "
                        "channel divided by its mean activation on the training data); set --style-layer-weights")
    g.add_argument("--style-layer-weights", type=non_negative_float, nargs=4, metavar="W",
                   default=list(DEFAULTS.style_layer_weights),
                   help="factors on the relu1_1..relu4_1 style terms (with --raw-features: try 400 20 10 1)")
    g.add_argument("--crop", type=positive_int, default=DEFAULTS.crop, metavar="PX", help="training crop side")
    g.add_argument("--content-size", type=positive_int, default=DEFAULTS.content_size, metavar="PX",
                   help="photos are cached with this shorter side before cropping")
    g.add_argument("--style-size", type=positive_int, default=DEFAULTS.style_size, metavar="PX",
                   help="paintings are cached with this shorter side before cropping")
    g.add_argument("--width", type=float, default=DEFAULTS.decoder_width,
                   help="decoder width multiplier (1.0 = the paper's 256/128/64 channels)")
    add_holdout_arguments(g, DEFAULTS)
    g.add_argument("--precompute", action="store_true",
                   help="encode the training photos and paintings once, so a step runs only the decoder and "
                        "one VGG pass over its output (for CPU training; needs about 2 MB of memory per photo)")
    g.add_argument("--style-windows", type=positive_int, default=DEFAULTS.style_windows, metavar="N",
                   help="with --precompute: random windows measured per painting")
    g.add_argument("--identity-fraction", type=float, default=DEFAULTS.identity_fraction, metavar="F",
                   help="share of each batch whose style is the photo itself (identity loss, Park & Lee 2019)")
    g.add_argument("--identity-weight", type=non_negative_float, default=DEFAULTS.identity_weight,
                   help="weight of the pixel MSE (0-255 scale) between identity samples and their photos")
    g.add_argument("--init-decoder", default=None, metavar="MODEL",
                   help="start from this AdaIN model's decoder weights (fine-tuning; same --width)")
    add_trainer_arguments(p, TRAINER_DEFAULTS)
    p.set_defaults(func=run)


def add_data_arguments(p, output_help: str) -> None:
    """--content, --styles and -o of the AdaIN trainers."""
    p.add_argument("--content", required=True, metavar="DIR", help="folder of training photos")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of paintings")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help=output_help)


def add_holdout_arguments(g, defaults) -> None:
    """--holdout-styles and --holdout-photos, with the defaults of an AdaIN trainer's config."""
    g.add_argument("--holdout-styles", nargs="*", default=list(defaults.holdout_styles), metavar="NAME",
                   help="painting file stems never trained on (default: ten public-domain paintings)")
    g.add_argument("--holdout-photos", type=int, default=defaults.holdout_photos, metavar="N",
                   help="photos held out at random besides scikit-image/scikit-learn samples")


def run(args) -> int:
    from .train_fast import check_output
    from ..errors import PainterlyError
    from ..train.adain import build_adain_training
    from ..train.loop import train
    from .common import ProgressBar
    from .train import TrainBar, report, run_dir_for, trainer_config_from_args, training_device

    output = check_output(args.output)
    if not 0.0 <= args.identity_fraction <= 1.0:
        raise PainterlyError(f"--identity-fraction must be in [0, 1], not {args.identity_fraction}")
    if not args.width > 0:
        raise PainterlyError(f"--width must be positive, not {args.width}")
    device = training_device(args.device)
    cfg = AdainTrainConfig(content_dir=args.content, styles_dir=args.styles, crop=args.crop,
                           content_size=args.content_size, style_size=args.style_size,
                           content_weight=args.content_weight, style_weight=args.style_weight,
                           normalise_features=not args.raw_features,
                           style_layer_weights=tuple(args.style_layer_weights), decoder_width=args.width, holdout_styles=tuple(args.holdout_styles),
                           holdout_photos=args.holdout_photos, seed=args.seed, precompute=args.precompute,
                           style_windows=args.style_windows, identity_fraction=args.identity_fraction,
                           identity_weight=args.identity_weight)
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    init = initial_decoder(args.init_decoder, cfg.decoder_width, cfg.normalise_features) if args.init_decoder else None
    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = ProgressBar(stage, total, enabled=not args.quiet).bar
        bars[stage].update(1)
        if done == total:
            bars[stage].close()

    task, batches, info = build_adain_training(cfg, tcfg.batch_size, tcfg.seed, progress=progress)
    if init is not None and not args.resume:
        task.decoder.load_state_dict(init.state_dict())
    bar = TrainBar("train adain", tcfg.iterations, enabled=not args.quiet)
    try:
        result = train(task, batches, tcfg, info["validation"], [bar], export_path=output,
                       task_config={**cfg.to_dict(), "held_out_styles": info["val_styles"],
                                    "held_out_photos": info["val_content"], "init_decoder": args.init_decoder})
    finally:
        bar.close()
    report(result, output)
    return 0


def initial_decoder(model: str, width: float, channel_scaled: bool):
    """The decoder of an AdaIN model file, checked against the width and feature units being trained."""
    from ..errors import PainterlyError
    from ..io.model_file import load_model_file
    from ..methods.adain import decoder_from_state

    loaded = load_model_file(model, expected_kind="adain")
    decoder = decoder_from_state({k: v.float() for k, v in loaded.state.items()}, loaded.architecture, model)
    if decoder.config.width != width:
        raise PainterlyError(f"--init-decoder {model} has width {decoder.config.width}, not --width {width}")
    if decoder.config.channel_scaled != channel_scaled:
        raise PainterlyError(f"--init-decoder {model} was trained on {'normalised' if decoder.config.channel_scaled else 'raw'} "
                             f"VGG features; {'leave out' if decoder.config.channel_scaled else 'add'} --raw-features")
    return decoder
