"""The latest frame, annotated, as an image file for a screen or a web server.

Writes are atomic (a reader never sees half a JPEG) and rate-limited (an SD
card wears with every write). Optionally the raw frames of doubtful readings
are kept in a folder with a disk budget, to be labelled and trained on later.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from ..atomic import write_atomic
from ..errors import DigitcamError
from ..fieldlog import canonical_ts
from ..profiling import TOTAL
from ..reading import Reading, utc_now
from .base import Sink
from .kept import KeptFolder

FORMATS = {".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png"}
GREEN = (60, 200, 60)
RED = (40, 40, 230)
# The frames worth keeping for retraining, and how often at most (a stuck meter rejects every frame).
KEEP_BELOW_CONFIDENCE = 0.8
KEEP_EVERY_S = 1.0


def encode(image: npt.NDArray[np.uint8], suffix: str, jpeg_quality: int = 85) -> bytes:
    if suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]  # fast; the Pi has better things to do
    ok, buffer = cv2.imencode(suffix, image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {suffix}")
    return bytes(buffer.tobytes())


def annotate(frame: npt.NDArray[np.uint8], reading: Reading) -> npt.NDArray[np.uint8]:
    """A colour copy of ``frame`` with the strip outline and what was read
    (green: accepted, red: rejected). The frame itself is not touched."""
    image = (np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
             if frame.ndim == 2 else frame.copy())
    colour = GREEN if reading.accepted else RED
    height, width = image.shape[:2]
    scale = max(0.4, width / 900.0)
    thickness = max(1, round(scale * 2))
    if reading.quad is not None:
        quad = np.round(np.asarray(reading.quad, dtype=np.float64)).astype(np.int32)
        cv2.polylines(image, [quad.reshape(-1, 1, 2)], True, colour, thickness, cv2.LINE_AA)
    label = f"{reading.text or '-'}  {reading.confidence:.2f}"
    if TOTAL in reading.latency_ms:
        label += f"  {reading.latency_ms[TOTAL]:.0f} ms"
    if not reading.accepted:
        label += f"  rejected: {reading.reason}" if reading.reason else "  rejected"
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_w, text_h), baseline = cv2.getTextSize(label, font, scale, thickness)
    pad = max(2, text_h // 3)
    # A dark band behind the text keeps it legible on any background.
    cv2.rectangle(image, (0, 0), (min(width, text_w + 2 * pad), min(height, text_h + baseline + 2 * pad)),
                  (0, 0, 0), -1)
    cv2.putText(image, label, (pad, pad + text_h), font, scale, colour, thickness, cv2.LINE_AA)
    return image


def kept_name(reading: Reading) -> str:
    """``20260501T101500123Z_42_31415.png``: sorts by time, says what was read."""
    try:
        ts = canonical_ts(reading.timestamp)
    except ValueError:
        ts = utc_now()
    compact = re.sub(r"[^0-9TZ]", "", ts)
    text = re.sub(r"[^0-9A-Za-z]", "", reading.text)
    return f"{compact}_{max(0, reading.frame_id)}_{text}.png"


class SnapshotSink(Sink):
    """The annotated frame at ``path`` (.jpg/.jpeg/.png), at most every ``min_interval_s``.

    With ``keep_dir``, the raw frame (PNG, lossless for labelling) of each
    rejected reading, or one below ``KEEP_BELOW_CONFIDENCE``, is kept there too,
    at most every ``KEEP_EVERY_S``, the oldest deleted while the folder's kept
    frames exceed ``keep_max_mb``.
    """

    name = "snapshot"

    def __init__(self, path: str | os.PathLike[str], *, min_interval_s: float = 1.0,
                 keep_dir: str | os.PathLike[str] | None = None, keep_max_mb: float = 100.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        suffix = FORMATS.get(self.path.suffix.lower())
        if suffix is None:
            raise DigitcamError(f"snapshot {self.path}: the name must end in .jpg, .jpeg or .png")
        self.suffix = suffix
        self.min_interval_s = min_interval_s
        self._kept = KeptFolder(Path(keep_dir), int(keep_max_mb * 1e6)) if keep_dir is not None else None
        self._clock = clock
        self._last_write: float | None = None
        self._last_keep: float | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._kept is not None:
            self._kept.scan()

    def _due(self, last: float | None, interval: float, now: float) -> bool:
        return last is None or now - last >= interval

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        if frame is None:
            return
        now = self._clock()
        # Times are taken before writing, so a failing disk is retried at the
        # same gentle rate rather than on every frame.
        if self._due(self._last_write, self.min_interval_s, now):
            self._last_write = now
            write_atomic(self.path, encode(annotate(frame, reading), self.suffix))
        doubtful = not reading.accepted or reading.confidence < KEEP_BELOW_CONFIDENCE
        if self._kept is not None and doubtful and self._due(self._last_keep, KEEP_EVERY_S, now):
            self._last_keep = now
            self._kept.write(kept_name(reading), encode(frame, ".png"))
