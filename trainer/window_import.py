"""Whole photos of meters labelled with the counter window's corners and its reading.

The layout of iaoqian/water_meter_recognition's ``WaterMeterDataset``: one text file per
photo (``train_labels/labels/train_N.txt`` beside ``train_imgs/train_N.jpg``) holding the
window's four corners clockwise from the top left, then every reading the window allows
(``… 00069 00070 00060 00079``: two drums caught turning, each either digit).

``import_windows`` writes two folders that `digitcam read` and `trainer score` take as
they are: the windows cut out and squared up (``--roi full`` reads them: the recogniser
alone, on real strips, not composed ones) and the whole photos (the automatic region
reads them: the finder too). Each row's ``accept`` says per digit what is right there.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from digitcam.device.errors import DigitcamError
from digitcam.device.geometry import quad_height, quad_width

from .real import IMAGE_SUFFIXES, link_or_copy

WINDOW_HEIGHT = 64  # rows of a squared-up window; its width keeps the window's own aspect


def parse_window_label(text: str) -> tuple[np.ndarray, list[str]] | None:
    """The window's corners (4×2, clockwise from the top left) and its readings, or None
    for a label that is not that (too few numbers, readings of different lengths)."""
    parts = text.split()
    if len(parts) < 9:
        return None
    try:
        corners = np.array([float(v) for v in parts[:8]], np.float32).reshape(4, 2)
    except ValueError:
        return None
    readings = parts[8:]
    if not all(r.isdigit() for r in readings) or len({len(r) for r in readings}) != 1:
        return None
    return corners, readings


def accepted_digits(readings: list[str]) -> str:
    """``trainer score``'s accept field: per position the digits some reading has there."""
    return "|".join("".join(sorted({r[k] for r in readings})) for k in range(len(readings[0])))


def square_up(image: np.ndarray, corners: np.ndarray, height: int = WINDOW_HEIGHT) -> np.ndarray:
    """The window upright at ``height`` rows, in colour; unlike geometry.rectify (the device's
    cut, never enlarged) every window comes out the same height, small ones enlarged."""
    out_w = max(8, round(height * quad_width(corners) / max(quad_height(corners), 1.0)))
    target = np.float32([[0, 0], [out_w, 0], [out_w, height], [0, height]])
    warp = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(image, warp, (out_w, height), flags=cv2.INTER_AREA)


def import_windows(labels_dir: Path, images_dir: Path, windows_out: Path, photos_out: Path | None = None,
                   kind: str = "window") -> dict[str, object]:
    """Every labelled photo under ``images_dir`` whose label file (same stem, .txt) is in
    ``labels_dir``: its window squared up into ``windows_out``, and the photo itself
    (hard-linked where the file system allows) into ``photos_out`` if given."""
    for folder in (labels_dir, images_dir):
        if not folder.is_dir():
            raise DigitcamError(f"{folder}: not a folder")
    photos = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    skipped: Counter[str] = Counter()
    rows: list[tuple[str, str, str, str]] = []  # name, the photo's suffix, first reading, accept
    windows_out.mkdir(parents=True, exist_ok=True)
    if photos_out is not None:
        photos_out.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        label_file = labels_dir / f"{photo.stem}.txt"
        if not label_file.is_file():
            skipped["no label file"] += 1
            continue
        parsed = parse_window_label(label_file.read_text(errors="replace"))
        if parsed is None:
            skipped["label not corners and readings"] += 1
            continue
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if image is None:
            skipped["unreadable image"] += 1
            continue
        corners, readings = parsed
        name, suffix = f"{kind}-{photo.stem}", photo.suffix.lower()
        cv2.imwrite(str(windows_out / f"{name}.png"), square_up(image, corners))
        if photos_out is not None:
            link_or_copy(photo, photos_out / f"{name}{suffix}")
        rows.append((name, suffix, readings[0], accepted_digits(readings)))
    if not rows:
        raise DigitcamError(f"no labelled photos in {images_dir} (labels from {labels_dir})")
    outs = [(windows_out, "window")] + ([(photos_out, "photo")] if photos_out is not None else [])
    for out, what in outs:
        with (out / "labels.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "text", "kind", "accept"])
            for name, suffix, text, accept in rows:
                file = f"{name}.png" if what == "window" else f"{name}{suffix}"
                writer.writerow([file, text, f"{kind}-{what}", accept])
    return {"photos": len(rows), "skipped": dict(skipped), "windows": str(windows_out),
            "whole_photos": str(photos_out) if photos_out is not None else None}
