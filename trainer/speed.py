"""How fast this machine trains a config, measured before an hour is spent on it.

The steps are timed on strips synthesised as the run draws them: what the
pixels show does not change a step's cost, but with width-fitted batches
(batches.py) how much of the input the strips fill does. A minute of timing
predicts the hour. The same machine has trained the shipped network at 0.17 s and at
0.4-0.5 s a step on different days (BENCHMARKS.md, Training): measure, don't assume.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from . import data
from .config import TrainConfig
from .train import fit_feed, steps_per_epoch, training_model


@dataclass(frozen=True)
class StepTiming:
    parameters: int
    batch_size: int
    # Full-width batches: the median step. Width-fitted batches: the timed steps' wall
    # time over their strips, times the batch size (narrow steps are quick, wide ones
    # slow: only the mean predicts the run, and a median would flatter it).
    seconds_per_step: float
    fastest: float
    slowest: float
    steps_per_run: int
    training_minutes: float  # steps_per_run at seconds_per_step; synthesis and evaluation not included

    def to_dict(self) -> dict:
        return asdict(self)


def time_steps(config: TrainConfig, steps: int = 30, warmup: int = 5, seed: int = 0) -> StepTiming:
    """Time ``steps`` batches of ``config``'s network through ``model.fit``, as a real
    run takes them, after ``warmup`` batches in a fit of their own (the first traces the graph)."""
    if steps < 1 or warmup < 1:
        raise ValueError("need at least one timed step and one warm-up step")
    batch = config.batch_size
    digits = data.mnist_train(config) if config.kinds.get("handwriting") else None
    x, y, _ = data.make_split(config, (warmup + steps) * batch, seed, digits)
    split = warmup * batch
    keras.utils.set_random_seed(seed)
    model = training_model(config)
    model.fit(**fit_feed(config, x[:split], y[:split], seed), epochs=1, verbose=0)
    clock = _StepClock()
    model.fit(**fit_feed(config, x[split:], y[split:], seed), epochs=1, verbose=0, callbacks=[clock])
    per_step = np.diff([clock.began, *clock.ends])
    if config.fitted_batches:
        typical = (clock.ends[-1] - clock.began) / (steps * batch) * batch
    else:  # the median: one step slowed by another process or a page-fault storm does not move it
        typical = float(np.median(per_step))
    total = steps_per_epoch(config) * config.epochs
    return StepTiming(
        parameters=int(model.count_params()), batch_size=batch,
        seconds_per_step=round(typical, 4), fastest=round(float(per_step.min()), 4),
        slowest=round(float(per_step.max()), 4), steps_per_run=total,
        training_minutes=round(total * typical / 60, 1))


class _StepClock(keras.callbacks.Callback):
    """Records when training starts and when each step ends."""

    def __init__(self) -> None:
        super().__init__()
        self.began = 0.0
        self.ends: list[float] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())
