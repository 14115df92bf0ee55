"""The dataset check of ``painterly batch`` (issue #9): local vs Ray, and a kill halfway.

    python benchmarks/batch_check.py --count 2000 --work /tmp/batch-check [--ray-kill]

1. makes ``--count`` small images (as ``batch_throughput.py`` does, from scikit-image's samples);
2. ``painterly batch DATA -o local`` and ``painterly batch DATA -o ray --ray``: the manifests
   must be identical (timing column aside, sorted), every output present with its checksum;
3. starts ``painterly batch DATA -o killed``, SIGKILLs it once about half the rows are in the
   manifest, and reruns it: no output recorded before the kill may be rewritten (mtimes), none
   may be missing or corrupt, and the final manifest must equal the local one;
4. with ``--ray-kill`` the same with ``--ray`` (the driver is killed; Ray processes it leaves
   behind are listed and ended by their process id).

Every command is printed as run; the summary is a Markdown list for docs/batch.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_throughput import make_dataset  # noqa: E402


def painterly(*args) -> list[str]:
    return [sys.executable, "-m", "painterly", "batch", *map(str, args)]


def run(command: list[str], log: list[str]) -> float:
    shown = "painterly " + shlex.join(command[3:])
    print(f"$ {shown}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {done.stderr[-2000:]}")
    log.append(f"`{shown}`: {seconds:.1f} s; {done.stderr.strip().splitlines()[-1]}")
    return seconds


def rows(out: Path) -> list[dict]:
    from painterly.batch.manifest import read_rows

    return list(read_rows(out / "manifest.csv"))


def verify(out: Path) -> tuple[int, int]:
    """(outputs checked, problems): every ok row's file exists, has its checksum and decodes."""
    from PIL import Image

    checked = problems = 0
    for row in rows(out):
        if row["status"] != "ok":
            continue
        path = out / row["output"]
        try:
            data = path.read_bytes()
            with Image.open(path) as image:
                image.load()
            problems += hashlib.sha256(data).hexdigest() != row["sha256"]
        except OSError:
            problems += 1
        checked += 1
    return checked, problems


def mtimes(out: Path, names) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in names}


def descendants(pid: int) -> set[int]:
    """Process ids below ``pid`` (from /proc), to end what a killed Ray driver leaves behind."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_halfway(data: Path, out: Path, total: int, extra: list[str], log: list[str], reference) -> None:
    from painterly.batch.manifest import sorted_rows

    command = painterly(data, "-o", out, "--styles", "wheat_field", "--size", 128, "--quiet", *extra)
    print(f"$ {shlex.join(['painterly', *command[3:]])} &  # SIGKILL at ~{total // 2} rows", flush=True)
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: set[int] = set()
    while child.poll() is None:
        family |= descendants(child.pid)
        if (out / "manifest.csv").is_file() and len(rows(out)) >= total // 2:
            break
        time.sleep(0.05)
    family |= descendants(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(2)
    left = sorted(pid for pid in family if Path(f"/proc/{pid}").exists())
    for pid in left:  # our own children only, one by one
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = rows(out)
    recorded = [r["output"] for r in before if r["status"] == "ok"]
    stamps = mtimes(out, recorded)
    checked, problems = verify(out)
    log.append(f"killed with SIGKILL after {len(before)} of {total} rows; {checked} recorded outputs verified, "
               f"{problems} problems; {len(left)} leftover child processes ended")
    run(painterly(data, "-o", out, "--styles", "wheat_field", "--size", 128, "--quiet", *extra), log)
    redone = sum(1 for name, stamp in mtimes(out, recorded).items() if stamp != stamps[name])
    checked, problems = verify(out)
    same = sorted_rows(out / "manifest.csv") == reference
    log.append(f"after the rerun: {len(rows(out))} rows, {redone} of the {len(recorded)} outputs recorded before "
               f"the kill rewritten, {checked} outputs verified, {problems} missing/corrupt, manifest identical to "
               f"the local one: {same}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--work", default="/tmp/painterly-batch-check")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-kill", action="store_true", help="also kill a --ray run halfway")
    args = parser.parse_args(argv)
    from painterly.batch.manifest import sorted_rows

    work = Path(args.work)
    data = work / "data"
    if not data.is_dir():
        make_dataset(data, args.count)
    log: list[str] = []
    common = ["--styles", "wheat_field", "--size", 128, "--quiet", "--workers", args.workers]
    run(painterly(data, "-o", work / "local", *common), log)
    run(painterly(data, "-o", work / "ray", *common, "--ray"), log)
    reference = sorted_rows(work / "local" / "manifest.csv")
    same = sorted_rows(work / "ray" / "manifest.csv") == reference
    for name in ("local", "ray"):
        checked, problems = verify(work / name)
        log.append(f"{name}: {len(rows(work / name))} rows, {checked} outputs verified, {problems} missing/corrupt")
    log.append(f"local and Ray manifests identical (sorted, without the seconds column): {same}")
    kill_halfway(data, work / "killed", args.count, ["--workers", args.workers], log, reference)
    if args.ray_kill:
        kill_halfway(data, work / "killed-ray", args.count, ["--workers", args.workers, "--ray"], log, reference)
    print("\n" + "\n".join(f"- {line}" for line in log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
