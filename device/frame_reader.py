"""Frame in, digits out: find (or take) the strip, rectify, recognise.

A ``Finder`` (``finder.py``) proposes regions: the learned strip detector,
the classical edge blobs or a fixed region. They are read in order and the
recogniser's own confidence picks the answer. With the detector, a sure read
ends the search once its region's crops are read. The insides of display windows
(``windows``, a second finder) are read on every searched frame too and compete
with the detector's regions: where the detector's box cut a digit off ('6900' of
16900) the window's read is longer (BENCHMARKS.md, session 24). When neither reads
anything above the floor, a ``fallback`` finder (the classical edge blobs) is read
last: the detector misses small numbers on a plain surface. A frame whose best
found region reads below its finder's floor (``min_confidence`` times the finder's
``floor_scale``) reads as no digits at all. A fixed region (full frame,
rectangle, quadrilateral) is always read, whatever the confidence: the
stabiliser judges it later.

A stream of frames from a fixed camera shows the same strip in the same place
frame after frame, so with ``track_every`` the reader remembers the quad of the
last confident read of a frame where the detector saw one strip, and reads it
again first, without the detector, while the scene has not moved (a 40x30
thumbnail of the frame barely differs from the one taken when the strip was
found). A read there that is not confident, a moved scene, or ``track_every``
frames since the last detection run the full search. ``digitcam read`` leaves
it off: each image there is independent.

The frame is made grey once (``preprocess``, with each strip's fit to the
model's input); finding and cutting regions is ``segment``, the finder's own
share of it ``detect``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from .config import RegionConfig
from .decode import Recognition
from .finder import Finder
from .geometry import Quad, quad_height, quad_width
from .preprocess import GreyImage, to_grey
from .profiling import DECODE, DETECT, INFER, PREPROCESS, READER_STAGES, SEGMENT, TOTAL
from .recognizer import Recognizer

if TYPE_CHECKING:
    from .detector import ZoomFinder

# A read this sure ends the search once its region's crops are read (and is worth
# tracking). Tuned on dev scenes: 0.6 reads as well as 0.9 and saves reading the other
# regions on most frames. It is a search stop, not a gate: a read below it is still
# the answer when nothing beats it. The gate is ``min_confidence`` (config
# region.min_confidence); the stabiliser's vote floor (stabiliser.min_confidence) is a
# third thing.
SURE = 0.6
# The closer look runs unless the best read so far is this sure: surer than a search stop. A
# whole water-meter photo's first regions read '14' of 00147 and '90064' (its 'V' as 9) at
# 0.63-0.66, and a closer look read them right at 0.8-0.9. Measured against 0.6 (SURE): iaoqian
# dev photos 0.389 -> 0.461, dev scenes 0.9075 -> 0.924, plain frames 0.862 -> 0.870, pump photos
# as they were (BENCHMARKS.md, session 31).
ZOOM_BELOW = 0.9
# Tracking's "has the scene moved" test: the mean absolute difference of 40x30
# area-averaged thumbnails (16x16-pixel cells of a 640x480 frame). On
# `trainer scenes --repeat 10` (a pixel or two of shake, fresh sensor noise) one
# scene's frames differ by at most 7.7 grey levels; two different scenes by at
# least 10.8, 15 or more in 99 % of pairs.
MOTION_THUMB = (40, 30)
MOTION_LEVEL = 9.0
# A fixed region's two framings (finder.FixedRegion) that read different numbers are read
# again REFRAME_STRETCH times wider, and each of the four reads' numbers is weighed by its
# CTC likelihood under all four framings' scores, each framing's log-likelihood times its
# REFRAME_WEIGHTS entry (as drawn, trimmed, as drawn wider, trimmed wider); the as-drawn
# number stands unless another beats it by REFRAME_MARGIN_NATS. Chosen by a grid over
# weights and margins on strips of the training meters' real crops, held to the synthetic
# kinds and the seed protocol; BENCHMARKS.md, session 27.
REFRAME_STRETCH = 1.15
REFRAME_WEIGHTS = (1.0, 0.5, 0.5, 1.0)
REFRAME_MARGIN_NATS = 2.0


@dataclass(frozen=True)
class FrameResult(Recognition):
    """A frame's best read (latency: READER_STAGES and TOTAL), where it was in frame
    pixels (None when nothing was read) and how many regions were read."""

    quad: Quad | None = None
    candidates: int = 0


@dataclass(frozen=True)
class _Best:
    """The best read so far, where it was, and the floor of the finder that found it."""

    read: Recognition
    quad: Quad
    floor: float


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000.0


def _better(new: Recognition, new_floor: float, old: Recognition, old_floor: float) -> bool:
    """A part of a strip reads as confidently as the whole ('752' out of
    '3131752'), so among confident reads the one with more digits wins. Each read
    is confident against its own finder's floor."""
    new_ok, old_ok = new.confidence >= new_floor, old.confidence >= old_floor
    if new_ok != old_ok:
        return new_ok
    if new_ok and len(new.text) != len(old.text):
        return len(new.text) > len(old.text)
    return new.confidence > old.confidence


