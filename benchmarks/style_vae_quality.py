"""How well the style VAE models paintings' statistics: trained vs held-out paintings.

    python benchmarks/style_vae_quality.py --styles ../shared/data/styles [--model PATH] [--vectors RUN/vectors-*.safetensors]

For every painting, its whole-painting style vector (measured at the model's code size, or read
from a trainer's cached measurement with ``--vectors``) is encoded (posterior mean) and decoded.
The table gives, for trained and held-out paintings, the mean squared error of the round trip
in log1p units, that of the best constant guess (the training mean), the fraction of variance
explained, and the same for the relu4_1 part alone (what AdaIN uses). Also: the latent
dimensions in use (variance of the codes > 0.01) and the mean posterior standard deviation.
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="../shared/data/styles")
    parser.add_argument("--model", default=None)
    parser.add_argument("--vectors", default=None, help="a cached measurement from the trainer's run folder")
    args = parser.parse_args()

    from painterly.features import VGG19Features
    from painterly.io.image import load_image
    from painterly.ops import resize_longer_side
    from painterly.stylespace.space import load_style_space
    from painterly.stylespace.vectors import image_vector
    from painterly.train.adain import list_images

    space = load_style_space(args.model)
    if args.vectors:
        from safetensors.torch import load_file

        whole = load_file(args.vectors)["whole"]
    else:
        vgg = VGG19Features(space.vae.config.layers)
        size = int(space.meta.get("architecture", {}).get("code_size", 512))
        by_name = {p.stem: p for p in list_images(args.styles)}
        whole = torch.stack([image_vector(vgg, resize_longer_side(load_image(by_name[n]), size)) for n in space.names])
    held = torch.tensor(space.held_out)
    with torch.no_grad():
        mu, logvar = space.vae.encode(whole)
        recon = space.vae.decode(mu)
    constant = whole[~held].mean(0)
    relu4 = slice(64 + 128 + 256, 960)
    print(f"model: {space.path}  paintings: {len(space.names)} ({int(held.sum())} held out)  "
          f"latent dims in use: {int((mu.var(0) > 0.01).sum())}/{mu.shape[1]}  "
          f"mean posterior std: {float((0.5 * logvar).exp().mean()):.3f}")
    print("| paintings | round-trip MSE | constant-guess MSE | variance explained | relu4_1 means explained |")
    print("|---|---|---|---|---|")
    for label, mask in (("trained", ~held), ("held out", held)):
        err = float(((recon[mask] - whole[mask]) ** 2).mean())
        base = float(((constant - whole[mask]) ** 2).mean())
        err4 = float(((recon[mask][:, relu4] - whole[mask][:, relu4]) ** 2).mean())
        base4 = float(((constant[relu4] - whole[mask][:, relu4]) ** 2).mean())
        print(f"| {label} ({int(mask.sum())}) | {err:.4f} | {base:.4f} | {1 - err / base:.1%} | {1 - err4 / base4:.1%} |")


if __name__ == "__main__":
    main()
