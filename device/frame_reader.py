"""Frame in, digits out: find (or take) the strip, rectify, recognise.

In ``auto`` mode the learned strip detector (``detector.py``) proposes a few
candidate strips, or the classical proposals of ``segment.py`` when no
detector is given; they are read in order and the recogniser's own confidence
picks the answer. With the detector, a confident read ends the search early,
which keeps the usual frame to one recogniser invoke. A
frame whose best candidate is unsure reads as no digits at all. A fixed
region (full frame, rectangle, quadrilateral) is always read, whatever the
confidence: the stabiliser judges it later.

A stream of frames from a fixed camera shows the same strip in the same place
frame after frame, so with ``track_every`` the reader remembers the quad of the
last confident read of a frame where the detector saw one strip, and reads it
again first, without the detector, while the scene has not moved (a 40x30
thumbnail of the frame barely differs from the one taken when the strip was
found). A read there that is not confident, a moved scene, or ``track_every``
frames since the last detection run the full search. ``digitcam read`` leaves
it off: each image there is independent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from .detector import StripDetector
from .preprocess import to_grey
from .recognizer import Recognition, Recognizer
from .segment import Candidate, Quad, expand, find_strips, quad_height, quad_width, rect_quad, rectify
from .windows import find_windows, inside

# How much of its height each detector quad is grown by (vertical, horizontal):
# the detector's cells already overshoot the strip, so a tight crop reads best,
# and a looser one catches what the tight one clipped. Tuned on dev scenes
# (trainer scenes --seed 9001), never on the measured set.
DETECTOR_CROPS = ((-0.05, 0.1), (0.12, 0.25))
# A found strip at least this many heights wide for every digit read in it holds more
# than those digits: a word whose S or l read as 5 or 1 ("Serial" -> 5). Digits and
# their gaps, crop margins included, measured at most 2.1 heights each on dev scenes.
MAX_WIDTH_PER_DIGIT = 2.5
# A display window's inside holds its digits at nearly full height, each narrower than tall:
# a window wider than this per digit read is a panel with a word on it ("GAS" read as 6).
WINDOW_WIDTH_PER_DIGIT = 1.6
# Tracking's "has the scene moved" test: the mean absolute difference of 40x30
# area-averaged thumbnails (16x16-pixel cells of a 640x480 frame). On
# `trainer scenes --repeat 10` (a pixel or two of shake, fresh sensor noise) one
# scene's frames differ by at most 7.7 grey levels; two different scenes by at
# least 10.8, 15 or more in 99 % of pairs.
MOTION_THUMB = (40, 30)
MOTION_LEVEL = 9.0


@dataclass(frozen=True)
class FrameResult:
    text: str
    confidence: float
    digit_confidences: tuple[float, ...]
    quad: Quad | None  # where the strip was, in frame pixels; None when nothing was read
    latency_ms: dict[str, float] = field(default_factory=dict)
    candidates: int = 0


class Aligner:
    """Keeps a fixed region on target when the camera has moved a little:
    phase correlation of the frame against a reference image gives the shift."""

    def __init__(self, reference: npt.NDArray[np.uint8], every: int = 30, scale: float = 0.25) -> None:
        self.scale = scale
        self.every = every
        self._ref = self._prepare(reference)
        self._window = cv2.createHanningWindow(self._ref.shape[::-1], cv2.CV_32F)
        self._count = 0
        self.shift = np.zeros(2, np.float32)

    def _prepare(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        small = cv2.resize(grey, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        return small.astype(np.float32)

    def update(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The current (dx, dy) of the scene against the reference, in frame pixels."""
        if self._count % self.every == 0:
            current = self._prepare(grey)
            if current.shape == self._ref.shape:
                (dx, dy), response = cv2.phaseCorrelate(self._ref, current, self._window)
                if response > 0.1:  # a weak peak is noise, keep the last good shift
                    self.shift = np.array([dx, dy], np.float32) / self.scale
        self._count += 1
        return self.shift


def _better(new: Recognition, old: Recognition, floor: float) -> bool:
    """A part of a strip reads as confidently as the whole ('752' out of
    '3131752'), so among confident reads the one with more digits wins."""
    new_ok, old_ok = new.confidence >= floor, old.confidence >= floor
    if new_ok != old_ok:
        return new_ok
    if new_ok and len(new.text) != len(old.text):
        return len(new.text) > len(old.text)
    return new.confidence > old.confidence


