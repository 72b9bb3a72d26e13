"""Roller counters: each digit on its own drum, in a box, with gaps between."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import FloatImage, Rng
from .printed import hershey_mask, truetype_mask


def _glyph(rng: Rng, ch: str, font: Path | None, size: int) -> FloatImage:
    return truetype_mask(rng, ch, font, size) if font is not None else hershey_mask(rng, ch, size)


def _drum_glyph(rng: Rng, ch: str, font: Path | None, size: int, box_w: int) -> FloatImage:
    """``ch`` as drawn on a drum ``box_w`` wide: a glyph wider than the drum is cut to it."""
    glyph = _glyph(rng, ch, font, size)
    return glyph[:, : int(box_w * 0.95)] if glyph.shape[1] > box_w * 0.95 else glyph


def _drum_profile(shading: float, box_h: int) -> FloatImage:
    """A cylinder is darker at its top and bottom: the light on each row of a drum."""
    ys = (np.arange(box_h, dtype=np.float32) + 0.5) / box_h - 0.5
    return (1.0 - shading * 4 * ys**2)[:, None]


def _paste(canvas: FloatImage, mask: FloatImage, cx: float, cy: float) -> None:
    """Add ``mask`` centred at (cx, cy), clipped to the canvas."""
    h, w = mask.shape
    y0, x0 = round(cy - h / 2), round(cx - w / 2)
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(canvas.shape[0], y0 + h), min(canvas.shape[1], x0 + w)
    if ye > ys and xe > xs:
        region = canvas[ys:ye, xs:xe]
        np.maximum(region, mask[ys - y0:ye - y0, xs - x0:xe - x0], out=region)


# How far the last drum may be caught mid-roll, in drum heights. Evaluation sets keep
# 0.28; training goes nearly to the half (ROLL_RANGE_TRAIN) so that a digit between two
# values reads as the one further in, never as a third digit (the rule for real crops too).
ROLL_RANGE = 0.28
ROLL_RANGE_TRAIN = 0.49


def roller_counter(rng: Rng, text: str, font_files: list[Path], roll_last: float | None = None,
                   roll_range: float = ROLL_RANGE) -> FloatImage:
    """``text`` on drums, the last one sometimes caught up to ``roll_range`` into a roll (never
    past the half: its own digit stays the one further in); ``roll_last`` (0..1 of a drum's
    height) rolls it exactly that far towards its next digit (0.5: between the two)."""
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
    drum_profile = _drum_profile(rng.uniform(0.0, 0.6), box_h)
    for i, ch in enumerate(text):
        if i >= red_from:
            bg, fg = rng.uniform(50, 120), rng.uniform(200, 255)
        elif light_drums:
            bg, fg = rng.uniform(180, 255), rng.uniform(0, 60)
        else:
            bg, fg = rng.uniform(0, 60), rng.uniform(180, 255)
        mask = np.zeros((box_h, box_w), np.float32)
        glyph = _drum_glyph(rng, ch, font, size, box_w)
        # The last drum is often caught mid-roll: the next digit shows at the edge.
        if i == n - 1 and roll_last is not None:
            shift = -roll_last * box_h  # forward: the digit moves up, the next comes in below
        else:
            shift = (rng.uniform(-roll_range, roll_range) * box_h
                     if (i == n - 1 and rng.random() < 0.35) else 0.0)
        _paste(mask, glyph, box_w / 2, box_h / 2 + shift)
        step = box_h * rng.uniform(0.85, 1.05)
        if roll_last is None:  # past half a step the neighbour would be the digit further in
            shift = float(np.clip(shift, -0.49 * step, 0.49 * step))
        neighbour = str((int(ch) + (1 if shift < 0 else -1)) % 10)
        if shift:
            _paste(mask, _glyph(rng, neighbour, font, size), box_w / 2,
                   box_h / 2 + shift + (step if shift < 0 else -step))
        box = (bg + (fg - bg) * mask) * drum_profile
        x = gap + i * (box_w + gap)
        image[gap:gap + box_h, x:x + box_w] = box
    return np.clip(image, 0, 255).astype(np.float32)


# Training only: a meter's counter window as real water meters show it (the held-out
# Altair meter, iaoqian's water-meter windows): drums side by side with a thin dark
# separator and the drum's gear teeth between them instead of a frame's gap, most of
# them light with dark digits, each digit nearly the window's height with its
# neighbours on the drum peeking in above and below, any drum caught turning. The
# shipped model read those separators as extra 1s and merged repeated digits. What share of
# the training counters are drawn so is TrainConfig.meter_windows (0: none, as before).


def meter_window(rng: Rng, text: str, font_files: list[Path], roll_range: float = ROLL_RANGE_TRAIN,
                 face_share: float = 0.0, lines_share: float = 0.0) -> FloatImage:
    """``text`` in a meter's counter window; a turning drum's label is its digit further in.
    In ``face_share`` of them the window sits on the meter's face (``_on_face``), and in
    ``lines_share`` of those the face's print runs above or below it (``_face_lines``)."""
    size = int(rng.integers(28, 56))
    font = font_files[int(rng.integers(len(font_files)))] if font_files else None
    box_w = int(size * rng.uniform(0.62, 0.95))
    box_h = int(size * rng.uniform(1.0, 1.35))
    sep = max(1, round(box_w * rng.uniform(0.03, 0.14)))
    light = rng.random() < 0.7
    if light:
        bg, fg = rng.uniform(160, 255), rng.uniform(0, 70)
    else:
        bg, fg = rng.uniform(0, 60), rng.uniform(170, 255)
    sep_level = rng.uniform(0, 80) if light else rng.uniform(60, 170)
    teeth = rng.random() < 0.6
    step = size * rng.uniform(1.05, 1.4)  # from one digit to the next on the drum
    drum_profile = _drum_profile(rng.uniform(0.0, 0.5), box_h)
    n = len(text)
    width = n * box_w + (n + 1) * sep
    image = np.full((box_h, width), sep_level, np.float32)
    for i, ch in enumerate(text):
        turning = rng.random() < (0.45 if i == n - 1 else 0.12)
        shift = rng.uniform(-roll_range, roll_range) * step if turning else 0.0
        mask = np.zeros((box_h, box_w), np.float32)
        glyph = _drum_glyph(rng, ch, font, size, box_w)
        for offset, digit in ((0.0, int(ch)), (step, int(ch) + 1), (-step, int(ch) - 1)):
            # The drum turns forward: its next digit comes in from below.
            _paste(mask, glyph if offset == 0 else _glyph(rng, str(digit % 10), font, size),
                   box_w / 2, box_h / 2 + shift + offset)
        x = sep + i * (box_w + sep)
        image[:, x:x + box_w] = (bg + (fg - bg) * mask) * drum_profile
    if teeth:  # the gear teeth on a drum's edge: short dark bars across each separator
        tooth_h = max(1, round(box_h * rng.uniform(0.04, 0.1)))
        tooth_w = sep + 2 * max(1, round(box_w * rng.uniform(0.03, 0.08)))
        for i in range(n + 1):
            cx = i * (box_w + sep) + sep // 2
            for y in (rng.uniform(0.05, 0.3) * box_h, rng.uniform(0.7, 0.95) * box_h):
                y0, x0 = int(y), max(0, cx - tooth_w // 2)
                image[y0:y0 + tooth_h, x0:x0 + tooth_w] = sep_level
    if rng.random() < 0.5:  # the window's own edges above and below
        edge = max(1, round(box_h * rng.uniform(0.03, 0.12)))
        level = rng.uniform(0, 90)
        image[:edge] = level
        image[-edge:] = level
    if face_share and rng.random() < face_share:
        image = _on_face(rng, image, font, size, lines_share)
    return np.clip(image, 0, 255).astype(np.float32)


# Of the meter windows, a share (TrainConfig.meter_faces) is drawn on the meter's face: a rim
# around the window, and the face's printed mark before the counter and its unit after it,
# smaller than the digits, as a detector's region cuts a whole photo of a water meter. The
# detector's closer look at iaoqian's photos found the counter's line and read its 'V' as 9
# or 1 and its 'm³' as 0 ('90000', '003260'; BENCHMARKS.md, session 30).
FACE_MARKS = ("V", "No", "Nr", "N", "x")
FACE_UNITS = ("m³", "m3", "kWh", "l", "L", "m", "ft³")


def _face_mark(rng: Rng, choices: tuple[str, ...], font: Path | None, size: int) -> FloatImage:
    text = str(rng.choice(choices))
    if font is None:  # the Hershey faces have no superscripts
        text = text.replace("³", "3")
    return _glyph(rng, text, font, max(8, round(size * rng.uniform(0.35, 0.8))))


def _on_face(rng: Rng, window: FloatImage, font: Path | None, size: int, lines_share: float = 0.0
             ) -> FloatImage:
    """``window`` in its rim on the meter's face, a mark before it and a unit after it
    (each only sometimes); the label stays the window's digits."""
    h, w = window.shape
    light = rng.random() < 0.8
    face, ink = ((rng.uniform(150, 245), rng.uniform(0, 70)) if light
                 else (rng.uniform(20, 90), rng.uniform(170, 250)))
    rim = max(1, round(h * rng.uniform(0.02, 0.1)))
    mark = _face_mark(rng, FACE_MARKS, font, size) if rng.random() < 0.6 else np.zeros((1, 0), np.float32)
    unit = _face_mark(rng, FACE_UNITS, font, size) if rng.random() < 0.7 else np.zeros((1, 0), np.float32)
    gap_left, gap_right = (round(size * rng.uniform(0.1, 0.6)) for _ in range(2))
    margin, pad = round(size * 0.2), round(h * rng.uniform(0.1, 0.4))
    height = h + 2 * (rim + pad)
    x = margin + mark.shape[1] + gap_left  # the rim's left edge
    width = x + w + 2 * rim + gap_right + unit.shape[1] + margin
    canvas = np.full((height, width), face, np.float32)
    canvas[pad:pad + h + 2 * rim, x:x + w + 2 * rim] = rng.uniform(0, 80) if light else rng.uniform(0, 40)
    canvas[pad + rim:pad + rim + h, x + rim:x + rim + w] = window
    marks = np.zeros_like(canvas)
    unit_x = x + w + 2 * rim + gap_right
    for piece, cx in ((mark, margin + mark.shape[1] / 2), (unit, unit_x + unit.shape[1] / 2)):
        if piece.shape[1]:
            _paste(marks, piece, cx, height / 2 + rng.uniform(-0.2, 0.2) * h)
    if lines_share and rng.random() < lines_share:  # drawn last: without it, the faces are as before
        canvas, marks = _face_lines(rng, canvas, marks, face, font, size)
    return canvas + (ink - canvas) * marks


# Of the faces, a share (TrainConfig.face_lines) carries the face's other print above or below
# the window: a serial number, a maker's mark, a type line, each smaller than the counter's
# digits. The detector's region of a whole water-meter photo holds them: on iaoqian's dev
# photos its closer look is 2-3 windows tall, and the shipped model read the window 0.944 cut
# tight, 0.784 cut twice its height and 0.168 three times (BENCHMARKS.md, session 31).
LINE_CHARS = "0123456789ABCDEFGHKLMNPRSTXZ"


def _line_text(rng: Rng) -> str:
    """A serial number (digits, a letter or two in front) or a maker's code."""
    digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(4, 11))))
    prefix = "".join(rng.choice(list(LINE_CHARS[10:]), int(rng.integers(0, 3))))
    if rng.random() < 0.7:
        return prefix + digits
    return "".join(rng.choice(list(LINE_CHARS), int(rng.integers(2, 8))))


