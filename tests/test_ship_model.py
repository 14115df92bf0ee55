"""scripts/ship_model.py: a trained model copied as a built-in one, with the note, the teacher record and
the ONNX twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors import safe_open

from painterly.io.model_file import load_model_file, save_model_file
from painterly.nets.transformer import TransformerConfig, TransformerNet

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ship_model.py"


def test_ships_fp16_weights_with_note_and_teacher_record(tmp_path):
    torch.manual_seed(0)
    config = TransformerConfig(width=4, depth=1)
    net = TransformerNet(config)
    trained = save_model_file(tmp_path / "run" / "mosaic.safetensors", "fast", net.state_dict(),
                              {"architecture": config.to_dict(), "styles": [{"name": "roman_mosaic"}],
                               "training": {"steps": 7, "task": {"teacher": str(tmp_path / "teachers"), "crop": 32}}},
                              dtype=None)
    teachers = tmp_path / "teachers"
    teachers.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.new("RGB", (16, 16), (200, 100, 50)).save(teachers / name)
    (teachers / "notes.txt").write_text("not an image")
    models = tmp_path / "models"

    done = subprocess.run([sys.executable, str(SCRIPT), str(trained), "roman_mosaic_fast", "--models-dir", str(models),
                           "--note", "distilled", "--teachers", str(teachers), "--teacher-command", "painterly optimize X",
                           "--teacher-photos", "two photos", "--teacher-seconds", "1 s each", "--onnx"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    shipped = load_model_file(models / "roman_mosaic_fast.safetensors", "fast")
    with safe_open(str(shipped.path), framework="pt") as handle:
        tensors = [handle.get_tensor(k) for k in handle.keys()]
        assert {t.dtype for t in tensors if t.is_floating_point()} == {torch.float16}
        header = json.loads(handle.metadata()["painterly"])
    for key, value in net.state_dict().items():
        assert torch.allclose(shipped.state[key], value.half().float())
    training = shipped.meta["training"]
    assert header["training"] == training                      # the header copy matches the sidecar
    assert training["steps"] == 7 and training["task"]["crop"] == 32
    assert training["note"] == "distilled"
    assert training["task"]["teacher"] == "teachers/ (2 painterly optimize results, see teacher_images)"
    assert training["teacher_images"] == {"command": "painterly optimize X", "count": 2, "photos": "two photos",
                                          "seconds": "1 s each"}
    assert shipped.style_names == ["roman_mosaic"]
    assert (models / "roman_mosaic_fast.onnx").stat().st_size > 0   # the ONNX twin, checked by painterly export


def test_teacher_wording_follows_the_command():
    from importlib.util import module_from_spec, spec_from_file_location
    spec = spec_from_file_location("ship_model", SCRIPT)
    ship_model = module_from_spec(spec)
    spec.loader.exec_module(ship_model)
    meta = {"format": "painterly", "training": {"task": {"teacher": "/tmp/x/teachers", "crop": 8}}}

    def teacher(command):
        record = {"command": command, "count": 3, "photos": "", "seconds": ""}
        return ship_model.shipped_meta(meta, "", record)["training"]["task"]["teacher"]

    assert teacher("painterly optimize PHOTO --style udnie") == "teachers/ (3 painterly optimize results, see teacher_images)"
    assert teacher("python make_teachers.py --gpu") == "teachers/ (3 teacher images, see teacher_images)"
    assert teacher("") == "teachers/ (3 teacher images, see teacher_images)"
    assert meta["training"]["task"]["teacher"] == "/tmp/x/teachers"      # the trained model's meta is not changed
