"""Width-fitted training batches: cut only fill, keep room for CTC, same network."""

import numpy as np
import pytest

from digitcam.device.preprocess import fit_strip, strip_margin
from digitcam.trainer.batches import (
    WIDTH_STEP,
    FittedBatches,
    batch_widths,
    content_widths,
    label_columns,
)
from digitcam.trainer.data import encode_labels

HEIGHT, WIDTH = 32, 192
MARGIN = strip_margin(HEIGHT)


def _strips(widths: list[int], seed: int = 0) -> np.ndarray:
    """Noise strips drawn ``widths`` columns wide at the model's height, fitted as in training."""
    rng = np.random.default_rng(seed)
    return np.stack([fit_strip(rng.integers(0, 256, (HEIGHT, w), dtype=np.uint8), HEIGHT, WIDTH)
                     for w in widths])[..., None]


def test_content_is_the_strip_and_both_margins():
    x = _strips([10, 50, 120, 400])
    # 400 columns are squeezed into the room between the margins: the whole input.
    assert content_widths(x, MARGIN).tolist() == [10 + 2 * MARGIN, 50 + 2 * MARGIN,
                                                   120 + 2 * MARGIN, WIDTH]


def test_a_strip_of_nothing_but_fill_needs_only_the_margin():
    x = np.full((2, HEIGHT, WIDTH, 1), 77, np.uint8)
    assert content_widths(x, MARGIN).tolist() == [MARGIN, MARGIN]


@pytest.mark.parametrize("text, columns", [("", 0), ("7", 1), ("123", 3), ("112", 4),
                                           ("1111", 7), ("0000000000", 19), ("1212", 4)])
def test_ctc_needs_a_column_a_digit_and_a_blank_between_repeats(text, columns):
    assert label_columns(encode_labels([text], "0123456789", 10)).tolist() == [columns]


def test_batch_widths_round_up_and_leave_ctc_two_pixels_columns_a_score():
    x = _strips([10, 10, 50, 200])
    y = encode_labels(["1", "0000000000", "12", "3"], "0123456789", 10)
    widths = batch_widths(x, y, MARGIN)
    assert widths.tolist() == [32, 160, 64, WIDTH]  # 22 -> 32; 19 columns x 8 px -> 160; 62 -> 64
    assert all(w % WIDTH_STEP == 0 for w in widths)


def _epoch(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """One pass over ``dataset``, as Keras takes one an epoch."""
    return [(images.numpy(), labels.numpy()) for images, labels in dataset]


def test_an_epoch_feeds_every_strip_once_cut_to_its_width_and_a_new_order_each_time():
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(2)
    x = _strips(rng.integers(8, 300, size=300).tolist())
    y = encode_labels([str(i) for i in range(300)], "0123456789", 10)  # each label once
    feed = FittedBatches(x, y, 32, seed=3, right_margin=MARGIN)
    dataset = feed.dataset()
    first = _epoch(dataset)
    assert len(first) == len(feed) and len(set(feed.widths.tolist())) > 3
    rows = []
    for images, labels in first:
        batch_rows = [int(np.flatnonzero((y == label).all(axis=1))[0]) for label in labels]
        rows += batch_rows
        asked = feed.widths[batch_rows]
        assert images.shape[2] == asked.max()  # cut to the widest strip in it
        # Sorted before cutting: no strip of another batch asks a width strictly inside.
        others = np.delete(feed.widths, batch_rows)
        assert not ((others > asked.min()) & (others < asked.max())).any()
        for image, row in zip(images, batch_rows, strict=True):
            width = image.shape[1]
            assert (image == x[row, :, :width]).all()
            assert (x[row, :, width:] == x[row, :, -1:]).all(), "a cut dropped more than fill"
    assert sorted(rows) == list(range(300))
    assert [len(labels) for _, labels in first].count(32) == 300 // 32  # one partial batch
    assert feed.mean_width() < WIDTH
    second = _epoch(dataset)
    assert [lab.tolist() for _, lab in first] != [lab.tolist() for _, lab in second]


def test_the_network_trained_at_any_width_is_the_one_exported():
    pytest.importorskip("tensorflow")
    from digitcam.trainer.config import TrainConfig, tiny
    from digitcam.trainer.model import build

    args = tiny(TrainConfig()).model
    open_width, fixed = build(args, any_width=True), build(args, batch_size=1)
    fixed.set_weights(open_width.get_weights())
    x = _strips([90]).astype(np.float32)
    np.testing.assert_allclose(open_width.predict(x, verbose=0), fixed.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    narrow = open_width.predict(x[:, :, :96], verbose=0)
    assert narrow.shape == (1, 96 // 4, args.num_classes)