def _too_wide(quad: Quad, digits: int, per_digit: float | None) -> bool:
    return (per_digit is not None and digits > 0
            and quad_width(quad) > per_digit * digits * max(quad_height(quad), 1.0))


class FrameReader:
    def __init__(self, recognizer: Recognizer, finder: Finder, *, windows: Finder | None = None,
                 zoom: ZoomFinder | None = None, fallback: Finder | None = None,
                 min_confidence: float = RegionConfig.min_confidence, track_every: int = 0,
                 expected_digits: int = 0) -> None:
        self.recognizer = recognizer
        self.finder = finder
        # Read on every search beside the finder's regions; never for a fixed region.
        self.windows = windows if finder.per_digit is not None else None
        # A closer look inside the finder's regions when nothing read ZOOM_BELOW sure; never for a
        # fixed region.
        self.zoom = zoom if finder.per_digit is not None else None
        # Read when nothing else read above the floor; never for a fixed region.
        self.fallback = fallback if finder.per_digit is not None else None
        self.min_confidence = min_confidence
        # A meter shows a known number of digits (stabiliser.expected_digits): a region read with
        # another count is passed over and the search goes on, where the stabiliser alone would
        # only reject the frame. On a whole water-meter photo the closer look's loose crop reads
        # the face's 'V' as a sixth digit surely; its tighter crops read the five (session 31).
        self.expected_digits = expected_digits
        self.sure = SURE  # reported by the bench's pipeline description
        # 0: every frame is searched afresh. N: a stream; re-read the last confident
        # quad for up to N frames before the finder runs again (a finder that tracks).
        self.track_every = track_every if finder.tracks else 0
        self._tracked: Quad | None = None
        self._tracked_thumb: npt.NDArray[np.uint8] | None = None
        self._tracked_shape: tuple[int, ...] = ()  # the frame size the quad belongs to
        self._since_detect = 0
        self.tracked_frames = 0  # frames answered from the tracked quad, for the bench

    def _thumb(self, grey: GreyImage) -> npt.NDArray[np.uint8]:
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

    def _still(self, grey: GreyImage, thumb: npt.NDArray[np.uint8]) -> Quad | None:
        """The tracked quad while it may be re-read: the scene has not moved and the
        finder has not been skipped ``track_every`` times; None sends the frame
        through the full search."""
        if self._tracked is None or self._tracked_thumb is None or self._since_detect >= self.track_every:
            return None
        if (grey.shape != self._tracked_shape
                or cv2.norm(thumb, self._tracked_thumb, cv2.NORM_L1) > MOTION_LEVEL * thumb.size):
            self._tracked = None
        return self._tracked

    def _remember(self, grey: GreyImage, thumb: npt.NDArray[np.uint8], best: _Best | None) -> None:
        if best is not None and best.read.confidence >= self.sure:
            self._tracked, self._tracked_thumb, self._tracked_shape = best.quad, thumb, grey.shape
        else:
            self._tracked = self._tracked_thumb = None
        self._since_detect = 0

    def _read(self, grey: GreyImage, finder: Finder, quad: Quad, latency: dict[str, float]) -> Recognition:
        r0 = time.monotonic()
        strip = finder.cut(grey, quad)
        latency[SEGMENT] += _ms(r0)
        return self._recognise(strip, 1.0, latency)

    def _recognise(self, strip: GreyImage, stretch: float, latency: dict[str, float]) -> Recognition:
        result = self.recognizer.read_grey(strip, stretch)
        for stage in (PREPROCESS, INFER, DECODE):
            latency[stage] += result.latency_ms[stage]
        return result

    def _search(self, grey: GreyImage, finder: Finder, groups: list[list[Quad]], latency: dict[str, float],
                best: _Best | None = None, min_digits: int = 1) -> _Best | None:
        """Read every crop of each region, keep the best read of a region not too wide for its
        digits. A sure read ends the search after its region's crops, not before: the tight
        crop can clip a digit the looser one keeps (pump photos read '900' of 7900 at 0.68,
        '0602' of 10602 at 0.96), and of two confident reads the longer wins (``_better``)."""
        floor = self.min_confidence * finder.floor_scale
        for group in groups:
            for quad in group:
                result = self._read(grey, finder, quad, latency)
                if (_too_wide(quad, len(result.text), finder.per_digit) or not self._expected(result.text)
                        or 0 < len(result.text) < min_digits):
                    continue
                if result.text and (best is None or _better(result, floor, best.read, best.floor)):
                    best = _Best(result, quad, floor)
            if finder.stop_when_sure and best is not None and best.read.confidence >= self.sure:
                break
        return best

    def _expected(self, text: str) -> bool:
        return not self.expected_digits or len(text) in (0, self.expected_digits)

    def _search_also(self, grey: GreyImage, finder: Finder, latency: dict[str, float],
                     best: _Best | None) -> tuple[_Best | None, int]:
        """A second finder's regions searched against the best read so far; and how many
        crops it proposed."""
        f0 = time.monotonic()
        groups = finder.find(grey)
        latency[SEGMENT] += _ms(f0)
        return self._search(grey, finder, groups, latency, best), sum(len(group) for group in groups)

    def _read_fixed(self, grey: GreyImage, finder: Finder, groups: list[list[Quad]],
                    latency: dict[str, float]) -> _Best | None:
        """A fixed region's framings of one strip (``FixedRegion``: as drawn, trimmed). When
        both read the same number, that is the read. Otherwise both are read again stretched
        wider, and each number read is weighed by all four framings' scores; the as-drawn
        number stands unless another beats it by ``REFRAME_MARGIN_NATS``. Many framings'
        evidence rather than one read's confidence: a tight trim reads a digit's cut-off top
        surely and wrongly, but the looser framings' scores speak against it. Not the
        longer read: no framing here cuts a digit off on purpose, and a trimmed one can
        read a bezel's edge as one more."""
        quads, = groups  # a fixed region is one strip: as drawn, trimmed
        s0 = time.monotonic()
        strips = [finder.cut(grey, quad) for quad in quads]  # cut once, read at every stretch
        latency[SEGMENT] += _ms(s0)
        reads = [(self._recognise(strip, 1.0, latency), quad)
                 for strip, quad in zip(strips, quads, strict=True)]
        first = reads[0][0]
        if reads[1][0].text != first.text:
            reads += [(self._recognise(strip, REFRAME_STRETCH, latency), quad)
                      for strip, quad in zip(strips, quads, strict=True)]
            d0 = time.monotonic()
            texts = list(dict.fromkeys(read.text for read, _ in reads))  # the first's text first
            evidence = self.recognizer.text_log_likelihoods([read for read, _ in reads], texts,
                                                            REFRAME_WEIGHTS)
            winner = int(evidence.argmax())
            chosen = texts[winner] if evidence[winner] > evidence[0] + REFRAME_MARGIN_NATS else first.text
            latency[DECODE] += _ms(d0)
        else:
            chosen = first.text
        read, quad = max((pair for pair in reads if pair[0].text == chosen),
                         key=lambda pair: pair[0].confidence)
        return _Best(read, quad, 0.0) if read.text else None

    def read(self, image: npt.NDArray[Any]) -> FrameResult:
        t0 = time.monotonic()
        latency = dict.fromkeys(READER_STAGES, 0.0)
        try:
            grey = to_grey(image)
        except (ValueError, cv2.error):
            grey = np.zeros((0, 0), np.uint8)
        latency[PREPROCESS] = _ms(t0)
        if grey.size == 0:
            return FrameResult("", 0.0, (), {**latency, TOTAL: _ms(t0)})
        thumb: npt.NDArray[np.uint8] | None = None  # set when tracking a stream
        if self.track_every > 0:
            s0 = time.monotonic()
            thumb = self._thumb(grey)
            quad = self._still(grey, thumb)
            latency[SEGMENT] += _ms(s0)
            if quad is not None:
                tracked = self._read(grey, self.finder, quad, latency)
                if (tracked.text and tracked.confidence >= self.sure and self._expected(tracked.text)
                        and not _too_wide(quad, len(tracked.text), self.finder.per_digit)):
                    self._since_detect += 1
                    self.tracked_frames += 1
                    return FrameResult(tracked.text, tracked.confidence, tracked.digit_confidences,
                                       {**latency, TOTAL: _ms(t0)}, quad, 1)
        f0 = time.monotonic()
        groups = self.finder.find(grey)
        latency[DETECT] = _ms(f0)
        latency[SEGMENT] += latency[DETECT]
        quads = [q for group in groups for q in group]
        candidates = len(quads)
        if self.finder.per_digit is None:  # a region the user fixed: always read, never a false find
            best = self._read_fixed(grey, self.finder, groups, latency)
        else:
            best = self._search(grey, self.finder, groups, latency)
        if self.windows is not None:
            best, found = self._search_also(grey, self.windows, latency, best)
            candidates += found
        if self.zoom is not None and groups and (best is None or best.read.confidence < ZOOM_BELOW):
            z0 = time.monotonic()
            closer = self.zoom.around(grey, [group[0] for group in groups])
            cuts = self.zoom.line_cuts(closer)
            latency[DETECT] += _ms(z0)
            latency[SEGMENT] += _ms(z0)
            best = self._search(grey, self.zoom, closer, latency, best)
            best = self._search(grey, self.zoom, cuts, latency, best, self.zoom.line_digits)
            quads += [q for group in closer + cuts for q in group]  # a closer look is tracked too
            candidates += sum(len(group) for group in closer + cuts)
        if self.fallback is not None and (best is None or best.read.confidence < best.floor):
            best, found = self._search_also(grey, self.fallback, latency, best)
            candidates += found
        if thumb is not None:
            # Only a frame with one strip in it is tracked: where the detector saw two,
            # the read may be a part of the number ('854' of '454854'), and tracking
            # would hold on to it for track_every frames (measured on dev streams).
            # A display window's read is not tracked: it passed a stricter width check.
            one_strip = best is not None and len(groups) == 1 and any(best.quad is q for q in quads)
            self._remember(grey, thumb, best if one_strip else None)
        latency[TOTAL] = _ms(t0)
        if best is None or best.read.confidence < best.floor:
            return FrameResult("", best.read.confidence if best else 0.0, (), latency, None, candidates)
        read = best.read
        return FrameResult(read.text, read.confidence, read.digit_confidences, latency, best.quad, candidates)
