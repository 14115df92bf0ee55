"""``painterly batch``: planning, outputs, manifest, resume after a kill, failures, local vs Ray, errors."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_painting, make_photo
from painterly.batch import BatchConfig, run_batch
from painterly.batch.manifest import COLUMNS, ManifestWriter, ResumeState, compact, read_rows, repair, sorted_rows
from painterly.batch.plan import assign_styles, output_path, read_list, walk_images
from painterly.cli import main
from painterly.io.model_file import save_model_file
from painterly.nets.transformer import TransformerConfig, TransformerNet

HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
TRIO = ("udnie", "great_wave", "the_scream")
SRC = Path(__file__).resolve().parents[1] / "src"


def save_tiny(folder: Path, name: str, kind: str = "fast", styles=("starry_night",), seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = TransformerConfig(width=4, depth=1, n_styles=len(styles))
    net = TransformerNet(config)
    with torch.no_grad():
        for param in net.norm_parameters():
            param.add_(0.3 * torch.randn_like(param))
    return save_model_file(folder / name, kind, net.state_dict(),
                           {"architecture": config.to_dict(), "styles": [{"name": s} for s in styles]})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    save_tiny(folder, "starry_night")
    save_tiny(folder, "udnie", styles=("udnie",), seed=2)
    save_tiny(folder, "trio", kind="multistyle", styles=TRIO, seed=1)
    return folder


def make_tree(root: Path, count: int = 6) -> list[str]:
    """``count`` small images in nested folders (PNG and JPEG, 24-40 px) plus junk; their relative paths."""
    names = []
    for i in range(count):
        rel = ["a/b", "a", "c", ""][i % 4]
        name = f"{rel}/img{i:03d}.{'jpg' if i % 3 == 0 else 'png'}".lstrip("/")
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        array = make_photo(24 + i % 17, 40 - i % 13)
        array = np.roll(array, i, axis=1)  # every image different
        Image.fromarray(array).save(path)
        names.append(name)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"hidden")
    return sorted(names)


@pytest.fixture
def tree(tmp_path) -> tuple[Path, list[str]]:
    root = tmp_path / "in"
    names = make_tree(root)
    (root / "c" / "broken.jpg").write_text("this is not a jpeg")
    return root, names


def run_cli(capsys, *argv):
    code = main(["batch", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manifest(out: Path) -> list[dict]:
    return list(read_rows(out / "manifest.csv"))


# --------------------------------------------------------------------------- planning


def test_style_assignment_is_deterministic_and_spread():
    pool = ["a", "b", "c", "d"]
    picks = [assign_styles(f"x/{i}.jpg", pool, 2, seed=7) for i in range(400)]
    assert picks == [assign_styles(f"x/{i}.jpg", pool, 2, seed=7) for i in range(400)]
    assert all(len(set(p)) == 2 for p in picks)
    counts = {s: sum(s in p for p in picks) for s in pool}
    assert all(150 < c < 250 for c in counts.values()), counts          # about 200 each
    assert picks != [assign_styles(f"x/{i}.jpg", pool, 2, seed=8) for i in range(400)]
    # rendezvous: adding a style only moves images to the new style
    grown = [assign_styles(f"x/{i}.jpg", pool + ["e"], 1, seed=7) for i in range(400)]
    for old, new in zip([assign_styles(f"x/{i}.jpg", pool, 1, seed=7) for i in range(400)], grown):
        assert new == old or new == ["e"]
    assert output_path("a/b/c.jpg", "udnie", 1) == "a/b/c.jpg"
    assert output_path("a/b/c.jpg", "udnie", 2) == "a/b/c.udnie.jpg"


def test_walk_is_lazy_sorted_and_skips(tmp_path):
    names = make_tree(tmp_path / "in")
    (tmp_path / "in" / "out").mkdir()
    Image.fromarray(make_photo()).save(tmp_path / "in" / "out" / "x.png")
    walker = walk_images(tmp_path / "in", skip=tmp_path / "in" / "out")
    assert iter(walker) is walker
    assert [e.input for e in walker] == names
    listing = tmp_path / "list.txt"
    listing.write_text(f"# comment\n{names[0]}\n\n{tmp_path / 'in' / names[1]}\n../elsewhere.png\n/etc/passwd\n")
    entries = list(read_list(listing, tmp_path / "in"))
    assert [e.input for e in entries[:2]] == names[:2] and all(e.error is None for e in entries[:2])
    assert [e.error for e in entries[2:]] == ["not inside the input folder"] * 2


# --------------------------------------------------------------------------- runs


def check_outputs(root: Path, out: Path, rows: list[dict]) -> None:
    for row in rows:
        if row["status"] != "ok":
            continue
        path = out / row["output"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] and len(data) == int(row["bytes"])
        with Image.open(path) as image:
            image.load()
            with Image.open(root / row["input"]) as source:
                assert image.size == source.size
    assert not [p for p in out.rglob("*.part") if ".painterly-batch" not in p.parts]   # in flight: work folder only


def test_batch_mirrors_the_tree_with_k_styles(capsys, tree, tmp_path, models):
    root, names = tree
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, root, "-o", out, "--styles", "starry_night", "udnie", "--per-image", "2",
                                   "--model-dir", models, "--seed", "3", "--json", "--device", "cpu")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["done"] == 2 * (len(names) + 1) and summary["failed"] == 2 and summary["skipped"] == 0
    rows = manifest(out)
    assert [r["input"] for r in rows[::2]] == sorted(names + ["c/broken.jpg"])
    for row in rows:
        assert row["method"] == "fast" and row["style"] in ("starry_night", "udnie")
        settings = json.loads(row["settings"])
        assert settings["model"] == row["style"] and settings["seed"] == 3 and settings["per_image"] == 2
        if row["status"] == "ok":
            stem, suffix = os.path.splitext(row["input"])
            assert row["output"] == f"{stem}.{row['style']}{suffix}" and row["error"] == ""
        else:
            assert row["input"] == "c/broken.jpg" and row["output"] == ""
            assert row["error"] == "not a readable image" and float(row["seconds"]) >= 0
    check_outputs(root, out, rows)
    assert (out / "a" / "b").is_dir() and not (out / "notes.txt").exists()
    with Image.open(out / "img003.starry_night.jpg") as a, Image.open(out / "img003.udnie.jpg") as b:
        assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_size_list_file_multistyle_and_parquet(capsys, tree, tmp_path, models):
    root, names = tree
    listing = tmp_path / "todo.txt"
    listing.write_text("\n".join(names[:3] + ["missing.png"]) + "\n")
    out = tmp_path / "out"
    extra = ["--manifest", "parquet"] if HAS_PYARROW else []
    code, _, stderr = run_cli(capsys, root, "-o", out, "--method", "multistyle", "--model", models / "trio.safetensors",
                              "--styles", "udnie", "the_scream", "--list", listing, "--size", "32", *extra)
    assert code == 0, stderr
    rows = manifest(out)
    assert [r["input"] for r in rows] == names[:3] + ["missing.png"]
    assert rows[-1]["status"] == "failed" and rows[-1]["error"] == "no such file"
    for row in rows[:3]:
        assert row["style"] in ("udnie", "the_scream") and row["output"] == row["input"]
        assert max(Image.open(out / row["output"]).size) == 32 and json.loads(row["settings"])["size"] == 32
    if HAS_PYARROW:
        import pyarrow.parquet as pq

        table = pq.read_table(out / "manifest.parquet").to_pylist()
        assert [(r["input"], r["sha256"], r["bytes"]) for r in table] == \
               sorted((r["input"], r["sha256"], int(r["bytes"])) for r in rows)


def test_adain_with_a_folder_of_style_images(tmp_path):
    from painterly.nets.adain import AdainDecoder, AdainDecoderConfig

    root = tmp_path / "in"
    names = make_tree(root, 2)
    styles = tmp_path / "paintings"
    styles.mkdir()
    Image.fromarray(make_painting(32, 32)).save(styles / "stripes.png")
    Image.fromarray(make_painting(32, 24)[::-1].copy()).save(styles / "flipped version.jpg")
    torch.manual_seed(0)
    decoder = save_model_file(tmp_path / "dec", "adain", AdainDecoder(AdainDecoderConfig(0.0625)).state_dict(),
                              {"architecture": {"decoder": AdainDecoderConfig(0.0625).to_dict()}})
    summary = run_batch(BatchConfig(str(root), str(tmp_path / "out"), method="adain", styles=(str(styles),),
                                    model=str(decoder), per_image=2))
    assert summary.done == 4 and summary.failed == 0
    rows = manifest(tmp_path / "out")
    assert sorted(r["style"] for r in rows) == ["flipped_version", "flipped_version", "stripes", "stripes"]
    assert all("style_sha256" in json.loads(r["settings"]) for r in rows)
    check_outputs(root, tmp_path / "out", rows)
    assert sorted(r["input"] for r in rows) == sorted(names * 2)


def test_workers_threads_and_processes_match_one_worker(tree, tmp_path, models):
    root, _ = tree
    base = dict(input_dir=str(root), styles=("starry_night", "udnie"), model_dir=str(models), per_image=1)
    run_batch(BatchConfig(output_dir=str(tmp_path / "one"), **base))
    run_batch(BatchConfig(output_dir=str(tmp_path / "threads"), workers=2, **base))
    run_batch(BatchConfig(output_dir=str(tmp_path / "procs"), workers=2, pool="process", **base))
    expected = sorted_rows(tmp_path / "one" / "manifest.csv")
    assert sorted_rows(tmp_path / "threads" / "manifest.csv") == expected
    assert sorted_rows(tmp_path / "procs" / "manifest.csv") == expected


# --------------------------------------------------------------------------- resume


def mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and ".painterly-batch" not in p.parts and p.suffix != ".csv"}


def test_limit_then_rerun_finishes_without_redoing(capsys, tree, tmp_path, models):
    root, names = tree
    out = tmp_path / "out"
    args = [root, "-o", out, "--styles", "starry_night", "--model-dir", models, "--quiet"]
    code, _, stderr = run_cli(capsys, *args, "--limit", "3")
    assert code == 0 and "stopped at --limit" in stderr
    first = mtimes(out)
    assert len(first) == 3 and len(manifest(out)) == 3
    time.sleep(0.02)
    code, _, stderr = run_cli(capsys, *args, "--json")
    assert code == 0, stderr
    assert all(mtimes(out)[name] == stamp for name, stamp in first.items())   # nothing redone
    rows = manifest(out)
    assert sorted(r["input"] for r in rows) == sorted(names + ["c/broken.jpg"])   # each once
    check_outputs(root, out, rows)
    # a third run does nothing; a deleted output is made again; --retry-failed retries the broken file
    code, stdout, _ = run_cli(capsys, *args, "--json")
    assert json.loads(stdout)["done"] == 0 and json.loads(stdout)["skipped"] == len(names) + 1
    (out / names[0]).unlink()
    code, stdout, _ = run_cli(capsys, *args, "--json", "--retry-failed")
    assert json.loads(stdout)["done"] == 2 and (out / names[0]).is_file()
    rows = manifest(out)   # compacted: still one row per input
    assert sorted(r["input"] for r in rows) == sorted(names + ["c/broken.jpg"])
    # other settings (a new size) redo everything
    code, stdout, _ = run_cli(capsys, *args, "--json", "--size", "20")
    assert json.loads(stdout)["done"] == len(names) + 1


def test_sigkill_mid_run_then_rerun(tmp_path, models):
    root = tmp_path / "in"
    names = make_tree(root, 40)
    out = tmp_path / "out"
    argv = ["batch", str(root), "-o", str(out), "--styles", "starry_night", "--model-dir", str(models), "--quiet"]
    code = ("import sys, time; from painterly.batch import work; call = work.Worker.__call__; "
            "work.Worker.__call__ = lambda self, job: (time.sleep(0.05), call(self, job))[1]; "
            f"from painterly.cli import main; sys.exit(main({argv!r}))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "manifest.csv").is_file() or len(manifest(out)) < 8:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no progress within 60 s"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    before = manifest(out)
    assert 8 <= len(before) < 40
    check_outputs(root, out, before)
    stamps = mtimes(out)
    for path in out.rglob("*"):   # whatever is there is whole (in flight: only in the work folder)
        if path.is_file() and path.suffix == ".png" and ".painterly-batch" not in path.parts:
            Image.open(path).load()
    summary = run_batch(BatchConfig(str(root), str(out), styles=("starry_night",), model_dir=str(models)))
    assert summary.skipped == len(before) and summary.done + summary.skipped == 40
    after = mtimes(out)
    assert all(after[r["output"]] == stamps[r["output"]] for r in before)   # recorded outputs not redone
    rows = manifest(out)
    assert sorted(r["input"] for r in rows) == names and all(r["status"] == "ok" for r in rows)
    check_outputs(root, out, rows)
    assert not list(out.rglob("*.part"))


# --------------------------------------------------------------------------- the manifest itself


def test_manifest_survives_a_torn_line_and_compacts(tmp_path):
    path = tmp_path / "manifest.csv"
    writer = ManifestWriter(path)
    row = {"input": "a.png", "style": "s", "method": "fast", "settings": '{"x":1}', "output": "a.png",
           "sha256": "f" * 64, "bytes": 3, "status": "ok", "error": "line one\nline two", "seconds": 0.1}
    writer.write([row, {**row, "input": "b.png", "output": "b.png"}])
    writer.close()
    with open(path, "a") as handle:
        handle.write('c.png,s,fast,"{""x')   # a row cut by a crash
    assert repair(path) > 0 and path.read_text().endswith("\n")
    rows = list(read_rows(path))
    assert [r["input"] for r in rows] == ["a.png", "b.png"] and rows[0]["error"] == "line one line two"
    writer = ManifestWriter(path)
    writer.write([{**row, "status": "failed", "output": ""}])
    writer.close()
    assert compact(path) == 1
    assert [(r["input"], r["status"]) for r in read_rows(path)] == [("b.png", "ok"), ("a.png", "failed")]
    (tmp_path / "b.png").write_bytes(b"abc")
    state = ResumeState.load(path, tmp_path)
    assert state.is_done("b.png", "s", "b.png", '{"x":1}') and not state.is_done("b.png", "s", "b.png", '{"x":2}')
    assert state.is_done("a.png", "s", "a.png", '{"x":1}')                        # failed: not retried
    assert not ResumeState.load(path, tmp_path, retry_failed=True).is_done("a.png", "s", "a.png", '{"x":1}')
    (tmp_path / "b.png").write_bytes(b"abcd")                                    # not the recorded size
    assert not state.is_done("b.png", "s", "b.png", '{"x":1}')
    assert tuple(next(csv.reader(open(path)))) == COLUMNS


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("extra, message", [
    (["--styles", "starry_nite"], "did you mean"),
    (["--styles", "starry_night", "--per-image", "0"], "--per-image: must be at least 1"),
    (["--styles", "starry_night", "--per-image", "2"], "--per-image 2 but only 1 style"),
    (["--method", "multistyle", "--model", "{models}/trio.safetensors", "--styles", "udnei"], "did you mean udnie"),
    (["--method", "fast", "--model", "{models}/trio.safetensors"], "is a 'multistyle' model"),
    (["--method", "adain", "--model", "{models}/missing.safetensors", "--styles", "starry_night"],
     "AdaIN decoder file not found"),
    (["--styles", "starry_night", "--manifest", "xml"], "invalid choice"),
    (["--styles", "starry_night", "--ray", "127.0.0.1:1", "--connect-timeout", "3"], "cannot reach a Ray cluster"),
    (["--styles", "starry_night", "--ray", "no-port"], "bad Ray address"),
])
def test_bad_arguments_are_one_line(capsys, tree, tmp_path, models, extra, message):
    root, _ = tree
    out = tmp_path / "out"
    args = [a.format(models=models) for a in extra]
    code, _, stderr = run_cli(capsys, root, "-o", out, "--model-dir", models, *args)
    assert code == 2, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and message in stderr, stderr
    assert not out.exists()


def test_bad_folders_and_missing_ray(capsys, tree, tmp_path, models, monkeypatch):
    root, _ = tree
    common = ["--styles", "starry_night", "--model-dir", models]
    for args, message in ([tmp_path / "nope", "-o", tmp_path / "out"], "no such folder"), \
                         ([root, "-o", root], "must not be the input folder"), \
                         ([root, "-o", tmp_path], "must not be the input folder or contain it"), \
                         ([root, "-o", root / "notes.txt"], "not a folder"):
        code, _, stderr = run_cli(capsys, *args, *common)
        assert code == 2 and stderr.count("\n") == 1 and message in stderr, stderr
    monkeypatch.setitem(sys.modules, "ray", None)   # as if Ray were not installed
    code, _, stderr = run_cli(capsys, root, "-o", tmp_path / "out", *common, "--ray")
    assert code == 2 and stderr.count("\n") == 1 and "pip install 'painterly[cluster]'" in stderr, stderr


def test_one_run_per_output_folder(tree, tmp_path, models):
    from painterly.batch.session import BatchSession
    from painterly.errors import PainterlyError

    root, _ = tree
    config = BatchConfig(str(root), str(tmp_path / "out"), styles=("starry_night",), model_dir=str(models))
    with BatchSession(config):
        with pytest.raises(PainterlyError, match="another painterly batch run"):
            with BatchSession(config):
                pass


def test_output_inside_the_input_is_skipped(tree, models):
    root, names = tree
    config = BatchConfig(str(root), str(root / "styled"), styles=("starry_night",), model_dir=str(models))
    assert run_batch(config).done == len(names) + 1
    assert run_batch(config).done == 0   # its own outputs are not inputs


# --------------------------------------------------------------------------- Ray


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra 'cluster')")
def test_ray_finishes_a_local_run_with_an_identical_manifest(tree, tmp_path, models):
    root, names = tree
    base = dict(input_dir=str(root), styles=("starry_night", "udnie"), per_image=2, model_dir=str(models), seed=5)
    run_batch(BatchConfig(output_dir=str(tmp_path / "local"), **base))
    partial = run_batch(BatchConfig(output_dir=str(tmp_path / "ray"), limit=2, **base))
    assert partial.done == 4 and partial.stopped_early
    stamps = mtimes(tmp_path / "ray")
    summary = run_batch(BatchConfig(output_dir=str(tmp_path / "ray"), ray=True, ray_cpus=2, ray_batch_size=2, **base))
    assert summary.runner == "ray" and summary.skipped == 4 and summary.done == 2 * (len(names) + 1) - 4
    assert sorted_rows(tmp_path / "ray" / "manifest.csv") == sorted_rows(tmp_path / "local" / "manifest.csv")
    assert all(mtimes(tmp_path / "ray")[k] == v for k, v in stamps.items())
    check_outputs(root, tmp_path / "ray", manifest(tmp_path / "ray"))
    assert not (tmp_path / "ray" / ".painterly-batch" / "plan").exists()


def test_a_full_disk_stops_the_run_with_one_line(capsys, tree, tmp_path, models, monkeypatch):
    import errno

    from painterly.batch import work

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(work, "write_atomic", full)
    root, _ = tree
    code, _, stderr = run_cli(capsys, root, "-o", tmp_path / "out", "--styles", "starry_night", "--model-dir", models,
                              "--quiet")
    assert code == 2 and stderr.count("\n") == 1 and "No space left on device" in stderr, stderr
    assert manifest(tmp_path / "out") == []
