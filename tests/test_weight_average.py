"""The weight average a run may ship: the moving average it claims, over both phases."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from digitcam.trainer.weight_average import WeightAverage  # noqa: E402


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([w.numpy().copy() for w in self.model.weights])


def _model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_the_average_is_the_warmed_up_moving_average_of_every_float_weight_across_fits():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 4)).astype("float32"), rng.normal(size=(48, 1)).astype("float32")
    model = _model()
    average, recorder = WeightAverage(horizon=6, every=2), _Recorder()
    initial = [w.numpy().copy() for w in model.weights]
    # Two fits, as a run's two phases: one average carries on across them.
    for _ in range(2):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                  callbacks=[recorder, average])
    assert len(recorder.seen) == 12

    expected, decay = initial, 1 - 2 / 6
    for n, weights in enumerate(recorder.seen[1::2], start=1):  # an update every 2nd step
        d = min(decay, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights, strict=True)]
    assert len(average.averages) == len(model.weights) == 8  # 2 dense x 2, BN x 4 (stats too)
    for got, want in zip(average.averages, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    # The average differs from the last weights, and swapping twice restores both.
    last = [w.numpy().copy() for w in model.weights]
    assert any(not np.allclose(a.numpy(), w) for a, w in zip(average.averages, last, strict=True))
    average.swap()
    for w, want in zip(model.weights, expected, strict=True):
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-5, atol=1e-6)
    average.swap()
    for w, want in zip(model.weights, last, strict=True):
        np.testing.assert_array_equal(w.numpy(), want)


def test_a_horizon_below_one_step_is_refused():
    with pytest.raises(ValueError, match="at least one step"):
        WeightAverage(horizon=0)
