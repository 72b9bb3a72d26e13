"""Capture in its own thread so the newest frame wins.

When recognition is slower than the camera, reading frames in turn makes every
reading older than the last (the driver queues them). Here a thread reads
continuously and keeps only the newest frame; older unseen ones are counted
as dropped, never queued.
"""

from __future__ import annotations

import logging
import threading

from .base import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)


class LatestFrameGrabber:
    """``start()`` opens the source (errors raise here, in the caller) and starts
    the thread; ``get(timeout)`` returns the newest unseen frame, or None on
    timeout or at the end (``ended`` tells which); ``stop()`` ends the thread
    and closes the source. An exception in the thread is logged and ends the grabber.
    """

    def __init__(self, source: FrameSource, join_timeout: float = 5.0, lossless: bool = False) -> None:
        self.source = source
        # lossless: wait for the consumer instead of replacing its frame; for a replay
        # "as fast as possible", where every recorded frame should be read.
        self.lossless = lossless
        self.join_timeout = join_timeout
        self.dropped = 0  # frames replaced before anyone took them
        self._pending: Frame | None = None  # the one frame held; never a queue
        self._finished = False  # the thread will deliver nothing more
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ended(self) -> bool:
        """True once no frame is pending and none will come (end of stream, error or stop)."""
        with self._cond:
            return self._finished and self._pending is None

    def start(self) -> None:
        self.source.open()
        self._thread = threading.Thread(target=self._run, name=f"capture {self.source.name}", daemon=True)
        self._thread.start()

    def get(self, timeout: float | None = None) -> Frame | None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending is not None or self._finished, timeout)
            frame, self._pending = self._pending, None
            self._cond.notify_all()  # a lossless grabber waits for the slot to empty
            return frame

    def stop(self) -> None:
        self._stopping.set()
        # Sources that can wait for a long time (backoff, pacing) offer stop()
        # to cut the wait short; a plain read() finishes within a frame period.
        source_stop = getattr(self.source, "stop", None)
        if callable(source_stop):
            source_stop()
        thread = self._thread
        stuck = False
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_timeout)
            stuck = thread.is_alive()
        with self._cond:
            self._finished = True
            self._pending = None
            self._cond.notify_all()
        if stuck:
            # Closing a device under a read in progress can crash the native
            # library; leave it to process exit instead.
            logger.warning("capture thread for %s did not stop within %ss; not closing it",
                           self.source.name, self.join_timeout)
        else:
            self.source.close()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                frame = self.source.read()
                if frame is None:
                    logger.info("%s: end of stream", self.source.name)
                    break
                with self._cond:
                    if self.lossless:
                        while self._pending is not None and not self._stopping.is_set():
                            self._cond.wait(0.1)
                    if self._pending is not None:
                        self.dropped += 1
                    self._pending = frame
                    self._cond.notify_all()
        except SourceError as exc:
            # Expected failure (wrap the source in ResilientSource to ride it out).
            logger.error("capture from %s stopped: %s", self.source.name, exc)
        except Exception:
            logger.exception("capture thread for %s failed", self.source.name)
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
