"""The strip finder on frames drawn here with OpenCV (no model needed)."""

import cv2
import numpy as np
import pytest

from digitcam.device.geometry import band, expand, order_quad, rect_quad, rectify
from digitcam.device.segment import find_strips

pytestmark = pytest.mark.tflite_runtime


def frame_with_text(text: str, angle: float = 0.0, invert: bool = False, scale: float = 1.6):
    frame = np.full((480, 640), 200, np.uint8)
    cv2.putText(frame, text, (120, 260), cv2.FONT_HERSHEY_SIMPLEX, scale, 30, 4, cv2.LINE_AA)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 4)
    truth = np.float32([[120, 260 - h], [120 + w, 260 - h], [120 + w, 260], [120, 260]])
    if angle:
        rot = cv2.getRotationMatrix2D((320, 240), angle, 1.0)
        frame = cv2.warpAffine(frame, rot, (640, 480), borderValue=200)
        truth = cv2.transform(truth[None], rot)[0]
    if invert:
        frame = 255 - frame
    return frame, truth


def covers(quad, truth) -> bool:
    """Does the candidate hold the whole text (allowing a few pixels)?"""
    contour = quad.astype(np.float32).reshape(-1, 1, 2)
    return all(cv2.pointPolygonTest(contour, (float(x), float(y)), True) > -6 for x, y in truth)


@pytest.mark.parametrize("angle", [-9.0, 0.0, 7.0])
@pytest.mark.parametrize("invert", [False, True])
def test_finds_a_printed_line_in_either_polarity_and_tilt(angle, invert):
    frame, truth = frame_with_text("4071923", angle, invert)
    cands = find_strips(frame)
    assert cands, "no candidate"
    assert covers(expand(cands[0].quad), truth)


def test_flat_and_noise_frames_give_few_or_no_candidates():
    assert find_strips(np.full((480, 640), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 255, (480, 640), dtype=np.uint8)
    assert len(find_strips(noise)) <= 4


def test_tiny_frames_are_refused_quietly():
    assert find_strips(np.zeros((1, 1), np.uint8)) == []
    assert find_strips(np.zeros((10, 3000), np.uint8)) == []


def test_order_quad_puts_the_flatter_edge_on_top_left_to_right():
    long_box = order_quad(np.float32([[100, 10], [0, 10], [0, 0], [100, 0]]))  # listed oddly
    assert np.allclose(long_box, [[0, 0], [100, 0], [100, 10], [0, 10]])
    # One digit is taller than wide: its box stays upright (laid down by its long
    # side, the recogniser got the digit on its side).
    digit = order_quad(np.float32([[30, 0], [30, 50], [0, 50], [0, 0]]))
    assert np.allclose(digit, [[0, 0], [30, 0], [30, 50], [0, 50]])
    tilt = np.deg2rad(8)
    rot = np.float32([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    tilted = np.float32([[0, 0], [30, 0], [30, 50], [0, 50]]) @ rot.T
    q = order_quad(np.roll(tilted, 1, axis=0))
    assert np.allclose(q, tilted, atol=1e-4)


def test_rectify_makes_an_upright_strip():
    frame, truth = frame_with_text("88", angle=8.0)
    strip = rectify(frame, order_quad(truth))
    assert strip.ndim == 2 and strip.shape[1] > strip.shape[0]
    big = rectify(np.zeros((2000, 3000), np.uint8), rect_quad(0, 0, 2500, 500))
    assert big.shape[0] <= 64  # capped height: big crops are cut small


def test_expand_grows_around_the_centre():
    q = rect_quad(100, 100, 200, 40)
    e = expand(q)
    assert e[0][0] < 100 and e[2][0] > 300 and e[0][1] < 100 and e[2][1] > 140
    assert np.allclose(e.mean(axis=0), q.mean(axis=0), atol=1e-3)


def test_a_band_is_the_part_of_a_tilted_quad_between_two_shares_of_its_height():
    q = np.float32([[0, 0], [200, 20], [196, 60], [-4, 40]])  # tilted, 40 tall along its sides
    top, bottom = band(q, 0.0, 0.5), band(q, 0.5, 1.0)
    assert np.allclose(top[0], q[0]) and np.allclose(top[1], q[1])
    assert np.allclose(top[3], bottom[0]) and np.allclose(top[2], bottom[1])  # they meet half-way
    assert np.allclose(bottom[3], q[3]) and np.allclose(bottom[2], q[2])
    assert np.allclose(top[3], (q[0] + q[3]) / 2)
