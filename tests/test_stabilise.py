"""The stabiliser: k-of-n agreement, the confidence floor and the counter rules."""

from __future__ import annotations

from digitcam.device.config import StabiliserConfig
from digitcam.device.stabilise import Stabiliser, Verdict


class FakeClock:
    """Injected time: the stabiliser reads it, the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(stab: Stabiliser, texts: list[str], confidence: float = 0.9) -> list[Verdict]:
    verdicts = [stab.offer(t, confidence) for t in texts]
    for v in verdicts:  # a rejection is never silent
        assert v.accepted == (v.reason == "")
    return verdicts


def accepted(verdicts: list[Verdict]) -> list[bool]:
    return [v.accepted for v in verdicts]


def test_k_of_n_agreement() -> None:
    stab = Stabiliser(k=3, n=5)
    v = feed(stab, ["123", "123", "128", "123", "123", "128", "128"])
    # The last frame's window is 128 123 123 128 128: the new value has 3 of 5.
    assert accepted(v) == [False, False, False, True, True, False, True]
    assert v[0].reason == "no agreement yet: 1 of last 1 frames, need 3 of 5"
    assert v[5].reason == "no agreement yet: 2 of last 5 frames, need 3 of 5"
    assert (v[3].text, v[5].text) == ("123", "128")
    assert stab.previous().text == "128"


def test_agreement_slides_out_of_the_window() -> None:
    stab = Stabiliser(k=2, n=3)
    assert accepted(feed(stab, ["7", "7", "1", "2", "7"])) == [False, True, False, False, False]


def test_empty_text_is_never_accepted_and_votes_against() -> None:
    stab = Stabiliser(k=2, n=2)
    v = feed(stab, ["", "", "5", "", "5"])
    assert accepted(v) == [False] * 5
    assert v[0].reason == "no digits"
    assert stab.offer("5", 0.9).accepted


def test_confidence_floor() -> None:
    stab = Stabiliser(k=2, n=3, min_confidence=0.6)
    low = stab.offer("42", 0.41)
    assert not low.accepted and low.reason == "low confidence 0.41 < 0.60"
    assert not stab.offer("42", 0.9).accepted  # the low frame did not vote
    assert stab.offer("42", 0.6).accepted  # the floor itself votes


def test_low_confidence_frames_use_up_the_window() -> None:
    stab = Stabiliser(k=2, n=3)
    stab.offer("9", 0.9)
    stab.offer("9", 0.1)
    stab.offer("9", 0.1)
    assert not stab.offer("9", 0.9).accepted  # the first 9 has left the window


def test_monotonic_rejects_a_decrease_and_keeps_the_old_value() -> None:
    stab = Stabiliser(k=1, n=1, monotonic=True)
    assert stab.offer("1234", 0.9).accepted
    v = stab.offer("1200", 0.9)
    assert not v.accepted and v.reason == "decrease 1234 -> 1200"
    assert stab.previous().text == "1234"
    assert stab.offer("1234", 0.9).accepted
    assert stab.offer("01235", 0.9).accepted  # compared as integers
    assert stab.offer("abc", 0.9).reason == "not a whole number: 'abc'"


def test_max_rate_is_timed_from_when_the_value_was_first_accepted() -> None:
    clock = FakeClock()
    stab = Stabiliser(k=1, n=1, max_rate_per_min=10, clock=clock)
    assert stab.offer("100", 0.9).accepted
    for _ in range(5):  # re-accepted every frame, but the rate clock keeps its start
        clock.now += 1.0
        assert stab.offer("100", 0.9).accepted
    clock.now += 1.0  # 6 s after 100 was first accepted: +1 is 10/min, allowed
    assert stab.offer("101", 0.9).accepted
    clock.now += 6.0  # +5 in 6 s is 50/min
    v = stab.offer("106", 0.9)
    assert not v.accepted
    assert v.reason == "rate 50.0/min > 10/min (101 -> 106 in 6.0 s)"
    clock.now += 24.0  # +5 in 30 s is 10/min
    assert stab.offer("106", 0.9).accepted
    assert stab.offer("106", 0.9).accepted  # no increase, no rate
    assert stab.offer("50", 0.9).accepted  # not monotonic: decreases pass the rate rule


def test_rate_with_no_elapsed_time_is_infinite() -> None:
    clock = FakeClock()
    stab = Stabiliser(k=1, n=1, max_rate_per_min=100, clock=clock)
    stab.offer("1", 0.9)
    assert stab.offer("2", 0.9).reason.startswith("rate inf/min")


def test_expected_digits() -> None:
    stab = Stabiliser(k=1, n=2, expected_digits=6)
    v = stab.offer("12345", 0.9)
    assert not v.accepted and v.reason == "expected 6 digits, got 5"
    assert stab.offer("123456", 0.9).accepted


def test_emit_change_accepts_each_value_once() -> None:
    stab = Stabiliser(k=2, n=3, emit="change")
    v = feed(stab, ["5", "5", "5", "6", "6", "6", "5", "5"])
    assert accepted(v) == [False, True, False, False, True, False, False, True]
    assert v[2].reason == "unchanged 5"


def test_emit_every_accepts_each_agreeing_frame() -> None:
    stab = Stabiliser(k=2, n=3)
    assert accepted(feed(stab, ["5", "5", "5", "5"])) == [False, True, True, True]


def test_from_config() -> None:
    stab = Stabiliser.from_config(StabiliserConfig(k=2, n=4, monotonic=True, emit="change"))
    assert (stab.k, stab.n, stab.monotonic, stab.emit) == (2, 4, True, "change")


def test_deterministic() -> None:
    texts = ["1", "", "1", "2", "1", "1", "3", "1"]
    confs = [0.9, 0.9, 0.3, 0.9, 0.8, 0.7, 0.9, 0.95]

    def run() -> list[Verdict]:
        clock = FakeClock()
        stab = Stabiliser(k=2, n=4, monotonic=True, max_rate_per_min=60, clock=clock)
        out = []
        for t, c in zip(texts, confs, strict=True):
            clock.now += 0.5
            out.append(stab.offer(t, c))
        return out

    assert run() == run()
