"""``painterly embeddings``: project the embeddings a ``painterly reencode --embeddings`` run wrote.

Reads every DIR/**/pass_NNNNNN.npy (one sequence per image folder), fits one PCA, t-SNE or
UMAP map on all of them, and writes PLOT.png (matplotlib) and PLOT.html (interactive,
self-contained) beside it; ``--curves`` adds the distance curves (norm, consecutive
distance, distance to pass 0 against the pass).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..analysis.embedding_plot import PROJECTIONS
from ..errors import PainterlyError
from .common import positive_int


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "embeddings", help="plot the embeddings of re-encoding runs (PCA, t-SNE, UMAP)",
        description="Project the embeddings written by `painterly reencode --embeddings` (all images' sequences in "
                    "DIR) to 2-D or 3-D and plot them: colour = source image, lines join each image's passes in "
                    "order, pass numbers marked. Writes PLOT.png and an interactive PLOT.html beside it.")
    p.add_argument("folder", metavar="DIR", help="output folder of a reencode run (searched recursively)")
    p.add_argument("--method", choices=PROJECTIONS, default="pca",
                   help="projection: pca, tsne (scikit-learn) or umap (umap-learn) (default pca)")
    p.add_argument("--3d", dest="three_d", action="store_true", help="project to three dimensions")
    p.add_argument("-o", "--output", required=True, metavar="PLOT.png", help="the static plot (.png)")
    p.add_argument("--curves", default=None, metavar="PNG",
                   help="also plot embedding norm and distances against the pass number here")
    p.add_argument("--max-points", type=positive_int, default=None, metavar="N",
                   help="use at most N points in all, evenly spaced along each sequence (for long runs)")
    p.add_argument("--seed", type=int, default=0, help="random seed of t-SNE / UMAP")
    p.add_argument("--title", default="", help="plot title")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def check_png(path: str, flag: str) -> Path:
    if Path(path).suffix.lower() != ".png":
        raise PainterlyError(f"{flag} {path}: the plot is written as PNG; give a name ending in .png")
    if Path(path).is_dir():
        raise PainterlyError(f"{flag} {path}: is a folder; give a file name ending in .png")
    return Path(path)


def run(args) -> int:
    from ..analysis.embedding_plot import plot_distances, plot_embeddings, require, subsample
    from ..analysis.embeddings import load_sequences

    output = check_png(args.output, "-o")
    curves = check_png(args.curves, "--curves") if args.curves else None
    sequences = load_sequences(args.folder)
    require("matplotlib")
    require("umap" if args.method == "umap" else "sklearn")
    used = subsample(sequences, args.max_points)
    png, html = plot_embeddings(used, output, args.method, 3 if args.three_d else 2, args.seed, args.title)
    written = {"plot": str(png), "html": str(html)}
    if curves is not None:
        written["curves"] = str(plot_distances(sequences, curves, args.title))
    summary = {**written, "method": args.method, "dims": 3 if args.three_d else 2,
               "embedding_dim": sequences[0].dim, "points": sum(len(s.passes) for s in used),
               "sequences": [{"label": s.label, "passes": len(s.passes), "first": int(s.passes[0]),
                              "last": int(s.passes[-1])} for s in sequences]}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {', '.join(written.values())} ({summary['points']} points from {len(sequences)} "
              f"image(s))", file=sys.stderr)
    return 0
