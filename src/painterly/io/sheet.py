"""Labelled contact sheets: images side by side (or in a grid) with captions underneath."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

CAPTION_HEIGHT = 22
GAP = 6


def contact_sheet(items: Sequence[tuple[Image.Image, str]], height: int = 256, columns: int | None = None,
                  background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Place ``(image, caption)`` pairs in rows, each image scaled to ``height`` px tall."""
    if not items:
        raise ValueError("contact_sheet needs at least one image")
    columns = columns or len(items)
    scaled = [(im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS), text)
              for im, text in items]
    cell_w = max(im.width for im, _ in scaled)
    rows = (len(scaled) + columns - 1) // columns
    sheet = Image.new("RGB", (GAP + columns * (cell_w + GAP), GAP + rows * (height + CAPTION_HEIGHT + GAP)),
                      background)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (im, text) in enumerate(scaled):
        row, col = divmod(index, columns)
        x = GAP + col * (cell_w + GAP) + (cell_w - im.width) // 2
        y = GAP + row * (height + CAPTION_HEIGHT + GAP)
        sheet.paste(im, (x, y))
        draw.text((GAP + col * (cell_w + GAP) + 2, y + height + 4), text, fill=(20, 20, 20), font=font)
    return sheet
