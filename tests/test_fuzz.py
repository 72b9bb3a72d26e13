"""Whatever a camera, a driver or a user hands the pipeline, it answers and does not raise.

Frames of every odd size, dtype and channel count go through the real reader
(``FrameReader`` over the real ``Recognizer`` and bundle) and through the
daemon's own ``Daemon.process()`` with real sinks; broken image files go
through the real ``digitcam read``. Inputs come from a fixed-seed generator,
so a failure names a case that reproduces.
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.tflite_runtime

FRAMES = ROOT / "device" / "samples" / "frames"
Builder = Callable[[np.random.Generator], np.ndarray]


def noise(shape: tuple[int, ...], dtype: Any = np.uint8) -> Builder:
    def build(rng: np.random.Generator) -> np.ndarray:
        if np.dtype(dtype) == np.bool_:
            return rng.random(shape) > 0.5
        if np.issubdtype(dtype, np.floating):
            return (rng.random(shape) * 255.0).astype(dtype)
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)

    return build


def constant(shape: tuple[int, ...], value: Any, dtype: Any = np.uint8) -> Builder:
    return lambda rng: np.full(shape, value, dtype)


def nan_inf(rng: np.random.Generator) -> np.ndarray:
    image = (rng.random((120, 160, 3)) * 255.0).astype(np.float32)
    image.flat[rng.integers(0, image.size, 4000)] = np.nan
    image.flat[rng.integers(0, image.size, 2000)] = np.inf
    image.flat[rng.integers(0, image.size, 2000)] = -np.inf
    return image


VGA = (480, 640)
# name -> (builder, blank): a blank frame (black, white, noise) must read as "" in auto mode.
CASES: dict[str, tuple[Builder, bool]] = {
    # sizes
    "1x1": (noise((1, 1)), False),
    "1x1x3": (noise((1, 1, 3)), False),
    "1xN": (noise((1, 640)), False),
    "Nx1": (noise((480, 1)), False),
    "1xNx3": (noise((1, 640, 3)), False),
    "2x2x4": (noise((2, 2, 4)), False),
    "3000x4000-noise": (noise((3000, 4000)), True),
    "0x0": (constant((0, 0), 0), False),
    "0x5": (constant((0, 5), 0), False),
    "5x0": (constant((5, 0), 0), False),
    # dimensions and channels
    "0-d": (lambda rng: np.array(7, np.uint8), False),
    "1-d": (noise((640,)), False),
    "4-d": (noise((1, 48, 64, 3)), False),
    "HxWx1": (noise((*VGA, 1)), True),
    "HxWx2-bad": (noise((*VGA, 2)), False),
    "HxWx5-bad": (noise((*VGA, 5)), False),
    # dtypes (noise over each dtype's whole range)
    "uint8-noise": (noise(VGA), True),
    "uint8x3-noise": (noise((*VGA, 3)), True),
    "uint8x4-noise": (noise((*VGA, 4)), True),
    "uint16-noise": (noise(VGA, np.uint16), True),
    "int8-noise": (noise(VGA, np.int8), False),
    "int32-noise": (noise(VGA, np.int32), False),
    "int64-noise": (noise((120, 160), np.int64), False),
    "uint32-noise": (noise((120, 160), np.uint32), False),
    "float16-noise": (noise((120, 160), np.float16), False),
    "float32-noise": (noise(VGA, np.float32), True),
    "float32x3-unit": (lambda rng: rng.random((*VGA, 3)).astype(np.float32), True),
    "float64x4-unit": (lambda rng: rng.random((120, 160, 4)), False),
    "float32-nan-inf": (nan_inf, False),
    "float32-all-nan": (constant((120, 160), np.nan, np.float32), False),
    "float32-all-inf": (constant((120, 160), np.inf, np.float32), False),
    "float32-all-neg-inf": (constant((120, 160), -np.inf, np.float32), False),
    "float64-huge": (constant((120, 160), 1e300, np.float64), False),
    "bool-noise": (noise(VGA, np.bool_), False),
    # layouts
    "strided": (lambda rng: noise((*VGA, 3))(rng)[::3, ::2], True),
    "transposed": (lambda rng: noise((640, 480))(rng).T, True),
    "flipped": (lambda rng: noise((*VGA, 3))(rng)[::-1, ::-1], True),
    "read-only": (lambda rng: _read_only(noise((*VGA, 3))(rng)), True),
    # blank scenes
    "black": (constant((*VGA, 3), 0), True),
    "white": (constant((*VGA, 3), 255), True),
    "grey": (constant(VGA, 128), True),
    "black-float32": (constant(VGA, 0.0, np.float32), True),
    "white-float32": (constant(VGA, 1.0, np.float32), True),
    "white-uint16": (constant((*VGA, 3), 65535, np.uint16), True),
    "white-bool": (constant(VGA, True, np.bool_), True),
    "black-int32": (constant(VGA, 0, np.int32), True),
}
# Empty colour frames once raised cv2.error out of to_grey.
EMPTY_COLOUR = {"0x5x3": constant((0, 5, 3), 0), "5x0x3": constant((5, 0, 3), 0)}
# Under 128 px tall, so rectify() does not pre-blur (a taller region is tested below).
RECT = (100, 200, 440, 100)


def _read_only(image: np.ndarray) -> np.ndarray:
    image.setflags(write=False)
    return image


def frame(name: str, builder: Builder) -> np.ndarray:
    """The case's frame; seeded by its name, so any one case reproduces on its own."""
    return builder(np.random.default_rng(zlib.crc32(name.encode())))


