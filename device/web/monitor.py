"""The daemon's handle on the status page and /metrics.

A ``Sink`` (readings arrive like at any other publisher, so ``Fanout`` starts,
isolates and stops it) plus two hooks the daemon calls itself: ``frame()`` for
every frame, readable or not, and ``source_state()`` for the camera. The web
settings are fixed at start; a SIGHUP reload moves the region, not the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..capture.resilient import SourceState
from ..errors import DigitcamError
from ..fieldlog import LOG_NAME
from ..frame_reader import FrameResult
from ..reading import Reading, utc_now
from ..region_file import region_file
from ..sinks.base import Sink
from ..stabilise import Verdict
from ..value import display, number
from .history import value_history
from .live import LiveState
from .metrics import Metrics
from .roi import BadRect, can_write, checked_region, write_region
from .server import StatusServer

if TYPE_CHECKING:
    from ..daemon import Daemon

logger = logging.getLogger(__name__)


class WebMonitor(Sink):
    name = "web"

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon  # read at each request: a reload replaces its config
        config = daemon.config
        self.settings = config.web
        self.fieldlog_path = config.state_path(LOG_NAME) if config.fieldlog.enabled else None
        self.live = LiveState(self.settings.history)
        self.metrics = Metrics(self.fieldlog_path)
        self.server = StatusServer(self, self.settings.bind, self.settings.port, self.settings.user,
                                   self.settings.password)
        self.camera_connected = False

    # -- lifecycle (Fanout) -----------------------------------------------------
    def start(self) -> None:
        self.server.start()
        logger.info("status page on %s (metrics at %smetrics)", self.server.url, self.server.url)

    def stop(self) -> None:
        self.server.stop()

    # -- the pipeline thread: cheap -----------------------------------------------
    def publish(self, reading: Reading, frame: npt.NDArray[np.uint8] | None = None) -> None:
        self.live.reading(reading)
        if reading.accepted:
            self.metrics.accepted(number(reading.text, self.daemon.config.output.decimals), time.time())

    def frame(self, image: npt.NDArray[np.uint8], frame_id: int, result: FrameResult, verdict: Verdict,
              stage_ms: Mapping[str, float]) -> None:
        self.live.frame(image, frame_id, result, verdict.accepted, verdict.reason)
        self.metrics.frame(stage_ms, verdict.accepted, verdict.reason)

    def source_state(self, state: SourceState) -> None:
        self.camera_connected = state is SourceState.CONNECTED
        self.metrics.source_state(state)

    # -- the server thread --------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        profile = self.daemon.profile
        for _ in range(3):
            try:
                return profile.summary()
            except RuntimeError:  # the pipeline added a stage while we iterated; read again
                continue
        return {"frames": 0, "frames_total": 0, "fps": 0.0, "total": {}, "stages": {}}

    def roi_state(self) -> dict[str, Any]:
        """Whether the ROI helper can save, and into which file (see region_file)."""
        path = self.daemon.config_path
        why, target = "", ""
        if not self.settings.roi_helper:
            why = "the ROI helper is off (web.roi_helper = false)"
        elif path is None:
            why = "the daemon runs on built-in defaults; start it with --config FILE to save a region"
        elif can_write(path):
            target = str(path)
        elif can_write(self.state_file()):
            target = str(self.state_file())
        else:
            why = (f"neither {path} nor {self.state_file().parent} is writable by the daemon; "
                   "copy the region into [region] yourself")
        return {"enabled": not why, "why": why, "config": target}

    def state_file(self) -> Path:
        return region_file(self.daemon.config)

    def status(self) -> dict[str, Any]:
        config = self.daemon.config
        latest = self.live.latest
        last = self.live.last_accepted
        region = config.region
        out = config.output
        return {
            "time": utc_now(),
            "frames": self.daemon.frames,
            "camera": {"connected": self.camera_connected, "problem": self.daemon.source_problem},
            # The value as MQTT and the console show it (output.decimals, output.unit);
            # the readings themselves keep the digits as read, like the field log.
            "value": display(last.text, out.decimals, out.unit) if last else None,
            "last_accepted": last.to_dict() if last else None,
            "recent": self.live.readings(),
            "frame": latest.summary() if latest else None,
            "latency": self.latency(),
            "region": {"mode": region.mode, "rect": list(region.rect),
                       "quad": [list(p) for p in region.quad]},
            "roi": self.roi_state(),
            "plot_hours": self.settings.plot_hours,
        }

    def history(self) -> dict[str, Any]:
        if self.fieldlog_path is None:
            return {"points": [], "hours": self.settings.plot_hours, "error": "the field log is off"}
        out = self.daemon.config.output
        return value_history(self.fieldlog_path, self.settings.plot_hours, self.settings.plot_points,
                             out.decimals, out.unit)

    def save_region(self, mode: str, shape: Any) -> dict[str, Any]:
        """The ROI helper's POST: ``mode`` "rect" ([x, y, w, h]) or "quad" (four [x, y] corners)."""
        corners = checked_region(mode, shape)
        if mode == "rect":  # [x, y, w, h]: its two outer corners
            x, y, w, h = corners
            corners = [[x, y], [x + w, y + h]]
        latest = self.live.latest
        if latest is not None:
            height, width = latest.image.shape[:2]
            if any(px > width or py > height for px, py in corners):
                raise BadRect(f"{mode} {shape} reaches outside the {width}x{height} frame")
        state = self.roi_state()
        if not state["enabled"]:
            raise DigitcamError(state["why"])
        assert self.daemon.config_path is not None
        config, written = write_region(self.daemon.config_path, mode, shape, self.state_file())
        self.daemon.request_reload()
        region = config.region
        saved = list(region.rect) if mode == "rect" else [list(p) for p in region.quad]
        return {"ok": True, "mode": mode, mode: saved, "config": str(written)}
