"""``painterly tune``: a tiny search (2 trials x 2 steps on the real VGG19) through the library and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from painterly.cli import main
from painterly.train.data import FolderBatches, find_images, load_photos
from painterly.train.fast import FastTrainConfig
from painterly.train.tune import TuneConfig, format_table, score, tune

from conftest import make_painting, make_photo


@pytest.fixture
def files(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(np.roll(make_photo(40, 48), 9 * i, axis=0)).save(photos / f"p{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray(make_painting(40, 40)).save(style)
    return photos, style


def test_score_prefers_more_style_and_more_structure():
    assert score(0.2, 0.9, 1.0) < score(0.5, 0.9, 1.0)
    assert score(0.2, 0.9, 1.0) < score(0.2, 0.5, 1.0)
    assert score(0.3, 0.4, 0.0) == pytest.approx(0.3)


def test_tune_two_trials(files):
    photos_dir, style = files
    paths = find_images(photos_dir)
    photos = load_photos(paths[:1], 32)
    base = FastTrainConfig(style=str(style), crop=32, width=4, depth=1, style_size=40, calibration_batches=1)
    with FolderBatches(paths[1:], crop=32, batch_size=2, seed=0) as batches:
        result = tune(base, batches, photos, TuneConfig(trials=2, steps=2))
    assert len(result.trials) == 2
    assert result.best.score == min(t.score for t in result.trials)
    for t in result.trials:
        assert math.isfinite(t.score) and 0 <= t.ssim <= 1 and t.style_left > 0
        assert t.content_weight == 1.0 and t.style_weight > 0 and t.tv_weight > 0
    table = format_table(result)
    assert "style_ratio" in table and table.count("*") == 1


def test_cli_tune_writes_json_and_table(files, tmp_path, capsys):
    photos_dir, style = files
    out = tmp_path / "tune.json"
    code = main(["tune", "--style", str(style), "--data", str(photos_dir), "-o", str(out), "--trials", "2",
                 "--steps", "2", "--crop", "32", "--width", "4", "--depth", "1", "--style-size", "40",
                 "--holdout", "1", "--device", "cpu"])
    assert code == 0
    data = json.loads(out.read_text())
    assert len(data["trials"]) == 2 and set(data["best"]) >= {"content_weight", "style_weight", "tv_weight"}
    printed = capsys.readouterr().out
    assert "best: --content-weight 1" in printed


def test_cli_tune_bad_input_exits_2(files, tmp_path, capsys):
    photos_dir, style = files
    (tmp_path / "empty").mkdir()
    assert main(["tune", "--style", str(style), "--data", str(tmp_path / "empty"), "--trials", "1"]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert main(["tune", "--style", "no_such_style", "--data", str(photos_dir), "--trials", "1", "--steps", "1",
                 "--crop", "32", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown style" in err[0]
