"""From per-frame recognitions to accepted readings.

A single frame is noisy (motion, glare, a digit mid-roll), so a value is
accepted only when ``k`` of the last ``n`` frames read the same text. On top of
that, optional plausibility rules for counters reject values that agree but
cannot be right (going backwards, rising too fast, wrong length).

Every frame gets a ``Verdict``; a rejection always says why, so the field log
can show what was seen and not accepted rather than dropping it.

Rules, in the order applied to each frame:

1. no digits (empty text): votes as a disagreement, rejected "no digits";
2. confidence below ``min_confidence``: does not vote (its slot in the window
   is an abstention, so a run of poor frames wears out old agreement);
3. ``expected_digits`` mismatch: a frame-local fault, votes as a disagreement;
4. fewer than ``k`` of the last ``n`` frames agree: rejected, with the count;
5. the agreed value must parse as an integer when a counter rule is on, must
   not be lower than the last accepted value (``monotonic``) and must not have
   risen faster than ``max_rate_per_min`` since the last accepted value was
   first accepted (see ``_check_rate``);
6. ``emit="every"`` (default) accepts every agreeing frame, so each frame that
   confirms the value is published; ``emit="change"`` accepts a value once and
   rejects its repeats with reason "unchanged ..." until the value changes.

Rejected values never update the state that rules 5 and 6 compare against.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import StabiliserConfig

logger = logging.getLogger(__name__)

EMIT_MODES = ("every", "change")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    text: str  # the text this frame offered
    reason: str  # why it was rejected; "" when accepted


class Stabiliser:
    def __init__(self, k: int = 3, n: int = 5, min_confidence: float = 0.6, monotonic: bool = False,
                 max_rate_per_min: float = 0.0, expected_digits: int = 0,
                 clock: Callable[[], float] = time.monotonic, emit: str = "every") -> None:
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        if emit not in EMIT_MODES:
            raise ValueError(f"emit must be one of {EMIT_MODES}, got {emit!r}")
        if max_rate_per_min < 0 or expected_digits < 0:
            raise ValueError("max_rate_per_min and expected_digits must be >= 0")
        self.k, self.n = k, n
        self.min_confidence = min_confidence
        self.monotonic = monotonic
        self.max_rate_per_min = max_rate_per_min
        self.expected_digits = expected_digits
        self.emit = emit
        self._clock = clock
        # None is an abstention: the frame counts towards n but agrees with nothing.
        self._votes: deque[str | None] = deque(maxlen=n)
        self._last_text: str | None = None
        self._last_value: int | None = None
        self._last_since: float = 0.0  # clock when _last_text was first accepted

    @classmethod
    def from_config(cls, cfg: StabiliserConfig, clock: Callable[[], float] = time.monotonic) -> Stabiliser:
        return cls(k=cfg.k, n=cfg.n, min_confidence=cfg.min_confidence, monotonic=cfg.monotonic,
                   max_rate_per_min=cfg.max_rate_per_min, expected_digits=cfg.expected_digits,
                   clock=clock, emit=cfg.emit)

    @property
    def last_accepted(self) -> str | None:
        return self._last_text

    def reset(self) -> None:
        """Forget votes and the last accepted value (e.g. after a meter is replaced)."""
        self._votes.clear()
        self._last_text = None
        self._last_value = None

    def offer(self, text: str, confidence: float) -> Verdict:
        """The verdict on one frame's recognition."""
        if not text:
            self._votes.append(None)
            return Verdict(False, text, "no digits")
        if confidence < self.min_confidence:
            self._votes.append(None)
            return Verdict(False, text, f"low confidence {confidence:.2f} < {self.min_confidence:.2f}")
        if self.expected_digits:
            digits = sum(c.isdigit() for c in text)
            if digits != self.expected_digits:
                self._votes.append(None)
                return Verdict(False, text, f"expected {self.expected_digits} digits, got {digits}")
        self._votes.append(text)
        agree = sum(v == text for v in self._votes)
        if agree < self.k:
            return Verdict(False, text, f"no agreement yet: {agree} of last {len(self._votes)} frames, "
                                        f"need {self.k} of {self.n}")
        now = self._clock()
        value: int | None = None
        if self.monotonic or self.max_rate_per_min:
            # Counters compare as integers; str.isdigit alone would pass "²".
            if not (text.isascii() and text.isdigit()):
                return Verdict(False, text, f"not a whole number: {text!r}")
            value = int(text)
            if self._last_value is not None:
                reason = self._check_counter(self._last_value, value, now)
                if reason:
                    return Verdict(False, text, reason)
        if text == self._last_text:
            if self.emit == "change":
                return Verdict(False, text, f"unchanged {text}")
        else:
            if self._last_text is not None:
                logger.debug("value %s -> %s", self._last_text, text)
            self._last_text, self._last_value, self._last_since = text, value, now
        return Verdict(True, text, "")

    def _check_counter(self, last: int, value: int, now: float) -> str:
        if self.monotonic and value < last:
            return f"decrease {self._last_text} -> {value}"
        if self.max_rate_per_min and value > last:
            return self._check_rate(last, value, now)
        return ""

    def _check_rate(self, last: int, value: int, now: float) -> str:
        # Measured from when the previous value was FIRST accepted: with emit="every"
        # it is re-accepted every frame, and timing a +1 step from the previous frame
        # would make any counter look infinitely fast. Just after start-up the old
        # value may have been showing for longer than we saw it, so a legal step can
        # be rejected briefly; the next agreeing frames pass once enough time has gone.
        minutes = (now - self._last_since) / 60.0
        rate = (value - last) / minutes if minutes > 0 else float("inf")
        if rate > self.max_rate_per_min:
            return (f"rate {rate:.1f}/min > {self.max_rate_per_min:g}/min "
                    f"({self._last_text} -> {value} in {minutes * 60:.1f} s)")
        return ""
