"""Handwritten strings from MNIST digits placed side by side."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .common import FloatImage, Rng, trim_columns

# Training strings whose digits are reshaped by ``distort``; the test scenes and
# the seed protocol keep MNIST's own test digits untouched.
DISTORT_SHARE = 0.6
# Training strings written with wide gaps, as on a form or a tally. Touching and
# nearly touching digits alone teach a model that a lone upright stroke is a scratch:
# it read 32 of MNIST's 1,135 test '1's drawn alone as nothing, and five test digits
# 10 pixels apart 0.85 (254 of 2,000 strips lost a digit, nearly all a '1').
SPACED_SHARE = 0.15
SPACED_GAPS = (10, 40)  # pixels between the ink of neighbours, on a 40-pixel canvas


class MnistPool:
    """MNIST digits grouped by class, so a label can be drawn digit by digit."""

    def __init__(self, images: npt.NDArray[np.uint8], labels: npt.NDArray[np.integer]) -> None:
        self.by_digit = [images[labels == d] for d in range(10)]

    def sample(self, rng: Rng, digit: str) -> npt.NDArray[np.uint8]:
        pool = self.by_digit[int(digit)]
        return pool[int(rng.integers(len(pool)))]


def seed_protocol_strip(digits: list[npt.NDArray[np.uint8]], invert: bool = False) -> npt.NDArray[np.uint8]:
    """The 2017 layout: 28x28 cells side by side, no gaps, white on black."""
    strip = np.concatenate(digits, axis=1)
    return 255 - strip if invert else strip


def distort(rng: Rng, cell: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A small random rotation, shear and scale about the cell's centre: another hand
    writing the same digit. 60k training digits seen ~50 times each otherwise teach the
    network those 60k shapes rather than the digits (classic MNIST augmentation)."""
    angle = np.deg2rad(rng.uniform(-12, 12))
    scale, shear = rng.uniform(0.85, 1.1), rng.uniform(-0.25, 0.25)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = scale * rotate @ np.array([[1.0, shear], [0.0, 1.0]])
    centre = np.array([13.5, 13.5])
    offset = centre - linear @ centre + rng.uniform(-1.0, 1.0, size=2)
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
    return cv2.warpAffine(cell, matrix, (28, 28), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def handwritten(rng: Rng, text: str, pool: MnistPool, distort_share: float = 0.0,
                spaced_share: float = 0.0) -> FloatImage:
    """``distort_share`` of strings get their digits reshaped and ``spaced_share``
    are written far apart (training only: the test scenes and evaluation sets keep
    MNIST's own test digits, real hands, in the layouts they always had)."""
    cells = [pool.sample(rng, ch) for ch in text]
    if distort_share and rng.random() < distort_share:
        cells = [distort(rng, cell) for cell in cells]
    if spaced_share and rng.random() < spaced_share:
        strip = _loose_layout(rng, cells, SPACED_GAPS)
    elif rng.random() < 0.5:  # touching digits are where a reader goes wrong
        strip = seed_protocol_strip(cells).astype(np.float32)
    else:
        strip = _loose_layout(rng, cells)
    # MNIST is white ink on black; paper is the other way round.
    bg, fg = (rng.uniform(0, 80), rng.uniform(170, 255))
    if rng.random() < 0.5:
        bg, fg = rng.uniform(150, 255), rng.uniform(0, 90)
    return (bg + (fg - bg) * strip / 255.0).astype(np.float32)


def _loose_layout(rng: Rng, cells: list[npt.NDArray[np.uint8]],
                  gap_range: tuple[int, int] = (-3, 9)) -> FloatImage:
    """Cropped digits with random gaps (negative ones overlap), sizes and baselines."""
    height = 40
    parts: list[tuple[np.ndarray, int]] = []
    for cell in cells:
        scale = rng.uniform(0.8, 1.25)
        size = max(8, round(28 * scale))
        digit = cv2.resize(cell, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        left, right = trim_columns(digit, 20)
        parts.append((digit[:, left:right], int(rng.integers(-3, 4))))
    gaps = rng.integers(*gap_range, size=len(parts))
    width = sum(p.shape[1] for p, _ in parts) + int(np.clip(gaps, 0, None).sum()) + 8
    canvas = np.zeros((height, width), np.float32)
    x = 2
    for (digit, dy), gap in zip(parts, gaps, strict=True):
        h, w = digit.shape
        y = int(np.clip((height - h) // 2 + dy, 0, max(0, height - h)))
        h = min(h, height - y)
        region = canvas[y:y + h, x:x + w]
        np.maximum(region, digit[:h, : region.shape[1]], out=region)
        x += w + int(gap)
        x = max(x, 0)
    cols = np.flatnonzero(canvas.max(axis=0) > 20)
    return canvas[:, : int(cols[-1]) + 3] if cols.size else canvas
