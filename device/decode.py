"""CTC decoding of per-column class scores, in numpy: the greedy best path, and how likely
any given text is under the same scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# The forward pass's rescaling period in columns: probabilities of 8 columns multiplied stay
# far above float64's floor even at the model's least likely scores.
RESCALE_EVERY = 8


@dataclass(frozen=True)
class Recognition:
    text: str
    confidence: float  # the least certain column decision on the best path
    digit_confidences: tuple[float, ...]
    latency_ms: dict[str, float] = field(default_factory=dict)  # the recogniser's stages
    # The per-column class probabilities (time, classes) it was decoded from, kept so that a
    # reader can weigh another framing's text against them (``text_log_likelihoods``).
    probs: npt.NDArray[np.float32] | None = field(default=None, repr=False, compare=False, kw_only=True)


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
    return Recognition("".join(chars), float(best_p.min()), tuple(round(c, 4) for c in confs), probs=probs)


def text_log_likelihoods(framings: list[npt.NDArray[np.float32]], texts: list[str], alphabet: str,
                         blank: int, weights: Sequence[float] | None = None) -> npt.NDArray[np.float64]:
    """log P(text | scores) under CTC, every alignment summed, for each of ``texts``, summed
    over ``framings`` (per-column class probabilities, each (time, classes), one time length),
    each framing's times its weight (positive; default 1).

    The forward pass over every (framing, text) pair at once: each pair's states (blank,
    digit, blank, ...; padded with blanks past its end, which never feed back) sit side by
    side in one vector, and a column is one product with a block-diagonal transition matrix:
    two numpy calls a column instead of a dozen, which is what costs here (~50 x 11 scores).
    Rescaled every RESCALE_EVERY columns so that long strips do not underflow.
    """
    labels = [[k if k < blank else k + 1 for k in map(alphabet.index, text)] for text in texts]
    ends = np.array([2 * len(label) for label in labels], np.intp)  # each text's last state
    width = int(ends.max(initial=0)) + 1
    states = np.full((len(texts), width), blank, np.intp)
    for row, label in enumerate(labels):
        states[row, 1:ends[row]:2] = label
    # A state is reached from itself and the one before, and from two back when it is a
    # digit unlike the digit before it.
    step = np.eye(width, dtype=np.float64) + np.eye(width, k=1)
    rows, size = len(framings) * len(texts), width
    transition = np.zeros((rows * size, rows * size))
    for row in range(rows):
        text_states = states[row % len(texts)]
        block = step.copy()
        skip = (text_states[2:] != blank) & (text_states[2:] != text_states[:-2])
        block[np.arange(width - 2), np.arange(2, width)] = skip
        transition[row * size:(row + 1) * size, row * size:(row + 1) * size] = block
    emit = np.concatenate([probs[:, states.ravel()] for probs in framings], axis=1).astype(np.float64)
    alpha = emit[0] * np.tile(np.arange(width) < 2, rows)
    log_scale = np.zeros(rows)
    for column in range(1, emit.shape[0]):
        alpha = (alpha @ transition) * emit[column]
        if column % RESCALE_EVERY == 0 or column == emit.shape[0] - 1:
            blocks = alpha.reshape(rows, size)
            total = blocks.sum(axis=1)
            total[total == 0.0] = 1.0  # a text these scores cannot produce: its row stays zero
            blocks /= total[:, None]
            log_scale += np.log(total)
    blocks = alpha.reshape(rows, size)
    row_index = np.arange(rows)
    row_ends = np.tile(ends, len(framings))
    before_end = np.where(row_ends > 0, blocks[row_index, np.maximum(row_ends - 1, 0)], 0.0)
    final = blocks[row_index, row_ends] + before_end  # ending on the last digit or the blank after it
    scale = np.ones(len(framings)) if weights is None else np.asarray(weights, np.float64)
    with np.errstate(divide="ignore"):  # a text a framing cannot produce: -inf
        per_framing = (np.log(final) + log_scale).reshape(len(framings), len(texts))
    return (per_framing * scale[:, None]).sum(axis=0)
