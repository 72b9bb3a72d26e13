"""How fast this machine trains a config, measured before an hour is spent on it.

Training steps on random strips cost what steps on real strips cost (the
network does not care what the pixels show), so a minute of timing predicts
the hour. The same machine has trained the shipped network at 0.17 s and at
0.4-0.5 s a step on different days (BENCHMARKS.md, Training): measure, don't assume.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from .config import TrainConfig
from .data import encode_labels
from .model import build
from .train import compile_for_training, steps_per_epoch


@dataclass(frozen=True)
class StepTiming:
    parameters: int
    batch_size: int
    seconds_per_step: float  # median over the timed steps
    fastest: float
    slowest: float
    steps_per_run: int
    training_minutes: float  # steps_per_run at the median; synthesis and evaluation not included

    def to_dict(self) -> dict:
        return asdict(self)


def time_steps(config: TrainConfig, steps: int = 30, warmup: int = 5, seed: int = 0) -> StepTiming:
    """Time ``steps`` training steps of ``config``'s network through ``model.fit``,
    as a real run takes them, after ``warmup`` (the first traces the graph)."""
    if steps < 1 or warmup < 1:
        raise ValueError("need at least one timed step and one warm-up step")
    args, batch = config.model, config.batch_size
    count = (warmup + steps) * batch
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (count, args.height, args.width, 1), dtype=np.uint8)
    # Five-digit labels: CTC's cost grows with the label, and five is the seed protocol's.
    texts = ["".join(rng.choice(list(args.alphabet), 5)) for _ in range(count)]
    y = encode_labels(texts, args.alphabet, args.blank_index)
    keras.utils.set_random_seed(seed)
    model = compile_for_training(build(args), config)
    clock = _StepClock()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0, callbacks=[clock])
    # The median: one step slowed by another process or a page-fault storm does not move it.
    per_step = np.diff(clock.ends)[warmup - 1:]
    median = float(np.median(per_step))
    total = steps_per_epoch(config) * config.epochs
    return StepTiming(
        parameters=int(model.count_params()), batch_size=batch,
        seconds_per_step=round(median, 4), fastest=round(float(per_step.min()), 4),
        slowest=round(float(per_step.max()), 4), steps_per_run=total,
        training_minutes=round(total * median / 60, 1))


class _StepClock(keras.callbacks.Callback):
    """Records when each training step ends."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())
