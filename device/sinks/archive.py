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

from ..config import ArchiveConfig
from ..geometry import rectify
from ..reading import Reading
from .base import Sink
from .kept import KeptFolder
from .snapshot import encode, kept_name

INDEX = "index.jsonl"


class ArchiveSink(Sink):
    name = "archive"

    def __init__(self, folder: str | os.PathLike[str], config: ArchiveConfig) -> None:
        self.folder = Path(folder)
        self.config = config
        self._kept = KeptFolder(self.folder, int(config.max_mb * 1e6))
        self._seen = 0

    def start(self) -> None:
        self._kept.scan()

    def wants(self, reading: Reading) -> bool:
        self._seen += 1
        cfg = self.config
        if cfg.mode == "sample":
            return (self._seen - 1) % cfg.sample_every == 0  # the 1st, then every sample_every-th
        if cfg.mode == "low-confidence":
            return not reading.accepted or reading.confidence < cfg.below_confidence
        return cfg.mode == "all"

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
