"""The publish side: fan-out that survives failing sinks, the field log sink,
snapshots on disk, the console line and the journal fields."""

from __future__ import annotations

import importlib.util
import io
import logging
import threading
import time

import cv2
import numpy as np
import pytest

from digitcam.device import fieldlog
from digitcam.device.config import FieldLogConfig
from digitcam.device.errors import DigitcamError
from digitcam.device.fieldlog import FieldLog, log_path
from digitcam.device.reading import Reading
from digitcam.device.sinks.base import Sink
from digitcam.device.sinks.console import ConsoleSink
from digitcam.device.sinks.fanout import Fanout
from digitcam.device.sinks.fieldlog_sink import FieldLogSink
from digitcam.device.sinks.journal import JournalSink, journal_fields
from digitcam.device.sinks.snapshot import SnapshotSink, kept_name


def reading(i: int = 0, *, accepted: bool = True, confidence: float = 0.95, text: str = "31415",
            total: float | None = 42.5) -> Reading:
    return Reading(
        timestamp=f"2026-05-01T12:00:{i % 60:02d}.{i % 1000:03d}Z", text=text, confidence=confidence,
        digit_confidences=(confidence,) * len(text),
        quad=((40.0, 60.0), (280.0, 62.0), (279.0, 120.0), (41.0, 118.0)), frame_id=i,
        accepted=accepted, reason="" if accepted else "below the confidence floor",
        latency_ms={"infer": 30.0, "total": total} if total is not None else {}, model_sha256="cd" * 32)


