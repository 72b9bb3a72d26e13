import cv2
import numpy as np
import pytest
from conftest import edge_energy

from digitcam.device.preprocess import fit_strip, to_grey


def test_keeps_aspect_and_pads_with_background():
    strip = np.full((20, 40), 200, np.uint8)
    strip[5:15, 5:35] = 10  # dark ink on light paper
    out = fit_strip(strip, 32, 192)
    assert out.shape == (32, 192) and out.dtype == np.uint8
    margin = 32 // 5
    assert (out[:, :margin] == 200).all()  # a margin of background on the left
    assert (out[:, margin + 64:] == 200).all()  # 40 * 32/20 = 64 columns of strip, then fill
    assert out[16, margin + 30] < 50


def test_pad_follows_polarity():
    strip = np.full((10, 10), 15, np.uint8)
    assert (fit_strip(strip, 32, 192)[:, 40:] == 15).all()


def test_wide_strip_is_squeezed_not_cropped():
    strip = np.zeros((10, 1000), np.uint8)
    strip[:, -5:] = 255  # ink at the far right must survive
    out = fit_strip(strip, 32, 192)
    assert out[:, 192 - 32 // 5 - 1].mean() > 100
    assert (out[:, -1] == 0).all()  # then the margin


def test_only_an_enlarged_strip_is_softened():
    rng = np.random.default_rng(3)
    cells = (rng.random((4, 10)) > 0.5).astype(np.uint8) * 255
    small = cv2.resize(cells, (80, 32), interpolation=cv2.INTER_NEAREST)  # hard edges
    at_height = fit_strip(small, 32, 192)
    assert (at_height[:, 6:86] == small).all()  # 32 rows already: copied untouched
    enlarged = fit_strip(small[::2, ::2], 32, 192)  # 16 rows: bilinear, then the blur
    plain = cv2.resize(small[::2, ::2], (80, 32), interpolation=cv2.INTER_LINEAR)
    assert edge_energy(enlarged[:, 6:86]) < 0.8 * edge_energy(plain)
    assert abs(float(enlarged[:, 6:86].mean()) - float(plain.mean())) < 2  # softened, not dimmed


def test_writes_into_given_buffer():
    buf = np.zeros((32, 192), np.uint8)
    result = fit_strip(np.full((8, 8), 77, np.uint8), 32, 192, out=buf)
    assert result is buf and (buf == 77).all()


@pytest.mark.parametrize("image", [
    np.zeros((1, 1), np.uint8),
    np.zeros((0, 5), np.uint8),
    np.ones((3000, 2), np.uint8),
    np.full((5, 5), 0.5, np.float64),
    np.full((5, 5, 3), 65535, np.uint16),
    np.full((5, 5, 4), 9, np.int32),
    np.array([[np.nan, np.inf]], np.float32),
])
def test_odd_inputs_become_a_valid_strip(image):
    out = fit_strip(to_grey(image), 32, 192)
    assert out.shape == (32, 192) and out.dtype == np.uint8


def test_to_grey_scales_unit_floats():
    assert to_grey(np.full((2, 2), 1.0, np.float32)).max() == 255
