"""Keep a frame source alive through unplugged cameras and dropped streams.

A headless daemon has nobody to restart it by hand, so a lost camera is an
outage to wait out, not a reason to exit.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable

from .base import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)


class SourceState(str, enum.Enum):
    CONNECTED = "connected"
    LOST = "lost"


StateCallback = Callable[[SourceState, str], None]


class ResilientSource(FrameSource):
    """Wraps a source built by ``factory``; on ``SourceError`` it closes it,
    waits with exponential backoff, builds and opens a new one, and carries on.

    ``open()`` never raises ``SourceError``: a camera missing at start-up is the
    first outage, retried inside ``read()``, so the daemon can report ready.
    ``read()`` returns ``None`` at the end of a finite source, or after ``stop()``.
    Frame ids are renumbered so they keep increasing across reconnects.
    ``on_state(state, detail)`` is told of every change between connected and lost.
    """

    def __init__(self, factory: Callable[[], FrameSource], backoff_initial: float = 0.5,
                 backoff_max: float = 30.0, on_state: StateCallback | None = None) -> None:
        self.factory = factory
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.on_state = on_state
        self.name = "resilient source"
        self._source: FrameSource | None = None
        self._stop = threading.Event()
        self._attempts = 0

    def open(self) -> None:
        self.close()
        self._stop.clear()
        self._next_id = 0
        self._outage_started: float | None = None
        self._delay = self.backoff_initial
        self._retry_now = True  # the first open attempt is not a retry and does not wait
        self._connect()

    def read(self) -> Frame | None:
        while not self._stop.is_set():
            if self._source is None and not self._connect():
                continue
            assert self._source is not None
            try:
                frame = self._source.read()
            except SourceError as exc:
                self._lost(exc)
                continue
            if frame is None:
                return None
            if self._outage_started is not None:
                self._recovered()
            frame = dataclasses.replace(frame, frame_id=self._next_id)
            self._next_id += 1
            return frame
        return None

    def stop(self) -> None:
        """Make a blocked ``read()`` return None promptly (from any thread),
        including one sleeping in the backoff; a read blocked inside the wrapped
        source returns when that source does."""
        self._stop.set()
        inner_stop = getattr(self._source, "stop", None)
        if callable(inner_stop):
            inner_stop()

    def _connect(self) -> bool:
        """One attempt, after the backoff wait if this is a retry; False if it failed or we stopped."""
        if not self._retry_now:
            if self._stop.wait(self._delay):
                return False
            self._delay = min(self._delay * 2, self.backoff_max)
        self._retry_now = False
        self._attempts += 1
        try:
            source = self.factory()
            self.name = f"resilient {source.name}"
            source.open()
        except SourceError as exc:
            self._lost(exc)
            return False
        self._source = source
        if self._outage_started is None:
            self._notify(SourceState.CONNECTED, source.name)
        return True

    def _lost(self, exc: SourceError) -> None:
        self.close()
        if self._outage_started is None:
            # Logged once per outage: a camera gone for a night must not fill the journal.
            self._outage_started = time.monotonic()
            self._attempts = 0
            self._delay = self.backoff_initial
            logger.warning("camera lost: %s; retrying in %gs", exc, self._delay)
            self._notify(SourceState.LOST, str(exc))
        else:
            logger.debug("camera still lost: %s; retrying in %gs", exc, self._delay)

    def _recovered(self) -> None:
        # Counted as recovered only when a frame arrives: a source that opens
        # but fails on its first read is still out, and keeps backing off.
        assert self._outage_started is not None
        outage = time.monotonic() - self._outage_started
        logger.info("camera back: %s after %.1fs (%d retries)", self.name, outage, self._attempts)
        self._outage_started = None
        self._attempts = 0
        self._delay = self.backoff_initial
        self._notify(SourceState.CONNECTED, self.name)

    def close(self) -> None:
        source, self._source = self._source, None
        if source is None:
            return
        try:
            source.close()
        except Exception as exc:
            # A broken device may fail to close too; the replacement matters more.
            logger.debug("closing %s failed: %s", source.name, exc)

    def _notify(self, state: SourceState, detail: str) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(state, detail)
        except Exception:
            logger.exception("source state callback failed")
