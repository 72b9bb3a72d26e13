"""CTC greedy decoding of per-column class scores, in numpy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Recognition:
    text: str
    confidence: float  # the least certain column decision on the best path
    digit_confidences: tuple[float, ...]
    latency_ms: dict[str, float] = field(default_factory=dict)  # the recogniser's stages


def softmax(logits: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def ctc_greedy(logits: npt.NDArray[np.floating], alphabet: str, blank: int) -> Recognition:
    """Best-path decode of ``logits`` shaped (time, classes).

    Repeats collapse, blanks drop. A digit's confidence is the highest
    probability it reaches within its run of columns; the string's confidence
    is the lowest column maximum on the whole path, so one doubtful column
    (a possible missed or extra digit) lowers it even when it decoded to blank.
    """
    if logits.ndim != 2 or logits.shape[1] != len(alphabet) + 1:
        raise ValueError(f"expected (time, {len(alphabet) + 1}) scores, got {logits.shape}")
    if logits.shape[0] == 0:
        return Recognition("", 0.0, ())
    probs = softmax(logits)
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confs: list[float] = []
    previous = blank
    for cls, p in zip(best.tolist(), best_p.tolist(), strict=True):
        if cls != blank:
            if cls != previous:
                chars.append(alphabet[cls if cls < blank else cls - 1])
                confs.append(p)
            elif p > confs[-1]:
                confs[-1] = p
        previous = cls
    return Recognition("".join(chars), float(best_p.min()), tuple(round(c, 4) for c in confs))
