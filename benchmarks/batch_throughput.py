"""Throughput of ``painterly batch``: local workers (threads, processes) and Ray actors.

    python benchmarks/batch_throughput.py                         # 400 images, 128 px, wheat_field
    python benchmarks/batch_throughput.py --count 2000 --size 160 --variants local1 ray2
    python benchmarks/batch_throughput.py --make-only DATA --count 2000   # just write the dataset
    python benchmarks/batch_throughput.py --stages 128 512                # per-step ms on one core

The dataset is made on the fly: random crops (96-192 px a side, JPEG and PNG, in 20 folders)
of scikit-image's bundled sample photos, so nothing is downloaded or copied into the repo.
Every variant stylises the same images with the built-in ``wheat_field`` model into a fresh
folder. Reported per variant: the wall time of the whole run (model loading, pool start-up,
Ray start-up included), images/s over that, when the first output appeared, and with
``--marginal`` the rate with start-up cancelled out: every variant also runs on half the
images, and ``(N - N/2) / (T(N) - T(N/2))`` is what a long run would see. Each variant's
manifest must equal the first's (timing column aside); the script says so. ``--stages PX...``
instead times decode, stylise and encode per image on one thread (for GPU estimates).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
VARIANTS = {
    "local1": dict(workers=1),                       # one worker, one intra-op thread (the default)
    "local1-2t": dict(workers=1, threads=2),         # one worker, two intra-op threads
    "threads2": dict(workers=2, pool="thread"),
    "procs2": dict(workers=2, pool="process"),
    "ray1": dict(workers=1, ray=True),
    "ray2": dict(workers=2, ray=True),
}


def make_dataset(folder: Path, count: int, seed: int = 0, sides: tuple[int, int] = (96, 192)) -> Path:
    """``count`` crops (``sides`` px a side) of the skimage samples under ``folder`` (20 sub-folders, 2 in 3 JPEG)."""
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = [getattr(skimage.data, name)() for name in SAMPLES]
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = rng.integers(sides[0], sides[1] + 1, size=2)
        h, w = min(h, photo.shape[0]), min(w, photo.shape[1])
        y, x = rng.integers(0, photo.shape[0] - h + 1), rng.integers(0, photo.shape[1] - w + 1)
        path = folder / f"part{i % 20:02d}" / f"img{i:06d}.{'png' if i % 3 == 0 else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(photo[y:y + h, x:x + w])).save(path, quality=90)
    return folder


def run_variant(name: str, data: Path, out: Path, size: int | None, model: str, ray_cpus: int | None) -> dict:
    from painterly.batch import BatchConfig, run_batch

    settings = dict(VARIANTS[name])
    if settings.get("ray"):
        settings["ray_cpus"] = ray_cpus
    config = BatchConfig(str(data), str(out), method="fast", styles=(model,), size=size, **settings)
    start_ns = time.time_ns()
    start = time.perf_counter()
    summary = run_batch(config)
    wall = time.perf_counter() - start
    first = min((p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".png", ".jpg")), default=start_ns)
    return {"variant": name, "images": summary.done, "failed": summary.failed, "wall_s": wall,
            "per_s": summary.done / wall, "first_s": (first - start_ns) / 1e9}


def marginal(name: str, data: Path, half: Path, work: Path, full: dict, args) -> float:
    """Images/s of the second half alone: run on half the images, and (N - N/2) / (T(N) - T(N/2)).

    Start-up (model loading, pools, Ray) cancels out, which is what matters for a long run; the
    output mtimes cannot show it for Ray, which writes its results in bursts.
    """
    out = work / f"out-{name}-half"
    shutil.rmtree(out, ignore_errors=True)
    part = run_variant(name, half, out, args.size, args.model, args.ray_cpus)
    extra = full["images"] - part["images"]
    seconds = full["wall_s"] - part["wall_s"]
    return extra / seconds if seconds > 0 else float("nan")


def stage_times(data: Path, size: int, model: str, count: int = 200) -> dict[str, float]:
    """Milliseconds per image of each step on one thread: decode (+ resize), stylise, encode + sha256."""
    import hashlib

    import torch

    from painterly.batch.config import BatchConfig
    from painterly.batch.styles import resolve_styles
    from painterly.batch.work import Stylist, WorkerSpec, decode, encode

    torch.set_num_threads(1)
    styles = tuple(resolve_styles(BatchConfig(str(data), str(data.parent / "unused"), styles=(model,))))
    stylist = Stylist(WorkerSpec("fast", styles, str(data), "", "", threads=1))
    paths = sorted(p for p in data.rglob("*") if p.is_file())[:count]
    times = {"decode": 0.0, "stylise": 0.0, "encode": 0.0}
    for path in paths:
        t0 = time.perf_counter()
        pixels = decode(path, size, 64_000_000)
        t1 = time.perf_counter()
        result = stylist(pixels, styles[0].label)
        t2 = time.perf_counter()
        hashlib.sha256(encode(result, path.suffix)).hexdigest()
        t3 = time.perf_counter()
        times["decode"] += t1 - t0
        times["stylise"] += t2 - t1
        times["encode"] += t3 - t2
    return {k: 1000 * v / len(paths) for k, v in times.items()}


def half_dataset(data: Path, folder: Path) -> Path:
    """A list of every other image of ``data`` as a folder of hard links (same files, half the count)."""
    images = sorted(p for p in data.rglob("*") if p.is_file())
    for path in images[::2]:
        target = folder / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(path, target)
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="images (default 400)")
    parser.add_argument("--size", type=int, default=128, help="longer side of the results, px (default 128)")
    parser.add_argument("--model", default="wheat_field", help="fast model (default wheat_field)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray instance")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one, removed)")
    parser.add_argument("--make-only", metavar="DIR", help="only write the dataset to DIR")
    parser.add_argument("--crop", type=int, nargs=2, default=(96, 192), metavar=("MIN", "MAX"),
                        help="sides of the generated images, px (default 96 192)")
    parser.add_argument("--stages", type=int, nargs="*", metavar="PX",
                        help="only time decode / stylise / encode per image on one thread, at these sizes")
    parser.add_argument("--marginal", action="store_true",
                        help="also run every variant on half the images: images/s with start-up cancelled out")
    args = parser.parse_args(argv)
    if args.make_only:
        make_dataset(Path(args.make_only), args.count, sides=tuple(args.crop))
        print(f"wrote {args.count} images to {args.make_only}")
        return 0

    from painterly.batch.manifest import sorted_rows

    work = Path(args.work or tempfile.mkdtemp(prefix="painterly-batch-bench-"))
    if args.stages is not None:
        print("| result px | decode + resize ms | stylise ms | encode + sha256 ms | img/s on one core |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for size in args.stages or [args.size]:
            sides = (96, 192) if size <= 192 else (size * 3 // 4, size * 5 // 4)   # inputs about the result's size
            data = make_dataset(work / f"data{size}", min(args.count, 200), sides=sides)
            t = stage_times(data, size, args.model)
            print(f"| {size} | {t['decode']:.1f} | {t['stylise']:.1f} | {t['encode']:.1f} | "
                  f"{1000 / sum(t.values()):.1f} |")
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        data = make_dataset(work / "data", args.count, sides=tuple(args.crop))
        results, reference = [], None
        for name in args.variants:
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            result = run_variant(name, data, out, args.size, args.model, args.ray_cpus)
            if args.marginal:
                result["marginal_per_s"] = marginal(name, data, half_dataset(data, work / "half"), work, result, args)
            rows = sorted_rows(out / "manifest.csv")
            reference = reference if reference is not None else rows
            result["same_manifest"] = rows == reference
            results.append(result)
            print(f"{name}: {result['per_s']:.1f} img/s", file=sys.stderr)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.count} images, results {args.size} px, model {args.model}, {os.cpu_count()} CPU cores, "
          f"load average {load:.1f} at the end\n")
    print("| variant | images | wall s | img/s (wall) | img/s (marginal) | first output after s | manifest = first |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        rate = f"{r['marginal_per_s']:.1f}" if "marginal_per_s" in r else "-"
        print(f"| {r['variant']} | {r['images']} | {r['wall_s']:.1f} | {r['per_s']:.1f} | {rate} | "
              f"{r['first_s']:.1f} | {'yes' if r['same_manifest'] else 'NO'} |")
    return 0 if all(r["same_manifest"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
