"""Small drawing helpers shared by the generators."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Rng = np.random.Generator
FloatImage = npt.NDArray[np.float32]


def random_digits(rng: Rng, min_len: int = 1, max_len: int = 10) -> str:
    """Strings of 1-10 digits; meter-like lengths and leading zeros a bit more often."""
    if rng.random() < 0.35:
        length = int(rng.integers(max(min_len, 4), min(max_len, 8) + 1))
    else:
        length = int(rng.integers(min_len, max_len + 1))
    digits = rng.integers(0, 10, size=length)
    if length > 2 and rng.random() < 0.25:  # counters read 000123
        digits[: int(rng.integers(1, length))] = 0
    return "".join(str(int(d)) for d in digits)


def palette(rng: Rng, min_contrast: float = 60.0) -> tuple[float, float]:
    """(background, ink) grey levels in either polarity with some contrast."""
    while True:
        bg, fg = rng.uniform(0, 255, size=2)
        if abs(bg - fg) >= min_contrast:
            return float(bg), float(fg)


def compose(mask: FloatImage, bg: float, fg: float) -> FloatImage:
    """Paint a [0, 1] ink mask with ``fg`` over ``bg``."""
    return (bg + (fg - bg) * mask).astype(np.float32)


def trim_columns(mask: FloatImage, threshold: float = 0.05) -> tuple[int, int]:
    cols = np.flatnonzero(mask.max(axis=0) > threshold)
    if cols.size == 0:
        return 0, mask.shape[1]
    return int(cols[0]), int(cols[-1]) + 1


def trim_rows(mask: FloatImage, threshold: float = 0.05) -> tuple[int, int]:
    rows = np.flatnonzero(mask.max(axis=1) > threshold)
    if rows.size == 0:
        return 0, mask.shape[0]
    return int(rows[0]), int(rows[-1]) + 1
