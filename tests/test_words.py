"""Strips and frames that hold a word and no digits: trained on, evaluated on,
scored, and never the same words on both sides."""

import csv
import json

import numpy as np
import pytest

pytest.importorskip("PIL")

from conftest import run_cli

from digitcam.trainer.evaluate import word_set
from digitcam.trainer.synth import fonts
from digitcam.trainer.synth.strips import build, word_strip
from digitcam.trainer.synth.words import EVAL_WORDS, LABEL_WORDS, TRAINING_WORDS, WORDS


def folded(words):
    return {w.casefold() for w in words}


def test_no_word_read_in_evaluation_is_a_training_word():
    assert not folded(EVAL_WORDS) & folded(TRAINING_WORDS)
    assert not folded(LABEL_WORDS) & folded(WORDS)
    assert all(w.isalpha() for w in EVAL_WORDS)  # a word with a digit is not "nothing"
    assert not any(ch.isdigit() for w in TRAINING_WORDS for ch in w)


def test_a_word_strip_is_a_close_crop_of_ink_on_a_plain_ground():
    rng = np.random.default_rng(4)
    faces = fonts.font_files(fonts.TRAIN_PRINTED)
    for _ in range(20):
        strip = word_strip(rng, ["Level"], faces)
        assert strip.dtype == np.uint8 and strip.ndim == 2
        assert strip.shape[1] > strip.shape[0]  # a five-letter word is wider than tall
        assert strip.std() > 10  # ink that stands out from the ground


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_the_share_of_strips_without_digits_follows_empty_rate(rate):
    _, labels, _ = build(400, 9, {"printed": 1.0}, 32, 192, None, workers=1, empty_rate=rate)
    empty = sum(label == "" for label in labels) / len(labels)
    assert abs(empty - rate) < 0.07
    assert all(label.isdigit() for label in labels if label)


def test_the_evaluation_words_are_held_out_faces_labelled_empty():
    words = word_set(30)
    assert words.name == "words" and words.labels == [""] * 30
    assert len({image.shape for image in words.images}) > 5  # sizes and margins vary


def test_word_scenes_are_scored_apart_from_the_frames_with_digits(tmp_path, mnist_path):
    out = tmp_path / "scenes"
    result = run_cli("trainer", "scenes", str(out), "--per-kind", "2", "--empty", "1", "--words", "3",
                     "--plain-words", "2", "--mnist", str(mnist_path))
    assert result.returncode == 0, result.stderr
    with (out / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    words = [r for r in rows if r["kind"] in ("word", "plain-word")]
    assert len(rows) == 4 * 2 + 1 + 3 + 2 and len(words) == 5
    assert all(r["text"] == "" and json.loads(r["quad"]) == [[0.0, 0.0]] * 4 for r in words)
    # Every frame with digits read right, one word frame read as a number.
    reads = [{"path": str(out / r["file"]), "text": r["text"]} for r in rows]
    reads[-1]["text"] = "5011"
    (tmp_path / "reads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reads))
    result = run_cli("trainer", "score", str(out / "labels.csv"), str(tmp_path / "reads.jsonl"))
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    assert scored["exact"] == 1.0  # the frames with digits only
    assert scored["kinds"]["word"] == {"n": 3, "exact": 1.0}
    assert scored["kinds"]["plain-word"] == {"n": 2, "exact": 0.5}
    assert scored["kinds"]["none"] == {"n": 1, "exact": 1.0}
