"""Strip in, digits out: preprocess, one int8 invoke, CTC decode.

The interpreter is built once per model and its input buffer reused, so the
per-strip path allocates only the small score array.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import bundle
from .decode import Recognition, ctc_greedy, text_log_likelihoods
from .preprocess import GreyImage, fit_strip, to_grey
from .profiling import DECODE, INFER, PREPROCESS, TOTAL
from .runtime import Model


class Recognizer:
    def __init__(self, model: str | Path | None = None, threads: int = 1,
                 runtime: str | None = None) -> None:
        self.meta = bundle.read(model, bundle.RecogniserBundle)
        self._model = Model(self.meta.tflite_path, threads, runtime)
        self.runtime, self.load_ms, self.info = self._model.runtime, self._model.load_ms, self._model.info
        bundle.check_against_model(self.meta, self._model.input, self._model.output,
                                   [1, self.meta.bundle.output.time_steps, self.meta.bundle.num_classes])
        self._strip = np.empty((self.meta.height, self.meta.width), dtype=np.uint8)
        self._batch = np.empty((1, self.meta.height, self.meta.width, 1), dtype=self._model.input["dtype"])

    @property
    def sha256(self) -> str:
        return self.meta.sha256

    def scores(self, strip: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Dequantised per-column scores (time, classes) for a model-sized strip."""
        self._batch[0, :, :, 0] = strip
        return self._model.run(self._batch)[0]

    def text_log_likelihoods(self, reads: list[Recognition], texts: list[str],
                             weights: Sequence[float] | None = None) -> npt.NDArray[np.float64]:
        """How likely each of ``texts`` is under the scores of all ``reads`` together
        (log-likelihoods summed, each times its weight)."""
        framings = [read.probs for read in reads if read.probs is not None]
        if len(framings) != len(reads):
            raise ValueError("a read without its scores")
        return text_log_likelihoods(framings, texts, self.meta.bundle.alphabet, self.meta.bundle.blank_index,
                                    weights)

    def read(self, image: npt.NDArray[Any]) -> Recognition:
        """Read a strip image of any size, dtype or channel count."""
        return self.read_grey(to_grey(image))

    def read_grey(self, grey: GreyImage, stretch: float = 1.0) -> Recognition:
        """Read a 2-D uint8 strip (the frame reader converts each frame once), ``stretch``
        times wider than it is (``fit_strip``)."""
        t0 = time.monotonic()
        fit_strip(grey, self.meta.height, self.meta.width, out=self._strip, stretch=stretch)
        t1 = time.monotonic()
        scores = self.scores(self._strip)
        t2 = time.monotonic()
        decoded = ctc_greedy(scores, self.meta.bundle.alphabet, self.meta.bundle.blank_index)
        t3 = time.monotonic()
        latency = {PREPROCESS: (t1 - t0) * 1000.0, INFER: (t2 - t1) * 1000.0,
                   DECODE: (t3 - t2) * 1000.0, TOTAL: (t3 - t0) * 1000.0}
        if len(decoded.text) > self.meta.bundle.max_length:  # longer than any label it learnt: noise
            # No read, but its scores kept: a reader weighing framings needs what this one saw.
            return Recognition("", 0.0, (), latency, probs=decoded.probs)
        return replace(decoded, latency_ms=latency)