def check(result: Any, image: np.ndarray, name: str) -> None:
    text = result.text
    assert isinstance(text, str) and (text == "" or (text.isascii() and text.isdigit())), (name, text)
    assert isinstance(result.confidence, float) and math.isfinite(result.confidence), name
    assert 0.0 <= result.confidence <= 1.0, (name, result.confidence)
    assert len(result.digit_confidences) == len(text), name
    assert all(0.0 <= c <= 1.0 for c in result.digit_confidences), (name, result.digit_confidences)
    assert all(math.isfinite(v) and v >= 0 for v in result.latency_ms.values()), (name, result.latency_ms)
    if text:
        quad = np.asarray(result.quad, np.float64)
        assert quad.shape == (4, 2) and np.isfinite(quad).all(), (name, result.quad)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bundle(shipped_bundle: Path) -> Path:
    """The shipped default bundle (conftest), which the daemon uses with no model.path."""
    if not shipped_bundle.is_file():
        pytest.fail(f"no model bundle at {shipped_bundle}")
    return shipped_bundle


@pytest.fixture(scope="module")
def readers(bundle: Path) -> dict[str, Any]:
    from digitcam.device.detector import LearnedFinder, StripDetector
    from digitcam.device.finder import FixedRegion
    from digitcam.device.frame_reader import FrameReader
    from digitcam.device.geometry import rect_quad
    from digitcam.device.recognizer import Recognizer
    from digitcam.device.segment import ClassicalFinder
    from digitcam.device.windows import WindowsFinder

    recognizer = Recognizer(bundle)
    learned = LearnedFinder(StripDetector())
    return {"auto": FrameReader(recognizer, learned, windows=WindowsFinder()),
            # The daemon's stream mode: the last confident quad is re-read between searches.
            "auto-tracking": FrameReader(recognizer, learned, windows=WindowsFinder(), track_every=3),
            "auto-classical": FrameReader(recognizer, ClassicalFinder(), windows=WindowsFinder()),
            "full": FrameReader(recognizer, FixedRegion()),
            "rect": FrameReader(recognizer, FixedRegion(rect_quad(*RECT)))}


