"""Flicker of `painterly video` with and without --temporal, on a synthetic camera move.

Makes a short clip (a slow pan and zoom over scikit-image's astronaut photo, written with
imageio as H.264, so it carries real compression noise), stylises it once per --temporal
weight through the same library call as `painterly video`, and prints a Markdown table:

* flicker: mean |frame_t - frame_{t-1}| of the output, in [0, 1] units, and relative to the
  input's (1.0 = changes as much as the clip itself),
* warping error: mean |out_t - warp(out_{t-1})| where the input's optical flow is reliable
  (Lai et al. 2018): flicker with the camera motion taken out, the fairer number,
* detail: mean |Laplacian| of the output's luma relative to the plain stylisation's; blending
  averages strokes that differ from frame to frame, so flicker reduction costs texture,
* frames per second of the whole pipeline (decode, stylise, flow, encode).

Run from the repository root:

    python benchmarks/video_flicker.py --model path/to/model.safetensors [--style NAME]
    python benchmarks/video_flicker.py                 # first built-in fast model

Each weight > 0 runs with both blends: ``mean`` (plain average) and ``detail`` (the default:
texture contrast restored after averaging). Writes clip.mp4, one video per variant,
sheet.png (rows: input, then each variant; columns: frames), the sheet's frames as PNGs, and
results.md / results.json into --out (default bench-out/video_flicker).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, frames: int, width: int, height: int, fps: float) -> Path:
    """A slow pan (left to right) with a 20 % zoom-in over the astronaut photo."""
    import imageio.v2 as imageio
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut())          # 512 x 512
    out = []
    for t in range(frames):
        s = t / max(1, frames - 1)
        zoom = 1.0 - 0.2 * s
        box_w, box_h = 320 * zoom, 240 * zoom
        left, top = 60 + 150 * s, 60 + 30 * s
        box = (left, top, left + box_w, top + box_h)
        out.append(np.asarray(photo.resize((width, height), Image.BICUBIC, box=box)))
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimwrite(path, out, fps=fps, macro_block_size=1, quality=8)
    return path


def pick_model(model: str | None) -> str:
    from painterly.methods.feedforward import available_models

    if model:
        return model
    fast = [m for m in available_models() if m.kind in ("fast", "multistyle")]
    if not fast:
        raise SystemExit("no built-in fast model installed: pass --model PATH")
    return str(fast[0].path)


def sheet(rows: list[tuple[str, list[np.ndarray]]], path: Path) -> Path:
    from PIL import Image, ImageDraw

    h, w = rows[0][1][0].shape[:2]
    label_w = 110
    canvas = Image.new("RGB", (label_w + w * len(rows[0][1]), h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (label, frames) in enumerate(rows):
        draw.text((4, r * h + h // 2), label, fill="black")
        for c, frame in enumerate(frames):
            canvas.paste(Image.fromarray(frame), (label_w + c * w, r * h))
    canvas.save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file or built-in name (default: first built-in)")
    parser.add_argument("--style", action="append", default=None, help="style of a multi-style model")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--temporal", type=float, nargs="+", default=[0.5, 0.8], help="weights to try besides 0")
    parser.add_argument("--blends", nargs="+", default=["mean", "detail"], choices=("mean", "detail"))
    parser.add_argument("--flow", default="dis", choices=("dis", "farneback"))
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    parser.add_argument("--show-frames", type=int, nargs="+", default=[0, 24, 25, 47], help="columns of sheet.png")
    parser.add_argument("--out", default="bench-out/video_flicker")
    args = parser.parse_args()

    import cv2
    import torch
    from PIL import Image

    from painterly.cli.video import make_stylize
    from painterly.methods.stylize import StylizeConfig
    from painterly.temporal import TemporalConfig, VideoConfig, sharpness, stylize_video, warping_error

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    out = Path(args.out)
    clip = make_clip(out / "clip.mp4", args.frames, args.width, args.height, args.fps)
    model = pick_model(args.model)
    stylize, prepared = make_stylize(args.style, StylizeConfig(model=str(model), device="cpu"))
    load = os.getloadavg()

    rows, results, inputs = [], [], None
    variants = [(0.0, "detail")] + [(w, b) for w in args.temporal for b in args.blends]
    for weight, blend in variants:
        collected = {"input": [], "output": []}

        def keep(frame, collected=collected):
            collected["input"].append(frame.input)
            collected["output"].append(frame.output)

        label = "0 (off)" if weight == 0 else f"{weight:g} {blend}"
        config = VideoConfig(temporal=TemporalConfig(weight=weight, flow=args.flow, blend=blend))
        name = "off" if weight == 0 else f"{weight:g}_{blend}"
        result = stylize_video(clip, out / f"styled_temporal_{name}.mp4", stylize, config, on_frame=keep)
        inputs = collected["input"]
        results.append({"label": label, "temporal": weight, "blend": blend, "frames": result.frames,
                        "fps": result.fps_out, "flicker": result.flicker["output"],
                        "relative": result.flicker["relative"],
                        "warping_error": result.flicker["warping_error_output"],
                        "input_flicker": result.flicker["input"],
                        "sharpness": float(np.mean([sharpness(f) for f in collected["output"]]))})
        rows.append((label, [collected["output"][i] for i in args.show_frames if i < result.frames]))
        for i in args.show_frames:
            if i < result.frames:
                Image.fromarray(collected["output"][i]).save(out / f"frame{i:03d}_{name}.png")
    input_warp = warping_error(inputs, inputs, args.flow)
    rows.insert(0, ("input", [inputs[i] for i in args.show_frames if i < len(inputs)]))
    sheet(rows, out / "sheet.png")

    lines = [f"clip: {args.frames} frames {args.width}x{args.height} @ {args.fps:g} fps (pan + 20 % zoom over "
             f"skimage astronaut); model: {Path(model).name} ({prepared.method}); flow: {args.flow}; "
             f"threads: {args.threads}; load average before: {load[0]:.2f}",
             "",
             "| --temporal | flicker (mean abs frame diff) | relative to input | warping error | detail | frames/s |",
             "|---|---|---|---|---|---|",
             f"| input clip | {results[0]['input_flicker']:.4f} | 1.00 | {input_warp:.4f} | | |"]
    for r in results:
        lines.append(f"| {r['label']} | {r['flicker']:.4f} | {r['relative']:.2f} | {r['warping_error']:.4f} | "
                     f"{r['sharpness'] / results[0]['sharpness']:.2f} | {r['fps']:.1f} |")
    text = "\n".join(lines)
    print(text)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"model": model, "results": results, "input_warping_error": input_warp,
                                                  "args": vars(args), "loadavg": load,
                                                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                                 indent=2))


if __name__ == "__main__":
    main()
