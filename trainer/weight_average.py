"""An exponential moving average of the network's weights over training.

The weights at the last step carry the noise of the last few hundred batches;
their average over the last ``horizon`` steps usually reads a little better
(Polyak averaging). The run keeps whichever of the two validates better.

Keras' own ``use_ema`` optimizers swap the average in at the end of every
``fit``, which would cut the run's second phase (a new mix, a second ``fit``)
loose from its first; this callback carries one average across both fits and
swaps only when asked. Batch-norm statistics are averaged with the weights,
so the averaged network normalises with statistics of its own trajectory.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class WeightAverage(keras.callbacks.Callback):
    """Keeps ``decay``-weighted averages of every model weight, updated every
    ``every`` steps (one graph call, so the cost per step stays well under 1 %)."""

    def __init__(self, horizon: int, every: int = 4) -> None:
        super().__init__()
        if horizon < 1:
            raise ValueError(f"the averaging horizon must be at least one step, not {horizon}")
        every = min(every, horizon)
        self.horizon = horizon
        self.decay = 1.0 - every / horizon
        self.every = every
        self.steps = 0
        self.updates: tf.Variable | None = None
        self.averages: list[tf.Variable] = []
        self.tracked: list = []  # the model's weights the averages follow, same order
        self._update = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.averages:  # a later phase: carry on the same average
            return
        # Floating weights only: a seed generator's integer state is not a weight.
        weights = [w for w in self.model.weights if "float" in str(w.dtype)]
        self.tracked = weights
        self.averages = [tf.Variable(tf.convert_to_tensor(w), trainable=False) for w in weights]
        self.updates = tf.Variable(0.0, trainable=False)

        @tf.function
        def update() -> None:
            assert self.updates is not None
            self.updates.assign_add(1.0)
            # Early on the average follows the weights closely (the usual warm-up),
            # so it never remembers the random initialisation.
            decay = tf.minimum(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
            for average, weight in zip(self.averages, weights, strict=True):
                average.assign(decay * average + (1.0 - decay) * tf.cast(weight, average.dtype))

        self._update = update

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1
        if self.steps % self.every == 0 and self._update is not None:
            self._update()

    def swap(self) -> None:
        """Exchange the model's weights and the averages (twice restores both)."""
        for average, weight in zip(self.averages, self.tracked, strict=True):
            held = tf.identity(weight)
            weight.assign(average)
            average.assign(held)
