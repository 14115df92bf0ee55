"""``painterly batch``: stylise a whole folder tree (or a list of files), resumably, locally or on Ray."""

from __future__ import annotations

import json
import sys

from ..batch.config import MANIFEST_FORMATS, METHODS, POOLS, BatchConfig
from .common import positive_int

DEFAULTS = BatchConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("batch", help="stylise a whole dataset (folder tree), resumable, locally or on Ray",
                              description="Stylise every image under IN_DIR into OUT_DIR (same tree, same file "
                                          "types), each image in K styles chosen from the pool by (seed, path), "
                                          "with a manifest (OUT_DIR/manifest.csv). Rerunning resumes: finished "
                                          "outputs are kept. Put IN_DIR first: --styles and --ray take values.")
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of images (walked recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (created; mirrors IN_DIR)")
    p.add_argument("--method", choices=METHODS, default=DEFAULTS.method,
                   help="fast: one model per style; multistyle: styles of one --model; adain: any style image "
                        "(default %(default)s)")
    p.add_argument("--styles", nargs="+", default=[], metavar="DIR|NAME",
                   help="the style pool: fast model or style names (fast), style names of --model (multistyle), "
                        "a folder of style images, style image files or built-in style names (adain)")
    p.add_argument("--model", default=DEFAULTS.model, metavar="PATH|NAME",
                   help="model file or built-in model name (fast: instead of --styles; adain: the decoder)")
    p.add_argument("--per-image", type=positive_int, default=DEFAULTS.per_image, metavar="K",
                   help="styles per image (default %(default)s); several give OUT/<dir>/<stem>.<style><ext>")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the style assignment (default 0)")
    p.add_argument("--size", type=positive_int, default=DEFAULTS.size, metavar="PX",
                   help="longer side of the results in px (default: each input's own)")
    p.add_argument("--workers", type=positive_int, default=DEFAULTS.workers, metavar="W",
                   help="model replicas: local threads/processes, or Ray actors (default %(default)s)")
    p.add_argument("--pool", choices=POOLS, default=DEFAULTS.pool,
                   help="local parallelism for --workers > 1 (default %(default)s)")
    p.add_argument("--threads", type=positive_int, default=DEFAULTS.threads, metavar="N",
                   help="intra-op threads per worker (default 1; use --workers to fill the cores)")
    p.add_argument("--manifest", choices=MANIFEST_FORMATS, default=DEFAULTS.manifest,
                   help="csv (always written), parquet: also OUT_DIR/manifest.parquet (needs pyarrow)")
    p.add_argument("--list", dest="list_file", default=None, metavar="FILE",
                   help="process the paths in FILE (one a line, relative to IN_DIR) instead of walking IN_DIR")
    p.add_argument("--limit", type=int, default=DEFAULTS.limit, metavar="N",
                   help="stop after N new images (a rerun continues)")
    p.add_argument("--retry-failed", action="store_true", help="redo inputs an earlier run recorded as failed")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: a local instance, or the cluster at ADDRESS (auto, HOST:PORT, ray://HOST:PORT)")
    p.add_argument("--ray-cpus", type=positive_int, default=DEFAULTS.ray_cpus, metavar="N",
                   help="CPUs of the local Ray instance (default: cores, at least workers + 1)")
    p.add_argument("--ray-batch-size", type=positive_int, default=DEFAULTS.ray_batch_size, metavar="N",
                   help="images per actor call (default %(default)s)")
    p.add_argument("--connect-timeout", type=float, default=DEFAULTS.connect_timeout, metavar="SEC",
                   help="give up reaching a Ray cluster after SEC seconds (default %(default)g)")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA if available; on Ray: GPU actors if the cluster has GPUs), cpu, cuda")
    p.add_argument("--runtime", choices=("auto", "torch", "onnx"), default=DEFAULTS.runtime,
                   help="auto: a model's .onnx export with onnxruntime on the CPU, else PyTorch")
    p.add_argument("--model-dir", default=DEFAULTS.model_dir, help="look up model names here instead of built-ins")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULTS.max_pixels, help="refuse larger inputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def config_from_args(args) -> BatchConfig:
    from .common import resolve_device

    on_ray = args.ray is not None
    device = args.device if on_ray and args.device == "auto" else resolve_device(args.device)
    return BatchConfig(input_dir=args.input_dir, output_dir=args.output, method=args.method, styles=tuple(args.styles),
                       model=args.model, per_image=args.per_image, seed=args.seed, size=args.size,
                       workers=args.workers, pool=args.pool, threads=args.threads, manifest=args.manifest,
                       list_file=args.list_file, limit=args.limit, retry_failed=args.retry_failed, ray=on_ray,
                       ray_address=args.ray or None, ray_cpus=args.ray_cpus, ray_batch_size=args.ray_batch_size,
                       connect_timeout=args.connect_timeout, device=device, runtime=args.runtime,
                       model_dir=args.model_dir, max_pixels=args.max_pixels).validate()


class BatchBar:
    """A tqdm bar counting output images (images/s) fed by :class:`~painterly.batch.BatchProgress`."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None  # made at the first event, so errors found before any work stay one line

    def __call__(self, event) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc="batch", unit="img", disable=not self.enabled, dynamic_ncols=True, file=sys.stderr)
        self.bar.update(event.done - self.bar.n)
        self.bar.set_postfix({"failed": event.failed, "skipped": event.skipped}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args) -> int:
    from ..batch import run_batch

    config = config_from_args(args)
    bar = BatchBar(enabled=not args.quiet)
    try:
        summary = run_batch(config, on_progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        more = " (stopped at --limit; rerun to continue)" if summary.stopped_early else ""
        print(f"{summary.done - summary.failed} written, {summary.failed} failed, {summary.skipped} already done, "
              f"{summary.images_per_second:.1f} img/s; manifest {summary.manifest[0]}{more}", file=sys.stderr)
    return 0
