"""Keep the strips the daemon read, for a person to label and the model to learn from.

Each kept strip is the region the recogniser read, cut again from the frame by the
reading's quadrilateral (only when it is kept, so the per-frame path pays nothing),
saved as a lossless PNG named ``TIME_FRAME_TEXT.png``, with one JSON line in
``index.jsonl`` saying what was read and how surely. ``digitcam label`` walks the
folder; ``digitcam trainer finetune --real`` trains on what it labelled.

What is kept: ``all`` readings, the ``low-confidence`` ones (below a floor, or
rejected by the stabiliser), or a ``sample`` (one in N). The folder has a disk
budget: the oldest strips go first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..geometry import rectify
from ..reading import Reading
from .base import Sink
from .kept import KeptFolder
from .snapshot import encode, kept_name

INDEX = "index.jsonl"


class ArchiveSink(Sink):
    name = "archive"

    def __init__(self, folder: str | os.PathLike[str], mode: str = "low-confidence",
                 below_confidence: float = 0.8, sample_every: int = 100,
                 max_mb: float = 200.0) -> None:
        self.folder = Path(folder)
        self.mode = mode
        self.below_confidence = below_confidence
        self.sample_every = max(1, sample_every)
        self._kept = KeptFolder(self.folder, int(max_mb * 1e6))
        self._seen = 0

    def start(self) -> None:
        self._kept.scan()

    def wants(self, reading: Reading) -> bool:
        self._seen += 1
        if self.mode == "all":
            return True
        if self.mode == "sample":
            return self._seen % self.sample_every == 1 or self.sample_every == 1
        if self.mode == "low-confidence":
            return not reading.accepted or reading.confidence < self.below_confidence
        return False

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        if frame is None or not reading.text or not self.wants(reading):
            return
        strip = frame if reading.quad is None else rectify(frame, np.asarray(reading.quad, np.float32))
        name = kept_name(reading)
        self._kept.write(name, encode(strip, ".png"))
        with (self.folder / INDEX).open("a") as index:
            index.write(json.dumps({"file": name, "text": reading.text,
                                    "confidence": reading.confidence, "accepted": reading.accepted,
                                    "reason": reading.reason, "timestamp": reading.timestamp,
                                    "model": reading.model_sha256[:12]}) + "\n")
