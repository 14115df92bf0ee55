"""``painterly visualize``: what each VGG19 layer sees (Gatys et al. 2016, Fig. 1).

For every layer choice, white noise is optimised with ONLY the content loss or ONLY the Gram
style loss at that choice; DIR gets ``<choice>.png`` (the reconstruction), ``<choice>.gif``
(noise to result) and ``grid.png`` (the original, then every reconstruction, labelled).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from ..analysis.layers import OPTIMIZERS, WHATS, ReconstructConfig
from ..errors import PainterlyError
from .common import ProgressBar, add_device_argument, non_negative_float, positive_int, resolve_device

DEFAULTS = ReconstructConfig()
GRID_NAME = "grid.png"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "visualize", help="reconstruct an image from noise at single layers (what each layer sees)",
        description="Rebuild an image from white noise using only the content loss, or only the Gram style "
                    "loss, at chosen VGG19 layers (Gatys et al. 2016, Fig. 1). Writes DIR/<layers>.png, "
                    "DIR/<layers>.gif and a labelled DIR/grid.png.")
    p.add_argument("image", help="the image to reconstruct")
    p.add_argument("--what", required=True, choices=WHATS, help="which single loss to reconstruct with")
    p.add_argument("--layers", nargs="+", default=None, metavar="L",
                   help="one reconstruction per argument; join layers with '+' (relu1_1+relu2_1). Names like "
                        "relu4_2, conv5_2, or 0-4 for relu1_1..relu5_1. Default: content conv1_2 conv2_2 conv3_2 "
                        "conv4_2 conv5_2; style relu1_1..relu5_1 cumulatively")
    p.add_argument("--cumulative", action="store_true",
                   help="each choice also includes the previous ones (the paper's style rows)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the results (created)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, help="longer side in px")
    p.add_argument("--iterations", type=positive_int, default=DEFAULTS.iterations, help="steps per layer choice")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 1.0 L-BFGS, 0.05 Adam)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the white-noise start")
    p.add_argument("--tv-weight", type=non_negative_float, default=DEFAULTS.tv_weight,
                   help="total variation weight, relative to the normalised loss (default 0, as in the paper)")
    p.add_argument("--pooling", choices=("avg", "max"), default=DEFAULTS.pooling,
                   help="VGG pooling (default avg, as Gatys et al. use for synthesis)")
    p.add_argument("--frame-every", type=positive_int, default=None, metavar="N",
                   help="one GIF frame every N steps (default: about 40 frames)")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second of the GIFs")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_argument(p)
    p.set_defaults(func=run)


def parse_choices(what: str, layers: list[str] | None, cumulative: bool) -> list[tuple[str, ...]]:
    """Layer choices from the command line; bad names become a one-line user error."""
    from ..analysis.layers import layer_groups

    try:
        return layer_groups(what, layers, cumulative=cumulative)
    except PainterlyError:
        raise
    except ValueError as exc:  # UnknownLayerError is a ValueError; it already suggests close names
        raise PainterlyError(f"--layers: {exc}") from None


def check_outputs(folder: Path, names: list[str], image: str) -> None:
    """Refuse a folder that is a file, or results that would overwrite the input image."""
    if folder.exists() and not folder.is_dir():
        raise PainterlyError(f"{folder}: exists and is not a folder")
    source = Path(image).resolve()
    for path in [folder / GRID_NAME] + [folder / f"{name}{ext}" for name in names for ext in (".png", ".gif")]:
        if path.resolve() == source:
            raise PainterlyError(f"{path}: refusing to overwrite the input image; choose another -o folder")


def run(args) -> int:
    from ..analysis.layers import FrameCollector, build_features, choice_name, labelled_grid, run_reconstruction
    from ..io.animation import write_animation
    from ..io.image import load_image, save_image, tensor_to_pil

    if args.fps <= 0:
        raise PainterlyError(f"--fps must be positive, got {args.fps}")
    cfg = ReconstructConfig(what=args.what, size=args.size, iterations=args.iterations, optimizer=args.optimizer,
                            lr=args.lr, seed=args.seed, tv_weight=args.tv_weight, pooling=args.pooling,
                            frame_every=args.frame_every, device=resolve_device(args.device)).validate()
    choices = parse_choices(args.what, args.layers, args.cumulative)
    folder = Path(args.output)
    check_outputs(folder, [choice_name(choice) for choice in choices], args.image)
    image = load_image(args.image, size=cfg.size)          # every check is done before anything is written

    vgg = build_features(choices, cfg.pooling, cfg.device)  # one network for all choices
    cells = [(tensor_to_pil(image), "original")]
    written = []
    for choice in choices:
        name = choice_name(choice)
        bar = ProgressBar(f"{args.what} {name}", cfg.iterations, enabled=not args.quiet)
        frames = FrameCollector(cfg.frame_interval)
        try:
            result = run_reconstruction(image, choice, cfg, [bar, frames], features=vgg)
        finally:
            bar.close()
        final = tensor_to_pil(result.image)
        png = save_image(final, folder / f"{name}.png")
        gif = write_animation(frames.frames + [final], folder / f"{name}.gif", fps=args.fps)
        cells.append((final, "+".join(choice)))
        written.append({"layers": list(choice), "image": str(png), "gif": str(gif),
                        "loss": result.losses[args.what], "restarts": result.restarts,
                        "seconds": round(result.seconds, 3)})
    grid = save_image(labelled_grid(cells), folder / GRID_NAME)

    if args.json:
        summary = {"output": str(folder), "grid": str(grid), "what": args.what, "results": written,
                   "settings": {**asdict(cfg), "frame_every": cfg.frame_interval}}
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {len(written)} reconstructions and {grid}", file=sys.stderr)
    return 0
