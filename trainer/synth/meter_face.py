"""A whole meter's round face with its counter window, for the strip detector.

Training only. A phone photo of a domestic water meter shows the counter window on a round
face among other print: a mark before it ('V'), the unit after it ('m³'), a serial number
and a maker's line above, type text and a second number below, small pointer dials, a star
wheel, a sticker. The shipped detector never saw one: on iaoqian's whole photos its region
held the window with that print around it, and the recogniser read the 'V' as a sixth digit
(BENCHMARKS.md, session 32). Here only the window is the strip: the serial number and the
other print are digits the detector must learn to leave out.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .common import FloatImage, Rng
from .counter import ROLL_RANGE, _glyph, _paste, meter_window

MARKS = ("V", "V", "V", "N", "No")
UNITS = ("m³", "m³", "m3", "kWh", "m")
TYPE_LINES = ("Q3=2.5m³/h", "R160", "DN15", "T30", "Qn 1.5", "LXS-15E", "x0.0001", "x0.001", "x0.01",
              "x0.1", "Class B", "MAP16", "PN16")


def _meter_text(rng: Rng) -> str:
    """A counter's 4-8 digits, most with the leading zeros a young meter shows."""
    n = int(rng.choice([4, 5, 5, 5, 6, 7, 8]))
    digits = rng.integers(0, 10, n)
    if rng.random() < 0.7:
        digits[: int(rng.integers(1, n))] = 0
    return "".join(str(int(d)) for d in digits)


def _digits(rng: Rng, low: int, high: int) -> str:
    """A printed number of ``low`` to ``high - 1`` digits: a serial number, a type number."""
    return "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(low, high))))


def _stamp(canvas: FloatImage, glyph: FloatImage, cx: float, cy: float, level: float) -> None:
    """Print ``glyph`` (an ink mask) centred at (cx, cy) in grey ``level``."""
    marks = np.zeros_like(canvas)
    _paste(marks, glyph, cx, cy)
    canvas[...] = canvas + (level - canvas) * marks


