import numpy as np
import pytest

from digitcam.device.decode import ctc_greedy, softmax

ALPHABET = "0123456789"


def columns(path: list[int], blank: int = 10, sure: float = 8.0) -> np.ndarray:
    """Logits whose best path is ``path``."""
    logits = np.zeros((len(path), 11), np.float32)
    logits[np.arange(len(path)), path] = sure
    return logits


def test_repeats_collapse_and_blanks_drop():
    decoded = ctc_greedy(columns([10, 3, 3, 10, 1, 10, 4, 4, 4]), ALPHABET, 10)
    assert decoded.text == "314"
    assert len(decoded.digit_confidences) == 3


def test_blank_separates_a_repeated_digit():
    assert ctc_greedy(columns([7, 10, 7, 7, 10, 7]), ALPHABET, 10).text == "777"


def test_all_blank_is_empty_text():
    decoded = ctc_greedy(columns([10] * 12), ALPHABET, 10)
    assert decoded.text == ""
    assert decoded.digit_confidences == ()
    assert decoded.confidence > 0.99


def test_blank_first_alphabet_mapping():
    # With the blank at 0, class k means alphabet[k - 1].
    decoded = ctc_greedy(columns([0, 1, 0, 10], blank=0), ALPHABET, 0)
    assert decoded.text == "09"


def test_confidence_reflects_the_least_certain_column():
    logits = columns([10, 5, 10, 6, 10])
    logits[3] = 0.0
    logits[3, 6] = 0.5  # a barely-preferred digit
    decoded = ctc_greedy(logits, ALPHABET, 10)
    assert decoded.text == "56"
    assert decoded.confidence == pytest.approx(float(softmax(logits[3])[6]), rel=1e-5)
    assert decoded.digit_confidences[1] < 0.2 < decoded.digit_confidences[0]


def test_wrong_class_count_is_refused():
    with pytest.raises(ValueError, match="expected"):
        ctc_greedy(np.zeros((5, 7), np.float32), ALPHABET, 10)


def test_text_log_likelihoods_sum_every_alignment():
    """Against brute force: every path of 4 columns over 11 classes, collapsed."""
    import itertools

    from digitcam.device.decode import text_log_likelihoods

    probs = np.random.default_rng(0).dirichlet(np.ones(11), size=4).astype(np.float32)
    totals: dict[str, float] = {}
    for path in itertools.product(range(11), repeat=4):
        text = "".join(str(c) for i, c in enumerate(path) if c != 10 and (i == 0 or c != path[i - 1]))
        totals[text] = totals.get(text, 0.0) + float(np.prod(probs[np.arange(4), path]))
    texts = ["", "1", "11", "12", "121", "0", "9", "3333"]  # '3333' needs 7 columns
    want = np.array([totals.get(t, 0.0) for t in texts])
    got = np.exp(text_log_likelihoods([probs], texts, "0123456789", 10))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-12)
    assert got[-1] == 0.0
    # Over two framings the log-likelihoods add.
    other = probs[::-1].copy()
    pair = text_log_likelihoods([probs, other], texts[:-1], "0123456789", 10)
    alone = text_log_likelihoods([other], texts[:-1], "0123456789", 10)
    assert pair == pytest.approx(np.log(want[:-1]) + alone)
    weighted = text_log_likelihoods([probs, other], texts[:-1], "0123456789", 10, weights=(1.0, 0.5))
    assert weighted == pytest.approx(np.log(want[:-1]) + 0.5 * alone)


def test_text_log_likelihoods_do_not_underflow_on_a_long_strip():
    from digitcam.device.decode import text_log_likelihoods

    # 400 columns, no class above 0.1: a path's probability is under 1e-400, far below
    # float64's floor, so only a rescaled pass gives a finite answer.
    probs = np.full((400, 11), 0.099, np.float32)
    probs[:, 10] = 0.01
    got = text_log_likelihoods([probs], ["12"], "0123456789", 10)
    assert np.isfinite(got).all() and got[0] < -800
