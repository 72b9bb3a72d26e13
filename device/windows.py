"""Display windows: the dark, nearly rectangular panel an LCD or a counter sits behind.

The strip detector was trained on digits in open scenes and misses a meter display
that fills a phone photo: a grey LCD with thin, faint segments inside a bezel, on a
white housing. The window itself is easy to see, though: a large, dark, nearly
rectangular region with straight edges. It is proposed on every search beside the
detector's own candidates; the recogniser reads the window's inside.

One cue, at ``WORK_WIDTH``: regions darker than their surroundings (an adaptive
threshold: the window against the housing). Closed edge contours found 4 more of 242
fuel-pump photos but cost 7x the time (Canny and thousands of contour fragments on a
textured frame: 4.9 against 0.7 ms a 640x480 frame), and this runs on every searched
frame. A window fills at least ``MIN_AREA`` of the frame and its
minimum-area rectangle at least ``MIN_FILL``; windows are wider than tall. A window
may run off the frame's sides: a phone held close to the pump cuts its LCD at both
edges, and refusing windows as wide as the frame lost a third of pump-lq's photos
(BENCHMARKS.md, session 25).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .finder import Candidate, Finder
from .geometry import Quad, box_quad, quad_height, quad_width, scale_about_centre
from .preprocess import GreyImage

WORK_WIDTH = 320
MIN_AREA = 0.015  # of the frame
MIN_FILL = 0.75  # of the window's minimum-area rectangle
# "Darker than its surroundings" is judged against the mean of a block half the work width
# across. A window is often most of the frame (a phone held close to the pump); a smaller
# block sits wholly inside it and sees its middle as no darker than itself, so only a band
# along the window's edges is dark, and a window the frame cuts off is no closed shape.
# Blocks of 81 / 121 / 161 / 241 px found a window in 755 / 801 / 819 / 814 of the 858
# pump photos; 161 read pump-hq best (BENCHMARKS.md, session 25).
DARKER_BLOCK = 2 * (WORK_WIDTH // 4) + 1
ASPECT = (1.5, 9.0)  # width / height
# The recogniser reads the window at two heights: whole, and its middle. The window the
# DARKER_BLOCK test finds hugs the LCD's glass, and a crop any shorter cut the top
# segment off pump digits (7 read as 1, 9 as 4). Tuned on pump-hq only: (0.97, 0.9) and
# (0.97, 0.75) read 0.752, (1.0, 1.05/0.9) 0.810, (1.0, 1.1/0.95) 0.793, (0.97, 1.05/0.9)
# 0.789, (1.0, 1.0/0.85) 0.814 (BENCHMARKS.md, session 25).
INSETS = ((1.0, 1.0), (1.0, 0.85))
# A display window's inside holds its digits at nearly full height, each narrower than tall:
# a window wider than this per digit read is a panel with a word on it ("GAS" read as 6).
WINDOW_WIDTH_PER_DIGIT = 1.6


def find_windows(grey: npt.NDArray[np.uint8], max_candidates: int = 2) -> list[Candidate]:
    h, w = grey.shape[:2]
    scale = WORK_WIDTH / w
    small = cv2.resize(grey, (WORK_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (3, 3), 0)
    darker = cv2.adaptiveThreshold(blurred, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                   DARKER_BLOCK, 8)
    area = small.shape[0] * small.shape[1]
    found: list[Candidate] = []
    contours, _ = cv2.findContours(darker, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        region = cv2.contourArea(contour)
        if region < MIN_AREA * area:
            continue
        rect = cv2.minAreaRect(contour)
        box_area = rect[1][0] * rect[1][1]
        if box_area <= 0 or region / box_area < MIN_FILL:
            continue
        quad = box_quad(rect) / scale
        width, height = quad_width(quad), quad_height(quad)
        if height <= 0 or not ASPECT[0] < width / height < ASPECT[1]:
            continue
        found.append(Candidate(quad.astype(np.float32), region * region / box_area))
    found.sort(key=lambda c: -c.score)
    return found[:max_candidates]


def inside(quad: Quad) -> list[Quad]:
    """The window at each of INSETS (width, height kept), centred."""
    return [scale_about_centre(quad, inset) for inset in INSETS]


class WindowsFinder(Finder):
    """Display windows, each read at its insides: read beside the finder's regions on every search."""

    per_digit = WINDOW_WIDTH_PER_DIGIT
    # A dark, walled window is a display's by its shape alone, so a read inside it needs less
    # of the recogniser's own confidence than a read in a box the detector drew anywhere: at
    # 0.8 of the floor (0.4 by default) the pump photos read 0.692 against 0.668 (pump-hq,
    # the set it was set on, 0.781 against 0.752), and not one synthetic scene, plain frame
    # or lone word read differently (BENCHMARKS.md, session 24).
    floor_scale = 0.8

    def find(self, grey: GreyImage) -> list[list[Quad]]:
        return [inside(c.quad) for c in find_windows(grey)]
