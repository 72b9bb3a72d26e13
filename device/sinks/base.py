"""The ``Sink`` seam: every publisher gets the same ``Reading``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..reading import Reading


class Sink:
    name = "sink"

    def start(self) -> None:
        """Open files, sockets, databases."""

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        """Deliver one reading (accepted or rejected). ``frame`` is the grey
        frame it came from, for sinks that draw; may be None."""

    def stop(self) -> None:
        """Flush and close; safe to call twice."""