def _too_wide(quad: Quad, digits: int, per_digit: float = MAX_WIDTH_PER_DIGIT) -> bool:
    return digits > 0 and quad_width(quad) > per_digit * digits * max(quad_height(quad), 1.0)


class FrameReader:
    def __init__(self, recognizer: Recognizer, mode: str = "auto", quad: Quad | None = None,
                 max_candidates: int = 4, min_confidence: float = 0.5,
                 aligner: Aligner | None = None, detector: StripDetector | None = None,
                 confident: float = 0.6, windows: bool = True, track_every: int = 0) -> None:
        if mode not in ("auto", "full", "rect", "quad"):
            raise ValueError(f"unknown region mode {mode!r}")
        if mode in ("rect", "quad") and quad is None:
            raise ValueError(f"region mode {mode!r} needs its corners")
        self.recognizer = recognizer
        self.mode = mode
        self.quad = None if quad is None else np.asarray(quad, np.float32).reshape(4, 2)
        self.max_candidates = max_candidates
        self.min_confidence = min_confidence
        self.aligner = aligner
        self.detector = detector
        # A detector candidate read this surely ends the search. Tuned on dev scenes:
        # 0.6 reads as well as 0.9 and saves the second crop on most frames.
        self.confident = confident
        # Auto mode only: when the finder's candidates read nothing sure, the insides of
        # display windows are read too (windows.py: a meter's LCD filling a photo).
        self.windows = windows and mode == "auto"
        # 0: every frame is searched afresh. N: a stream; re-read the last confident
        # quad for up to N frames before the detector runs again (auto mode with a detector).
        self.track_every = track_every
        self._tracked: Quad | None = None
        self._tracked_thumb: npt.NDArray[np.uint8] | None = None
        self._tracked_shape: tuple[int, ...] = ()  # the frame size the quad belongs to
        self._since_detect = 0
        self.tracked_frames = 0  # frames answered from the tracked quad, for the bench

    def _thumb(self, grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Area-averaged by halving: OpenCV's exact 2x area shrink is a fast path, so
        four halvings cost 0.04 ms against 0.11 for one 16x shrink (the same
        thumbnail to within one grey level)."""
        small: npt.NDArray[Any] = grey
        width, height = MOTION_THUMB
        while small.shape[1] >= 2 * width and small.shape[0] >= 2 * height:
            small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2),
                               interpolation=cv2.INTER_AREA)
        if small.shape != (height, width):
            small = cv2.resize(small, MOTION_THUMB, interpolation=cv2.INTER_AREA)
        return np.asarray(small, np.uint8)

    def _track(self, grey: npt.NDArray[np.uint8], thumb: npt.NDArray[np.uint8], t0: float
               ) -> tuple[FrameResult | None, Recognition | None]:
        """The tracked quad's read when the scene has not moved and the read is
        confident; (None, the read tried, if any) sends the frame through the full search."""
        if self._tracked is None or self._tracked_thumb is None or self._since_detect >= self.track_every:
            return None, None
        if (grey.shape != self._tracked_shape
                or cv2.norm(thumb, self._tracked_thumb, cv2.NORM_L1) > MOTION_LEVEL * thumb.size):
            self._tracked = None
            return None, None
        quad = self._tracked
        strip = rectify(grey, quad)
        r1 = time.monotonic()
        result = self.recognizer.read(strip)
        if not result.text or result.confidence < self.confident or _too_wide(quad, len(result.text)):
            return None, result
        self._since_detect += 1
        self.tracked_frames += 1
        latency = {"segment": (r1 - t0) * 1000.0 + result.latency_ms["preprocess"],
                   "infer": result.latency_ms["infer"], "decode": result.latency_ms["decode"],
                   "total": (time.monotonic() - t0) * 1000.0, "detect": 0.0}
        return FrameResult(result.text, result.confidence, result.digit_confidences, quad, latency, 1), None

    def _remember(self, grey: npt.NDArray[np.uint8], thumb: npt.NDArray[np.uint8],
                  best: Recognition | None, quad: Quad | None) -> None:
        if best is not None and quad is not None and best.confidence >= self.confident:
            self._tracked, self._tracked_thumb, self._tracked_shape = quad, thumb, grey.shape
        else:
            self._tracked = self._tracked_thumb = None
        self._since_detect = 0

    def read(self, image: npt.NDArray[Any]) -> FrameResult:
        t0 = time.monotonic()
        try:
            grey = to_grey(image)
        except (ValueError, cv2.error):
            return FrameResult("", 0.0, (), None, {"segment": 0.0, "total": 0.0})
        if grey.size == 0:
            return FrameResult("", 0.0, (), None, {"segment": 0.0, "total": 0.0})
        thumb: npt.NDArray[np.uint8] | None = None  # set when tracking a stream
        proposals: list[Candidate] = []
        detector_quads: list[Quad] = []
        detect_ms: float | None = None  # the detector's share of segment, when it ran
        missed: Recognition | None = None  # a tracked read that was not sure enough
        if self.mode == "full":
            h, w = grey.shape
            quads = [rect_quad(0, 0, w, h)]
            strips = [grey]
        elif self.mode in ("rect", "quad"):
            assert self.quad is not None
            quad = self.quad + (self.aligner.update(grey) if self.aligner else 0)
            quads = [quad]
            strips = [rectify(grey, quad)]
        elif self.detector is not None:
            if self.track_every > 0:
                thumb = self._thumb(grey)
                tracked, missed = self._track(grey, thumb, t0)
                if tracked is not None:
                    return tracked
            d0 = time.monotonic()
            proposals = self.detector.find(grey)[: self.max_candidates]
            detect_ms = (time.monotonic() - d0) * 1000.0
            quads = detector_quads = [expand(c.quad, v, h) for c in proposals for v, h in DETECTOR_CROPS]
            strips = []
        else:
            quads = [expand(c.quad) for c in find_strips(grey, self.max_candidates)]
            strips = []
        found = self.mode == "auto"  # a region the finder proposed, not one the user fixed
        t1 = time.monotonic()
        best: Recognition | None = None
        best_quad: Quad | None = None
        segment_ms = (t1 - t0) * 1000.0
        infer_ms = decode_ms = 0.0
        if missed is not None:  # its invoke and decode are theirs, not the segmenter's
            infer_ms, decode_ms = missed.latency_ms["infer"], missed.latency_ms["decode"]
            segment_ms -= infer_ms + decode_ms

        def read_candidates(candidates: list[Quad], cut: list[npt.NDArray[np.uint8]],
                            per_digit: float | None, stop_when_sure: bool) -> None:
            """Read each quad (or its strip already cut), keep the best; ``per_digit``: the
            widest a found region may be per digit read (None: any)."""
            nonlocal best, best_quad, segment_ms, infer_ms, decode_ms
            for i, quad in enumerate(candidates):
                r0 = time.monotonic()
                strip = cut[i] if cut else rectify(grey, quad)
                segment_ms += (time.monotonic() - r0) * 1000.0
                result = self.recognizer.read(strip)
                segment_ms += result.latency_ms["preprocess"]
                infer_ms += result.latency_ms["infer"]
                decode_ms += result.latency_ms["decode"]
                if per_digit is not None and _too_wide(quad, len(result.text), per_digit):
                    continue
                if result.text and (best is None or _better(result, best, self.min_confidence)):
                    best, best_quad = result, quad
                if stop_when_sure and best is not None and best.confidence >= self.confident:
                    break

        read_candidates(quads, strips, MAX_WIDTH_PER_DIGIT if found else None, self.detector is not None)
        if self.windows and (best is None or best.confidence < self.confident):
            w0 = time.monotonic()
            window_quads = [q for c in find_windows(grey) for q in inside(c.quad)]
            segment_ms += (time.monotonic() - w0) * 1000.0
            read_candidates(window_quads, [], WINDOW_WIDTH_PER_DIGIT, False)
            quads = [*quads, *window_quads]
        if thumb is not None:
            # Only a frame with one strip in it is tracked: where the detector saw two,
            # the read may be a part of the number ('854' of '454854'), and tracking
            # would hold on to it for track_every frames (measured on dev streams).
            # A display window's read is not tracked: it passed a stricter width check.
            one_strip = len(proposals) == 1 and any(best_quad is q for q in detector_quads)
            self._remember(grey, thumb, best if one_strip else None, best_quad)
        latency = {"segment": segment_ms, "infer": infer_ms, "decode": decode_ms,
                   "total": (time.monotonic() - t0) * 1000.0}
        if detect_ms is not None:
            latency["detect"] = detect_ms
        # Only a found strip can be a false find; a region the user fixed is always read.
        floor = self.min_confidence if found else 0.0
        if best is None or best.confidence < floor:
            return FrameResult("", best.confidence if best else 0.0, (), None, latency, len(quads))
        return FrameResult(best.text, best.confidence, best.digit_confidences, best_quad, latency,
                           len(quads))
