"""A one-line status on the console.

On a terminal the line is rewritten in place, so a user watching over ssh
sees the current reading without a scrolling wall; piped or under systemd,
where a rewritten line would be garbage, it prints one line per accepted
reading instead.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

import numpy as np
import numpy.typing as npt

from ..profiling import TOTAL
from ..reading import Reading
from ..value import display
from .base import Sink


class ConsoleSink(Sink):
    """Status to ``stream`` (stdout by default). ``tty=None`` asks the stream."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, decimals: int = 0, unit: str = "") -> None:
        self._stream = stream
        self.decimals, self.unit = decimals, unit  # [output]: 0123456 -> "123.456 m³"
        self._tty = tty
        self._clock = clock
        self._last_time: float | None = None
        self._fps: float | None = None
        self._shown = 0  # length of the line now on the terminal

    @property
    def stream(self) -> TextIO:
        # Looked up late, so a test (or the daemon) that swaps sys.stdout is honoured.
        return self._stream if self._stream is not None else sys.stdout

    @property
    def tty(self) -> bool:
        if self._tty is None:
            isatty = getattr(self.stream, "isatty", None)
            self._tty = bool(isatty and isatty())
        return self._tty

    def _tick(self) -> float | None:
        """Readings per second, smoothed so the figure is readable."""
        now = self._clock()
        if self._last_time is not None and now > self._last_time:
            rate = 1.0 / (now - self._last_time)
            self._fps = rate if self._fps is None else 0.8 * self._fps + 0.2 * rate
        self._last_time = now
        return self._fps

    def format(self, reading: Reading, fps: float | None, short_time: bool) -> str:
        when = reading.timestamp[11:19] if short_time and len(reading.timestamp) >= 19 \
            else reading.timestamp
        shown = display(reading.text, self.decimals, self.unit) if (self.decimals or self.unit) \
            else reading.text
        parts = [when, shown or "-", f"conf {reading.confidence:.3f}"]
        if fps is not None:
            parts.append(f"{fps:.1f} fps")
        total = reading.latency_ms.get(TOTAL)
        if total is not None:
            parts.append(f"{total:.1f} ms")
        if not reading.accepted:
            parts.append(f"rejected: {reading.reason}" if reading.reason else "rejected")
        return "  ".join(parts)

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        fps = self._tick()
        if self.tty:
            # Every reading, rejected ones too: it is a live view, not a record.
            line = self.format(reading, fps, short_time=True)
            width = shutil.get_terminal_size((80, 24)).columns - 1
            line = line[:width]  # a wrapped line cannot be rewritten with \r
            self.stream.write("\r" + line.ljust(self._shown))
            self._shown = len(line)
        elif reading.accepted:
            self.stream.write(self.format(reading, fps, short_time=False) + "\n")
        else:
            return
        self.stream.flush()

    def stop(self) -> None:
        if self._shown:
            # Leave the status line, so the shell prompt starts on its own line.
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0
