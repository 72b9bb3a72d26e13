"""Whole meter photos labelled with the window's corners and readings (trainer import-windows).

Photos are drawn here: a tilted light window with dark digits on a noisy face, its
corners written clockwise from the top left as the public layout has them."""

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PIL")  # the trainer extra

from conftest import run_cli

from digitcam.trainer.window_import import accepted_digits, import_windows, parse_window_label


def draw_photo(path: Path, text: str, angle: float, seed: int) -> np.ndarray:
    """A 320×240 photo with ``text`` in a 160×40 window turned by ``angle``; its corners."""
    rng = np.random.default_rng(seed)
    window = np.full((40, 160, 3), 235, np.uint8)
    cv2.putText(window, text, (8, 33), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    photo = rng.integers(40, 120, (240, 320, 3)).astype(np.uint8)
    src = np.float32([[0, 0], [160, 0], [160, 40], [0, 40]])
    turn = cv2.getRotationMatrix2D((0, 0), angle, 1.0)
    corners = (src @ turn[:, :2].T + np.float32([80, 100])).astype(np.float32)
    warp = cv2.getPerspectiveTransform(src, corners)
    face = cv2.warpPerspective(window, warp, (320, 240))
    mask = cv2.warpPerspective(np.full((40, 160), 255, np.uint8), warp, (320, 240)) > 0
    photo[mask] = face[mask]
    cv2.imwrite(str(path), photo)
    return corners


@pytest.fixture()
def labelled(tmp_path):
    images, labels = tmp_path / "imgs", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for n, (text, readings, angle) in enumerate([("00141", "00141", -20.0), ("00069", "00069 00070", 0.0),
                                                  ("12345", "12345", 30.0)], 1):
        corners = draw_photo(images / f"train_{n}.jpg", text, angle, n)
        numbers = " ".join(str(round(float(v))) for v in corners.ravel())
        (labels / f"train_{n}.txt").write_text(f"{numbers} {readings}\n")
    cv2.imwrite(str(images / "train_4.jpg"), np.zeros((10, 10, 3), np.uint8))
    (labels / "train_4.txt").write_text("1 2 3 4 5 6 7 8 00470.00479\n")  # the layout's one bad label
    cv2.imwrite(str(images / "test_1.jpg"), np.zeros((10, 10, 3), np.uint8))  # no label file
    return labels, images


def test_labels_give_corners_and_what_each_digit_may_read():
    corners, readings = parse_window_label("331 710 549 708 550 760 331 760 00069 00070 00060 00079")
    assert corners.shape == (4, 2) and corners[2].tolist() == [550.0, 760.0]
    assert accepted_digits(readings) == "0|0|0|67|09"
    assert parse_window_label("1 2 3 4 5 6 7 8 00470.00479") is None
    assert parse_window_label("1 2 3 4 5 6 7 8 123 1234") is None  # readings of two lengths
    assert parse_window_label("1 2 3 00141") is None


def test_windows_are_squared_up_and_labelled_and_photos_kept_whole(labelled, tmp_path):
    labels, images = labelled
    summary = import_windows(labels, images, tmp_path / "windows", tmp_path / "photos", kind="wm")
    assert summary["photos"] == 3
    assert summary["skipped"] == {"label not corners and readings": 1, "no label file": 1}
    rows = list(csv.DictReader((tmp_path / "windows" / "labels.csv").open()))
    assert [(r["text"], r["accept"], r["kind"]) for r in rows] == [
        ("00141", "0|0|1|4|1", "wm-window"), ("00069", "0|0|0|67|09", "wm-window"),
        ("12345", "1|2|3|4|5", "wm-window")]
    for row in rows:
        window = cv2.imread(str(tmp_path / "windows" / row["file"]), cv2.IMREAD_GRAYSCALE)
        assert window.shape[0] == 64 and 240 <= window.shape[1] <= 270  # 160×40 squared up: 4:1
        # Upright and filled by the light window: the dark digits sit in its middle rows.
        assert window.mean() > 150 and window[20:44].mean() < window[:6].mean()
    photos = list(csv.DictReader((tmp_path / "photos" / "labels.csv").open()))
    assert [p["kind"] for p in photos] == ["wm-photo"] * 3
    assert all((tmp_path / "photos" / p["file"]).stat().st_size > 1000 for p in photos)


def test_a_missing_folder_is_a_one_line_error(tmp_path):
    result = run_cli("trainer", "import-windows", str(tmp_path / "nope"), str(tmp_path),
                     str(tmp_path / "out"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "nope: not a folder" in result.stderr
