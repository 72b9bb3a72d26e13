"""Printed digits: TrueType/OpenType faces and OpenCV's Hershey vector faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import fonts
from .common import FloatImage, Rng, compose, palette, trim_rows

HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
           cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
           cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)


def truetype_mask(rng: Rng, text: str, font_path: Path, size: int) -> FloatImage:
    """Ink mask of ``text`` drawn glyph by glyph with random tracking and weight."""
    font = fonts.load(str(font_path), size)
    stroke = int(rng.choice([0, 0, 0, 1, 2])) if size > 30 else 0
    tracking = rng.uniform(-0.06, 0.35) * size
    advances = [font.getlength(ch) for ch in text]
    width = int(sum(advances) + tracking * max(0, len(text) - 1) + 2 * stroke + size)
    height = int(size * 1.6) + 2 * stroke
    canvas = Image.new("L", (max(width, 1), height), 0)
    draw = ImageDraw.Draw(canvas)
    x = size * 0.25 + stroke
    for ch, adv in zip(text, advances, strict=True):
        draw.text((x, size * 0.2), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        x += adv + tracking
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    return _squash(rng, _tight(mask))


def hershey_mask(rng: Rng, text: str, size: int) -> FloatImage:
    face = int(rng.choice(HERSHEY))
    scale = cv2.getFontScaleFromHeight(face, size)
    thickness = int(rng.integers(1, max(2, size // 8) + 1))
    (w, h), base = cv2.getTextSize(text, face, scale, thickness)
    canvas = np.zeros((h + base + 2 * thickness + 4, w + 2 * thickness + 4), np.uint8)
    cv2.putText(canvas, text, (thickness + 2, h + thickness + 2), face, scale, 255, thickness,
                cv2.LINE_AA)
    return _squash(rng, _tight(canvas.astype(np.float32) / 255.0))


def _tight(mask: FloatImage) -> FloatImage:
    top, bottom = trim_rows(mask)
    cols = np.flatnonzero(mask.max(axis=0) > 0.05)
    left, right = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, mask.shape[1])
    return mask[top:bottom, left:right]


def _squash(rng: Rng, mask: FloatImage) -> FloatImage:
    """Condensed or extended type: scale the width only."""
    factor = rng.uniform(0.6, 1.3) if rng.random() < 0.4 else 1.0
    if factor == 1.0 or mask.shape[1] < 2:
        return mask
    new_w = max(1, round(mask.shape[1] * factor))
    return cv2.resize(mask, (new_w, mask.shape[0]), interpolation=cv2.INTER_AREA)


def printed(rng: Rng, text: str, font_files: list[Path]) -> FloatImage:
    size = int(rng.integers(28, 64))
    if not font_files or rng.random() < 0.15:
        mask = hershey_mask(rng, text, size)
    else:
        mask = truetype_mask(rng, text, font_files[int(rng.integers(len(font_files)))], size)
    bg, fg = palette(rng)
    pad = int(rng.integers(1, max(2, size // 6)))
    mask = np.pad(mask, pad)
    return compose(mask, bg, fg)
