"""The capture layer on real files: replay of image folders and videos, the
OpenCV source, reconnection, latest-frame capture, SPEC parsing, the Y plane."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import pytest

from digitcam.device.capture.base import Frame, FrameSource, SourceError
from digitcam.device.capture.latest import LatestFrameGrabber
from digitcam.device.capture.opencv_source import OpenCVSource, redact_url
from digitcam.device.capture.picamera2_source import PICAMERA2_MISSING, Picamera2Source, y_plane
from digitcam.device.capture.replay import ReplaySource
from digitcam.device.capture.resilient import ResilientSource, SourceState
from digitcam.device.capture.spec import make_source
from digitcam.device.config import SourceConfig
from digitcam.device.errors import DigitcamError

H, W = 24, 32
S = TypeVar("S", bound=FrameSource)


@contextlib.contextmanager
def opened(source: S) -> Iterator[S]:
    """open() ... close(), as the grabber runs a source."""
    source.open()
    try:
        yield source
    finally:
        source.close()


def solid(value: int) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def write_pngs(folder: Path, values: list[int], names: list[str] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"frame{i:03d}.png" for i in range(len(values))]
    paths = []
    for name, value in zip(names, values, strict=True):
        assert cv2.imwrite(str(folder / name), solid(value))
        paths.append(folder / name)
    return paths


def write_video(path: Path, values: list[int], fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for value in values:
        writer.write(solid(value))
    writer.release()
    return path


def drain(source: FrameSource, limit: int = 1000) -> list[Frame]:
    frames = []
    for _ in range(limit):
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


def level(frame: Frame) -> int:
    return round(float(frame.image.mean()))


# ---- replay ----------------------------------------------------------------

def test_replay_folder_plays_images_in_name_order(tmp_path: Path) -> None:
    # Written out of order, with other files around, to show that the name decides.
    write_pngs(tmp_path / "rec", [30, 10, 20], ["c.png", "a.png", "b.bmp"])
    (tmp_path / "rec" / "notes.txt").write_text("not an image")
    (tmp_path / "rec" / "sub.png").mkdir()
    with opened(ReplaySource(tmp_path / "rec", fps=0)) as source:
        frames = drain(source)
        assert source.read() is None  # stays ended
    assert [level(f) for f in frames] == [10, 20, 30]
    assert [f.frame_id for f in frames] == [0, 1, 2]
    first = frames[0]
    assert first.image.shape == (H, W) and first.image.dtype == np.uint8


def test_replay_loop_keeps_frame_ids_increasing(tmp_path: Path) -> None:
    write_pngs(tmp_path, [10, 20, 30])
    with opened(ReplaySource(tmp_path, fps=0, loop=True)) as source:
        frames = [source.read() for _ in range(8)]
    assert all(f is not None for f in frames)
    assert [level(f) for f in frames if f] == [10, 20, 30, 10, 20, 30, 10, 20]
    assert [f.frame_id for f in frames if f] == list(range(8))


def test_replay_paces_frames_at_fps(tmp_path: Path) -> None:
    write_pngs(tmp_path, [10, 20, 30, 40])
    source = ReplaySource(tmp_path, fps=40)
    with opened(source):
        frames = drain(source)
    assert source.fps == 40
    assert [level(f) for f in frames] == [10, 20, 30, 40]
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)
    # Only a lower bound: a busy machine can make replay slower, never faster.
    assert stamps[-1] - stamps[0] >= 0.5 * 3 / 40
    assert ReplaySource(tmp_path).fps == 0  # the effective rate is known after open()
    with opened(ReplaySource(tmp_path)) as default:
        assert default.fps == 10  # folders default to 10 fps


def test_replay_skips_a_corrupt_image_and_warns_once(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    write_pngs(tmp_path, [10, 20, 30])
    (tmp_path / "frame001.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (tmp_path / "frame002b.jpg").write_bytes(b"")
    with (caplog.at_level(logging.WARNING),
          opened(ReplaySource(tmp_path, fps=0, loop=True)) as source):
        frames = [source.read() for _ in range(6)]
    assert [level(f) for f in frames if f] == [10, 30] * 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per bad file, not one per loop
    assert any("frame001.png" in w for w in warnings)


def test_replay_folder_of_only_unreadable_images_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"garbage")
    with (opened(ReplaySource(tmp_path, fps=0, loop=True)) as source,
          pytest.raises(SourceError, match="no readable")):
        source.read()


def test_replay_missing_path_or_empty_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        ReplaySource(tmp_path / "nope").open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        ReplaySource(tmp_path / "empty").open()


def test_replay_video_at_its_own_rate_and_looping(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", [20, 70, 120, 170, 220], fps=25)
    source = ReplaySource(video)
    source.open()
    assert source.fps == pytest.approx(25)
    source.close()

    with opened(ReplaySource(video, fps=0)) as source:
        frames = drain(source)
    levels = [level(f) for f in frames]
    assert len(frames) == 5 and levels == sorted(levels) and levels[0] < 40 < 200 < levels[-1]
    assert frames[0].image.shape == (H, W) and frames[0].image.flags.c_contiguous

    with opened(ReplaySource(video, fps=0, loop=True)) as source:
        looped = [source.read() for _ in range(12)]
    assert [f.frame_id for f in looped if f] == list(range(12))
    assert [level(f) for f in looped if f][5:10] == levels


def test_replay_a_file_that_is_not_a_video_is_a_source_error(tmp_path: Path) -> None:
    bogus = tmp_path / "clip.avi"
    bogus.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match=r"clip\.avi"):
        ReplaySource(bogus).open()


# ---- OpenCV source ----------------------------------------------------------

def test_opencv_source_reads_a_video_file_to_its_end(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", [40, 140, 240])
    with opened(OpenCVSource(str(video))) as source:
        frames = drain(source)
    assert [f.frame_id for f in frames] == [0, 1, 2]
    assert frames[0].image.shape == (H, W) and frames[0].image.dtype == np.uint8


def test_opencv_source_open_failures_name_the_device(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.mp4") as missing:
        OpenCVSource(str(tmp_path / "nope.mp4")).open()
    assert "\n" not in str(missing.value)
    with pytest.raises(SourceError, match="camera 97") as camera:
        OpenCVSource(97).open()
    assert "\n" not in str(camera.value)


def test_opencv_source_keeps_passwords_out_of_its_name() -> None:
    source = OpenCVSource("rtsp://admin:secret@10.0.0.5:554/stream1")
    assert "secret" not in source.name and "10.0.0.5:554/stream1" in source.name
    assert redact_url("http://cam.local/video") == "http://cam.local/video"


# ---- resilient wrapper --------------------------------------------------------

class FlakySource(FrameSource):
    """Fails to open while ``failures_left`` > 0 (each attempt uses one up),
    then delivers numbered frames; ``fail_after`` makes one read fail mid-stream."""

    def __init__(self, shared: dict[str, int]) -> None:
        self.shared = shared
        self.name = f"flaky#{shared['built']}"
        shared["built"] += 1
        self.next_id = 0

    def open(self) -> None:
        if self.shared["failures_left"] > 0:
            self.shared["failures_left"] -= 1
            raise SourceError("device unplugged")

    def read(self) -> Frame | None:
        if self.shared["fail_after"] == self.next_id:
            self.shared["fail_after"] = -1
            raise SourceError("stream dropped")
        if self.next_id >= self.shared["length"]:
            return None
        frame = Frame(np.full((4, 4), self.next_id, np.uint8), self.next_id, time.monotonic())
        self.next_id += 1
        return frame

    def close(self) -> None:
        self.shared["closed"] += 1


def flaky_factory(failures: int, length: int = 3,
                  fail_after: int = -1) -> tuple[dict[str, int], Callable[[], FrameSource]]:
    shared = {"failures_left": failures, "length": length, "fail_after": fail_after, "built": 0, "closed": 0}
    return shared, lambda: FlakySource(shared)


def test_resilient_recovers_from_a_source_that_fails_twice(caplog: pytest.LogCaptureFixture) -> None:
    shared, factory = flaky_factory(failures=2, length=3)
    states: list[tuple[SourceState, str]] = []
    source = ResilientSource(factory, backoff_initial=0.01, backoff_max=0.02,
                             on_state=lambda state, detail: states.append((state, detail)))
    with caplog.at_level(logging.DEBUG, logger="digitcam.device.capture.resilient"), opened(source):
        frames = drain(source)
    assert [f.frame_id for f in frames] == [0, 1, 2]
    assert shared["built"] == 3  # two failed attempts, then one that works
    lost = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lost) == 1 and "camera lost: device unplugged; retrying in 0.01s" in lost[0].getMessage()
    assert [s for s, _ in states] == [SourceState.LOST, SourceState.CONNECTED]


def test_resilient_reconnects_mid_stream_and_keeps_ids_increasing() -> None:
    shared, factory = flaky_factory(failures=0, length=3, fail_after=2)
    states: list[SourceState] = []
    source = ResilientSource(factory, backoff_initial=0.01,
                             on_state=lambda state, _detail: states.append(state))
    with opened(source):
        frames = drain(source)
    # Frames 0, 1 from the first device; the replacement starts again at its own 0.
    assert [int(f.image[0, 0]) for f in frames] == [0, 1, 0, 1, 2]
    assert [f.frame_id for f in frames] == [0, 1, 2, 3, 4]
    assert states == [SourceState.CONNECTED, SourceState.LOST, SourceState.CONNECTED]
    assert shared["closed"] >= 1


def test_resilient_stop_interrupts_the_backoff_sleep() -> None:
    _, factory = flaky_factory(failures=10**9)
    source = ResilientSource(factory, backoff_initial=30, backoff_max=60)
    source.open()  # fails, and does not raise: the outage is handled in read()
    result: list[Frame | None] = []
    reader = threading.Thread(target=lambda: result.append(source.read()))
    reader.start()
    time.sleep(0.05)
    source.stop()
    reader.join(timeout=5)
    assert not reader.is_alive() and result == [None]


def test_resilient_passes_the_end_of_a_finite_source_through(tmp_path: Path) -> None:
    write_pngs(tmp_path, [10, 20])
    with opened(ResilientSource(lambda: ReplaySource(tmp_path, fps=0))) as source:
        assert [level(f) for f in drain(source)] == [10, 20]
        assert source.read() is None


# ---- latest-frame grabber ------------------------------------------------------

def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_grabber_holds_only_the_newest_frame(tmp_path: Path) -> None:
    write_pngs(tmp_path, list(range(0, 200, 10)))  # 20 frames
    grabber = LatestFrameGrabber(ReplaySource(tmp_path, fps=0))
    grabber.start()
    try:
        wait_until(lambda: grabber.dropped == 19)  # nobody consumed: all but the last replaced
        assert not grabber.ended  # the newest is still pending
        newest = grabber.get(timeout=1)
        assert newest is not None and newest.frame_id == 19
        assert grabber.get(timeout=1) is None and grabber.ended
    finally:
        grabber.stop()


def test_grabber_with_a_slow_consumer_drops_but_never_reorders(tmp_path: Path) -> None:
    write_pngs(tmp_path, [i % 250 for i in range(40)])
    grabber = LatestFrameGrabber(ReplaySource(tmp_path, fps=0))
    grabber.start()
    got = []
    while (frame := grabber.get(timeout=5)) is not None:
        got.append(frame.frame_id)
        time.sleep(0.02)  # recognition slower than the camera
    assert grabber.ended
    grabber.stop()
    assert got == sorted(set(got)) and got[-1] == 39
    assert len(got) + grabber.dropped == 40 and grabber.dropped > 0


class StandIn(FrameSource):
    """Nothing to acquire or release: only ``read`` matters to these tests."""

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


class BlockingSource(StandIn):
    """A live camera that has not produced a frame yet; stop() releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def read(self) -> Frame | None:
        self.release.wait()
        return None

    def stop(self) -> None:
        self.release.set()


