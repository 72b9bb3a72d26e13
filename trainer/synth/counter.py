"""Roller counters: each digit on its own drum, in a box, with gaps between."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import FloatImage, Rng
from .printed import hershey_mask, truetype_mask


def _glyph(rng: Rng, ch: str, font: Path | None, size: int) -> FloatImage:
    return truetype_mask(rng, ch, font, size) if font is not None else hershey_mask(rng, ch, size)


def _paste(canvas: FloatImage, mask: FloatImage, cx: float, cy: float) -> None:
    """Add ``mask`` centred at (cx, cy), clipped to the canvas."""
    h, w = mask.shape
    y0, x0 = round(cy - h / 2), round(cx - w / 2)
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(canvas.shape[0], y0 + h), min(canvas.shape[1], x0 + w)
    if ye > ys and xe > xs:
        region = canvas[ys:ye, xs:xe]
        np.maximum(region, mask[ys - y0:ye - y0, xs - x0:xe - x0], out=region)


def roller_counter(rng: Rng, text: str, font_files: list[Path]) -> FloatImage:
    size = int(rng.integers(28, 56))
    font = font_files[int(rng.integers(len(font_files)))] if font_files else None
    box_w = int(size * rng.uniform(0.75, 1.1))
    box_h = int(size * rng.uniform(1.15, 1.6))
    gap = int(box_w * rng.uniform(0.05, 0.45))
    n = len(text)
    width = n * box_w + (n + 1) * gap
    height = box_h + 2 * gap
    frame = rng.uniform(0, 255)
    image = np.full((height, width), frame, np.float32)
    # The usual meter: white on black drums, the last one to three red (mid grey here).
    light_drums = rng.random() < 0.25
    red_from = n - int(rng.integers(1, min(3, n) + 1)) if rng.random() < 0.5 else n
    shading = rng.uniform(0.0, 0.6)
    ys = (np.arange(box_h, dtype=np.float32) + 0.5) / box_h - 0.5
    drum_profile = (1.0 - shading * 4 * ys**2)[:, None]  # a cylinder is darker at its top and bottom
    for i, ch in enumerate(text):
        if i >= red_from:
            bg, fg = rng.uniform(50, 120), rng.uniform(200, 255)
        elif light_drums:
            bg, fg = rng.uniform(180, 255), rng.uniform(0, 60)
        else:
            bg, fg = rng.uniform(0, 60), rng.uniform(180, 255)
        mask = np.zeros((box_h, box_w), np.float32)
        glyph = _glyph(rng, ch, font, size)
        if glyph.shape[1] > box_w * 0.95:
            glyph = glyph[:, : int(box_w * 0.95)]
        # The last drum is often caught mid-roll: the next digit shows at the edge.
        shift = rng.uniform(-0.28, 0.28) * box_h if (i == n - 1 and rng.random() < 0.35) else 0.0
        _paste(mask, glyph, box_w / 2, box_h / 2 + shift)
        step = box_h * rng.uniform(0.85, 1.05)
        neighbour = str((int(ch) + (1 if shift < 0 else -1)) % 10)
        if shift:
            _paste(mask, _glyph(rng, neighbour, font, size), box_w / 2,
                   box_h / 2 + shift + (step if shift < 0 else -step))
        box = (bg + (fg - bg) * mask) * drum_profile
        x = gap + i * (box_w + gap)
        image[gap:gap + box_h, x:x + box_w] = box
    return np.clip(image, 0, 255).astype(np.float32)
