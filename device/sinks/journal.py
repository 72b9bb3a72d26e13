"""Readings into journald, with fields a user can filter on.

``journalctl -u digitcam DIGITCAM_ACCEPTED=1 -o json`` then gives the
readings without parsing messages. python3-systemd comes from apt on the Pi
(the service venv sees it through --system-site-packages); without it the
readings go to ``logging`` instead, which under systemd ends in the journal
too, only without the fields.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ..profiling import TOTAL
from ..reading import Reading
from .base import Sink

logger = logging.getLogger(__name__)


def journal_fields(reading: Reading) -> dict[str, str]:
    """The structured fields of one accepted reading (journald wants upper-case names)."""
    fields = {
        "SYSLOG_IDENTIFIER": "digitcam",
        "PRIORITY": "6",  # syslog's info: an accepted reading is news
        "DIGITCAM_TIMESTAMP": reading.timestamp,
        "DIGITCAM_TEXT": reading.text,
        "DIGITCAM_CONFIDENCE": f"{reading.confidence:.4f}",
        "DIGITCAM_DIGIT_CONFIDENCES": ",".join(f"{c:.4f}" for c in reading.digit_confidences),
        "DIGITCAM_ACCEPTED": "1",  # for filtering: the journal has accepted readings only
        "DIGITCAM_FRAME_ID": str(reading.frame_id),
        "DIGITCAM_MODEL_SHA256": reading.model_sha256,
    }
    if TOTAL in reading.latency_ms:
        fields["DIGITCAM_LATENCY_MS"] = f"{reading.latency_ms[TOTAL]:.2f}"
    for stage, ms in reading.latency_ms.items():
        if stage != TOTAL:
            fields[f"DIGITCAM_LATENCY_{stage.upper()}_MS"] = f"{ms:.2f}"
    return fields


class JournalSink(Sink):
    """One journal entry per accepted reading: every rejected frame would fill the
    journal, and the field log has them."""

    name = "journal"

    def __init__(self) -> None:
        self._send: Callable[..., Any] | None = None

    def start(self) -> None:
        try:
            # Imported here, not at module level: only a Pi with the apt
            # package has it, and nothing else should pay for the import.
            journal = importlib.import_module("systemd.journal")
        except ImportError:
            self._send = None
            logger.info("python3-systemd not importable; readings go to the log without "
                        "journal fields")
            return
        self._send = journal.send

    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        if not reading.accepted:
            return
        if self._send is not None:
            self._send(f"read {reading.text or '-'} conf {reading.confidence:.3f} frame {reading.frame_id}",
                       **journal_fields(reading))
            return
        logger.info("read %s conf %.3f frame %s accepted %s latency %s ms reason %s",
                    reading.text or "-", reading.confidence, reading.frame_id, reading.accepted,
                    reading.latency_ms.get(TOTAL, "-"), reading.reason or "-")

    def stop(self) -> None:
        self._send = None
