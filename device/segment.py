"""Find the digit strip in a frame and rectify it.

Classical vision proposes a few candidate strips; the recogniser's confidence
picks among them (see ``frame_reader``). Proposals come from a polarity-free
morphological gradient, closed horizontally so the characters of a line merge
into one blob, on a small pyramid (320, 160, 80 px wide) so one kernel bridges
the gaps of small and frame-filling digits alike; neighbouring blobs on one
line are also offered joined (a seven-segment '1' or a wide drum gap splits a
strip). The strip itself is cut from the full-resolution frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Quad = npt.NDArray[np.float32]  # 4x2: top-left, top-right, bottom-right, bottom-left

_GRADIENT_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
WORK_WIDTH = 320  # frames are searched at this width (4x cheaper than 640); strips are cut from the original


@dataclass(frozen=True)
class Candidate:
    quad: Quad  # in frame coordinates
    score: float  # proposal heuristic; higher first


def order_quad(points: npt.NDArray[np.floating]) -> Quad:
    """Corners as TL, TR, BR, BL with the edge nearest the horizontal on top.

    Not the long edge: a single digit is taller than wide, and laying its box down
    fed the recogniser a digit on its side (measured: 27 % of one-digit scenes read).
    Strips are upright within ±10° of the camera, so the top edge is the flatter one.
    """
    pts = np.asarray(points, np.float32).reshape(4, 2)
    first, second = pts[1] - pts[0], pts[2] - pts[1]
    if abs(first[1]) * abs(second[0]) > abs(second[1]) * abs(first[0]):  # first edge steeper
        pts = np.roll(pts, -1, axis=0)
    # Reading direction: left to right.
    if pts[0, 0] + pts[3, 0] > pts[1, 0] + pts[2, 0]:
        pts = pts[[2, 3, 0, 1]]
    return pts


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
        quad = order_quad(np.asarray(cv2.boxPoints(((cx, cy), (rw, rh), angle)), np.float32))
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
            quad = order_quad(np.asarray(cv2.boxPoints(cv2.minAreaRect(points)), np.float32))
            chains.append(Candidate(quad, sum(c.score for c in chain)))
    return chains


def quad_height(quad: Quad) -> float:
    return float((np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2)


def quad_width(quad: Quad) -> float:
    return float((np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2)


def expand(quad: Quad, vertical: float = 0.12, horizontal: float = 0.25) -> Quad:
    """Grow a tight quad by a share of its height on every side: the model was
    trained on loose crops and reads worse on a crop that clips a glyph."""
    centre = quad.mean(axis=0)
    right = (quad[1] - quad[0] + quad[2] - quad[3]) / 2
    down = (quad[3] - quad[0] + quad[2] - quad[1]) / 2
    h = float(np.linalg.norm(down))
    w = float(np.linalg.norm(right))
    if h < 1e-6 or w < 1e-6:
        return quad
    ux, uy = right / w, down / h
    half_w = w / 2 + horizontal * h
    half_h = h / 2 + vertical * h
    return np.array([centre - ux * half_w - uy * half_h, centre + ux * half_w - uy * half_h,
                     centre + ux * half_w + uy * half_h, centre - ux * half_w + uy * half_h], np.float32)


def rectify(grey: npt.NDArray[np.uint8], quad: Quad, max_height: int = 64) -> npt.NDArray[np.uint8]:
    """Cut ``quad`` out of ``grey`` as an upright strip at most ``max_height`` tall."""
    h = max(2.0, quad_height(quad))
    w = max(2.0, quad_width(quad))
    scale = min(1.0, max_height / h)
    out_w, out_h = max(2, round(w * scale)), max(2, round(h * scale))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    if scale < 0.5:  # warping is point sampling: smooth first so strokes don't alias away
        sigma = 0.5 / scale
        x0, y0 = np.floor(quad.min(axis=0) - 3 * sigma).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0) + 3 * sigma).astype(int)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(grey.shape[1], x1), min(grey.shape[0], y1)
        if x1 - x0 < 2 or y1 - y0 < 2:  # the region lies off this frame
            return np.zeros((out_h, out_w), np.uint8)
        region = cv2.GaussianBlur(grey[y0:y1, x0:x1], (0, 0), sigma)
        matrix = matrix @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
        source = region
    else:
        source = grey
    return np.asarray(cv2.warpPerspective(source, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE), np.uint8)


def rect_quad(x: float, y: float, w: float, h: float) -> Quad:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
