"""The field log as a sink: the pipeline appends, a thread commits.

Committing means an fsync, which can take tens of milliseconds on an SD
card; doing it on a thread of its own keeps the capture loop at frame rate.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..config import FieldLogConfig
from ..fieldlog import COMMIT_EVERY_ROWS, FieldLog
from ..reading import Reading
from .base import Sink
from .fanout import FailureLog

logger = logging.getLogger(__name__)


class FieldLogSink(Sink):
    """Every reading, accepted or rejected, into the field log at ``path``.

    ``start()`` raises ``FieldLogError`` (one line) when the log cannot be
    opened; ``Fanout`` then runs on without it. ``stop()`` commits the last
    batch, so a clean shutdown (SIGTERM handled by the daemon) loses nothing.
    """

    name = "fieldlog"

    def __init__(self, path: str | os.PathLike[str], config: FieldLogConfig) -> None:
        self.path = Path(path)
        self.config = config
        self.log: FieldLog | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = FailureLog(f"field log {self.path}")
        self._reported_dropped = 0

    def start(self) -> None:
        self.log = FieldLog(self.path, self.config)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="fieldlog-commit", daemon=True)
        self._thread.start()
        logger.info("field log: %s (commit every %s rows or %.1f s)", self.path,
                    COMMIT_EVERY_ROWS, self.config.commit_interval_s)

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        if self.log is not None and self.log.append(reading):
            self._wake.set()

    def _run(self) -> None:
        log = self.log
        assert log is not None
        while not self._stopping.is_set():
            # Wake when a batch is full, or after commit_interval_s at the latest.
            self._wake.wait(self.config.commit_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                if log.commit_due():
                    log.flush()
                log.maintain()
            except Exception as exc:  # a full disk must not kill the thread
                self._failures.failed(exc)
            else:
                self._failures.succeeded()
            if log.dropped > self._reported_dropped:
                logger.warning("field log: %s reading(s) dropped while the disk refused writes",
                               log.dropped - self._reported_dropped)
                self._reported_dropped = log.dropped

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
            self._thread = None
        log, self.log = self.log, None
        if log is None:
            return
        pending = log.pending
        try:
            log.close()
        except Exception as exc:
            logger.error("field log: the last %s reading(s) were not saved: %s", pending, exc)