def frame(seed: int = 0) -> np.ndarray:
    """A grey 320x240 frame with texture, so PNGs have a realistic size."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (240, 320), dtype=np.uint8)
    cv2.putText(image, "31415", (50, 110), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 255, 4)
    return image


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder(Sink):
    """A sink that remembers what it was asked to do."""

    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.readings: list[Reading] = []

    def start(self) -> None:
        self.journal.append(f"start {self.name}")

    def publish(self, reading: Reading, frame: np.ndarray | None = None) -> None:
        self.readings.append(reading)

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


class Broken(Recorder):
    def publish(self, reading: Reading, frame: np.ndarray | None = None) -> None:
        if reading.frame_id < 1000:
            raise OSError(28, "No space left on device")
        super().publish(reading, frame)


# -- fan-out -------------------------------------------------------------------------


def test_fanout_keeps_publishing_when_a_sink_raises_and_logs_sparingly(caplog):
    events: list[str] = []
    clock = FakeClock()
    broken, after = Broken("broken", events), Recorder("after", events)
    fanout = Fanout([broken, after], clock=clock)  # a failing sink is logged once a minute
    fanout.start()
    with caplog.at_level(logging.INFO, logger="digitcam.device.sinks.fanout"):
        for i in range(100):
            fanout.publish(reading(i), frame())
            clock.now += 0.1
        assert len(after.readings) == 100  # the sink after the broken one got everything
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and warnings[0].exc_info is not None
        assert "sink broken failed: [Errno 28] No space left on device" in warnings[0].getMessage()

        clock.now += 60.0
        fanout.publish(reading(100))
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2 and "failed 100 time(s) in the last" in warnings[1].getMessage()

        fanout.publish(reading(1000))  # works again: said once
        fanout.publish(reading(1001))
        recovered = [r.getMessage() for r in caplog.records if "working again" in r.getMessage()]
        assert recovered == ["sink broken is working again (101 failure(s) so far)"]
    fanout.stop()


def test_fanout_starts_in_order_stops_in_reverse_and_runs_without_a_sink_that_cannot_start(
        tmp_path, caplog, monkeypatch):
    events: list[str] = []
    monkeypatch.setattr(fieldlog, "MIN_FREE_MB", 1e12)
    unopenable = FieldLogSink(log_path(tmp_path), FieldLogConfig())
    sinks = [Recorder("a", events), unopenable, Recorder("b", events)]
    fanout = Fanout(sinks)
    with caplog.at_level(logging.ERROR):
        fanout.start()
    assert [s.name for s in fanout.active] == ["a", "b"]
    assert any(r.getMessage().startswith("sink fieldlog disabled, running without it")
               and "disk full" in r.getMessage() for r in caplog.records)
    fanout.publish(reading(1))
    fanout.stop()
    fanout.stop()
    assert events == ["start a", "start b", "stop b", "stop a"]


# -- field log sink --------------------------------------------------------------------


def test_fieldlog_sink_commits_in_the_background_and_on_stop(tmp_path):
    path = log_path(tmp_path)
    sink = FieldLogSink(path, FieldLogConfig(commit_interval_s=0.1))
    sink.start()
    for i in range(5):
        sink.publish(reading(i, accepted=i != 2), frame())
    deadline = time.monotonic() + 5
    with FieldLog(path, readonly=True) as reader:
        while time.monotonic() < deadline and len(reader.tail(100)) < 5:
            time.sleep(0.05)
        assert len(reader.tail(100)) == 5  # committed by the thread, no flush() from us
    for i in range(5, 8):
        sink.publish(reading(i))
    sink.stop()  # commits the last batch at once
    sink.stop()
    with FieldLog(path, readonly=True) as reader:
        rows = reader.tail(100)
    assert [r.reading.frame_id for r in rows] == list(range(8))
    assert [r.reading.accepted for r in rows].count(False) == 1


# -- snapshot ------------------------------------------------------------------------------


def test_snapshot_is_a_valid_annotated_image_written_atomically(tmp_path):
    target = tmp_path / "www" / "latest.jpg"
    sink = SnapshotSink(target, min_interval_s=0.0)
    sink.start()
    grey = frame()
    before = grey.copy()
    sink.publish(reading(1), grey)
    image = cv2.imread(str(target))
    assert image is not None and image.shape == (240, 320, 3)
    assert np.array_equal(grey, before)  # drew on a copy
    # Colour where the outline and the label are: the grey frame had none.
    _, g, r = (image[..., c].astype(int) for c in range(3))
    assert (np.abs(g - r) > 60).sum() > 200
    assert target.stat().st_mode & 0o777 == 0o644

    # A reader polling the file while it is rewritten never sees a partial image.
    stop, bad, reads = threading.Event(), [], [0]

    def poll() -> None:
        while not stop.is_set():
            data = np.fromfile(target, dtype=np.uint8)
            if cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is None:
                bad.append(len(data))
            reads[0] += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for i in range(40):
            sink.publish(reading(i, accepted=i % 2 == 0), frame(i))
    finally:
        stop.set()
        reader.join()
    assert bad == [] and reads[0] > 0
    assert [p.name for p in target.parent.iterdir()] == ["latest.jpg"]  # no temp files left


def test_snapshot_is_rate_limited_and_skips_missing_frames(tmp_path):
    clock = FakeClock()
    target = tmp_path / "latest.png"
    sink = SnapshotSink(target, min_interval_s=1.0, clock=clock)
    sink.start()
    sink.publish(reading(0), None)
    assert not target.exists()
    contents = []
    for n, step in enumerate((0.0, 0.3, 0.6, 0.9, 1.0, 1.5, 2.0)):
        clock.now = 1000.0 + step
        sink.publish(reading(n), frame(n))  # a different frame each time
        contents.append(target.read_bytes())
    # Written at 0.0, 1.0 and 2.0 only.
    assert [len(set(contents[:i])) for i in (4, 5, 6, 7)] == [1, 2, 2, 3]
    assert cv2.imread(str(target), cv2.IMREAD_UNCHANGED).shape == (240, 320, 3)


def test_snapshot_refuses_an_unknown_format(tmp_path):
    with pytest.raises(DigitcamError, match=r"\.jpg, \.jpeg or \.png"):
        SnapshotSink(tmp_path / "latest.gif")


def test_kept_frames_are_named_and_stay_within_their_budget(tmp_path):
    clock = FakeClock()
    keep = tmp_path / "doubtful"
    one_png = len(cv2.imencode(".png", frame())[1])
    budget_mb = 3.5 * one_png / 1e6  # room for three frames
    sink = SnapshotSink(tmp_path / "latest.jpg", keep_dir=keep, keep_max_mb=budget_mb, clock=clock)
    sink.start()
    sink.publish(reading(0, confidence=0.99), frame())  # confident and accepted: not kept
    assert list(keep.iterdir()) == []
    for i in range(1, 9):
        clock.now += 1.0
        doubtful = reading(i, confidence=0.5) if i % 2 else reading(i, accepted=False, text="31?15")
        sink.publish(doubtful, frame(i))
    clock.now += 0.5
    sink.publish(reading(99, confidence=0.1), frame())  # too soon after the last one
    names = sorted(p.name for p in keep.iterdir())
    # Eight kept, the oldest five deleted for the budget.
    assert names == ["20260501T120006006Z_6_3115.png", "20260501T120007007Z_7_31415.png",
                     "20260501T120008008Z_8_3115.png"]
    assert sum(p.stat().st_size for p in keep.iterdir()) <= budget_mb * 1e6
    kept = cv2.imread(str(keep / names[-1]), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(kept, frame(8))  # the raw frame, for labelling

    # A restart counts what earlier runs kept.
    again = SnapshotSink(tmp_path / "latest.jpg", keep_dir=keep, keep_max_mb=1.5 * one_png / 1e6)
    again.start()
    assert sorted(p.name for p in keep.iterdir()) == names[-1:]
    assert kept_name(reading(5, text="")) == "20260501T120005005Z_5_.png"


# -- console ---------------------------------------------------------------------------------


def test_console_prints_one_line_per_accepted_reading_when_not_a_tty():
    out = io.StringIO()  # not a TTY
    sink = ConsoleSink(out)
    sink.start()
    sink.publish(reading(1), frame())
    sink.publish(reading(2, accepted=False), frame())
    sink.publish(reading(3, total=None, text=""), frame())
    sink.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("2026-05-01T12:00:01.001Z  31415  conf 0.950")
    assert lines[0].endswith("42.5 ms")
    assert "fps" in lines[1] and "ms" not in lines[1] and "  -  " in lines[1]


def test_console_rewrites_one_line_on_a_tty(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    clock = FakeClock()
    sink = ConsoleSink(out, tty=True, clock=clock)
    sink.publish(reading(1, text="31415926", accepted=False), frame())
    clock.now += 0.5
    sink.publish(reading(2, text="7"), frame())
    sink.stop()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    first, second = text.rstrip("\n").split("\r")[1:]
    assert first == "12:00:01  31415926  conf 0.950  42.5 ms  rejected: below the confidence floor"
    # Padded with blanks over the longer line before it.
    assert second == "12:00:02  7  conf 0.950  2.0 fps  42.5 ms".ljust(len(first))


# -- journal -------------------------------------------------------------------------------


def test_journal_fields_carry_the_reading():
    fields = journal_fields(reading(7))  # the sink sends accepted readings only
    assert fields["DIGITCAM_TEXT"] == "31415"
    assert fields["DIGITCAM_CONFIDENCE"] == "0.9500"
    assert fields["DIGITCAM_ACCEPTED"] == "1"
    assert fields["DIGITCAM_FRAME_ID"] == "7"
    assert fields["DIGITCAM_LATENCY_MS"] == "42.50"
    assert fields["DIGITCAM_LATENCY_INFER_MS"] == "30.00"
    assert fields["PRIORITY"] == "6"
    assert all(key == key.upper() and isinstance(value, str) for key, value in fields.items())


def test_journal_sink_falls_back_to_logging_without_python3_systemd(caplog):
    if importlib.util.find_spec("systemd") and importlib.util.find_spec("systemd.journal"):
        pytest.skip("python3-systemd is installed: readings go to journald itself")
    sink = JournalSink()
    with caplog.at_level(logging.INFO, logger="digitcam.device.sinks.journal"):
        sink.start()
        sink.publish(reading(3), frame())
        sink.publish(reading(4, accepted=False), frame())  # accepted only by default
        sink.stop()
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("read ")]
    assert messages == ["read 31415 conf 0.950 frame 3 accepted True latency 42.5 ms reason -"]
