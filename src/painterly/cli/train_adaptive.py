"""``painterly train adaptive``: an artist-level model from a collection of one artist's works
(Sanakoyeu et al. 2018: adversarial training with a style-aware content loss)."""

from __future__ import annotations

from ..errors import PainterlyError
from ..train.adaptive import AdaptiveTrainConfig
from .common import non_negative_float, positive_int
from .train import add_trainer_arguments, run_dir_for, run_training, trainer_config_from_args, training_device
from .train_fast import check_output

DEFAULTS = AdaptiveTrainConfig()
MIN_ARTWORKS = 2


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("adaptive", help="train an artist-level model on a collection of one artist's works",
                              description="Train a generator against a discriminator that tells the artist's works "
                                          "from stylised photos and from photos, with the style-aware content loss "
                                          "and the transformed-image loss (Sanakoyeu et al. 2018).")
    p.add_argument("--artworks", nargs="+", required=True, metavar="DIR|IMG",
                   help="the artist's works: folders (searched recursively) and/or image files")
    p.add_argument("--content", required=True, metavar="DIR", help="folder of training photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help="the trained model file")
    p.add_argument("--name", default=None, help="style name stored in the model (default: the output's file stem)")
    p.add_argument("--artist", default="", help="the artist's name, stored in the model")
    p.add_argument("--title", default="",
                   help="description stored in the model (default: artist-level model of N works)")
    p.add_argument("--validation", nargs="+", default=None, metavar="DIR|IMG",
                   help="photos for the sample sheets (default: --holdout photos kept out of --content)")
    p.add_argument("--holdout", type=int, default=4, metavar="N", help="photos held out as validation photos")
    p.add_argument("--sample-size", type=positive_int, default=None, metavar="PX",
                   help="side of the validation samples (default: --crop)")
    g = p.add_argument_group("losses and networks")
    g.add_argument("--crop", type=positive_int, default=DEFAULTS.crop, metavar="PX",
                   help="training crop side, a multiple of 16 (paper: 768)")
    g.add_argument("--art-scale", type=float, default=DEFAULTS.art_scale,
                   help="artwork crops come from a copy this many crops on its shorter side (brush-stroke scale)")
    g.add_argument("--width", type=positive_int, default=DEFAULTS.width, help="generator width (paper 32)")
    g.add_argument("--depth", type=int, default=DEFAULTS.depth, help="residual blocks (paper 9)")
    g.add_argument("--downsampling", type=positive_int, default=DEFAULTS.downsampling,
                   help="stride-2 stages in the encoder, 1-4 (paper: 4, a 1/16 bottleneck; 2 learns the photo's "
                        "detail in a CPU-sized run)")
    g.add_argument("--disc-width", type=positive_int, default=DEFAULTS.disc_width, help="discriminator width")
    g.add_argument("--disc-layers", type=positive_int, default=DEFAULTS.disc_layers, help="discriminator layers")
    g.add_argument("--adv-weight", type=non_negative_float, default=DEFAULTS.adv_weight, help="adversarial loss")
    g.add_argument("--content-weight", type=non_negative_float, default=DEFAULTS.content_weight,
                   help="style-aware content loss")
    g.add_argument("--transform-weight", type=non_negative_float, default=DEFAULTS.transform_weight,
                   help="transformed-image loss")
    g.add_argument("--gram-weight", type=non_negative_float, default=DEFAULTS.gram_weight,
                   help="VGG19 Gram loss against the mean Gram matrix of the works at the crop scale "
                        "(not in the paper; 0 = off): gives a short CPU run the collection's texture early")
    g.add_argument("--win-rate", type=float, default=DEFAULTS.win_rate,
                   help="train the discriminator while its running accuracy is below this, else the generator")
    g.add_argument("--pretrain-steps", type=int, default=DEFAULTS.pretrain_steps, metavar="N",
                   help="first N steps: the generator learns to reproduce the photo (0 = as in the paper)")
    add_trainer_arguments(p)
    p.set_defaults(func=run, lr=2e-4, grad_clip=0.0, batch_size=1)


def run(args) -> int:
    from ..train.adaptive import AdaptiveTask, ArtBatches
    from ..train.data import find_images, load_photos, split_holdout

    output = check_output(args.output)
    device = training_device(args.device)
    artworks = [p for source in args.artworks for p in find_images(source)]
    if len(artworks) < MIN_ARTWORKS:
        raise PainterlyError(f"--artworks: found {len(artworks)} image(s); an artist-level model needs at least "
                             f"{MIN_ARTWORKS} works of the artist (the paper used hundreds)")
    cfg = AdaptiveTrainConfig(
        name=args.name or output.stem, artist=args.artist, title=args.title,
        artworks=tuple(sorted(str(getattr(p, "name", p)) for p in artworks)), crop=args.crop,
        art_scale=args.art_scale, width=args.width, depth=args.depth, disc_width=args.disc_width,
        disc_layers=args.disc_layers, downsampling=args.downsampling, adv_weight=args.adv_weight,
        content_weight=args.content_weight, transform_weight=args.transform_weight, gram_weight=args.gram_weight,
        win_rate=args.win_rate,
        pretrain_steps=args.pretrain_steps, seed=args.seed).validate()
    tcfg = trainer_config_from_args(args, device, run_dir_for(output, args.run_dir))
    photos = find_images(args.content)
    if args.validation:
        held_out = [p for source in args.validation for p in find_images(source)]
    else:
        photos, held_out = split_holdout(photos, min(args.holdout, len(photos) - 1), args.seed)
    validation = load_photos(held_out, args.sample_size or cfg.crop) if held_out else None
    batches = ArtBatches(photos, artworks, cfg.crop, args.batch_size, args.seed, cfg.art_scale)
    targets, vgg = artwork_gram_targets(batches.art.cache) if cfg.gram_weight > 0 else (None, None)
    return run_training("train adaptive", lambda: AdaptiveTask(cfg, device, targets, vgg), batches, tcfg,
                        validation, output, args.quiet)


def artwork_gram_targets(cache):
    """The collection's mean Gram matrices and the VGG19 that measured them (the task reuses it). Each
    work is seen whole as the training crops see it: from the artwork cache of the batches, at
    ``art_scale`` crops on its shorter side."""
    from ..features import VGG19Features
    from ..io.image import pil_to_tensor
    from ..train.adaptive import GRAM_LAYERS, collection_gram_targets

    images = [cache.get(i) for i in range(len(cache.paths))]
    tensors = [pil_to_tensor(image) for image in images if image is not None]
    if not tensors:
        raise PainterlyError("--artworks: none of the works could be read")
    vgg = VGG19Features(GRAM_LAYERS)
    return collection_gram_targets(tensors, vgg), vgg
