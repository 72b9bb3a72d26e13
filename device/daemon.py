"""The device daemon: capture → segment → infer → decode → stabilise → publish.

``start()`` reads top to bottom: sinks, model, the saved previous value,
source, READY=1. The loop pings the watchdog per frame; SIGTERM stops it and
``stop()`` undoes ``start()`` in reverse, flushing the field log and saving the
previous value; SIGHUP reloads the config and the model without touching the
sinks, so the log is never dropped.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from .capture import spec
from .capture.latest import LatestFrameGrabber
from .capture.resilient import ResilientSource, SourceState
from .config import Config
from .errors import DigitcamError
from .frame_reader import FrameReader, FrameResult
from .notify import Notifier
from .pipeline import build_pipeline
from .preprocess import silence_opencv
from .previous_value import PreviousValueStore
from .profiling import CAPTURE_WAIT, PUBLISH, TOTAL, LatencyProfile
from .reading import Reading, utc_now
from .recognizer import Recognizer
from .region_file import load_daemon_config
from .sinks.archive import ArchiveSink
from .sinks.base import Sink
from .sinks.console import ConsoleSink
from .sinks.fanout import Fanout
from .sinks.fieldlog_sink import FieldLogSink
from .sinks.journal import JournalSink
from .sinks.snapshot import SnapshotSink
from .stabilise import Stabiliser
from .value import BadValue, parse_user_value

if TYPE_CHECKING:
    from .web.monitor import WebMonitor

logger = logging.getLogger(__name__)

FRAME_WAIT_S = 1.0  # a stalled camera still lets the loop ping the watchdog
REQUEST_POLL_S = 1.0  # how often the loop looks for a set-value request file


def build_sinks(config: Config, on_set_value: Callable[[str], None] | None = None) -> list[Sink]:
    sinks: list[Sink] = []
    if config.fieldlog.enabled:
        sinks.append(FieldLogSink(config.state_path("fieldlog.sqlite3"), config.fieldlog))
    if config.snapshot.enabled:
        snap = config.snapshot
        keep = config.state_path(snap.keep_dir) if snap.keep_rejected else None
        sinks.append(SnapshotSink(config.state_path(snap.path), min_interval_s=snap.interval_s,
                                  keep_dir=keep, keep_max_mb=snap.keep_max_mb))
    if config.archive.mode != "off":
        sinks.append(ArchiveSink(config.state_path(config.archive.dir), config.archive))
    if config.console.enabled:
        sinks.append(ConsoleSink(decimals=config.output.decimals, unit=config.output.unit))
    if config.journal.enabled:
        sinks.append(JournalSink())
    if config.mqtt.enabled:
        try:
            from .sinks import mqtt  # paho-mqtt is imported by this module only
        except ImportError as exc:
            logger.error("sink mqtt disabled, running without it: paho-mqtt is not installed (%s)", exc)
        else:
            sinks.append(mqtt.MqttSink(config, on_set_value))
    return sinks


class Daemon:
    def __init__(self, config: Config, config_path: Path | None = None,
                 max_frames: int = 0) -> None:
        self.config = config
        self.config_path = config_path
        self.max_frames = max_frames  # 0: run until stopped or the source ends
        self.notifier = Notifier()
        self.profile = LatencyProfile(config.profiling.window, config.profiling.summary_interval_s)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.sinks: Fanout | None = None
        self.recognizer: Recognizer | None = None
        self.reader: FrameReader | None = None
        self.stabiliser: Stabiliser | None = None
        self.source: ResilientSource | None = None
        self.grabber: LatestFrameGrabber | None = None
        self.web: WebMonitor | None = None  # the status page and /metrics, when enabled
        self.frames = 0
        self.last_accepted: Reading | None = None
        self.source_problem = ""  # why the camera is lost; "" while it delivers
        self.previous_store: PreviousValueStore | None = None
        self._set_requests: queue.SimpleQueue[str] = queue.SimpleQueue()  # from the MQTT thread
        self._next_request_poll = 0.0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.init_web()
        self.init_sinks()
        self.init_model()
        self.init_previous_value()
        self.init_source()
        self.notifier.ready(f"reading with model {self.recognizer.sha256[:12] if self.recognizer else '?'}")
        logger.info("ready: source %s, region %s, model %s", self.config.source.spec,
                    self.config.region.mode, self.recognizer.meta.tflite_path if self.recognizer else "?")

    def init_web(self) -> None:
        if self.config.web.enabled:
            from .web.monitor import WebMonitor  # prometheus_client is imported only when asked for

            self.web = WebMonitor(self)  # a sink: Fanout starts (listens), isolates and stops it

    def init_sinks(self) -> None:
        Path(self.config.state_dir).mkdir(parents=True, exist_ok=True)
        self.sinks = Fanout([*build_sinks(self.config, self.request_set_value),
                             *([self.web] if self.web else [])])
        self.sinks.start()

    def init_model(self) -> None:
        built = build_pipeline(self.config)
        self.recognizer, self.reader, self.stabiliser = built.recognizer, built.reader, built.stabiliser
        logger.info("model %s (%s) loaded in %.1f ms with %s", self.recognizer.meta.tflite_path.name,
                    self.recognizer.sha256[:12], self.recognizer.load_ms, self.recognizer.runtime)

    def init_previous_value(self) -> None:
        """The counter rules start from the value saved by the last run, or from a
        ``set-value`` request left while the daemon was not running."""
        assert self.stabiliser is not None
        self.previous_store = PreviousValueStore(Path(self.config.state_dir))
        previous = self.previous_store.load()
        if previous is not None:
            self.stabiliser.restore(previous)
            how = "set by the user" if previous.origin == "set" else "accepted"
            logger.info("previous value %s from the last run (%s %.0f s ago)", previous.text, how,
                        previous.age_s)
        self.apply_set_requests(force_poll=True)

    def request_set_value(self, given: str) -> None:
        """Thread-safe (MQTT's): the value as a user types it, as raw digits for the loop."""
        try:
            raw = parse_user_value(given, self.config.output.decimals, self.config.stabiliser.expected_digits)
        except BadValue as exc:
            logger.warning("set-value from mqtt refused: %s", exc)
            return
        self._set_requests.put(raw)

    def apply_set_requests(self, force_poll: bool = False) -> None:
        """Apply pending ``set-value`` requests (MQTT, and the request file once a second)."""
        assert self.stabiliser is not None and self.previous_store is not None
        given: list[tuple[str, str]] = []
        while not self._set_requests.empty():
            given.append((self._set_requests.get_nowait(), "mqtt"))
        now = time.monotonic()
        if force_poll or now >= self._next_request_poll:
            self._next_request_poll = now + REQUEST_POLL_S
            request = self.previous_store.take_request()
            if request is not None:
                given.append((request, "set-value"))
        for raw, origin in given:
            self.stabiliser.set_previous(raw)
            logger.info("previous value set to %s by %s", raw, origin)
            self.previous_store.note(self.stabiliser.previous(), force=True)

    def init_source(self) -> None:
        source_cfg = self.config.source
        silence_opencv()  # a bad replay image is our one warning, not libpng's three lines
        self.source = ResilientSource(lambda: spec.make_source(source_cfg), on_state=self._source_state)
        # fps 0, which only a replay may have (spec.problem): every frame read, none dropped.
        self.grabber = LatestFrameGrabber(self.source, lossless=source_cfg.fps == 0)
        self.grabber.start()

    def stop(self) -> None:
        self.notifier.stopping()
        if self.grabber is not None:
            self.grabber.stop()
            self.grabber = None
        if self.source is not None:
            self.source.close()
            self.source = None
        if self.sinks is not None:
            self.sinks.stop()  # flushes the field log
            self.sinks = None
        if self.previous_store is not None and self.stabiliser is not None:
            self.previous_store.note(self.stabiliser.previous(), force=True)
        logger.info("stopped after %d frames", self.frames)
        if self.profile.frames:
            # One line: the journal splits a multi-line message into entries without a
            # priority, and `device run --summary` prints the table for people.
            logger.info("latency at stop: %s", self.profile.one_line())

    def install_signal_handlers(self) -> None:
        def on_term(signum: int, _frame: FrameType | None) -> None:
            logger.info("signal %d: stopping", signum)
            self._stop.set()
            if self.source is not None:
                self.source.stop()  # cut a reconnect backoff short

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, lambda _signum, _frame: self.request_reload())

    def request_reload(self) -> None:
        """What SIGHUP does, for the status page's ROI helper (any thread)."""
        self._reload.set()

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            self.apply_set_requests()
            assert self.grabber is not None
            waited = time.monotonic()
            frame = self.grabber.get(timeout=FRAME_WAIT_S)
            wait_ms = (time.monotonic() - waited) * 1000.0
            if frame is None:
                if self.grabber.ended:
                    logger.info("the source has ended")
                    break
                self.notifier.watchdog()
                self.notifier.status(f"camera lost: {self.source_problem}; retrying"
                                     if self.source_problem else "waiting for frames")
                continue
            self.process(frame.image, frame.frame_id, wait_ms)
            if self.max_frames and self.frames >= self.max_frames:
                break

    def process(self, image: object, frame_id: int, wait_ms: float = 0.0) -> FrameResult:
        assert self.reader is not None and self.stabiliser is not None and self.recognizer is not None
        result = self.reader.read(image)  # type: ignore[arg-type]
        verdict = self.stabiliser.offer(result.text, result.confidence)
        if self.previous_store is not None:  # writes only on a change, at most every few seconds
            self.previous_store.note(self.stabiliser.previous())
        publish_ms = 0.0
        # Empty frames are not readings; "unchanged" repeats of an accepted value are
        # not news. Everything else, accepted or rejected with its reason, is published.
        if result.text and (verdict.accepted or not verdict.reason.startswith("unchanged")):
            started = time.monotonic()
            reading = Reading.of(result, frame_id, verdict.accepted, verdict.reason,
                                 self.recognizer.sha256, utc_now())
            if self.sinks is not None:
                self.sinks.publish(reading, image)  # type: ignore[arg-type]
            if verdict.accepted:
                self.last_accepted = reading
            else:
                logger.debug("rejected %s: %s", result.text, verdict.reason)
            publish_ms = (time.monotonic() - started) * 1000.0
        now = time.monotonic()
        stages = {CAPTURE_WAIT: wait_ms, **result.latency_ms, PUBLISH: publish_ms,
                  TOTAL: result.latency_ms[TOTAL] + publish_ms}
        self.profile.record(stages, now)
        if self.web is not None:
            self.web.frame(image, frame_id, result, verdict, stages)  # type: ignore[arg-type]
        self.frames += 1
        self.notifier.watchdog()
        if self.notifier.status_due():  # the line needs percentiles: not worth it every frame
            last = self.last_accepted
            shown = f"{last.text} ({last.confidence:.2f}) at {last.timestamp}" if last else "no reading yet"
            self.notifier.status(f"{shown}; {self.profile.one_line()}")
        self.profile.log_summary_if_due(now)
        return result

    def _source_state(self, state: SourceState, detail: str) -> None:
        # Called from the capture thread; the loop turns it into STATUS= lines.
        self.source_problem = detail if state is SourceState.LOST else ""
        if self.web is not None:
            self.web.source_state(state)

    # ------------------------------------------------------------ reload
    def reload(self) -> None:
        """Re-read the config and the model; on any error keep running as before."""
        self.notifier.reloading()
        try:
            config = load_daemon_config(self.config_path) if self.config_path else self.config
            pipeline = build_pipeline(config)
        except DigitcamError as exc:
            logger.error("reload failed, keeping the running config and model: %s", exc)
            self.notifier.ready()
            return
        source_changed = config.source != self.config.source
        self.config, self.recognizer, self.reader = config, pipeline.recognizer, pipeline.reader
        previous = self.stabiliser.previous() if self.stabiliser is not None else None
        self.stabiliser = pipeline.stabiliser
        if previous is not None:  # new rules, same meter, same run
            self.stabiliser.restore(previous, same_run=True)
        if source_changed:
            if self.grabber is not None:
                self.grabber.stop()
            self.init_source()
        logger.info("reloaded config and model %s", pipeline.recognizer.sha256[:12])
        self.notifier.ready()


def run_daemon(config_path: Path | None, max_frames: int = 0, summary: TextIO | None = None) -> int:
    # The config, with the region the status page saved in the state dir (region_file).
    config = load_daemon_config(config_path) if config_path else Config()
    daemon = Daemon(config, config_path, max_frames)
    daemon.install_signal_handlers()
    try:
        daemon.start()
        daemon.run()
    finally:
        daemon.stop()
        if summary is not None and daemon.profile.frames:
            print(f"\nlatency per frame (ms), {daemon.frames} frames:\n{daemon.profile.table()}",
                  file=summary)
    return 0

