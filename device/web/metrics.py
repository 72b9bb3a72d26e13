"""The daemon's Prometheus metrics, in a registry of its own.

A private ``CollectorRegistry`` (not the library's global one) so that two
daemons in one test process, or an import elsewhere, cannot collide; it still
carries the process collector, so RSS and CPU time are scraped too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from ..capture.resilient import SourceState

# Stage latencies run from ~0.1 ms (decode) to ~100 ms (a slow Pi frame); seconds, as Prometheus wants.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5)

# The stabiliser's reasons carry numbers and text ("low confidence 0.41 < 0.60"); a label
# must come from a fixed set, or every distinct value would be a new time series.
REJECTION_KINDS = (
    ("no digits", "no_digits"),
    ("low confidence", "low_confidence"),
    ("expected ", "digit_count"),
    ("no agreement", "no_agreement"),
    ("not a whole number", "not_a_number"),
    ("decrease", "decrease"),
    ("rate ", "rate"),
    ("unchanged", "unchanged"),
)


def rejection_kind(reason: str) -> str:
    """The bounded label for a stabiliser's rejection reason; "other" if unknown."""
    for prefix, kind in REJECTION_KINDS:
        if reason.startswith(prefix):
            return kind
    return "other"


def files_bytes(*paths: Path) -> float:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):  # no log yet, or no WAL right now
            total += path.stat().st_size
    return float(total)


class Metrics:
    """Counters fed by the daemon's per-frame hook and by its source's state changes.

    Per-frame updates are a few lock-protected float additions (microseconds);
    the exposition text is built only when /metrics is scraped.
    """

    def __init__(self, fieldlog_path: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.frames = Counter("digitcam_frames", "Frames processed", registry=r)
        self.readings = Counter("digitcam_readings", "Readings the stabiliser accepted", registry=r)
        self.rejections = Counter("digitcam_rejections", "Frames the stabiliser rejected, by reason",
                                  ["reason"], registry=r)
        self.latency = Histogram("digitcam_stage_latency_seconds", "Per-frame latency of each stage",
                                 ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.reconnects = Counter("digitcam_camera_reconnects",
                                  "Times the camera came back after being lost", registry=r)
        self.camera_up = Gauge("digitcam_camera_connected", "1 while the camera delivers frames",
                               registry=r)
        self.last_value = Gauge("digitcam_last_value", "The last accepted value (output.decimals applied)",
                                registry=r)
        self.last_time = Gauge("digitcam_last_accepted_timestamp_seconds",
                               "Unix time of the last accepted reading", registry=r)
        self.fieldlog = Gauge("digitcam_fieldlog_bytes", "Size of the field log and its WAL on disk",
                              registry=r)
        if fieldlog_path is not None:
            wal = fieldlog_path.with_name(fieldlog_path.name + "-wal")
            self.fieldlog.set_function(lambda: files_bytes(fieldlog_path, wal))
        # Children resolved once: .labels() per frame would hash the label values each time.
        self._stage: dict[str, Callable[[float], None]] = {}
        self._reason: dict[str, Counter] = {}
        self._lost = False

    def frame(self, stage_ms: Mapping[str, float], accepted: bool, reason: str) -> None:
        self.frames.inc()
        for stage, ms in stage_ms.items():
            observe = self._stage.get(stage)
            if observe is None:
                observe = self._stage[stage] = self.latency.labels(stage).observe
            observe(ms / 1000.0)
        if not accepted:
            kind = rejection_kind(reason)
            child = self._reason.get(kind)
            if child is None:
                child = self._reason[kind] = self.rejections.labels(kind)
            child.inc()

    def accepted(self, value: float | None, unix_time: float) -> None:
        """One accepted reading; ``value`` is the published number (output.decimals
        applied), None when the text is not digits (the counter still moves)."""
        self.readings.inc()
        self.last_time.set(unix_time)
        if value is not None:
            self.last_value.set(value)

    def source_state(self, state: SourceState) -> None:
        if state is SourceState.LOST:
            self._lost = True
            self.camera_up.set(0)
            return
        if self._lost:  # the first connection is not a reconnect
            self.reconnects.inc()
            self._lost = False
        self.camera_up.set(1)
