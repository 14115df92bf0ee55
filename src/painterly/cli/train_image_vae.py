"""``painterly train image-vae``: a VAE on the paintings' pixels (the baseline of ``painterly vae-interpolate``).

    painterly train image-vae --styles PAINTINGS/ -o image_vae.safetensors --size 128 --latent 128 \\
        --iterations 1200 --time-limit 1200
"""

from __future__ import annotations


from ..train.image_vae import RECON_LOSSES, ImageVAETrainConfig
from ..train.loop import TrainerConfig
from .common import non_negative_float, positive_int

DEFAULTS = ImageVAETrainConfig()
# Losses are sums over the image's pixels (hundreds to thousands): clipping at the shared
# default of 10 would clip every step, so it is off; Adam's steps do not depend on the scale.
TRAINER_DEFAULTS = TrainerConfig(out_dir="", iterations=2000, batch_size=16, lr=1e-3, warmup=50,
                                checkpoint_every=200, sample_every=100, log_every=10, grad_clip=None)


def add_parser(subparsers) -> None:
    from .train import add_trainer_arguments

    p = subparsers.add_parser("image-vae", help="train a VAE on paintings' pixels (for vae-interpolate)",
                              description="Train a convolutional variational autoencoder on square crops of "
                                          "paintings (raw pixels). It is the image-space baseline that "
                                          "`painterly vae-interpolate A B` uses; held-out paintings are never "
                                          "trained on and appear in the sample sheets beside training ones.")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of paintings")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help="the trained image VAE")
    g = p.add_argument_group("data, loss and network")
    g.add_argument("--size", type=positive_int, default=DEFAULTS.size, metavar="PX",
                   help="square image side the VAE works at (even; e.g. 64, 128, 224)")
    g.add_argument("--latent", type=positive_int, default=DEFAULTS.latent, help="latent dimensions")
    g.add_argument("--beta", type=non_negative_float, default=DEFAULTS.beta,
                   help="weight of the KL term against the per-image summed reconstruction error "
                        "(2 sigma^2 of a Gaussian decoder with --recon-loss mse)")
    g.add_argument("--kl-warmup", type=int, default=DEFAULTS.kl_warmup, metavar="STEPS",
                   help="steps over which the KL weight rises linearly to --beta")
    g.add_argument("--recon-loss", choices=RECON_LOSSES, default=DEFAULTS.recon_loss,
                   help="per-pixel error, summed per image")
    g.add_argument("--scale-jitter", type=non_negative_float, default=DEFAULTS.scale_jitter,
                   help="crop side drawn from size * [1 - j, 1 + j] (the largest crop is the whole shorter side)")
    g.add_argument("--base-width", type=positive_int, default=DEFAULTS.base_width, metavar="C",
                   help="channels of the first encoder stage (doubling per stage up to --max-width)")
    g.add_argument("--max-width", type=positive_int, default=DEFAULTS.max_width, metavar="C")
    g.add_argument("--holdout-styles", nargs="*", default=list(DEFAULTS.holdout_styles), metavar="NAME",
                   help="painting file stems never trained on (default: ten public-domain paintings)")
    add_trainer_arguments(p, TRAINER_DEFAULTS)
    p.set_defaults(func=run)


def run(args) -> int:
    from .train_fast import check_output
    from ..train.image_vae import build_image_vae_training
    from .train import run_dir_for, run_training, trainer_config_from_args, training_device

    output = check_output(args.output)
    cfg = ImageVAETrainConfig(styles_dir=args.styles, size=args.size, latent=args.latent, beta=args.beta,
                              kl_warmup=args.kl_warmup, recon_loss=args.recon_loss, scale_jitter=args.scale_jitter,
                              base_width=args.base_width, max_width=args.max_width,
                              holdout_styles=tuple(args.holdout_styles), seed=args.seed).validate()
    device = training_device(args.device)
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    task, batches, info = build_image_vae_training(cfg, tcfg.batch_size, tcfg.seed)
    return run_training("train image-vae", lambda: task, batches, tcfg, info["validation"], output, args.quiet)
