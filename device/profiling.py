"""Per-stage latency over a sliding window of frames.

``record`` runs once per frame inside the pipeline, so it only stores floats
into ring buffers preallocated per stage (O(stages), no allocation after a
stage's first frame). Percentiles are computed on demand, when a summary is
asked for, where the cost does not land on a frame.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

# Every latency dict's stage names, in one place: the reader's (``detect``, the
# finder's own time, is a part of ``segment``), then those the commands time around it.
PREPROCESS, SEGMENT, DETECT, INFER, DECODE = "preprocess", "segment", "detect", "infer", "decode"
READER_STAGES = (PREPROCESS, SEGMENT, DETECT, INFER, DECODE)
CAPTURE_WAIT, PUBLISH, LOAD, TOTAL = "capture_wait", "publish", "load", "total"
_QUANTILES = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))


def percentiles(samples: npt.ArrayLike) -> dict[str, float]:
    """p50/p95/p99/max of the finite samples (NaN marks a frame without this stage)."""
    values = np.asarray(samples, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {name: 0.0 for name, _ in _QUANTILES} | {"max": 0.0}
    qs = np.percentile(values, [q for _, q in _QUANTILES])
    out = {name: float(v) for (name, _), v in zip(_QUANTILES, qs, strict=True)}
    out["max"] = float(values.max())
    return out


class LatencyProfile:
    """Stage latencies in ms for the last ``window`` frames.

    Any stage names work; a stage missing from a frame is not counted for that
    frame. ``total`` is taken from the frame's ``"total"`` entry when present,
    else it is the sum of the frame's stages.
    """

    def __init__(self, window: int = 1000, summary_interval_s: float = 60.0) -> None:
        self.window = window
        self.summary_interval_s = summary_interval_s
        self._count = 0
        self._times: npt.NDArray[np.float64] = np.zeros(window)
        self._total: npt.NDArray[np.float64] = np.full(window, np.nan)
        self._stages: dict[str, npt.NDArray[np.float64]] = {}
        self._last_log: float | None = None

    @property
    def frames(self) -> int:
        """Frames in the window (what the statistics cover)."""
        return min(self._count, self.window)

    def record(self, stage_ms: Mapping[str, float], now: float) -> None:
        """One frame's stage latencies (ms) and its timestamp (seconds, monotonic)."""
        i = self._count % self.window
        total = None
        seen = 0
        for name, ms in stage_ms.items():
            if name == TOTAL:
                total = ms
                continue
            buf = self._stages.get(name)
            if buf is None:
                # A stage's first frame: its earlier slots stay NaN ("not run").
                buf = self._stages[name] = np.full(self.window, np.nan)
            buf[i] = ms
            seen += 1
        if seen != len(self._stages):
            # Clear this slot in stages the frame skipped, or a value from the
            # previous lap of the ring would be counted again.
            for name, buf in self._stages.items():
                if name not in stage_ms:
                    buf[i] = np.nan
        self._total[i] = total if total is not None else sum(
            ms for name, ms in stage_ms.items() if name != TOTAL)
        self._times[i] = now
        self._count += 1

    def fps(self) -> float:
        """Frames per second over the window, from the frames' timestamps."""
        n = self.frames
        if n < 2:
            return 0.0
        newest = self._times[(self._count - 1) % self.window]
        oldest = self._times[(self._count - n) % self.window]
        span = float(newest - oldest)
        return (n - 1) / span if span > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """{"frames", "frames_total", "fps", "total": {p50, p95, p99, max}, "stages": {name: {...}}}."""
        n = self.frames
        return {
            "frames": n,
            "frames_total": self._count,
            "fps": self.fps(),
            TOTAL: percentiles(self._total[:n]),
            "stages": {name: percentiles(buf[:n]) for name, buf in self._stages.items()},
        }

    def table(self) -> str:
        """A fixed-width table of the summary, in ms."""
        s = self.summary()
        lines = [f"{'stage (ms)':<14}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"]
        rows = [*s["stages"].items(), (TOTAL, s[TOTAL])]
        for name, st in rows:
            lines.append(f"{name[:14]:<14}{st['p50']:>9.2f}{st['p95']:>9.2f}{st['p99']:>9.2f}{st['max']:>9.2f}")
        lines.append(f"{s['frames']} frames, {s['fps']:.2f} fps")
        return "\n".join(lines)

    def one_line(self) -> str:
        s = self.summary()
        t = s[TOTAL]
        stages = " ".join(f"{name} {st['p50']:.1f}/{st['p95']:.1f}" for name, st in s["stages"].items())
        return (f"{s['frames']} frames, {s['fps']:.1f} fps; total p50 {t['p50']:.1f} p95 {t['p95']:.1f} "
                f"p99 {t['p99']:.1f} max {t['max']:.1f} ms; p50/p95 {stages}")

    def log_summary_if_due(self, now: float) -> bool:
        """Log a one-line summary every ``summary_interval_s`` (0 = never); True if it logged.

        The first call only starts the clock, so the first summary covers a full interval.
        """
        if self.summary_interval_s <= 0:
            return False
        if self._last_log is None:
            self._last_log = now
            return False
        if now - self._last_log < self.summary_interval_s or self._count == 0:
            return False
        self._last_log = now
        logger.info("latency: %s", self.one_line())
        return True