@pytest.fixture
def daemon(tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The daemon's pipeline and real sinks, without a source: frames go in by hand.

    A fixed region is always read, so odd frames do reach the stabiliser and the
    sinks; k=2 rejects most of them, so the snapshot sink keeps them as PNGs too."""
    from digitcam.device.bundle import RecogniserBundle, shipped
    from digitcam.device.config import parse_config
    from digitcam.device.daemon import Daemon

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    model = "" if bundle == shipped(RecogniserBundle) else f'[model]\npath = "{bundle}"\n'
    config = parse_config(f"""\
state_dir = "{tmp_path / 'state'}"
[source]
spec = "replay:{FRAMES}"
[region]
mode = "rect"
rect = [{", ".join(map(str, RECT))}]
[stabiliser]
k = 2
n = 3
min_confidence = 0.0
emit = "every"
[fieldlog]
commit_interval_s = 0.1
[snapshot]
interval_s = 0.05
keep_rejected = true
[console]
enabled = false
[journal]
enabled = false
{model}""", "fuzz.toml")
    d = Daemon(config)
    d.init_sinks()
    d.init_model()
    yield d
    d.stop()


# ---------------------------------------------------------------- the reader


@pytest.mark.parametrize("mode", ["auto", "auto-tracking", "auto-classical", "full", "rect"])
@pytest.mark.parametrize("name", [
    *CASES, *EMPTY_COLOUR])
def test_frame_reader_never_raises(readers, mode, name):
    builder = CASES[name][0] if name in CASES else EMPTY_COLOUR[name]
    image = frame(name, builder)
    before = image.copy()
    result = readers[mode].read(image)
    check(result, image, name)
    assert np.array_equal(image, before, equal_nan=image.dtype.kind == "f"), "the frame was modified"


@pytest.mark.parametrize("name", [name for name, (_, blank) in CASES.items() if blank])
def test_blank_and_noise_frames_read_as_nothing(readers, name):
    result = readers["auto"].read(frame(name, CASES[name][0]))
    assert result.text == "", (name, result.text, result.confidence)
    assert result.digit_confidences == () and result.quad is None


def test_a_real_frame_still_reads_between_fuzzed_ones(readers):
    """The reader keeps no damage from odd frames: a sample frame reads the same before and after."""
    sample = cv2.imread(str(FRAMES / "printed-0000-0.jpg"))
    first = readers["auto"].read(sample)
    for name, (builder, _) in CASES.items():
        if name != "3000x4000-noise":
            readers["auto"].read(frame(name, builder))
    again = readers["auto"].read(sample)
    assert (again.text, again.confidence) == (first.text, first.confidence)


def test_a_tracking_reader_reads_a_real_frame_between_fuzzed_ones(readers):
    """Tracking state never carries an odd frame's size or content into the next read."""
    tracker = readers["auto-tracking"]
    sample = cv2.imread(str(FRAMES / "printed-0000-0.jpg"))
    first = readers["auto"].read(sample)
    for name, (builder, _) in CASES.items():
        if name != "3000x4000-noise":
            tracker.read(sample)
            check(tracker.read(frame(name, builder)), frame(name, builder), name)
    assert tracker.read(sample).text == first.text


# ---------------------------------------------------------------- the daemon's path


def test_daemon_process_never_raises_and_keeps_publishing(daemon):
    sample = cv2.imread(str(FRAMES / "printed-0000-0.jpg"))
    failures: list[str] = []
    frame_id = 0
    for name, (builder, _) in CASES.items():
        # A real frame between odd ones: the stabiliser and sinks see both kinds in turn.
        for image in (frame(name, builder), sample):
            try:
                check(daemon.process(image, frame_id), image, name)
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
            frame_id += 1
    assert failures == []
    assert daemon.frames == frame_id
    assert daemon.profile.frames == frame_id

    state = Path(daemon.config.state_dir)
    daemon.stop()  # flushes the field log
    daemon.sinks = None
    conn = sqlite3.connect(state / "fieldlog.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT text, confidence, frame_id FROM readings ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows, "nothing reached the field log"
    assert all(text.isdigit() and 0.0 <= conf <= 1.0 for text, conf, _ in rows)
    assert [f for _, _, f in rows] == sorted(f for _, _, f in rows)
    snapshot = cv2.imread(str(state / "snapshot.jpg"))
    assert snapshot is not None and snapshot.ndim == 3


def test_daemon_process_survives_an_empty_colour_frame(daemon):
    result = daemon.process(frame("0x5x3", EMPTY_COLOUR["0x5x3"]), 0)
    assert result.text == ""


@pytest.mark.parametrize("shape", [(1, 1), (100, 100), (480, 64)])
def test_a_tall_fixed_region_off_a_small_frame_reads_nothing(readers, shape):
    """A rect configured for 640x480 while the camera delivers smaller frames (a changed
    source.width/height, another camera): the region is off the frame, nothing is read."""
    from digitcam.device.finder import FixedRegion
    from digitcam.device.frame_reader import FrameReader
    from digitcam.device.geometry import rect_quad

    reader = FrameReader(readers["auto"].recognizer, FixedRegion(rect_quad(100, 150, 440, 180)))
    result = reader.read(np.full(shape, 200, np.uint8))
    check(result, np.empty(0), "off-frame")


# ---------------------------------------------------------------- broken files through the CLI


def test_read_reports_each_broken_file_in_one_line(tmp_path, bundle):
    from digitcam.device.bundle import RecogniserBundle, shipped

    rng = np.random.default_rng(1234)
    good = FRAMES / "printed-0000-0.jpg"
    jpeg = good.read_bytes()
    broken = {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "header-only.jpg": jpeg[:300],
        "empty.jpg": b"",
        "random.png": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "text.bmp": b"this is not a picture\n" * 20,
    }
    paths = []
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    missing = tmp_path / "missing.png"
    model = [] if bundle == shipped(RecogniserBundle) else ["--model", str(bundle)]

    result = run_cli("read", "--json", *model, str(paths[0]), str(good), *map(str, paths[1:]), str(missing),
                     timeout=120)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(paths) + 1, result.stderr
    for path, line in zip([*paths, missing], lines, strict=True):
        assert line.startswith(f"digitcam: {path}: "), line
    # The good file among them is still read.
    out = result.stdout.strip().splitlines()
    assert len(out) == 1 and str(good) in out[0]



def test_read_a_png_signature_with_junk_is_one_line(tmp_path, bundle):
    from digitcam.device.bundle import RecogniserBundle, shipped

    path = tmp_path / "png-magic-then-junk.png"
    junk = np.random.default_rng(1234).integers(0, 256, 500, np.uint8).tobytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + junk)
    model = [] if bundle == shipped(RecogniserBundle) else ["--model", str(bundle)]
    result = run_cli("read", *model, str(path), timeout=120)
    assert result.returncode == 3
    assert result.stderr == f"digitcam: {path}: not a readable image\n"
