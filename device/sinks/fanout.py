"""One sink that feeds many; a failing sink logs and drops, never stops the pipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import one_line
from ..reading import Reading
from .base import Sink

logger = logging.getLogger(__name__)


class FailureLog:
    """Rate-limited logging of one thing that keeps failing.

    The first failure is logged with its traceback; after that at most one
    line every ``interval_s`` with the number of failures in between, so a
    sink that fails on every frame (a full disk, a dead broker) cannot flood
    the journal. One "working again" line follows each logged failure.
    """

    def __init__(self, what: str, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.interval_s = interval_s
        self.clock = clock
        self.total = 0  # failures ever
        self._unlogged = 0  # failures since the last line
        self._last_logged: float | None = None
        self._owes_recovery = False

    def failed(self, exc: BaseException) -> None:
        self.total += 1
        self._unlogged += 1
        now = self.clock()
        if self._last_logged is None:
            logger.warning("%s failed: %s", self.what, exc, exc_info=exc)
        elif now - self._last_logged >= self.interval_s:
            logger.warning("%s failed %s time(s) in the last %.0f s, latest: %s",
                           self.what, self._unlogged, now - self._last_logged, exc)
        else:
            return
        self._last_logged = now
        self._unlogged = 0
        self._owes_recovery = True

    def succeeded(self) -> None:
        if self._owes_recovery:
            self._owes_recovery = False
            logger.info("%s is working again (%s failure(s) so far)", self.what, self.total)


class Fanout(Sink):
    """Publish to every sink in turn.

    ``start()`` starts them in order; one that fails to start is logged and
    left out (the daemon keeps running without it). ``stop()`` stops the
    started ones in reverse order. Sinks share the frame, so a sink must not
    draw on it (they draw on a copy).
    """

    name = "fanout"

    def __init__(self, sinks: Sequence[Sink], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sinks = list(sinks)
        self.active: list[Sink] = []
        self._failures = {id(s): FailureLog(f"sink {s.name}", clock=clock) for s in self.sinks}

    def start(self) -> None:
        self.active = []
        for sink in self.sinks:
            try:
                sink.start()
            except Exception as exc:
                logger.error("sink %s disabled, running without it: %s", sink.name, one_line(exc))
                continue
            self.active.append(sink)

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        for sink in self.active:
            failures = self._failures[id(sink)]
            try:
                sink.publish(reading, frame)
            except Exception as exc:
                failures.failed(exc)
            else:
                failures.succeeded()

    def stop(self) -> None:
        while self.active:
            sink = self.active.pop()
            try:
                sink.stop()
            except Exception:
                logger.exception("sink %s failed to stop cleanly", sink.name)
