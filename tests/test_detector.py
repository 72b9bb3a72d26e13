"""The learned strip detector: its bundle contract and what the shipped one finds."""

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cli

from digitcam.device import bundle, detector
from digitcam.device.errors import BundleError
from digitcam.device.geometry import box_quad

pytestmark = pytest.mark.tflite_runtime

FRAMES = Path(__file__).parent.parent / "device" / "samples" / "frames"


@pytest.fixture(scope="module")
def shipped() -> detector.StripDetector:
    return detector.StripDetector()


@pytest.fixture
def detector_copy(tmp_path: Path) -> Path:
    src = bundle.shipped(bundle.DetectorBundle)
    for suffix in (".json", ".tflite"):
        shutil.copy2(src.with_suffix(suffix), tmp_path / f"strips{suffix}")
    return tmp_path / "strips.json"


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two quadrilaterals on a 640x480 canvas."""
    ma, mb = np.zeros((480, 640), np.uint8), np.zeros((480, 640), np.uint8)
    cv2.fillPoly(ma, [np.int32(a)], 1)
    cv2.fillPoly(mb, [np.int32(b)], 1)
    return float((ma & mb).sum() / max(1, (ma | mb).sum()))


def test_shipped_detector_states_its_contract(shipped):
    meta = shipped.meta.bundle
    assert meta.to_dict()["format"] == bundle.DETECTOR_FORMAT and meta.quantization == bundle.INT8
    assert (meta.input.height, meta.input.width) == (240, 320)
    assert meta.output.stride * meta.output.width == meta.input.width
    assert meta.training and meta.metrics and meta.metrics["cell_recall"] > 0.5


def test_sample_frames_strips_are_found_and_empty_frames_give_nothing(shipped):
    """On the bundled frames (test-split scenes the detector never trained on) the
    strongest candidate lies on the labelled strip, and digit-free frames mostly
    give no candidate at all."""
    hits = total = quiet = empty = 0
    for row in csv.DictReader((FRAMES / "labels.csv").open()):
        grey = cv2.imread(str(FRAMES / row["file"]), cv2.IMREAD_GRAYSCALE)
        found = shipped.find(grey)
        if row["text"]:
            total += 1
            hits += bool(found) and overlap(found[0].quad, np.float32(json.loads(row["quad"]))) > 0.5
        else:
            empty += 1
            quiet += not found
    assert hits >= 0.9 * total, f"{hits} of {total} strips found"
    assert quiet >= 0.5 * empty, f"{quiet} of {empty} empty frames quiet"


def test_flat_and_tiny_frames_give_no_candidates(shipped):
    assert shipped.find(np.full((480, 640), 128, np.uint8)) == []
    assert shipped.find(np.zeros((4, 4), np.uint8)) == []
    assert shipped.find(np.zeros((480, 640, 3), np.uint8)) == []  # not grey: refused, not guessed


def test_candidates_come_back_in_frame_coordinates_at_any_frame_size(shipped):
    frame = cv2.imread(str(FRAMES / "printed-0000-0.jpg"), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(frame, (1280, 960))
    small, large = shipped.find(frame), shipped.find(big)
    assert small and large
    assert np.allclose(large[0].quad / 2, small[0].quad, atol=10)


@pytest.mark.parametrize("change, message", [
    ("sha", "sha256 mismatch"),
    ("format", "not a digitcam detector bundle"),
    ("shape", "output shape .* does not match metadata"),
    ("json", "unreadable"),
])
def test_damaged_detector_bundles_are_refused_with_one_line(detector_copy, change, message):
    meta = json.loads(detector_copy.read_text())
    if change == "sha":
        meta["sha256"] = "0" * 64
    elif change == "format":
        meta["format"] = "something-else"
    elif change == "shape":
        meta["output"]["width"] = 81
    detector_copy.write_text("{not json" if change == "json" else json.dumps(meta))
    with pytest.raises(BundleError, match=message) as err:
        detector.StripDetector(detector_copy)
    assert "\n" not in str(err.value)


def test_read_cli_names_a_broken_detector_and_exits_4(detector_copy):
    detector_copy.with_suffix(".tflite").write_bytes(b"garbage")
    result = run_cli("read", "--detector", str(detector_copy), str(FRAMES / "printed-0000-0.jpg"))
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "strips.tflite" in lines[0], result.stderr


def test_missing_detector_file_is_named(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        detector.StripDetector(tmp_path / "nothing.json")


def test_classical_finder_needs_no_detector():
    from digitcam.device.config import ModelConfig, RegionConfig
    from digitcam.device.pipeline import make_finder
    from digitcam.device.segment import ClassicalFinder

    # A detector path that does not exist: loading it would raise BundleError.
    region = RegionConfig(finder="classical", detector="/no/such/strips.json")
    assert isinstance(make_finder(region, ModelConfig()), ClassicalFinder)
    with pytest.raises(BundleError, match="not found"):
        make_finder(RegionConfig(detector="/no/such/strips.json"), ModelConfig())


def all_cell_corners(mask: np.ndarray, sx: float, sy: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    px = np.concatenate([xs, xs + 1, xs, xs + 1]).astype(np.float32) * sx
    py = np.concatenate([ys, ys, ys + 1, ys + 1]).astype(np.float32) * sy
    return np.column_stack((px, py))


@pytest.mark.parametrize("seed", range(40))
def test_row_extremes_span_the_same_box_as_every_cell_corner(seed):
    # The detector boxes a region of cells with the row ends only (a few dozen
    # points, not thousands); the box must be the one all its cell corners give.
    rng = np.random.default_rng(seed)
    canvas = np.zeros((60, 80), np.uint8)
    centre = (int(rng.integers(15, 65)), int(rng.integers(10, 50)))
    axes = (int(rng.integers(2, 30)), int(rng.integers(1, 8)))
    cv2.ellipse(canvas, centre, axes, float(rng.uniform(-25, 25)), 0, 360, 1, -1)
    canvas[rng.random(canvas.shape) < 0.03] ^= 1  # ragged edges, holes, specks
    _, labels, stats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=8)
    label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    bx, by, bw, bh = (int(v) for v in stats[label, :4])
    sx, sy = 8.0, 8.0
    fast = cv2.boxPoints(cv2.minAreaRect(detector._row_extremes(labels[by:by + bh, bx:bx + bw] == label,
                                                                 bx, by, sx, sy)))
    full = cv2.boxPoints(cv2.minAreaRect(all_cell_corners(labels == label, sx, sy)))
    assert len(detector._row_extremes(labels == label, 0, 0, sx, sy)) <= 4 * 60
    # The same rectangle, whichever corner the box starts at.
    assert min(np.abs(np.roll(fast, k, axis=0) - full).max() for k in range(4)) < 1e-2


def test_found_quads_on_the_sample_frames_are_unchanged_by_the_fast_box(shipped):
    checked = 0
    for path in sorted(FRAMES.glob("*.jpg"))[:30]:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        prob = shipped.probabilities(grey)
        _, labels, stats, _ = cv2.connectedComponentsWithStats((prob >= shipped.threshold).astype(np.uint8))
        sx, sy = grey.shape[1] / prob.shape[1], grey.shape[0] / prob.shape[0]
        by_area = [1 + int(i) for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])
                   if stats[1 + i, cv2.CC_STAT_AREA] >= detector.MIN_CELLS]
        found = shipped.find(grey)
        for cand in found:
            # Each found quad is the all-corners box of one of the regions.
            boxes = [box_quad(cv2.minAreaRect(all_cell_corners(labels == lab, sx, sy)))
                     for lab in by_area]
            assert any(np.abs(cand.quad - box).max() < 1e-2 for box in boxes), path.name
            checked += 1
    assert checked >= 15


def regions(*boxes: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Components' (x, y, w, h) boxes and areas as connectedComponentsWithStats gives them."""
    hot = np.zeros((60, 80), np.uint8)
    for x, y, w, h in boxes:
        hot[y:y + h, x:x + w] = 1
    count, _, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
    assert count == len(boxes) + 1
    return stats[:, :4], stats[:, cv2.CC_STAT_AREA]


