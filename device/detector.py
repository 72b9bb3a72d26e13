"""Find digit strips with the learned detector (trainer/detector.py).

One int8 invoke scores every 8x8-pixel cell of a 640x480 frame (the frame is
seen at 320x240) for "inside a digit strip"; connected regions of cells above
the threshold, linked into lines (a widely spaced face lights glyph by glyph),
become candidate quadrilaterals, strongest first. The bundle (``strips.tflite``
+ ``strips.json``) is checked like the recogniser's: sha256, shapes and dtype,
one line naming the file when anything disagrees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from .bundle import DetectorBundle, check_against_model, read
from .finder import Candidate, Finder
from .geometry import Quad, band, box_quad, expand, quad_height, quad_width
from .preprocess import GreyImage
from .runtime import Model

MIN_CELLS = 4  # smaller regions are specks, not a strip of digits
# How much of its height each detector quad is grown by (vertical, horizontal):
# the detector's cells already overshoot the strip, so a tight crop reads best,
# and a looser one catches what the tight one clipped. Tuned on dev scenes
# (trainer scenes --seed 9001), never on the measured set.
DETECTOR_CROPS = ((-0.05, 0.1), (0.12, 0.25))


class StripDetector:
    def __init__(self, model: str | Path | None = None, threads: int = 1,
                 runtime: str | None = None, max_candidates: int = 3) -> None:
        self.meta = read(model, DetectorBundle)
        self.threshold = float(self.meta.bundle.threshold)
        self.max_candidates = max_candidates
        self._model = Model(self.meta.tflite_path, threads, runtime)
        self.runtime, self.load_ms, self.info = self._model.runtime, self._model.load_ms, self._model.info
        output = self.meta.bundle.output
        check_against_model(self.meta, self._model.input, self._model.output,
                            [1, output.height, output.width, 1])
        self._batch = np.empty((1, self.meta.height, self.meta.width, 1), self._model.input["dtype"])

    def probabilities(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Per-cell strip probability (out_height, out_width) for a grey frame."""
        self._batch[0, :, :, 0] = cv2.resize(grey, (self.meta.width, self.meta.height),
                                             interpolation=cv2.INTER_AREA)
        return self._model.run(self._batch)[0, :, :, 0]

    def find(self, grey: npt.NDArray[np.uint8]) -> list[Candidate]:
        """Candidate strips in frame coordinates, most certain first."""
        if grey.ndim != 2 or min(grey.shape) < 8:
            return []
        h, w = grey.shape
        prob = self.probabilities(grey)
        hot = (prob >= self.threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
        if count <= 1:
            return []
        sx, sy = w / self.meta.bundle.output.width, h / self.meta.bundle.output.height
        found: list[Candidate] = []
        for group in _text_lines(stats[:, :4], stats[:, cv2.CC_STAT_AREA]):
            area = int(stats[group, cv2.CC_STAT_AREA].sum())
            if area < MIN_CELLS:
                continue
            bx, by = (int(v) for v in stats[group, :2].min(axis=0))
            bw = int((stats[group, 0] + stats[group, 2]).max()) - bx
            bh = int((stats[group, 1] + stats[group, 3]).max()) - by
            mask = np.isin(labels[by:by + bh, bx:bx + bw], group)
            rect = cv2.minAreaRect(_row_extremes(mask, bx, by, sx, sy))
            quad = box_quad(rect)
            mean_prob = float(prob[by:by + bh, bx:bx + bw][mask].mean())
            found.append(Candidate(quad, mean_prob * float(np.sqrt(area))))
        found.sort(key=lambda c: c.score, reverse=True)
        return found[: self.max_candidates]


# Regions of one line of digits closer than this share of their height are one strip.
# The detector's cells light up glyph by glyph, so a widely spaced face ("3 0 6" in
# DejaVu at 56 px) or a pump's LCD with gaps between its cells broke into regions
# that each read a part of the number ('06' and '3'); text detectors link characters
# into lines the same way. Measured on plain frames and dev scenes (BENCHMARKS.md).
LINE_GAP = 1.0
LINE_OVERLAP = 0.5  # of the shorter region's height, shared vertically
LINE_REGIONS = 12  # the largest regions considered for linking (the rest are specks)


def _text_lines(boxes: npt.NDArray[Any], areas: npt.NDArray[Any]
                ) -> list[list[int]]:
    """Component labels grouped into lines: regions of similar height that share most
    of their rows and lie within ``LINE_GAP`` heights of each other, largest first."""
    labels = [int(i) + 1 for i in np.argsort(-areas[1:])[:LINE_REGIONS]]
    parent = {i: i for i in labels}

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a_index, a in enumerate(labels):
        ax, ay, aw, ah = (int(v) for v in boxes[a])
        for b in labels[a_index + 1:]:
            bx, by, bw, bh = (int(v) for v in boxes[b])
            shorter, taller = min(ah, bh), max(ah, bh)
            overlap = min(ay + ah, by + bh) - max(ay, by)
            gap = max(ax, bx) - min(ax + aw, bx + bw)
            if taller <= 2 * shorter and overlap >= LINE_OVERLAP * shorter and gap <= LINE_GAP * taller:
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for i in labels:
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _row_extremes(mask: npt.NDArray[np.bool_], x0: int, y0: int, sx: float, sy: float
                  ) -> npt.NDArray[np.float32]:
    """The outer cell corners of each row of a component, in frame pixels.

    The box must cover the cells it came from (corners, not centres). Every
    corner of a row lies between that row's leftmost and rightmost corners, so
    these four points a row span the same convex hull, hence the same
    ``minAreaRect``, as all four corners of every cell: a few dozen points
    instead of thousands (0.33 ms of hull a frame for a wide strip, measured).
    """
    rows = np.flatnonzero(mask.any(axis=1))
    sub = mask[rows]
    left = sub.argmax(axis=1)
    right = sub.shape[1] - sub[:, ::-1].argmax(axis=1)  # one past the last cell
    ys = (rows + y0).astype(np.float32)
    xl, xr = (left + x0).astype(np.float32), (right + x0).astype(np.float32)
    px = np.concatenate([xl, xr, xl, xr]) * sx
    py = np.concatenate([ys, ys, ys + 1, ys + 1]) * sy
    return np.column_stack((px, py))


class LearnedFinder(Finder):
    """The detector's strips, each read at ``DETECTOR_CROPS``; a sure read ends the search."""

    stop_when_sure = True
    tracks = True

    def __init__(self, detector: StripDetector) -> None:
        self.detector = detector

    def find(self, grey: GreyImage) -> list[list[Quad]]:
        return [[expand(c.quad, v, h) for v, h in DETECTOR_CROPS] for c in self.detector.find(grey)]


# A region the detector found but the recogniser did not read 0.9 sure is looked at again,
# closer: the detector runs once more on the region and what is around it, which then fills
# its whole 320x240 input. A water meter's face in a phone photo is a small part of the
# frame; seen whole, the detector's cells are as wide as the counter's digits, and the
# counter, its 'V' and 'm3' and the serial number above it light up as one block that reads
# nothing. Closer, the counter's line stands apart (BENCHMARKS.md, session 30).
ZOOM_MARGIN = 0.25  # of the region's width and height, on every side
ZOOM_MIN_SIDE = 16  # pixels: a speck, nothing to look at closer
# A window larger than this share of the last view's area (the frame, for the first closer
# look) shows nothing new. It was 0.5 of the frame; but a portrait phone photo is squeezed into
# the detector's 4:3 input, its first regions are wide blocks, and at 0.5 the closer look
# skipped most of iaoqian's meters. A view only a little narrower, shifted onto the region,
# still frames it anew: iaoqian's dev photos read 0.359 at 0.8, 0.389 at 0.95 (session 31).
ZOOM_NARROWING = 0.95
# Seen closer, a meter's counter line still merges with the print above and below it; a look
# closer still, inside what the last one found, separates them (iaoqian dev photos, session 31).
ZOOM_DEPTH = 3
ZOOM_REGIONS = 3  # the strongest regions of a look looked at again (bounds the detector's runs)
# Past the first closer look, a region must be this many times wider than tall: closer still,
# the detector frames single letters of a word, and 'o' read '0' at 0.99 (plain words, session 31).
ZOOM_MIN_ASPECT = 1.5
# A closer look's region that may hold more than one line (under ZOOM_BAND_ASPECT times wider
# than tall: a five-digit counter alone is 4-6) is read in bands too, each ZOOM_BAND of its
# height, from the top down by half a band: the counter's line with the serial number below or
# the maker's mark above it, which no look separated (iaoqian dev photos, session 31).
ZOOM_BAND = 0.5
ZOOM_BAND_ASPECT = 4.0
# Each region's tight crop is also read cut in by ZOOM_TRIM of its height at both ends: a
# meter's 'V' before its counter and the 'm³' after it, which a region's crops keep, read as a
# sure sixth digit ('90896' of 00896; dev photos 0.519 -> 0.543 at 0.4, 0.531 at 0.25, 0.525 at 0.55).
ZOOM_TRIM = 0.4
# These cuts are meant for a counter's line: a read there counts only with ZOOM_LINE_DIGITS
# digits or more. Half a word's height read '00' or '50', a word's middle '0' (plain words).
ZOOM_LINE_DIGITS = 4


def _bands(quad: Quad) -> list[Quad]:
    """``quad`` cut into bands ``ZOOM_BAND`` of its height, each half a band below the last."""
    tops = np.arange(0.0, 1.0 - ZOOM_BAND + 1e-6, ZOOM_BAND / 2)
    return [band(quad, float(top), float(top) + ZOOM_BAND) for top in tops]


class ZoomFinder(Finder):
    """The detector's closer looks inside regions of its first (``around``); the frame
    reader asks for them only when nothing read 0.9 sure. Every crop is read and the best
    kept: the first closer look's loose crop often still holds a meter's 'V' and 'm³' and
    reads them surely ('90405' of 00402 at 0.81), where a look closer still reads the
    counter alone (0.99)."""

    stop_when_sure = False
    # A second guess must be surer than a first: at the plain floor the closer look read 14 more
    # of 300 lone words as digits; at 1.6 of it (the fallback's), 3 more, and it still read 28
    # more of iaoqian's 499 dev photos (BENCHMARKS.md, session 30).
    floor_scale = 1.6
    line_digits = ZOOM_LINE_DIGITS  # the fewest a read of a ``line_cuts`` cut may have

    def __init__(self, detector: StripDetector) -> None:
        self.detector = detector
        self.aspect = detector.meta.width / detector.meta.height

    def around(self, grey: GreyImage, regions: list[Quad]) -> list[list[Quad]]:
        """Strips found closer in each region, in frame coordinates, at ``DETECTOR_CROPS``;
        then closer again inside what was found, up to ``ZOOM_DEPTH`` looks, while a look
        still narrows the view (``ZOOM_NARROWING``), the strongest ``ZOOM_REGIONS`` a depth."""
        h, w = grey.shape
        found: list[list[Quad]] = []
        looks = [(region, float(w * h)) for region in regions]
        for depth in range(ZOOM_DEPTH):
            closer: list[tuple[Candidate, float]] = []
            for region, view_area in looks:
                box = self._window(region, w, h)
                if box is None:
                    continue
                x0, y0, x1, y1 = box
                area = float((x1 - x0) * (y1 - y0))
                if area > ZOOM_NARROWING * view_area:
                    continue  # the same view again: nothing new to see
                for c in self.detector.find(grey[y0:y1, x0:x1]):
                    quad = c.quad + np.array([x0, y0], np.float32)
                    if depth and quad_width(quad) < ZOOM_MIN_ASPECT * quad_height(quad):
                        continue  # one glyph seen this close: a word's 'o' reads '0' surely
                    found.append([expand(quad, v, hz) for v, hz in DETECTOR_CROPS])
                    closer.append((Candidate(quad, c.score), area))
            closer.sort(key=lambda pair: pair[0].score, reverse=True)
            looks = [(c.quad, area) for c, area in closer[:ZOOM_REGIONS]]
        return found

    def line_cuts(self, found: list[list[Quad]]) -> list[list[Quad]]:
        """Cuts of the regions ``around`` found meant for a meter counter's line: each tight
        crop without its ends (``ZOOM_TRIM``), and the bands of each region that may hold
        more than one line, cut from its looser crop."""
        trimmed = [[expand(crops[0], 0.0, -ZOOM_TRIM)] for crops in found]
        loose = [crops[-1] for crops in found]
        return trimmed + [_bands(q) for q in loose if quad_width(q) < ZOOM_BAND_ASPECT * quad_height(q)]

    def _window(self, region: Quad, w: int, h: int) -> tuple[int, int, int, int] | None:
        """The region's bounding box and ``ZOOM_MARGIN`` around it, grown to the detector's
        aspect (the detector saw undistorted scenes), clipped to the frame; None for a speck."""
        (left, top), (right, bottom) = region.min(axis=0), region.max(axis=0)
        bw, bh = (right - left) * (1 + 2 * ZOOM_MARGIN), (bottom - top) * (1 + 2 * ZOOM_MARGIN)
        bw, bh = max(bw, bh * self.aspect), max(bh, bw / self.aspect)
        cx, cy = (left + right) / 2, (top + bottom) / 2
        x0, y0 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
        x1, y1 = min(w, int(np.ceil(cx + bw / 2))), min(h, int(np.ceil(cy + bh / 2)))
        if min(x1 - x0, y1 - y0) < ZOOM_MIN_SIDE:
            return None
        return x0, y0, x1, y1

    def find(self, grey: GreyImage) -> list[list[Quad]]:
        return self.around(grey, [c.quad for c in self.detector.find(grey)])
