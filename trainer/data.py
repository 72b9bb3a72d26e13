"""Training and validation arrays from the synthesiser, and CTC label encoding."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import numpy.typing as npt

from . import mnist
from .config import TrainConfig
from .synth import strips

logger = logging.getLogger(__name__)

MAX_LENGTH = 10
VAL_SEED_OFFSET = 1_000_003  # validation never shares a generator with training
FINAL_SEED_OFFSET = 2_000_003  # a run's final epochs draw new strips, not the first ones reweighted


def encode_labels(labels: list[str], alphabet: str, blank: int) -> npt.NDArray[np.int32]:
    """(N, 1 + MAX_LENGTH): the length, then class indices padded with blank."""
    index = {ch: (i if i < blank else i + 1) for i, ch in enumerate(alphabet)}
    out = np.full((len(labels), 1 + MAX_LENGTH), blank, np.int32)
    for row, text in enumerate(labels):
        if len(text) > MAX_LENGTH:
            raise ValueError(f"label {text!r} is longer than {MAX_LENGTH}")
        out[row, 0] = len(text)
        out[row, 1:1 + len(text)] = [index[ch] for ch in text]
    return out


Digits = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]
Split = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32], list[str]]


def mnist_train(config: TrainConfig) -> Digits:
    """Only MNIST's training split ever reaches the training data."""
    (x_train, y_train), _ = mnist.load(config.mnist_path)
    return x_train, y_train


def _build_args(config: TrainConfig, count: int, seed: int, digits: Digits,
                mix: dict[str, float] | None) -> tuple[tuple, dict]:
    """``strips.build``'s arguments for ``count`` strips of ``mix`` (default: the config's)."""
    return ((count, seed, mix or config.kinds, config.model.height, config.model.width, digits),
            {"workers": config.workers, "empty_rate": config.empty_share,
             "real_path": config.real_path, "real_restyle": config.real_restyle,
             "meter_windows": config.meter_windows, "meter_faces": config.meter_faces,
             "face_lines": config.face_lines})


def _for_training(config: TrainConfig, built: tuple[npt.NDArray[np.uint8], list[str], list[str]]
                  ) -> Split:
    """Strips with a channel axis, labels encoded for CTC, kinds."""
    images, labels, kinds = built
    return (images[..., None],
            encode_labels(labels, config.model.alphabet, config.model.blank_index), kinds)


def make_split(config: TrainConfig, count: int, seed: int, digits: Digits,
               mix: dict[str, float] | None = None) -> Split:
    """``count`` strips of ``mix`` (default: the config's kinds), labels encoded for CTC."""
    started = time.monotonic()
    args, kwargs = _build_args(config, count, seed, digits, mix)
    built = strips.build(*args, **kwargs)
    logger.info("synthesised %d strips in %.0f s", count, time.monotonic() - started)
    return _for_training(config, built)


class PendingSplit:
    """``make_split`` in a background process at the lowest CPU priority, for strips
    needed later: training in the foreground keeps its cores and the synthesis takes
    the cycles it leaves idle (training alone uses ~175 % of two cores: BENCHMARKS.md).

    The process is spawned, not forked: a fork of a process whose TensorFlow
    threads are running can inherit their locks held. The synthesiser never
    imports TensorFlow, so the child starts in about a second.
    """

    def __init__(self, config: TrainConfig, count: int, seed: int, digits: Digits,
                 mix: dict[str, float] | None = None) -> None:
        self.config, self.count = config, count
        self._started = time.monotonic()
        self._pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                                         initializer=os.nice, initargs=(19,))
        args, kwargs = _build_args(config, count, seed, digits, mix)
        self._future = self._pool.submit(strips.build, *args, **kwargs)
        self._finished: float | None = None  # when the strips arrived (the pool's own thread)
        self._future.add_done_callback(lambda _: setattr(self, "_finished", time.monotonic()))

    def wait(self) -> Split:
        waiting = time.monotonic()
        try:
            built = self._future.result()
        finally:
            self._pool.shutdown()
        finished = self._finished or time.monotonic()
        logger.info("synthesised %d strips in the background in %.0f s, %.0f s before they "
                    "were needed (waited %.0f s)", self.count, finished - self._started,
                    max(0.0, waiting - finished), time.monotonic() - waiting)
        return _for_training(self.config, built)

    def cancel(self) -> None:
        """Stop the synthesis (a run that stopped early needs no more strips)."""
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()  # the executor has no public way to stop a running job
        self._pool.shutdown(wait=True, cancel_futures=True)
