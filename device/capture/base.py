"""The ``FrameSource`` seam. A headless stand-in (replay) is a first-class
source, not a test hack."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass
class Frame:
    image: npt.NDArray[np.uint8]  # grey HxW uint8: what recognition reads
    frame_id: int  # increasing per source, from 0
    timestamp: float  # time.monotonic() when the frame was captured


class SourceError(Exception):
    """The source cannot deliver frames now (unplugged, stream dropped, bad path)."""


class FrameSource(ABC):
    """Open, read frames until None (end of a finite source), close."""

    name = "source"

    @abstractmethod
    def open(self) -> None:
        """Acquire the device or file; raise SourceError with a one-line reason."""

    @abstractmethod
    def read(self) -> Frame | None:
        """Block until the next frame; None at the end of a finite source.
        Raise SourceError when the source fails mid-stream."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice."""
