"""Copy a trained model into the package as a built-in one, with a note and, for a network
distilled from teacher images, a record of how the teachers were made.

    python scripts/ship_model.py run/roman_mosaic_fast.safetensors roman_mosaic_fast \\
        --note "Distilled from the optimisation method ...; see docs/training.md" \\
        --teachers teachers \\
        --teacher-command "painterly optimize PHOTO -o teachers/STEM.png --style roman_mosaic --size 256 ..." \\
        --teacher-photos "every 19th photo of shared/data/content in name order, ..." \\
        --teacher-seconds "70-160 s each on one thread, two at a time"

The weights are written as fp16 to ``src/painterly/data/models/NAME.safetensors`` with the
sidecar ``NAME.json`` (the header copy too). The training folder's path in ``training.task.teacher``
means nothing on another machine, so it becomes a description and ``training.teacher_images``
says what the teachers were. ``--onnx`` also writes the ONNX twin (``painterly export``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from painterly.cli import main as painterly
from painterly.io.model_file import load_model_file, save_model_file
from painterly.train.data import find_images

MODELS = Path(__file__).resolve().parents[1] / "src" / "painterly" / "data" / "models"


def teacher_record(folder: Path, command: str, photos: str, seconds: str) -> dict:
    return {"command": command, "count": len(find_images(folder)), "photos": photos, "seconds": seconds}


def teacher_kind(command: str) -> str:
    """What the teacher images are, in a few words, from the command that made them:
    ``painterly optimize PHOTO ...`` gives "painterly optimize results"; anything else "teacher images"."""
    words = command.split()
    if len(words) >= 2 and words[0] == "painterly":
        return f"painterly {words[1]} results"
    return "teacher images"


def shipped_meta(meta: dict, note: str, teachers: dict | None) -> dict:
    """The sidecar of the shipped copy: ``meta`` without the file-format keys, plus the note and the
    teacher record (the task's teacher folder replaced by a description)."""
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "kind")}
    training = dict(meta.get("training", {}))
    if note:
        training["note"] = note
    if teachers is not None:
        task = dict(training.get("task", {}))
        folder = Path(str(task.get("teacher") or "teachers")).name
        task["teacher"] = f"{folder}/ ({teachers['count']} {teacher_kind(teachers['command'])}, see teacher_images)"
        training["task"] = task
        training["teacher_images"] = teachers
    meta["training"] = training
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the trained .safetensors file (its .json sidecar beside it)")
    parser.add_argument("name", help="the built-in name to ship it as, e.g. roman_mosaic_fast")
    parser.add_argument("--note", default="", help="one line for training.note")
    parser.add_argument("--teachers", type=Path, default=None, metavar="DIR",
                        help="the teacher folder the network was distilled from (counted for the record)")
    parser.add_argument("--teacher-command", default="", help="the command that made each teacher image")
    parser.add_argument("--teacher-photos", default="", help="which photos had a teacher")
    parser.add_argument("--teacher-seconds", default="", help="how long the teachers took")
    parser.add_argument("--onnx", action="store_true", help="also export the ONNX twin (fast networks)")
    parser.add_argument("--models-dir", type=Path, default=MODELS, help=argparse.SUPPRESS)   # tests
    args = parser.parse_args()

    model = load_model_file(args.model)
    teachers = (teacher_record(args.teachers, args.teacher_command, args.teacher_photos, args.teacher_seconds)
                if args.teachers else None)
    dest = args.models_dir / f"{args.name}.safetensors"
    save_model_file(dest, model.kind, model.state, shipped_meta(model.meta, args.note, teachers))
    print(f"wrote {dest} and {dest.with_suffix('.json').name}")
    if args.onnx and painterly(["export", str(dest), "-o", str(dest.with_suffix(".onnx"))]) != 0:
        raise SystemExit("the ONNX export failed")


if __name__ == "__main__":
    main()
