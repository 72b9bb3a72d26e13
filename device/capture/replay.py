"""Replay of recorded frames (a folder of images or a video file) through the
same interface as a camera. A real source: ``make demo`` and the tests run on it."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from .base import Frame, FrameSource, SourceError
from .opencv_source import frame_from_bgr

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"})
DEFAULT_FOLDER_FPS = 10.0
# Containers without a frame rate report 0, NaN or a timebase like 90000;
# outside this range the file's own rate is not believed.
_PLAUSIBLE_FPS = (0.1, 240.0)


def image_files(folder: Path) -> list[Path]:
    """The image files in ``folder``, sorted by name."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: p.name)


class ReplaySource(FrameSource):
    """Frames from a folder of images (sorted by name) or a video file.

    ``fps``: frames per second to release them at; ``None`` means 10 for a
    folder and the file's own rate for a video; ``0`` means as fast as the
    reader asks. With ``loop`` the recording starts again at its end and frame
    ids keep increasing. Unreadable images are logged once and skipped.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = f"replay:{self.path}"
        self.loop = loop
        self.fps = 0.0  # the effective rate, known after open()
        self._requested_fps = fps
        self._files: list[Path] | None = None  # None: the path is a video
        self._video: cv2.VideoCapture | None = None
        self._is_open = False
        self._interrupt = threading.Event()

    def open(self) -> None:
        self.close()
        self._interrupt.clear()
        path = self.path
        if not path.exists():
            raise SourceError(f"replay: no such file or folder: {path}")
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            self._files = image_files(path) if path.is_dir() else [path]
            if not self._files:
                raise SourceError(f"replay: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
            self.fps = DEFAULT_FOLDER_FPS if self._requested_fps is None else self._requested_fps
        else:
            self._files = None
            self._video = self._open_video()
            recorded = float(self._video.get(cv2.CAP_PROP_FPS))
            if self._requested_fps is not None:
                self.fps = self._requested_fps
            elif _PLAUSIBLE_FPS[0] <= recorded <= _PLAUSIBLE_FPS[1]:
                self.fps = recorded
            else:
                logger.info("replay: %s reports %s fps; playing at %s", path, recorded, DEFAULT_FOLDER_FPS)
                self.fps = DEFAULT_FOLDER_FPS
        self._position = 0
        self._next_id = 0
        self._frames_this_pass = 0
        self._due: float | None = None
        self._ended = False
        self._is_open = True

    def read(self) -> Frame | None:
        if not self._is_open:
            raise SourceError(f"{self.name} is not open")
        while not self._ended:
            image = self._next_image()
            if image is not None:
                self._frames_this_pass += 1
                self._pace()
                frame = frame_from_bgr(image, self._next_id)
                self._next_id += 1
                return frame
            # End of one pass through the recording.
            if self._frames_this_pass == 0:
                # Looping over nothing would spin forever; this is a bad recording, not an end.
                raise SourceError(f"replay: no readable frames in {self.path}")
            if not self.loop:
                self._ended = True
                break
            self._rewind()
        return None

    def stop(self) -> None:
        """Cut short a pacing wait from another thread (the grabber's stop)."""
        self._interrupt.set()

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._is_open = False

    def _open_video(self) -> cv2.VideoCapture:
        try:
            video = cv2.VideoCapture(str(self.path))
        except cv2.error as exc:
            raise SourceError(f"replay: cannot open video {self.path}: {exc}") from exc
        if not video.isOpened():
            video.release()
            raise SourceError(f"replay: cannot open video {self.path} (not a video OpenCV can decode)")
        return video

    def _next_image(self) -> npt.NDArray[np.uint8] | None:
        """The next decoded picture of this pass, or None at the end of the pass."""
        if self._files is None:
            assert self._video is not None
            ok, decoded = self._video.read()
            return decoded if ok and decoded is not None else None  # type: ignore[return-value]
        while self._position < len(self._files):
            path = self._files[self._position]
            image = _load_image(path)
            if image is not None:
                self._position += 1
                return image
            logger.warning("replay: skipping unreadable image %s", path)
            # Dropped from the list so a looping replay warns once, not every pass.
            del self._files[self._position]
        return None

    def _rewind(self) -> None:
        self._frames_this_pass = 0
        self._position = 0
        if self._files is None:
            # Reopening is the one rewind that works for every container;
            # seeking to frame 0 is unreliable for some codecs.
            if self._video is not None:
                self._video.release()
            self._video = self._open_video()

    def _pace(self) -> None:
        """Release frames at ``fps``; a late frame resets the clock instead of bursting."""
        if self.fps <= 0:
            return
        now = time.monotonic()
        if self._due is not None and self._due > now:
            self._interrupt.wait(self._due - now)
            now = time.monotonic()
        start = now if self._due is None else max(self._due, now)
        self._due = start + 1.0 / self.fps


def _load_image(path: Path) -> npt.NDArray[np.uint8] | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None  # type: ignore[return-value]
    except (OSError, cv2.error) as exc:
        logger.debug("replay: cannot read or decode %s: %s", path, exc)
        return None
