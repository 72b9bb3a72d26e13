"""OpenCV frame source: a V4L2/USB camera index, a video file, or an RTSP/HTTP URL."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt

from ..errors import one_line
from ..preprocess import to_grey
from .base import Frame, FrameSource, SourceError

logger = logging.getLogger(__name__)


def frame_from_bgr(image: npt.NDArray[np.uint8], frame_id: int) -> Frame:
    """The grey recognition image of a decoded picture.

    Decoders hand back 1, 3 or 4 channels depending on codec and backend, so
    normalise here once rather than in every source."""
    return Frame(image=np.ascontiguousarray(to_grey(image)), frame_id=frame_id, timestamp=time.monotonic())


def redact_url(url: str) -> str:
    """The URL with any password masked: source names end up in logs and the journal."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _is_url(device: int | str) -> bool:
    return isinstance(device, str) and "://" in device


class OpenCVSource(FrameSource):
    """Frames from ``cv2.VideoCapture``.

    ``device`` is a camera index (``0``), a device path (``/dev/video0``), a
    video file, or a stream URL. A video file ends with ``None`` and is read as
    fast as possible; use ``ReplaySource`` to play one back at its recorded rate.
    A camera or stream that stops delivering raises ``SourceError``.
    """

    def __init__(self, device: int | str, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, timeout_s: float = 10.0) -> None:
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)
        self.device: int | str = device
        self.width = width
        self.height = height
        self.fps = fps
        self.timeout_s = timeout_s
        self.name = f"camera {device}" if isinstance(device, int) else redact_url(device)
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        self.close()
        device = self.device
        if isinstance(device, str) and not _is_url(device) and not Path(device).exists():
            raise SourceError(f"cannot open {self.name}: no such file or device")
        # Decided here, not when made: the file may appear later. A character device
        # such as /dev/video0 is not a regular file: it is a camera.
        self._is_file = isinstance(device, str) and not _is_url(device) and Path(device).is_file()
        params: list[int] = []
        if _is_url(device):
            # FFmpeg's default is to wait ~30 s on a dead stream; fail sooner so the
            # resilient wrapper can reconnect and the watchdog is not starved.
            ms = int(self.timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        try:
            capture = cv2.VideoCapture(device, cv2.CAP_ANY, params)
        except cv2.error as exc:
            raise SourceError(f"cannot open {self.name}: {one_line(exc)}") from exc
        if not capture.isOpened():
            capture.release()
            kind = "video" if self._is_file else "V4L2/USB camera" if isinstance(device, int) else "stream"
            raise SourceError(f"cannot open {self.name} ({kind})")
        if not self._is_file:
            if self.width:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            if self.height:
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                capture.set(cv2.CAP_PROP_FPS, self.fps)
            # V4L2 queues several buffers by default, so a slow consumer reads
            # frames that are seconds old; one buffer keeps them fresh.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture
        self._next_id = 0
        logger.info("opened %s", self.name)

    def read(self) -> Frame | None:
        if self._capture is None:
            raise SourceError(f"{self.name} is not open")
        try:
            ok, image = self._capture.read()
        except cv2.error as exc:
            raise SourceError(f"{self.name}: {one_line(exc)}") from exc
        if not ok or image is None:
            if self._is_file:
                return None
            raise SourceError(f"{self.name} stopped delivering frames")
        frame = frame_from_bgr(np.asarray(image, dtype=np.uint8), self._next_id)
        self._next_id += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
