"""The ``Finder`` seam: where the digit strip may be in a grey frame.

A finder proposes regions; the frame reader (``frame_reader.py``) reads them
and the recogniser's confidence picks the answer. Implementations: the fixed
region of a mount (here), the learned strip detector (``detector.py``), the
classical edge blobs (``segment.py``) and display windows (``windows.py``,
read beside the finder's regions on every search).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .geometry import Quad, rect_quad, rectify, scale_about_centre
from .preprocess import GreyImage

# A found strip at least this many heights wide for every digit read in it holds more
# than those digits: a word whose S or l read as 5 or 1 ("Serial" -> 5). Digits and
# their gaps, crop margins included, measured at most 2.1 heights each on dev scenes.
MAX_WIDTH_PER_DIGIT = 2.5


@dataclass(frozen=True)
class Candidate:
    quad: Quad  # in frame coordinates
    score: float  # the finder's own ranking; higher first


class Finder(ABC):
    """Regions to read in a frame, most likely first."""

    # The widest a region may be per digit read in it; None for a region the user
    # fixed, which is always read, whatever its width or confidence.
    per_digit: float | None = MAX_WIDTH_PER_DIGIT
    stop_when_sure = False  # a sure read of one region ends the search
    floor_scale = 1.0  # of the reader's confidence floor (region.min_confidence) for its reads
    tracks = False  # the reader may re-read its last confident region on a still stream

    @abstractmethod
    def find(self, grey: GreyImage) -> list[list[Quad]]:
        """Each strip found, most likely first, as the crops to read it by."""

    def cut(self, grey: GreyImage, quad: Quad) -> GreyImage:
        """The strip a region reads as."""
        return rectify(grey, quad)


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


# A fixed region is read at two framings: as drawn, and with this share of its height cut
# off top and bottom. A region drawn with room around the digits (a window's edge, a
# neighbour's sliver) shrinks them in the model's 32-px input; the tighter framing reads
# them larger. Where the two read different numbers, the reader reads both again stretched
# wider and weighs every number by all four framings' scores (frame_reader.REFRAME_*).
# Set on strips composed from the training meters' real crops and on the synthetic and
# seed sets, never on the held-out meters (BENCHMARKS.md, sessions 25 and 27).
REFRAME_TRIM = 1 / 12


class FixedRegion(Finder):
    """A fixed mount's rectangle or quadrilateral (kept on target by an ``Aligner``),
    or the whole frame (``quad`` None) as it is, unwarped. One group of two framings: as
    drawn, and trimmed by ``REFRAME_TRIM`` top and bottom (``FrameReader._read_fixed``)."""

    per_digit = None

    def __init__(self, quad: Quad | None = None, aligner: Aligner | None = None) -> None:
        self.quad = None if quad is None else np.asarray(quad, np.float32).reshape(4, 2)
        self.aligner = aligner

    def find(self, grey: GreyImage) -> list[list[Quad]]:
        if self.quad is None:
            region = rect_quad(0, 0, grey.shape[1], grey.shape[0])
        else:
            region = self.quad + (self.aligner.update(grey) if self.aligner else 0)
        return [[region, scale_about_centre(region, (1.0, 1.0 - 2 * REFRAME_TRIM))]]

    def cut(self, grey: GreyImage, quad: Quad) -> GreyImage:
        if self.quad is None:  # the whole frame, or a band of its rows: a view, not a copy
            top, bottom = (round(float(y)) for y in (quad[0, 1], quad[2, 1]))
            return grey[max(0, top):max(top + 1, bottom)]
        return rectify(grey, quad)
