"""The shared training loop and the photo batches: exact resume (also after SIGKILL), checkpoints,
samples, GIF, TensorBoard, time budget, and the deterministic data pipeline. A tiny fake task
stands in for a real method here (tests/test_train_fast.py runs the real ones)."""

from __future__ import annotations

import logging
import math
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
from torch import nn

from painterly.errors import PainterlyError
from painterly.io.model_file import load_model_file, save_model_file
from painterly.train.data import FolderBatches, find_images, load_photos, split_holdout
from painterly.train.loop import (TrainerConfig, TrainProgress, average_module_states, checkpoint_paths, load_checkpoint,
                                  lr_factor, train)

TESTS = Path(__file__).parent


class FakeTask:
    """A 2-layer conv net pulled towards a colour-inverted photo, with RNG noise in the loss
    (so an exact resume must restore the torch RNG too)."""

    kind = "fake"

    def __init__(self, seed: int = 0, sleep: float = 0.0):
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        self.sleep = sleep

    def modules(self):
        return {"net": self.net}

    def parameters(self):
        return self.net.parameters()

    def losses(self, batch, step):
        if self.sleep:
            time.sleep(self.sleep)
        x = batch["content"]
        noisy = x + 0.05 * torch.randn_like(x)
        fit = (torch.sigmoid(self.net(noisy)) - (1 - x)).pow(2).mean()
        reg = 1e-3 * sum(p.pow(2).sum() for p in self.net.parameters())
        return {"fit": fit, "reg": reg, "total": fit + reg}

    def samples(self, photos):
        return torch.sigmoid(self.net(photos))

    def export(self, path, meta):
        return save_model_file(path, self.kind, self.net.state_dict(), meta, dtype=None)


class NoiseBatches:
    """Deterministic synthetic batches: batch k from (seed, k) alone."""

    def __init__(self, batch_size=2, size=16, seed=0):
        self.batch_size, self.size, self.seed = batch_size, size, seed

    def batch(self, step):
        gen = torch.Generator().manual_seed(self.seed * 100003 + step)
        return {"content": torch.rand(self.batch_size, 3, self.size, self.size, generator=gen)}


def config(tmp_path, **kw):
    base = dict(out_dir=str(tmp_path / "run"), iterations=4, batch_size=2, lr=1e-2, warmup=1, checkpoint_every=2,
                sample_every=2, log_every=1, tensorboard=False, sample_gif=False)
    base.update(kw)
    return TrainerConfig(**base)


def params(task):
    return {k: v.detach().clone() for k, v in task.net.state_dict().items()}


def run_fake(out_dir: str, iterations: int, sleep: float = 0.0, resume: bool = False) -> None:
    """Entry point for the SIGKILL test's child process."""
    torch.set_num_threads(1)
    cfg = TrainerConfig(out_dir=out_dir, iterations=iterations, batch_size=2, lr=1e-2, checkpoint_every=1,
                        sample_every=10**6, tensorboard=False, sample_gif=False, resume=resume)
    train(FakeTask(sleep=sleep), NoiseBatches(), cfg)


# --------------------------------------------------------------------------- pure pieces


def test_lr_factor_warmup_and_schedules():
    assert lr_factor(0, 100, "cosine", warmup=4) == pytest.approx(0.25)
    assert lr_factor(3, 100, "cosine", warmup=4) == pytest.approx(1.0)
    assert lr_factor(4, 100, "cosine", warmup=4) == pytest.approx(1.0)
    assert lr_factor(100, 100, "cosine", warmup=4, min_factor=0.05) == pytest.approx(0.05)
    assert lr_factor(50, 100, "constant") == 1.0
    assert lr_factor(10, 99, "step") == 1.0 and lr_factor(90, 99, "step") == pytest.approx(0.1)


def test_bad_trainer_config_is_a_user_error(tmp_path):
    with pytest.raises(PainterlyError, match="lr schedule"):
        config(tmp_path, lr_schedule="linear").validate()
    with pytest.raises(PainterlyError, match="learning rate"):
        config(tmp_path, lr=0).validate()


# --------------------------------------------------------------------------- resume


def test_resume_2_plus_2_is_bit_identical_to_4_straight(tmp_path):
    straight = FakeTask()
    train(straight, NoiseBatches(), config(tmp_path / "a"))

    def interrupt(event):  # Ctrl-C after step 2 (the schedule is the 4-step one in both sessions)
        if event.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(FakeTask(), NoiseBatches(), config(tmp_path / "b", checkpoint_every=100), callbacks=[interrupt])
    assert [p.name for p in checkpoint_paths(tmp_path / "b" / "run" / "checkpoints")] == ["step_000002.pt"]
    torch.manual_seed(1234)  # whatever happens between sessions must not matter
    np.random.seed(99)
    second = FakeTask(seed=5)  # different init: everything must come from the checkpoint
    result = train(second, NoiseBatches(), config(tmp_path / "b", resume=True))

    assert result.steps == 4
    for name, value in params(straight).items():
        assert torch.equal(value, params(second)[name]), name
    assert [p.name for p in checkpoint_paths(tmp_path / "b" / "run" / "checkpoints")] == \
        ["step_000002.pt", "step_000004.pt"]


