"""The ``Sink`` seam: every publisher gets the same ``Reading``. ``publish`` is
the one job; ``start`` and ``stop`` do nothing unless a sink holds resources."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from ..reading import Reading


class Sink(ABC):
    name = "sink"

    def start(self) -> None:  # noqa: B027 (a deliberate do-nothing default)
        """Open files, sockets, databases; called once, by ``Fanout.start``."""

    @abstractmethod
    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        """Deliver one reading (accepted or rejected). ``frame`` is the grey
        frame it came from, for sinks that draw; may be None."""

    def stop(self) -> None:  # noqa: B027 (a deliberate do-nothing default)
        """Flush and close; safe to call twice."""
