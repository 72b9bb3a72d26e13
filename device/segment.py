"""The classical finder: edge blobs shaped like a line of digits.

Classical vision proposes a few candidate strips; the recogniser's confidence
picks among them (see ``frame_reader``). Proposals come from a polarity-free
morphological gradient, closed horizontally so the characters of a line merge
into one blob, on a small pyramid (320, 160, 80 px wide) so one kernel bridges
the gaps of small and frame-filling digits alike; neighbouring blobs on one
line are also offered joined (a seven-segment '1' or a wide drum gap splits a
strip). The strip itself is cut from the full-resolution frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .finder import Candidate, Finder
from .geometry import Quad, box_quad, expand, quad_height
from .preprocess import GreyImage

_GRADIENT_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
WORK_WIDTH = 320  # frames are searched at this width (4x cheaper than 640); strips are cut from the original


def _proposals(binary: npt.NDArray[np.uint8], close_w: int, close_h: int,
               scale: float, min_h: float) -> list[Candidate]:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (close_w, close_h))
    closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    # Cheap vectorised screening first: a noisy frame has thousands of specks,
    # and only a handful of blobs are the size and shape of a line of digits.
    w, h, area = (stats[1:, i] for i in (cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA))
    keep = np.flatnonzero((h >= min_h) & (w >= 1.2 * min_h) & (area >= 0.3 * w * h)
                          & (w >= 0.8 * h) & (area >= 4 * min_h * min_h)) + 1
    found = []
    for label in keep[np.argsort(-stats[keep, cv2.CC_STAT_AREA])][:24]:
        bx, by, bw, bh = (int(v) for v in stats[label, :4])
        ys, xs = np.nonzero(labels[by:by + bh, bx:bx + bw] == label)
        points = np.column_stack((xs + bx, ys + by)).astype(np.float32)
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
        long_side, short_side = max(rw, rh), min(rw, rh)
        if short_side < min_h or long_side < 1.2 * short_side or long_side > 24 * short_side:
            continue
        quad = box_quad(((cx, cy), (rw, rh), angle))
        dx, dy = quad[1] - quad[0]
        if abs(np.degrees(np.arctan2(dy, dx))) > 20:  # digit lines are near horizontal
            continue
        fill = float(stats[label, cv2.CC_STAT_AREA]) / max(1.0, rw * rh)
        if fill < 0.45:
            continue
        # Prefer solid, line-shaped blobs of a readable height.
        aspect = long_side / short_side
        score = fill * min(aspect, 8.0) * np.sqrt(short_side / scale)
        found.append(Candidate(quad / scale, float(score)))
    return found


def _binary_edges(work: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    gradient = cv2.morphologyEx(work, cv2.MORPH_GRADIENT, _GRADIENT_KERNEL)
    level, binary = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if level < 12:  # a flat or pure-noise frame: Otsu split noise from noise
        _, binary = cv2.threshold(gradient, 12, 255, cv2.THRESH_BINARY)
    return np.asarray(binary, np.uint8)


def find_strips(grey: npt.NDArray[np.uint8], max_candidates: int = 4) -> list[Candidate]:
    """Candidate strips, best proposal first (at most ``max_candidates``).

    Searched at three scales of a pyramid with the same closing kernels, so
    the kernels bridge the gaps of small and of frame-filling digits alike.
    """
    if grey.ndim != 2 or grey.shape[0] < 16 or grey.shape[1] < 16 or grey.shape[0] > 8 * grey.shape[1]:
        return []
    found: list[Candidate] = []
    scale = min(1.0, WORK_WIDTH / grey.shape[1])
    work = grey if scale == 1.0 else np.asarray(
        cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8)
    for _level in range(3):
        binary = _binary_edges(work)
        level_found = _proposals(binary, 9, 3, scale, 6.0)
        found += level_found + _line_chains(level_found)
        if min(work.shape) < 80:
            break
        work = np.asarray(cv2.pyrDown(work), np.uint8)
        scale /= 2
    found.sort(key=lambda c: c.score, reverse=True)
    unique: list[Candidate] = []
    for cand in found:
        centre = cand.quad.mean(axis=0)
        if all(np.abs(centre - u.quad.mean(axis=0)).max() > 0.25 * quad_height(u.quad) or
               abs(quad_height(cand.quad) - quad_height(u.quad)) > 0.3 * quad_height(u.quad) for u in unique):
            unique.append(cand)
        if len(unique) == max_candidates:
            break
    return unique


def _line_chains(found: list[Candidate]) -> list[Candidate]:
    """Join blobs that sit on one line a short gap apart into one strip: the
    drums of a roller counter, handwritten digits with gaps, a seven-segment
    '1' all split a line into pieces. Each maximal chain of two or more
    neighbours is offered as a candidate of its own."""
    pieces = sorted(found, key=lambda c: float(c.quad[:, 0].min()))[:24]
    chains: list[Candidate] = []
    used: set[int] = set()
    for i, first in enumerate(pieces):
        if i in used:
            continue
        chain, last = [first], first
        for j in range(i + 1, len(pieces)):
            nxt = pieces[j]
            h_last, h_next = quad_height(last.quad), quad_height(nxt.quad)
            c_last, c_next = last.quad.mean(axis=0), nxt.quad.mean(axis=0)
            gap = float(nxt.quad[:, 0].min() - last.quad[:, 0].max())
            if (abs(h_last - h_next) <= 0.35 * max(h_last, h_next)
                    and abs(c_last[1] - c_next[1]) <= 0.45 * max(h_last, h_next)
                    and -0.5 * h_last <= gap <= 1.6 * max(h_last, h_next)):
                chain.append(nxt)
                used.add(j)
                last = nxt
        if len(chain) > 1:
            points = np.concatenate([c.quad for c in chain])
            quad = box_quad(cv2.minAreaRect(points))
            chains.append(Candidate(quad, sum(c.score for c in chain)))
    return chains


class ClassicalFinder(Finder):
    """``find_strips``'s proposals, each grown by ``expand``'s default margins."""

    max_candidates = 4

    def find(self, grey: GreyImage) -> list[list[Quad]]:
        return [[expand(c.quad)] for c in find_strips(grey, self.max_candidates)]


class FallbackFinder(ClassicalFinder):
    """The edge blobs, read only when the strip detector and the display windows read
    nothing above the floor. The detector misses a small number straight on a plain
    surface (a label, a page: median 26 px tall in `make pipeline-check`'s plain frames),
    which the recogniser reads well once it is cut out; the blobs find it. On a cluttered
    frame they also find edges that read as digits, so their reads must be surer: at 1.6
    of the floor (0.8 by default), and only the best blob is read. Set on dev frames
    (`trainer scenes --seed 9025`), never on the measured sets (BENCHMARKS.md, session 25)."""

    floor_scale = 1.6
    # Only the best blob: on dev frames the best of 1 / 2 / 3 / 4 read plain numbers 0.780 /
    # 0.783 / 0.783 / 0.783, lone words as nothing 0.96 / 0.94 / 0.94 / 0.94, and each
    # blob read costs an inference on a frame where nothing else read.
    max_candidates = 1