def grouped(boxes, areas) -> set[frozenset[tuple[int, int]]]:
    lines = detector._text_lines(boxes, areas)
    return {frozenset((int(boxes[i][0]), int(boxes[i][1])) for i in line) for line in lines}


def test_glyph_regions_of_one_line_are_linked_into_one_strip():
    # A widely spaced "3 06": two regions 6 cells tall, 3 cells apart, one line.
    boxes, areas = regions((10, 20, 4, 6), (17, 20, 9, 6))
    assert grouped(boxes, areas) == {frozenset({(10, 20), (17, 20)})}


@pytest.mark.parametrize("second, why", [
    ((24, 20, 5, 6), "more than a height apart along the line"),
    ((16, 27, 5, 6), "on the next line, below"),
    ((16, 10, 5, 20), "over three times as tall"),
])
def test_regions_not_on_one_line_stay_apart(second, why):
    boxes, areas = regions((10, 20, 4, 6), second)
    assert len(detector._text_lines(boxes, areas)) == 2, why


def small_in_frame(grey: np.ndarray, shrink: float) -> np.ndarray:
    """A frame as a phone photo of a whole meter shows its counter: the scene ``shrink``
    times smaller, in a 640x480 frame of its own background."""
    small = cv2.resize(grey, None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640), int(np.median(grey)), np.uint8)
    y, x = (480 - small.shape[0]) // 3, (640 - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas


def test_the_closer_look_reads_strips_seen_small_that_the_first_look_misses():
    """The bundled frames at 1/2.5 of their size: the detector's cells are as wide as the
    digits there. Reading its regions again closer (region.zoom) reads more of them right
    (15 against 8 of 48 when written; 20 with the deeper looks of session 31), and never fewer."""
    from digitcam.device.config import config_from
    from digitcam.device.pipeline import build_pipeline

    rows = [r for r in csv.DictReader((FRAMES / "labels.csv").open()) if r["text"]]
    frames = [small_in_frame(cv2.imread(str(FRAMES / r["file"]), cv2.IMREAD_GRAYSCALE), 2.5) for r in rows]
    right = {}
    for zoom in (False, True):
        reader = build_pipeline(config_from({"region": {"track_every": 0, "zoom": zoom}}, "test")).reader
        assert (reader.zoom is not None) == zoom
        right[zoom] = sum(reader.read(frame).text == r["text"] for frame, r in zip(frames, rows, strict=True))
    assert right[True] >= right[False] + 4, right