def _face_lines(rng: Rng, canvas: FloatImage, marks: FloatImage, face: float, font: Path | None,
                size: int) -> tuple[FloatImage, FloatImage]:
    """``canvas`` (and its ``marks``) grown by a line of smaller print above, below or both,
    up to about a window's height away; the face's tone ``face`` fills what is new."""
    h, w = canvas.shape
    where = rng.choice(["above", "below", "both"], p=[0.35, 0.35, 0.3])
    bands_c, bands_m = [canvas], [marks]
    for side in ("above", "below"):
        if where not in (side, "both"):
            continue
        line = _glyph(rng, _line_text(rng), font, max(8, round(size * rng.uniform(0.3, 0.65))))
        if line.shape[1] > w:
            line = line[:, :w]
        gap = round(h * rng.uniform(0.0, 0.5))
        band_h = gap + line.shape[0] + round(h * rng.uniform(0.0, 0.3))
        band_c = np.full((band_h, w), face, np.float32)
        band_m = np.zeros((band_h, w), np.float32)
        cy = (band_h - gap - line.shape[0] / 2) if side == "above" else (gap + line.shape[0] / 2)
        ink = line * rng.uniform(0.5, 1.0)  # faint print as often as dark
        _paste(band_m, ink, rng.uniform(line.shape[1] / 2, w - line.shape[1] / 2), cy)
        if side == "above":
            bands_c.insert(0, band_c)
            bands_m.insert(0, band_m)
        else:
            bands_c.append(band_c)
            bands_m.append(band_m)
    return np.vstack(bands_c), np.vstack(bands_m)
