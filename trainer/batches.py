"""Training batches cut to the width their strips fill.

``fit_strip`` puts every strip at the left of the model's input and fills the
rest with its background: a third of the columns of the default mix are that
fill. A training step costs in proportion to the width (run C's network, batch
64, one host: 0.54 s at 192 columns, 0.37 s at 128, 0.27 s at 96), so strips of
similar width are batched together and each batch is cut to the widest of them.
The network is fully convolutional: it trains at any width and is exported at
the full one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Batch widths are multiples of this: a whole number of score columns (4 px each),
# and few enough distinct shapes that the convolution kernels are reused.
WIDTH_STEP = 16
PIXELS_PER_COLUMN = 4


def content_widths(x: npt.NDArray[np.uint8], right_margin: int, chunk: int = 4096
                   ) -> npt.NDArray[np.int32]:
    """Columns each strip of ``x`` (N, H, W[, 1]) needs: through its last column
    that differs from the fill at its right end, plus ``right_margin`` of fill (the
    margin ``fit_strip`` leaves, so a strip never meets the zero padding sooner
    than it does on the device)."""
    n, width = x.shape[0], x.shape[2]
    out = np.empty(n, np.int32)
    for start in range(0, n, chunk):  # the comparison is W bytes a row: keep it small
        images = x[start:start + chunk].reshape(-1, x.shape[1], width)
        used = (images != images[:, :, -1:]).any(axis=1)
        last = width - np.argmax(used[:, ::-1], axis=1)
        out[start:start + chunk] = np.where(used.any(axis=1), last, 0)
    return np.minimum(out + right_margin, width)


def label_columns(y: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Score columns CTC needs for each label of ``y`` ([length, classes…]): one
    a digit and a blank between each repeated pair. Fewer and the loss is infinite."""
    lengths = y[:, 0]
    labels = y[:, 1:]
    steps = np.arange(labels.shape[1] - 1)
    repeats = ((labels[:, 1:] == labels[:, :-1]) & (steps + 1 < lengths[:, None])).sum(axis=1)
    return (lengths + repeats).astype(np.int32)


def batch_widths(x: npt.NDArray[np.uint8], y: npt.NDArray[np.int32], right_margin: int
                 ) -> npt.NDArray[np.int32]:
    """The width each strip asks of its batch: its content, at least two columns
    a needed score column, rounded up to ``WIDTH_STEP`` and never past the input."""
    need = np.maximum(content_widths(x, right_margin),
                      2 * PIXELS_PER_COLUMN * label_columns(y))
    rounded = -(-need // WIDTH_STEP) * WIDTH_STEP
    return np.minimum(rounded, x.shape[2]).astype(np.int32)


class FittedBatches:
    """An epoch's strips in a random order, sorted by the width they ask (a stable
    sort keeps the order random within a width), cut into batches, and the batches
    shuffled; each batch is cut to its widest strip. As many steps as full-width
    batches: only the last batch of an epoch is partial.

    The pipeline is tf.data throughout: a Python generator feeding ``fit`` cost
    0.3 s a step here, more than the narrower batches save.
    """

    def __init__(self, x: npt.NDArray[np.uint8], y: npt.NDArray[np.int32], batch_size: int,
                 seed: int, right_margin: int) -> None:
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.widths = batch_widths(x, y, right_margin)

    def __len__(self) -> int:
        return -(-len(self.widths) // self.batch_size)

    def mean_width(self) -> float:
        """Mean columns a training step runs over, for the log."""
        ordered = np.sort(self.widths)
        return float(np.mean([ordered[i:i + self.batch_size].max()
                              for i in range(0, len(ordered), self.batch_size)]))

    def dataset(self):  # -> tf.data.Dataset; TensorFlow is imported only on the workstation
        """Keras iterates the dataset afresh each epoch, and each pass draws a new order."""
        import tensorflow as tf

        x, y = tf.constant(self.x), tf.constant(self.y)
        widths = tf.constant(self.widths, tf.int64)
        count, size, batches = len(self.widths), self.batch_size, len(self)

        def epoch(order):
            by_width = tf.gather(order, tf.argsort(tf.gather(widths, order), stable=True))
            # Seeded by the epoch's own order, so every epoch takes its batches differently.
            seed = tf.stack([tf.constant(self.seed, tf.int64), order[0]])
            shuffled = tf.random.experimental.stateless_shuffle(
                tf.range(batches, dtype=tf.int64), seed=seed)
            return tf.data.Dataset.from_tensor_slices(shuffled).map(
                lambda b: by_width[b * size:(b + 1) * size])

        def load(index):
            width = tf.reduce_max(tf.gather(widths, index))
            return tf.gather(x, index)[:, :, :width], tf.gather(y, index)

        orders = tf.data.Dataset.range(count).shuffle(count, seed=self.seed,
                                                      reshuffle_each_iteration=True).batch(count)
        # A known length: Keras then counts steps per epoch and prints progress.
        return (orders.flat_map(epoch).map(load)
                .apply(tf.data.experimental.assert_cardinality(batches)).prefetch(2))