def test_the_closer_look_returns_frame_coordinates_on_the_strip(shipped):
    zoom = detector.ZoomFinder(shipped)
    rows = csv.DictReader((FRAMES / "labels.csv").open())
    row = next(r for r in rows if r["file"] == "printed-0000-0.jpg")
    grey = cv2.imread(str(FRAMES / row["file"]), cv2.IMREAD_GRAYSCALE)
    frame = small_in_frame(grey, 2.0)
    truth = np.float32(json.loads(row["quad"])) / 2 + np.float32([(640 - 320) // 2, (480 - 240) // 3])
    first = [c.quad for c in shipped.find(frame)]
    closer = zoom.around(frame, first)
    assert closer and max(overlap(group[0], truth) for group in closer) > 0.5


def test_the_closer_look_keeps_the_detectors_aspect_and_skips_specks(shipped):
    zoom = detector.ZoomFinder(shipped)
    box = zoom._window(box_quad(((320, 240), (100, 20), 0)), 640, 480)
    assert box is not None
    x0, y0, x1, y1 = box
    assert abs((x1 - x0) / (y1 - y0) - 320 / 240) < 0.05  # not clipped here: the detector's 4:3
    assert x0 <= 270 and x1 >= 370  # the region and its margin
    assert zoom._window(box_quad(((320, 240), (6, 4), 0)), 640, 480) is None  # a speck
    assert zoom.around(np.full((480, 640), 128, np.uint8), []) == []


def test_the_cuts_for_a_counter_line_trim_each_region_and_band_those_of_two_lines(shipped):
    # Every region's tight crop is cut in by ZOOM_TRIM of its height at both ends (a meter's 'V'
    # and 'm³'); a region under ZOOM_BAND_ASPECT times wider than tall (a five-digit counter alone
    # is 4-6) is also cut into bands of half its looser crop's height, stepped by a quarter.
    zoom = detector.ZoomFinder(shipped)
    one_line = [box_quad(((320, 240), (200, 40), 0))] * 2
    two_lines = [box_quad(((320, 240), (150, 60), 0)), box_quad(((320, 240), (180, 80), 0))]
    trimmed_one, trimmed_two, bands = zoom.line_cuts([one_line, two_lines])
    assert len(trimmed_one) == 1 and np.ptp(trimmed_one[0][:, 0]) == pytest.approx(200 - 2 * 0.4 * 40)
    assert np.ptp(trimmed_two[0][:, 1]) == pytest.approx(60)  # as tall as the tight crop
    assert len(bands) == 3
    heights = [float(np.ptp(q[:, 1])) for q in bands]
    assert np.allclose(heights, 40.0)  # half of the looser crop's 80
    assert [round(float(q[0, 1])) for q in bands] == [200, 220, 240]


def test_the_closer_look_skips_a_view_no_narrower_than_the_frame(shipped, monkeypatch):
    # A region as large as the frame would be seen again as it was: the detector is not run.
    zoom = detector.ZoomFinder(shipped)
    grey = cv2.imread(str(FRAMES / "printed-0000-0.jpg"), cv2.IMREAD_GRAYSCALE)
    assert zoom.around(grey, [box_quad(((320, 240), (100, 40), 0))])  # its strip, seen closer
    runs = []
    monkeypatch.setattr(shipped, "find", lambda image: runs.append(image.shape) or [])
    assert zoom.around(grey, [box_quad(((320, 240), (600, 300), 0))]) == [] and not runs


def test_the_closer_look_looks_again_inside_what_it_found_up_to_its_depth(shipped, monkeypatch):
    # Each look runs the detector inside the last look's regions, so the views narrow; it stops
    # at ZOOM_DEPTH looks, and a look's regions are its strongest ZOOM_REGIONS.
    grey = cv2.imread(str(FRAMES / "printed-0000-0.jpg"), cv2.IMREAD_GRAYSCALE)
    zoom = detector.ZoomFinder(shipped)
    views: list[tuple[int, ...]] = []
    find = shipped.find
    monkeypatch.setattr(shipped, "find", lambda image: views.append(image.shape) or find(image))
    first = [c.quad for c in find(grey)]
    zoom.around(grey, first)
    assert len(views) > len(first), "no second look"
    assert len(views) <= len(first) + detector.ZOOM_REGIONS * (detector.ZOOM_DEPTH - 1)
    areas = [h * w for h, w in views]
    assert min(areas[len(first):]) < min(areas[:len(first)]), "the later looks are no closer"
    monkeypatch.setattr(detector, "ZOOM_DEPTH", 1)
    views.clear()
    zoom.around(grey, first)
    assert len(views) == len(first)