def test_grabber_timeout_is_not_the_end() -> None:
    source = BlockingSource()
    grabber = LatestFrameGrabber(source)
    grabber.start()
    assert grabber.get(timeout=0.05) is None and not grabber.ended
    grabber.stop()
    assert grabber.ended and grabber.get(timeout=0.05) is None


class BrokenSource(StandIn):
    def read(self) -> Frame | None:
        raise RuntimeError("driver bug")


def test_grabber_reports_an_exception_in_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    grabber = LatestFrameGrabber(BrokenSource())
    with caplog.at_level(logging.ERROR):
        grabber.start()
        assert grabber.get(timeout=5) is None
        assert grabber.ended
        grabber.stop()
    failures = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]
    assert len(failures) == 1  # logged with its traceback, not swallowed


# ---- SPEC parsing -----------------------------------------------------------------

def test_make_source_forms(tmp_path: Path) -> None:
    replay = make_source(SourceConfig(f"replay:{tmp_path}", fps=5, loop=True))
    assert isinstance(replay, ReplaySource) and replay.path == tmp_path and replay.loop
    camera = make_source(SourceConfig("opencv:0"))
    assert isinstance(camera, OpenCVSource) and camera.device == 0
    stream = make_source(SourceConfig("opencv:rtsp://cam.local:554/live"))
    assert isinstance(stream, OpenCVSource) and stream.device == "rtsp://cam.local:554/live"
    pi = make_source(SourceConfig("picamera2", fps=0, exposure_us=8000, gain=2.0, lens_position=4.0))
    assert isinstance(pi, Picamera2Source)
    assert pi.controls() == {"FrameDurationLimits": (33333, 33333), "ExposureTime": 8000, "AnalogueGain": 2.0,
                             "AfMode": 0, "LensPosition": 4.0}
    second = make_source(SourceConfig("picamera2:1"))
    assert isinstance(second, Picamera2Source) and second.camera_num == 1


