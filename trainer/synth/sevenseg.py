"""Seven-segment LCD and LED digits, with the unlit segments faintly visible."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import fonts
from .common import FloatImage, Rng, compose

# Segments a..g lit for each digit; 6, 7 and 9 have common variants (tails).
SEGMENTS = {
    "0": ["abcdef"], "1": ["bc"], "2": ["abdeg"], "3": ["abcdg"], "4": ["bcfg"],
    "5": ["acdfg"], "6": ["acdefg", "cdefg"], "7": ["abc", "abcf"], "8": ["abcdefg"],
    "9": ["abcdfg", "abcfg"],
}


def _segment_polygons(w: float, h: float, t: float, gap: float) -> dict[str, np.ndarray]:
    """Hexagonal segments of one digit cell, unslanted, origin top-left."""
    def horiz(y: float) -> np.ndarray:
        x0, x1 = t / 2 + gap, w - t / 2 - gap
        return np.array([[x0, y], [x0 + t / 2, y - t / 2], [x1 - t / 2, y - t / 2], [x1, y],
                         [x1 - t / 2, y + t / 2], [x0 + t / 2, y + t / 2]])

    def vert(x: float, y0: float, y1: float) -> np.ndarray:
        y0, y1 = y0 + gap, y1 - gap
        return np.array([[x, y0], [x + t / 2, y0 + t / 2], [x + t / 2, y1 - t / 2], [x, y1],
                         [x - t / 2, y1 - t / 2], [x - t / 2, y0 + t / 2]])

    top, mid, bot = t / 2, h / 2, h - t / 2
    left, right = t / 2, w - t / 2
    return {"a": horiz(top), "g": horiz(mid), "d": horiz(bot),
            "f": vert(left, top, mid), "b": vert(right, top, mid),
            "e": vert(left, mid, bot), "c": vert(right, mid, bot)}


def drawn_masks(rng: Rng, text: str, field: int, point: int | None = None,
                pitch_range: tuple[float, float] = (1.15, 1.5),
                thickness_range: tuple[float, float] = (0.08, 0.16)) -> tuple[FloatImage, FloatImage]:
    """(lit, unlit) masks of segments drawn with OpenCV polygons; ``point``: a lit decimal
    point after that digit (a meter's "123.45" reads 12345: the point is not a digit).
    ``pitch_range`` is the cell pitch over the digit width, ``thickness_range`` the
    segment thickness over the digit height."""
    h = float(rng.uniform(36, 70))
    w = h * rng.uniform(0.45, 0.65)
    t = h * rng.uniform(*thickness_range)
    gap = t * rng.uniform(0.05, 0.3)
    pitch = w * rng.uniform(*pitch_range)
    slant = rng.uniform(0.0, 0.2) if rng.random() < 0.6 else 0.0
    ss = 4  # supersample so the anti-aliased edges look like a lens, not a raster
    width = int((pitch * field + h * slant + t * 2) * ss)
    height = int((h + t * 2) * ss)
    lit = np.zeros((height, width), np.uint8)
    unlit = np.zeros_like(lit)
    polys = _segment_polygons(w, h, t, gap)
    padded = " " * (field - len(text)) + text
    for i, ch in enumerate(padded):
        x0 = t + i * pitch
        on = rng.choice(SEGMENTS[ch]) if ch != " " else ""
        for name, poly in polys.items():
            pts = poly.copy()
            pts[:, 0] += x0 + (h - pts[:, 1]) * slant
            pts[:, 1] += t
            target = lit if name in on else unlit
            cv2.fillPoly(target, [np.round(pts * ss).astype(np.int32)], 255, cv2.LINE_AA)
        if point is not None:
            # Every cell has its point segment, lit after one digit: LCDs show them all faintly.
            centre = (x0 + w + (pitch - w) / 2, t + h - t / 2)
            target = lit if i == field - len(text) + point else unlit
            cv2.circle(target, (round(centre[0] * ss), round(centre[1] * ss)), int(t * 0.6 * ss), 255, -1,
                       cv2.LINE_AA)
    size = (width // ss, height // ss)
    return (cv2.resize(lit, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0,
            cv2.resize(unlit, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)


def dseg_masks(rng: Rng, text: str, field: int, font_path: Path) -> tuple[FloatImage, FloatImage]:
    """(lit, all-segments) masks from a DSEG7 face: '8' lights every segment and
    '!' is a blank digit of full width, so both strings line up."""
    size = int(rng.integers(32, 64))
    font = fonts.load(str(font_path), size)
    shown = "!" * (field - len(text)) + text
    ghost = "8" * field
    width = int(font.getlength(ghost) + size)
    height = int(size * 1.5)
    masks = []
    for s in (shown, ghost):
        canvas = Image.new("L", (width, height), 0)
        ImageDraw.Draw(canvas).text((size * 0.3, size * 0.2), s, font=font, fill=255)
        masks.append(np.asarray(canvas, dtype=np.float32) / 255.0)
    lit, every = masks
    rows = np.flatnonzero(every.max(axis=1) > 0.05)
    cols = np.flatnonzero(every.max(axis=0) > 0.05)
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return lit[crop], np.clip(every[crop] - lit[crop], 0, 1)


def seven_segment(rng: Rng, text: str, font_files: list[Path], backlit: bool = False) -> FloatImage:
    """A seven-segment strip. ``backlit`` (training) adds what real meter LCDs showed and the
    clean ones lack: dim, low-contrast panels, decimal points, the bezel inside the crop, glare."""
    if backlit and rng.random() < METER_PANEL_SHARE:
        return _meter_panel(rng, text)
    field = len(text) + (int(rng.integers(0, 3)) if rng.random() < 0.3 else 0)
    point = None
    if backlit and len(text) > 1 and rng.random() < 0.4:
        point = int(rng.integers(0, len(text) - 1))
    if font_files and rng.random() < 0.6 and point is None:
        lit, unlit = dseg_masks(rng, text, field, font_files[int(rng.integers(len(font_files)))])
    else:
        lit, unlit = drawn_masks(rng, text, field, point)
    if rng.random() < 0.5:  # reflective LCD: dark segments on a grey-green panel
        bg = rng.uniform(110, 230)
        fg = rng.uniform(0, max(1.0, bg - 70))
        if backlit and rng.random() < 0.5:  # a dim or washed-out panel: little contrast left
            bg = rng.uniform(60, 200)
            fg = bg - rng.uniform(25, 70)
    else:  # emissive LED/VFD: bright segments on a dark panel
        bg = rng.uniform(0, 70)
        fg = rng.uniform(min(254.0, bg + 90), 255)
    ghost = rng.uniform(0.0, 0.25)
    mask = np.clip(lit + ghost * unlit, 0, 1)
    image = compose(mask, bg, fg)
    if fg > bg and rng.random() < 0.5:  # LED bloom
        glow = cv2.GaussianBlur(lit, (0, 0), sigmaX=rng.uniform(1.5, 4.0))
        image = np.clip(image + glow * rng.uniform(20, 80), 0, 255).astype(np.float32)
    pad = int(rng.integers(2, 10))
    image = np.pad(image, pad, mode="constant", constant_values=bg)
    if backlit:
        image = _panel(rng, image, bg)
    return image


# Of the backlit strips, those drawn as the reflective LCD of a fuel pump or a meter's
# register: digits spaced far apart (a '1' is two thin bars at the right of a wide
# cell), thin segments, no ghosts, blank cells on the left, a point before the last
# one to three digits, dark digits on a dim grey panel, cut close above and below.
# The whole-photo check read 63.00 as 630 and 120.00 as 4200 on such panels.
METER_PANEL_SHARE = 0.35
METER_PITCH = (1.35, 2.3)  # cell pitch over digit width; plain panels 1.15-1.5
METER_THICKNESS = (0.06, 0.12)  # segment over digit height; plain panels 0.08-0.16


def _meter_panel(rng: Rng, text: str) -> FloatImage:
    field = len(text) + int(rng.integers(0, 5))
    point = None
    if len(text) > 1 and rng.random() < 0.7:
        point = len(text) - 1 - int(rng.integers(1, min(3, len(text) - 1) + 1))
    lit, _ = drawn_masks(rng, text, field, point, pitch_range=METER_PITCH, thickness_range=METER_THICKNESS)
    bg = rng.uniform(40, 200)
    fg = bg - rng.uniform(20, min(bg, 90.0))
    image = compose(lit, bg, fg)
    image = np.pad(image, ((int(rng.integers(0, 4)),) * 2, (int(rng.integers(2, 12)),) * 2),
                   mode="constant", constant_values=bg)
    return _panel(rng, image, bg)


def _panel(rng: Rng, image: FloatImage, bg: float) -> FloatImage:
    """The display's surroundings and light: a bezel edge inside the crop, glare."""
    h, w = image.shape
    if rng.random() < 0.5:  # the window's frame: a band of another level along some edges
        level = float(rng.choice([rng.uniform(0, 60), rng.uniform(180, 255)]))
        band = max(1, int(h * rng.uniform(0.04, 0.15)))
        image = image.copy()
        for edge in rng.permutation(4)[: int(rng.integers(1, 5))]:
            if edge == 0:
                image[:band] = level
            elif edge == 1:
                image[-band:] = level
            elif edge == 2:
                image[:, :band] = level
            else:
                image[:, -band:] = level
    if rng.random() < 0.35:  # glare: a soft bright spot on the glass
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = w * rng.uniform(0.05, 0.3), h * rng.uniform(0.2, 0.8)
        spot = np.exp(-((xx - cx) ** 2 / (2 * sx**2) + (yy - cy) ** 2 / (2 * sy**2)))
        image = np.clip(image + spot * rng.uniform(30, 140), 0, 255).astype(np.float32)
    return image
