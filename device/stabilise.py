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

The last accepted value is the state worth keeping: the daemon saves it
(``previous()``) and restores it after a restart (``restore()``), and a user
corrects it with ``set_previous()`` (``digitcam device set-value``, or the MQTT
command topic) after replacing a meter. A reason names where a rejecting
previous value came from when it was not read in this run. A counter rule that
keeps rejecting one agreed value for ``recover_after_s`` seconds (a misread
that got accepted, a meter swapped without telling us) gives way: that value
is accepted as the new previous value, with a warning, so the state cannot
stay stuck forever.
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class Previous:
    """The last accepted value, as saved across restarts."""

    text: str
    age_s: float  # seconds since it was first accepted (or set)
    origin: str = "read"  # "read", "restored" (from the last run) or "set" (by a user)


@dataclass(eq=False)
class Stabiliser:
    k: int = 3
    n: int = 5
    min_confidence: float = 0.6
    monotonic: bool = False
    max_rate_per_min: float = 0.0
    expected_digits: int = 0
    clock: Callable[[], float] = time.monotonic
    emit: str = "every"
    recover_after_s: float = 0.0

    def __post_init__(self) -> None:
        # The settings are a checked [stabiliser] section's (from_config): config.py holds
        # k <= n, the emit modes and the ranges, for the daemon, bench and read alike.
        # None is an abstention: the frame counts towards n but agrees with nothing.
        self._votes: deque[str | None] = deque(maxlen=self.n)
        self._last_text: str | None = None
        self._last_value: int | None = None
        self._last_since: float = 0.0  # clock when _last_text was first accepted
        self._last_origin = "read"
        # The agreed value a counter rule keeps rejecting, and since when (clock).
        self._stuck: tuple[str, float] | None = None

    @classmethod
    def from_config(cls, cfg: StabiliserConfig, clock: Callable[[], float] = time.monotonic) -> Stabiliser:
        return cls(**dataclasses.asdict(cfg), clock=clock)  # the section's keys are the parameters

    def previous(self) -> Previous | None:
        """The last accepted value and its age, for saving; None before the first."""
        if self._last_text is None:
            return None
        return Previous(self._last_text, max(0.0, self.clock() - self._last_since), self._last_origin)

    def restore(self, previous: Previous, *, same_run: bool = False) -> None:
        """Take up a saved previous value (after a restart, or ``same_run`` after a reload).

        Its age keeps the rate rule honest: a meter that advanced while the
        daemon was down has had that long to do it.
        """
        origin = "restored" if previous.origin == "read" and not same_run else previous.origin
        self._set_last(previous.text, self.clock() - max(0.0, previous.age_s), origin)

    def set_previous(self, text: str) -> None:
        """A user's correction: ``text`` is now the last accepted value, as of now."""
        self._set_last(text, self.clock(), "set")

    def _set_last(self, text: str, since: float, origin: str) -> None:
        self._last_text, self._last_since, self._last_origin = text, since, origin
        self._last_value = int(text) if text.isascii() and text.isdigit() else None
        self._stuck = None

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
        now = self.clock()
        value: int | None = None
        if self.monotonic or self.max_rate_per_min:
            # Counters compare as integers; str.isdigit alone would pass "²".
            if not (text.isascii() and text.isdigit()):
                return Verdict(False, text, f"not a whole number: {text!r}")
            value = int(text)
            if self._last_value is not None:
                reason = self._check_counter(self._last_value, value, now)
                if reason and not self._gives_way(text, reason, now):
                    return Verdict(False, text, reason)
        self._stuck = None
        if text == self._last_text:
            # A restored or set value seen on the meter for the first time is news
            # once (after a restart, the unit confirms what it reads), then a repeat.
            confirmed, self._last_origin = self._last_origin != "read", "read"
            if self.emit == "change" and not confirmed:
                return Verdict(False, text, f"unchanged {text}")
        else:
            if self._last_text is not None:
                logger.debug("value %s -> %s", self._last_text, text)
            self._last_text, self._last_value, self._last_since = text, value, now
            self._last_origin = "read"
        return Verdict(True, text, "")

    def _gives_way(self, text: str, reason: str, now: float) -> bool:
        """True once the counter rules have rejected the agreed ``text`` for
        ``recover_after_s`` (0 = never): the rules then accept it."""
        if self._stuck is None or self._stuck[0] != text:
            self._stuck = (text, now)
        if not self.recover_after_s or now - self._stuck[1] < self.recover_after_s:
            return False
        logger.warning("%s has been rejected for %.0f s (%s); taking it as the new previous value",
                       text, now - self._stuck[1], reason)
        return True

    def _origin_note(self) -> str:
        return {"restored": " (the previous value saved by the last run)",
                "set": " (the previous value set by the user)"}.get(self._last_origin, "")

    def _check_counter(self, last: int, value: int, now: float) -> str:
        if self.monotonic and value < last:
            return f"decrease {self._last_text} -> {value}{self._origin_note()}"
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
                    f"({self._last_text} -> {value} in {minutes * 60:.1f} s){self._origin_note()}")
        return ""