@pytest.mark.parametrize("spec", ["", "replay", "replay:", "opencv:", "webcam:0", "picamera2:front",
                                  "/dev/video0"])
def test_make_source_rejects_bad_specs_in_one_line(spec: str) -> None:
    with pytest.raises(DigitcamError, match="replay:DIR_OR_VIDEO") as error:
        make_source(SourceConfig(spec))
    assert "\n" not in str(error.value) and "picamera2" in str(error.value)


# ---- picamera2 -------------------------------------------------------------------

def test_y_plane_cuts_row_padding_and_chroma() -> None:
    width, height, stride = 6, 4, 8
    luma = np.arange(width * height, dtype=np.uint8).reshape(height, width)
    padded = np.full((height, stride), 255, np.uint8)
    padded[:, :width] = luma
    chroma = np.full(stride * height // 2, 128, np.uint8)  # U and V planes follow Y
    buffer = np.concatenate([padded.reshape(-1), chroma])
    grey = y_plane(buffer, width, height, stride)
    assert grey.shape == (height, width) and grey.flags.c_contiguous
    np.testing.assert_array_equal(grey, luma)
    np.testing.assert_array_equal(y_plane(luma.reshape(-1), width, height, width), luma)  # no padding
    with pytest.raises(ValueError, match="stride"):
        y_plane(buffer, width, height, stride=4)
    with pytest.raises(ValueError, match="smaller"):
        y_plane(buffer[:10], width, height, stride)


def test_picamera2_missing_is_a_source_error_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on a machine without it
    with pytest.raises(SourceError) as error:
        Picamera2Source().open()
    assert str(error.value) == PICAMERA2_MISSING
    assert "sudo apt install python3-picamera2" in str(error.value)
    assert "--system-site-packages" in str(error.value)


def test_importing_the_capture_layer_does_not_import_picamera2() -> None:
    code = ("import sys, digitcam.device.capture.spec, digitcam.device.capture.latest, "
            "digitcam.device.capture.resilient; assert 'picamera2' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_picamera2_source_rejects_bad_controls() -> None:
    with pytest.raises(ValueError, match="colour_gains"):
        Picamera2Source(colour_gains=(1.5, 0.0))
    gains = Picamera2Source(colour_gains=(1.8, 1.4), framerate=10).controls()
    assert gains == {"FrameDurationLimits": (100000, 100000), "AfMode": 2, "AwbEnable": False,
                     "ColourGains": (1.8, 1.4)}