def meter_face(rng: Rng, font_files: list[Path]) -> tuple[FloatImage, FloatImage, np.ndarray, str]:
    """A face (grey levels), its coverage (1 on the face and its rim, 0 outside the disc),
    the counter window's corners on it (TL, TR, BR, BL) and the counter's text."""
    text = _meter_text(rng)
    font = font_files[int(rng.integers(len(font_files)))] if font_files else None
    window = meter_window(rng, text, font_files, ROLL_RANGE)
    wh, ww = window.shape
    frame = max(2, round(wh * rng.uniform(0.06, 0.25)))  # the window's dark surround
    diameter = int((ww + 2 * frame) / rng.uniform(0.42, 0.68))
    rim = max(3, round(diameter * rng.uniform(0.03, 0.09)))
    side = diameter + 2 * rim
    light = rng.random() < 0.85
    face = rng.uniform(140, 245) if light else rng.uniform(60, 130)
    ink = rng.uniform(0, 60) if light else rng.uniform(190, 250)
    canvas = np.full((side, side), face, np.float32)
    centre = side / 2
    cv2.circle(canvas, (round(centre), round(centre)), round(diameter / 2 + rim / 2),
               float(rng.uniform(0, 90)), rim, cv2.LINE_AA)  # the bezel
    if rng.random() < 0.7:  # a metal ring outside it
        cv2.circle(canvas, (round(centre), round(centre)), round(diameter / 2 + rim),
                   float(rng.uniform(110, 230)),
                   max(1, rim // 2), cv2.LINE_AA)
    # The window sits a little above the middle, on the face's width.
    x0 = round(centre - (ww + 2 * frame) / 2 + rng.uniform(-0.04, 0.04) * diameter)
    y0 = round(centre - rng.uniform(0.05, 0.28) * diameter - wh / 2)
    canvas[y0:y0 + wh + 2 * frame, x0:x0 + ww + 2 * frame] = rng.uniform(0, 70)
    canvas[y0 + frame:y0 + frame + wh, x0 + frame:x0 + frame + ww] = window
    quad = np.float32([[x0, y0], [x0 + ww + 2 * frame, y0], [x0 + ww + 2 * frame, y0 + wh + 2 * frame],
                       [x0, y0 + wh + 2 * frame]])
    mid_y = y0 + frame + wh / 2
    digit = wh * 0.8  # about the counter's digit height
    if rng.random() < 0.75:  # the mark before the counter
        size = round(digit * rng.uniform(0.6, 1.1))
        mark = _glyph(rng, str(rng.choice(MARKS)), font, size)
        gap = digit * rng.uniform(0.1, 0.6)
        cy = mid_y + rng.uniform(-0.1, 0.1) * wh
        _stamp(canvas, mark, x0 - gap - mark.shape[1] / 2, cy, ink)
    if rng.random() < 0.75:  # the unit after it
        unit = str(rng.choice(UNITS)) if font is not None else "m3"
        size = round(digit * rng.uniform(0.5, 1.0))
        glyph = _glyph(rng, unit, font, size)
        gap = digit * rng.uniform(0.1, 0.6)
        right = x0 + ww + 2 * frame
        _stamp(canvas, glyph, right + gap + glyph.shape[1] / 2, mid_y + rng.uniform(-0.2, 0.1) * wh, ink)
    if rng.random() < 0.85:  # a serial number above, sometimes in a box
        serial = _digits(rng, 6, 13)
        size = round(digit * rng.uniform(0.25, 0.55))
        cy = y0 - digit * rng.uniform(0.3, 1.0)
        cx = centre + rng.uniform(-0.1, 0.1) * diameter
        _stamp(canvas, _glyph(rng, serial, font, max(8, size)), cx, cy, ink)
        if rng.random() < 0.4:
            half = len(serial) * size * 0.32 + size * 0.4
            cv2.rectangle(canvas, (round(cx - half), round(cy - size * 0.7)),
                          (round(cx + half), round(cy + size * 0.7)), float(ink), 1)
        if rng.random() < 0.5:  # the maker's line above that
            maker_y = cy - size * rng.uniform(1.3, 2.2)
            _stamp(canvas, _glyph(rng, str(rng.choice(TYPE_LINES)), font, max(8, size)), cx, maker_y, ink)
    below = y0 + wh + 2 * frame
    for _ in range(int(rng.integers(0, 3))):  # type lines and a second number below
        line = str(rng.choice(TYPE_LINES)) if rng.random() < 0.5 else _digits(rng, 6, 11)
        size = round(digit * rng.uniform(0.3, 0.7))
        below += size * rng.uniform(0.8, 1.6)
        cx = centre + rng.uniform(-0.25, 0.25) * diameter
        _stamp(canvas, _glyph(rng, line, font, max(8, size)), cx, below, ink)
    _dials(rng, canvas, centre, diameter, y0 + wh + 2 * frame, ink)
    coverage = np.zeros_like(canvas)
    cv2.circle(coverage, (round(centre), round(centre)), round(diameter / 2 + rim), 1.0, -1, cv2.LINE_AA)
    return canvas, coverage, quad, text


def _dials(rng: Rng, canvas: FloatImage, centre: float, diameter: float, top: float, ink: float) -> None:
    """Pointer dials, a star wheel and a round sticker in the face's lower half."""
    low = max(top + diameter * 0.08, centre)
    for _ in range(int(rng.integers(0, 5))):
        r = diameter * rng.uniform(0.04, 0.09)
        cx = centre + rng.uniform(-0.35, 0.35) * diameter
        cy = rng.uniform(low, centre + 0.36 * diameter)
        level = float(ink if rng.random() < 0.6 else rng.uniform(60, 140))
        cv2.circle(canvas, (round(cx), round(cy)), round(r), level, 1, cv2.LINE_AA)
        angle = rng.uniform(0, 2 * np.pi)
        tip = (round(cx + r * np.cos(angle)), round(cy + r * np.sin(angle)))
        cv2.line(canvas, (round(cx), round(cy)), tip,
                 float(rng.uniform(40, 140)), max(1, round(r / 5)), cv2.LINE_AA)
    if rng.random() < 0.6:  # the star wheel
        r, points = diameter * rng.uniform(0.05, 0.1), int(rng.integers(5, 9))
        cx, cy = centre + rng.uniform(-0.3, 0.0) * diameter, rng.uniform(low, centre + 0.3 * diameter)
        angles = np.linspace(0, 2 * np.pi, 2 * points, endpoint=False) + rng.uniform(0, np.pi)
        radii = np.where(np.arange(2 * points) % 2 == 0, r, r * 0.45)
        star = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(star).astype(np.int32)], float(rng.uniform(0, 60)), cv2.LINE_AA)
    if rng.random() < 0.5:  # a sticker
        r = diameter * rng.uniform(0.07, 0.14)
        cv2.circle(canvas, (round(centre + rng.uniform(0.0, 0.3) * diameter),
                            round(rng.uniform(low, centre + 0.3 * diameter))), round(r),
                   float(rng.uniform(150, 255)), -1, cv2.LINE_AA)
