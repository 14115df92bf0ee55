"""``painterly train style-vae``: a VAE over paintings' VGG feature statistics (a space of styles).

    painterly train style-vae --styles PAINTINGS/ -o style_vae.safetensors --iterations 4000
"""

from __future__ import annotations

from pathlib import Path

from ..train.loop import TrainerConfig
from ..train.style_vae import StyleVAETrainConfig
from .common import non_negative_float, positive_int

DEFAULTS = StyleVAETrainConfig()
TRAINER_DEFAULTS = TrainerConfig(out_dir="", iterations=4000, batch_size=128, lr=1e-3, warmup=100,
                                checkpoint_every=500, sample_every=1000, log_every=20)


def add_parser(subparsers) -> None:
    from .train import add_trainer_arguments

    p = subparsers.add_parser("style-vae", help="train a VAE over style statistics (for vae: styles and style paths)",
                              description="Train a variational autoencoder over the channel mean/std of VGG19 "
                                          "features of paintings (random windows at several sizes). Its latent "
                                          "space gives `--style vae:A..B@T`, `vae:random`, `painterly style-path` "
                                          "and `painterly styles-map`.")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of paintings")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help="the trained style VAE")
    g = p.add_argument_group("data and model")
    g.add_argument("--sizes", type=positive_int, nargs="+", default=list(DEFAULTS.sizes), metavar="PX",
                   help="longer sides at which paintings are measured")
    g.add_argument("--windows", type=positive_int, default=DEFAULTS.windows,
                   help="random windows per painting and size (augmentation)")
    g.add_argument("--min-window", type=float, default=DEFAULTS.min_window,
                   help="smallest window side as a fraction of the painting's shorter side")
    g.add_argument("--code-size", type=positive_int, default=DEFAULTS.code_size, metavar="PX",
                   help="longer side at which each whole painting is measured for its stored code")
    g.add_argument("--latent", type=positive_int, default=DEFAULTS.latent, help="latent dimensions")
    g.add_argument("--hidden", type=positive_int, nargs="+", default=list(DEFAULTS.hidden), help="MLP widths")
    g.add_argument("--beta", type=non_negative_float, default=DEFAULTS.beta, help="weight of the KL term")
    g.add_argument("--kl-warmup", type=int, default=DEFAULTS.kl_warmup, metavar="STEPS")
    g.add_argument("--holdout-styles", nargs="*", default=list(DEFAULTS.holdout_styles), metavar="NAME",
                   help="painting file stems never trained on (still given latent codes, marked held out)")
    add_trainer_arguments(p, TRAINER_DEFAULTS)
    p.set_defaults(func=run)


def run(args) -> int:
    from .train_fast import check_output
    from ..train.style_vae import StyleVAETask, VectorBatches, measure_styles_cached
    from .common import ProgressBar
    from .train import run_dir_for, run_training, trainer_config_from_args, training_device

    output = check_output(args.output)
    cfg = StyleVAETrainConfig(styles_dir=args.styles, sizes=tuple(args.sizes), windows=args.windows,
                              min_window=args.min_window, code_size=args.code_size, latent=args.latent, hidden=tuple(args.hidden),
                              beta=args.beta, kl_warmup=args.kl_warmup, holdout_styles=tuple(args.holdout_styles),
                              seed=args.seed).validate()
    device = training_device(args.device)
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    bar = ProgressBar("measure styles", None, enabled=not args.quiet).bar
    try:
        data = measure_styles_cached(cfg, Path(tcfg.out_dir), progress=lambda done, total: (setattr(bar, "total", total), bar.update(1)))
    finally:
        bar.close()
    batches = VectorBatches(data.vectors, tcfg.batch_size, cfg.latent, tcfg.seed)
    return run_training("train style-vae", lambda: StyleVAETask(cfg, data), batches, tcfg, None, output, args.quiet)