def test_a_resumed_session_that_stops_before_its_first_log_still_reports_losses(tmp_path):
    train(FakeTask(), NoiseBatches(), config(tmp_path, iterations=4, checkpoint_every=3, log_every=2, max_seconds=None))
    (tmp_path / "run" / "checkpoints" / "step_000004.pt").unlink()   # resume from step 3: step 4 is not logged...
    result = train(FakeTask(), NoiseBatches(), config(tmp_path, iterations=10, log_every=5, resume=True,
                                                      max_seconds=0.5),    # ...and the time limit stops after it
                   callbacks=[lambda event: time.sleep(0.6)])
    assert result.steps == 4 and result.stopped == "time limit"
    assert "total" in result.losses and result.losses["total"] == result.losses["total"]   # logged, not NaN


def test_checkpoints_keep_last_two(tmp_path):
    train(FakeTask(), NoiseBatches(), config(tmp_path, iterations=5, checkpoint_every=1))
    names = [p.name for p in checkpoint_paths(tmp_path / "run" / "checkpoints")]
    assert names == ["step_000004.pt", "step_000005.pt"]
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))


def test_average_module_states_is_the_elementwise_mean_and_keeps_integer_buffers():
    a = {"net": {"w": torch.tensor([1.0, 2.0], dtype=torch.float16), "n": torch.tensor(3)}}
    b = {"net": {"w": torch.tensor([2.0, 5.0], dtype=torch.float16), "n": torch.tensor(7)}}
    c = {"net": {"w": torch.tensor([6.0, 5.0], dtype=torch.float16), "n": torch.tensor(9)}}
    out = average_module_states([a, b, c])
    assert out["net"]["w"].dtype == torch.float16
    assert out["net"]["w"].tolist() == [3.0, 4.0]       # (1 + 2 + 6) / 3, (2 + 5 + 5) / 3
    assert out["net"]["n"].item() == 9                  # a counter is the last one's, not a mean
    with pytest.raises(ValueError):
        average_module_states([])


def test_average_last_exports_the_mean_of_the_last_checkpoints_and_resume_goes_on_from_the_last(tmp_path):
    task = FakeTask()
    result = train(task, NoiseBatches(), config(tmp_path, iterations=6, checkpoint_every=1, average_last=3))
    folder = tmp_path / "run" / "checkpoints"
    assert [p.name for p in checkpoint_paths(folder)] == ["step_000004.pt", "step_000005.pt", "step_000006.pt"]
    states = [load_checkpoint(p)["modules"]["net"] for p in checkpoint_paths(folder)]
    exported = load_model_file(result.model_path)
    assert exported.meta["training"]["averaged_checkpoints"] == [4, 5, 6]
    for key, value in exported.state.items():
        expected = (states[0][key] + states[1][key] + states[2][key]) / 3
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
        assert not torch.equal(value, states[2][key]), key     # not simply the final weights
    # the task's modules are the averaged ones too; the checkpoint keeps the trained weights for --resume
    torch.testing.assert_close(task.net.state_dict()["0.weight"], exported.state["0.weight"])
    # a resumed run (here with nothing left to train) starts from the trained weights, not the average
    again = FakeTask(seed=3)
    result = train(again, NoiseBatches(), config(tmp_path, iterations=6, checkpoint_every=1, resume=True))
    resumed = load_model_file(result.model_path).meta["training"]
    assert result.steps == 6 and "averaged_checkpoints" not in resumed
    # nothing trained this session: the result has no losses of its own, the sidecar the checkpoint's
    assert result.losses == {} and resumed["final_losses"] == exported.meta["training"]["final_losses"]
    last = load_checkpoint(folder / "step_000006.pt")
    assert resumed["final_losses"] == pytest.approx(last["losses"]) and "total" in last["losses"]
    assert last["modules"]["net"].keys() == states[2].keys()
    assert all(torch.equal(last["modules"]["net"][k], states[2][k]) for k in states[2])
    for key, value in again.net.state_dict().items():
        assert torch.equal(value, states[2][key]), key


def test_average_last_below_one_is_a_user_error(tmp_path):
    with pytest.raises(PainterlyError, match="average-last"):
        config(tmp_path, average_last=0).validate()


def test_resume_without_checkpoint_starts_fresh(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        result = train(FakeTask(), NoiseBatches(), config(tmp_path, iterations=1, resume=True))
    assert result.steps == 1 and "no checkpoint" in caplog.text


def test_sigkilled_run_resumes_from_last_checkpoint(tmp_path):
    TOTAL = 60
    out = tmp_path / "killed"
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); from test_train_loop import run_fake; "
            f"run_fake({str(out)!r}, {TOTAL}, sleep=0.1)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not checkpoint_paths(out / "checkpoints"):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    saved = checkpoint_paths(out / "checkpoints")
    killed_at = int(saved[-1].stem.split("_")[1])
    assert 1 <= killed_at < TOTAL
    target = TOTAL  # the same run length (and so the same lr schedule) as the killed run

    resumed = FakeTask(seed=3)
    cfg = TrainerConfig(out_dir=str(out), iterations=target, batch_size=2, lr=1e-2, checkpoint_every=1,
                        sample_every=10**6, tensorboard=False, sample_gif=False, resume=True)
    result = train(resumed, NoiseBatches(), cfg)
    assert result.steps == target

    straight = FakeTask()
    train(straight, NoiseBatches(), TrainerConfig(out_dir=str(tmp_path / "straight"), iterations=target, batch_size=2,
                                                  lr=1e-2, checkpoint_every=10**6, sample_every=10**6,
                                                  tensorboard=False, sample_gif=False))
    for name, value in params(straight).items():
        assert torch.equal(value, params(resumed)[name]), name


