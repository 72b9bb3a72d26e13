"""What the status page shows right now: the latest frame and the recent readings.

The pipeline thread only swaps references here (the frame is never copied or
encoded per frame); the server thread reads them and encodes the JPEG on
request, once per new frame however many browsers ask.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..frame_reader import FrameResult
from ..reading import Reading
from ..sinks.snapshot import annotate, encode


@dataclass(frozen=True)
class LatestFrame:
    image: npt.NDArray[np.uint8]
    frame_id: int
    result: FrameResult
    accepted: bool
    reason: str

    def as_reading(self) -> Reading:
        """The frame's result in the shape ``annotate`` draws (not a published reading)."""
        # A repeat of the accepted value is only "rejected" as news; on the picture it is
        # the value in force, and drawing it red would tell the user something is wrong.
        agrees = self.accepted or self.reason.startswith("unchanged")
        return Reading.of(self.result, self.frame_id, agrees, "" if agrees else self.reason)

    def summary(self) -> dict[str, Any]:
        height, width = self.image.shape[:2]
        record = Reading.of(self.result, self.frame_id, self.accepted, self.reason).to_dict()
        return {"frame_id": self.frame_id, "width": int(width), "height": int(height),
                **{k: record[k] for k in ("text", "confidence", "accepted", "reason", "quad")}}


class LiveState:
    def __init__(self, history: int = 20, jpeg_quality: int = 80) -> None:
        self.jpeg_quality = jpeg_quality
        self.recent: deque[Reading] = deque(maxlen=history)  # newest last
        self.last_accepted: Reading | None = None
        self.latest: LatestFrame | None = None
        self._jpeg_lock = threading.Lock()
        self._jpeg: tuple[int, bytes] | None = None  # (frame id, JPEG) of the last encode

    # -- the pipeline thread: references only ---------------------------------
    def frame(self, image: npt.NDArray[np.uint8], frame_id: int, result: FrameResult, accepted: bool,
              reason: str) -> None:
        # One attribute store: a reader sees the old frame or the new one, never a mix.
        self.latest = LatestFrame(image, frame_id, result, accepted, reason)

    def reading(self, reading: Reading) -> None:
        self.recent.append(reading)
        if reading.accepted:
            self.last_accepted = reading

    # -- the server thread ----------------------------------------------------
    def jpeg(self) -> bytes | None:
        """The latest frame with the found strip drawn, as JPEG; None before the first frame."""
        latest = self.latest
        if latest is None:
            return None
        with self._jpeg_lock:
            if self._jpeg is not None and self._jpeg[0] == latest.frame_id:
                return self._jpeg[1]
            data = encode(annotate(latest.image, latest.as_reading()), ".jpg", self.jpeg_quality)
            self._jpeg = (latest.frame_id, data)
            return data

    def readings(self) -> list[dict[str, Any]]:
        """The recent readings, newest first."""
        return [r.to_dict() for r in reversed(list(self.recent))]
