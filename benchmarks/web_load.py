"""Load test of the web studio on loopback: N jobs at concurrency C with the fast method.

    python benchmarks/web_load.py [--requests 200] [--concurrency 20] [--size 256] [--workers 2]

Starts ``painterly serve`` in a subprocess with a fresh data directory, then C clients each
submit a photo, poll until the job is done and download the result, until N jobs are through.
Prints a table: errors, lost jobs (submitted but never done, or results that do not decode),
submit and end-to-end latency percentiles, throughput, and the server's resident memory at
start, after a warm-up, and at the end (sampled every 0.2 s; "flat" means the end is within
a few MB of the warm level).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photos(count: int, size: int) -> list[bytes]:
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    out = []
    for i in range(count):
        image = Image.fromarray(sources[i % len(sources)])
        image.thumbnail((size, size))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def one_job(client: httpx.AsyncClient, photo: bytes, style: str, size: int, record: dict) -> None:
    start = time.perf_counter()
    try:
        response = await client.post("/api/jobs", files={"content": ("p.jpg", photo, "image/jpeg")},
                                     data={"style": style, "size": str(size)})
    except httpx.HTTPError as exc:
        record["errors"].append(f"submit: {exc!r}")
        return
    record["submit"].append(time.perf_counter() - start)
    if response.status_code != 202:
        record["errors"].append(f"submit {response.status_code}: {response.text[:100]}")
        return
    job_id = response.json()["id"]
    record["submitted"].append(job_id)
    while True:
        await asyncio.sleep(0.1)
        job = (await client.get(f"/api/jobs/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            break
    if job["status"] != "done":
        record["errors"].append(f"job failed: {job['error']}")
        return
    result = await client.get(f"/api/jobs/{job_id}/result")
    try:
        Image.open(io.BytesIO(result.content)).load()
    except Exception as exc:  # noqa: BLE001 - any decode failure is a lost result
        record["errors"].append(f"result does not decode: {exc}")
        return
    record["done"].append(job_id)
    record["total"].append(time.perf_counter() - start)


async def drive(url: str, jobs: list[bytes], concurrency: int, style: str, size: int) -> dict:
    record = {"errors": [], "submitted": [], "done": [], "submit": [], "total": []}
    queue: asyncio.Queue = asyncio.Queue()
    for photo in jobs:
        queue.put_nowait(photo)

    async def client_loop():
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            while not queue.empty():
                await one_job(client, queue.get_nowait(), style, size, record)

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return record


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--size", type=int, default=256, help="longer side of photos and results")
    parser.add_argument("--workers", type=int, default=2, help="the server's job workers")
    parser.add_argument("--style", default="wheat_field")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="painterly-load-"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", str(port), "--data-dir",
                               str(data), "--workers", str(args.workers), "--device", "cpu"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        start_rss = rss_mb(server.pid)
        warm = asyncio.run(drive(url, photos(10, args.size), 2, args.style, args.size))
        warm_rss = rss_mb(server.pid)
        samples: list[float] = []

        async def run_with_sampling():
            async def sample():
                while True:
                    samples.append(rss_mb(server.pid))
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            try:
                return await drive(url, photos(args.requests, args.size), args.concurrency, args.style, args.size)
            finally:
                sampler.cancel()

        t0 = time.perf_counter()
        record = asyncio.run(run_with_sampling())
        wall = time.perf_counter() - t0
        end_rss = rss_mb(server.pid)
        health = httpx.get(f"{url}/api/health").json()
    finally:
        server.terminate()
        server.wait(15)

    lost = len(set(record["submitted"]) - set(record["done"]))
    third = max(1, len(samples) // 3)
    print(f"painterly serve, {args.workers} workers, {os.cpu_count()} CPUs; {args.requests} jobs at concurrency "
          f"{args.concurrency}, style {args.style}, {args.size} px; warm-up {len(warm['done'])} jobs\n")
    rows = [
        ("jobs submitted / done", f"{len(record['submitted'])} / {len(record['done'])}"),
        ("errors", str(len(record["errors"]))),
        ("lost jobs", str(lost)),
        ("submit latency p50 / p95 / max (s)", f"{pct(record['submit'], 50):.3f} / {pct(record['submit'], 95):.3f} / "
                                              f"{max(record['submit'] or [float('nan')]):.3f}"),
        ("end-to-end p50 / p95 (s)", f"{pct(record['total'], 50):.2f} / {pct(record['total'], 95):.2f}"),
        ("throughput (jobs/s)", f"{len(record['done']) / wall:.2f}"),
        ("server RSS start / warm / end (MB)", f"{start_rss:.0f} / {warm_rss:.0f} / {end_rss:.0f}"),
        ("server RSS mean 1st third / last third / peak (MB)",
         f"{statistics.mean(samples[:third]):.0f} / {statistics.mean(samples[-third:]):.0f} / {max(samples):.0f}"),
        ("server's own count (done, failed)", f"{health['jobs']['done']}, {health['jobs']['failed']}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")
    for error in record["errors"][:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
