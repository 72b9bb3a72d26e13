"""Quadrilaterals in frame pixels: corner order, size, growth, and the warp that
cuts one out as an upright strip. Every finder and the reader share these."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

Quad = npt.NDArray[np.float32]  # 4x2: top-left, top-right, bottom-right, bottom-left
RotatedRect = tuple[Sequence[float], Sequence[float], float]  # cv2.minAreaRect's ((cx, cy), (w, h), angle)


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


def box_quad(rect: RotatedRect) -> Quad:
    """A rotated rectangle (``cv2.minAreaRect``) as an ordered quad."""
    return order_quad(np.asarray(cv2.boxPoints(rect), np.float32))  # type: ignore[arg-type]


def rect_quad(x: float, y: float, w: float, h: float) -> Quad:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


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


def band(quad: Quad, top: float, bottom: float) -> Quad:
    """The part of ``quad`` between ``top`` and ``bottom``, shares of its height from its top edge."""
    tl, tr, br, bl = quad
    return np.array([tl + (bl - tl) * top, tr + (br - tr) * top,
                     tr + (br - tr) * bottom, tl + (bl - tl) * bottom], np.float32)


def scale_about_centre(quad: Quad, factors: tuple[float, float]) -> Quad:
    """``quad`` shrunk (or grown) about its centre by (x, y) factors."""
    centre = quad.mean(axis=0)
    return (centre + (quad - centre) * np.array(factors, np.float32)).astype(np.float32)


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
