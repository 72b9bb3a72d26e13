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
