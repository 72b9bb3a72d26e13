"""The device half of the field-data loop: the daemon archives strips, a person labels them.

The trainer half (fine-tune on the labels, read with the new bundle) runs in
tests/e2e/test_training.py, where a tiny model is trained.
"""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import DIGITCAM, ROOT, run_cli
from test_daemon import bundle, config_text, export_jsonl, model_toml  # noqa: F401 (fixtures)
from test_sinks import reading

from digitcam.device.config import ArchiveConfig
from digitcam.device.label_command import draw, pending
from digitcam.device.sinks.archive import INDEX, ArchiveSink


def frame() -> np.ndarray:
    image = np.full((240, 320), 30, np.uint8)
    image[60:120, 40:280] = 200  # the strip the reading's quad outlines
    return image


def kept(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png"))


def kept_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in kept(folder))


@pytest.mark.parametrize(("mode", "expected"), [("all", 6), ("low-confidence", 3), ("sample", 2),
                                                ("off", 0)])
def test_archive_modes_keep_what_they_say(tmp_path, mode, expected):
    sink = ArchiveSink(tmp_path / "a", ArchiveConfig(mode, below_confidence=0.8, sample_every=4))
    sink.start()
    confidences = [0.95, 0.5, 0.9, 0.79, 0.99, 0.97]
    for i, c in enumerate(confidences):
        sink.publish(reading(i, text="123", confidence=c, accepted=i != 4), frame())
    sink.publish(reading(9, text="", confidence=0.1), frame())  # nothing read: nothing to label
    sink.publish(reading(10, text="5", confidence=0.1), None)  # no frame: nothing to cut
    sink.stop()
    assert len(kept(tmp_path / "a")) == expected
    if expected:
        lines = [json.loads(x) for x in (tmp_path / "a" / INDEX).read_text().splitlines()]
        assert [line["file"] for line in lines] == [p.name for p in kept(tmp_path / "a")]
        assert all(line["text"] == "123" for line in lines)


def test_archive_cuts_the_strip_the_reading_outlines(tmp_path):
    import cv2

    sink = ArchiveSink(tmp_path / "a", ArchiveConfig("all"))
    sink.start()
    sink.publish(reading(1, text="42", confidence=0.9), frame())
    strip = cv2.imread(str(kept(tmp_path / "a")[0]), cv2.IMREAD_GRAYSCALE)
    h, w = strip.shape
    assert 3.0 < w / h < 5.0  # the quad is 240x58: a strip, not the frame
    assert strip.mean() > 150  # the bright strip, not the dark frame around it


def test_archive_stays_within_its_budget_across_restarts(tmp_path):
    folder = tmp_path / "a"
    sink = ArchiveSink(folder, ArchiveConfig("all", max_mb=0.004))  # a few strips' worth
    sink.start()
    for i in range(30):
        sink.publish(reading(i, text=str(1000 + i), confidence=0.5), frame())
    assert 0 < kept_bytes(folder) <= 4000
    first = kept(folder)
    assert first and first[-1].name.endswith("_1029.png")  # the newest stay
    again = ArchiveSink(folder, ArchiveConfig("all", max_mb=0.002))
    again.start()  # what the last run kept counts against the new budget
    assert kept_bytes(folder) <= 2000 and len(kept(folder)) < len(first)


def test_the_daemon_archives_what_it_publishes(tmp_path, model_toml):  # noqa: F811 (fixture)
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(state, model=model_toml, fps=30.0, loop=False,
                                  extra='[archive]\nmode = "all"\n'))
    run = run_cli("device", "run", "--config", str(config), timeout=120)
    assert run.returncode == 0, run.stderr
    rows = export_jsonl(state)
    strips = kept(state / "archive")
    assert rows and len(strips) == len(rows)
    index = [json.loads(x) for x in (state / "archive" / INDEX).read_text().splitlines()]
    assert [r["text"] for r in index] == [str(r["text"]) for r in rows]


def test_draw_uses_two_pixel_rows_a_line():
    image = np.zeros((20, 80), np.uint8)
    image[:10] = 255
    lines = draw(image, columns=16).splitlines()
    assert len(lines) == 2 and lines[0].count("▀") == 16
    assert "38;2;255;255;255m" in lines[0] and "48;2;0;0;0m" in lines[1]


def label(folder: Path, answers: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DIGITCAM, "label", str(folder), *extra], input=answers,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_label_confirms_corrects_and_carries_on_where_it_stopped(tmp_path):
    folder = tmp_path / "a"
    sink = ArchiveSink(folder, ArchiveConfig("all"))
    sink.start()
    for i, (text, c) in enumerate([("111", 0.9), ("222", 0.3), ("333", 0.6), ("444", 0.8)]):
        sink.publish(reading(i, text=text, confidence=c), frame())
    assert [p.read for p in pending(folder)] == ["222", "333", "444", "111"]  # least sure first

    # 222 is right; 333 is really 383 (after one answer that is not one); 444 holds no digits; stop.
    first = label(folder, "\nabc\n383\n-\nq\n")
    assert first.returncode == 0, first.stderr
    assert "'abc' is not an answer" in first.stdout
    assert "labelled 3 (confirmed 1, corrected 1, no digits 1, skipped 0); 1 left" in first.stdout
    assert "▀" in first.stdout  # the strip was drawn
    second = label(folder, "s\n", "--no-image")
    assert "[1/1]" in second.stdout and "read 111" in second.stdout and "▀" not in second.stdout
    third = label(folder, "111\n")
    assert "confirmed 1" in third.stdout
    with (folder / "labels.csv").open(newline="") as fh:
        rows = {r["read"]: r["text"] for r in csv.DictReader(fh)}
    assert rows == {"222": "222", "333": "383", "444": "", "111": "111"}
    assert "nothing to label" in label(folder, "").stdout


def test_label_a_missing_folder_is_one_line(tmp_path):
    result = label(tmp_path / "nope", "")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "no such archive folder" in result.stderr