# --------------------------------------------------------------------------- outputs


def test_samples_gif_tensorboard_export_and_callbacks(tmp_path):
    events: list[TrainProgress] = []
    validation = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    task = FakeTask()
    before = params(task)
    cfg = config(tmp_path, iterations=4, tensorboard=True, sample_gif=True)
    result = train(task, NoiseBatches(), cfg, validation, [events.append],
                   export_path=tmp_path / "model.safetensors", task_config={"what": "fake"})

    assert all(math.isfinite(v) for v in result.losses.values())
    assert any(not torch.equal(before[k], v) for k, v in params(task).items())
    run = tmp_path / "run"
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert names == ["step_000000.png", "step_000002.png", "step_000004.png"]
    with Image.open(run / "samples" / "step_000004.png") as sheet:
        assert sheet.size == (32, 32)  # 2 photos wide, photos over outputs
    with Image.open(result.gif) as gif:
        assert gif.n_frames == 3
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "config.json").is_file()
    assert [e.step for e in events] == [1, 2, 3, 4] and events[-1].total == 4
    assert events[-1].losses and events[-1].images_per_second > 0
    model = load_model_file(result.model_path, expected_kind="fake")
    training = model.meta["training"]
    assert training["steps"] == 4 and training["task"] == {"what": "fake"}
    assert training["hardware"]["torch"] == torch.__version__ and training["hardware"]["cpu"]
    assert training["trainer"]["iterations"] == 4


def test_missing_tensorboard_warns_once_and_trains(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with caplog.at_level(logging.WARNING):
        result = train(FakeTask(), NoiseBatches(), config(tmp_path, iterations=2, tensorboard=True))
    assert result.steps == 2
    assert caplog.text.count("tensorboard is not installed") == 1


def test_time_limit_stops_early_and_still_exports(tmp_path):
    cfg = config(tmp_path, iterations=10**6, max_seconds=0.3, checkpoint_every=10**6)
    result = train(FakeTask(sleep=0.02), NoiseBatches(), cfg)
    assert result.stopped == "time limit" and 0 < result.steps < 10**6
    assert result.model_path.is_file()
    assert checkpoint_paths(tmp_path / "run" / "checkpoints")  # resumable


# --------------------------------------------------------------------------- data


def write_photos(folder: Path, count: int, size=(40, 30)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        sub = folder / ("nested" if i % 2 else "")
        sub.mkdir(exist_ok=True)
        path = sub / f"p{i}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_find_images_recursive_and_empty_folder_is_an_error(tmp_path):
    write_photos(tmp_path / "data", 4)
    (tmp_path / "data" / "notes.txt").write_text("x")
    assert len(find_images(tmp_path / "data")) == 4
    (tmp_path / "empty").mkdir()
    with pytest.raises(PainterlyError, match="no training images"):
        find_images(tmp_path / "empty")
    with pytest.raises(PainterlyError, match="no such folder"):
        find_images(tmp_path / "missing")


def test_batches_are_deterministic_per_step_and_skip_bad_files(tmp_path, caplog):
    write_photos(tmp_path / "data", 5)
    (tmp_path / "data" / "broken.jpg").write_text("not an image")
    files = find_images(tmp_path / "data")
    with caplog.at_level(logging.WARNING):
        with FolderBatches(files, crop=16, batch_size=3, seed=1) as a, \
                FolderBatches(files, crop=16, batch_size=3, seed=1, prefetch=False) as b:
            first = [a.batch(k)["content"] for k in range(4)]
            assert torch.equal(b.batch(3)["content"], first[3])      # batch k from (seed, k) alone
            assert torch.equal(b.batch(0)["content"], first[0])
            assert first[0].shape == (3, 3, 16, 16) and 0 <= first[0].min() and first[0].max() <= 1
    assert caplog.text.count("broken.jpg") == 2  # once per source, however often it is drawn
    with FolderBatches(files, crop=16, batch_size=3, seed=2, prefetch=False) as c:
        assert not torch.equal(c.batch(0)["content"], first[0])


def test_holdout_and_validation_photos(tmp_path):
    paths = write_photos(tmp_path / "data", 6)
    kept, held = split_holdout(paths, 2, seed=0)
    assert len(held) == 2 and not set(kept) & set(held) and len(kept) == 4
    photos = load_photos([tmp_path / "data"], 24)
    assert photos.shape == (6, 3, 24, 24)
