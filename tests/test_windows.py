"""Display windows: the dark panel of a meter's LCD in a phone photo is found and read inside."""

import cv2
import numpy as np
import pytest

from digitcam.device.geometry import order_quad
from digitcam.device.windows import find_windows, inside


def photo(angle: float, size=(1280, 720), window=(640, 330, 560, 150)) -> tuple[np.ndarray, np.ndarray]:
    """A white housing with a grey LCD window holding dark digits, and the window's corners."""
    rng = np.random.default_rng(int(angle * 10) + 100)
    w, h = size
    image = np.clip(rng.normal(215, 6, (h, w)), 0, 255).astype(np.uint8)
    cx, cy, ww, wh = window
    corners = order_quad(cv2.boxPoints(((cx, cy), (ww, wh), angle)))
    cv2.fillPoly(image, [corners.astype(np.int32)], 95)
    for i, digit in enumerate("2900"):
        cv2.putText(image, digit, (int(cx - ww * 0.3 + i * 70), int(cy + 35)), cv2.FONT_HERSHEY_SIMPLEX,
                    3, 40, 6)
    cv2.putText(image, "LITRES", (int(cx - 120), int(cy + wh)), cv2.FONT_HERSHEY_SIMPLEX, 2, 20, 5)
    return image, corners


@pytest.mark.parametrize("angle", [0.0, 4.0, -7.0])
def test_the_window_is_found_where_it_was_drawn(angle):
    image, truth = photo(angle)
    found = find_windows(image)
    assert found, "no window"
    error = np.abs(found[0].quad - truth).max()
    assert error < 0.02 * image.shape[1], (found[0].quad, truth)
    for quad in inside(found[0].quad):  # the insides stay within the window
        assert (np.abs(quad - quad.mean(0)) <= np.abs(found[0].quad - found[0].quad.mean(0)) + 1e-3).all()


def test_a_window_cut_by_both_sides_of_the_frame_is_found():
    """A phone held close: the LCD runs off the frame left and right (most of pump-lq)."""
    image, _ = photo(0.0, window=(640, 330, 1400, 260))
    found = find_windows(image)
    assert found, "no window"
    top, bottom = found[0].quad[:, 1].min(), found[0].quad[:, 1].max()
    assert abs(top - 200) < 15 and abs(bottom - 460) < 15, found[0].quad


def test_a_window_filling_the_top_of_the_frame_is_found():
    """Held closer still, the LCD runs off the top too and fills most of the frame: the
    darker-than-around test must judge its middle against more than the window itself."""
    image, _ = photo(0.0, window=(640, 200, 1400, 500))
    found = find_windows(image)
    assert found, "no window"
    assert found[0].quad[:, 1].max() == pytest.approx(450, abs=15), found[0].quad


def test_open_scenes_and_tall_shapes_are_not_windows():
    rng = np.random.default_rng(1)
    noise = np.clip(rng.normal(128, 30, (480, 640)), 0, 255).astype(np.uint8)
    assert find_windows(noise) == []
    tall = np.full((480, 640), 220, np.uint8)
    tall[40:440, 280:360] = 60  # a door, not a display: taller than wide
    assert find_windows(tall) == []
