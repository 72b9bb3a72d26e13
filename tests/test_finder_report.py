"""`digitcam trainer finder-report`: where labelled whole frames are lost, with either detector."""

import csv
import json

import pytest
from conftest import run_cli

ImageFont = pytest.importorskip("PIL.ImageFont")
from PIL import Image, ImageDraw  # noqa: E402

ITALIC = "/usr/share/fonts/truetype/liberation/LiberationSans-Italic.ttf"


def write_frames(folder, rows):
    """rows: (file, text drawn or None, label)."""
    folder.mkdir()
    for name, drawn, _ in rows:
        img = Image.new("L", (640, 480), 90)
        if drawn:
            ImageDraw.Draw(img).text((150, 200), drawn, font=ImageFont.truetype(ITALIC, 56), fill=235)
        img.save(folder / name)
    with (folder / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "text", "kind"])
        writer.writerows([(name, label, "plain") for name, _, label in rows])


def test_each_frame_is_booked_to_the_reader_or_the_finder(tmp_path):
    write_frames(tmp_path / "frames", [("a.png", "4071", "4071"),   # read
                                        ("b.png", "4071", "9999"),   # no candidate reads 9999
                                        ("c.png", None, "123")])     # a blank frame: nothing proposed

    for extra in ([], ["--detector", "device/models/strips.json"]):
        result = run_cli("trainer", "finder-report", str(tmp_path / "frames" / "labels.csv"), *extra)
        assert result.returncode == 0, result.stderr
        plain = json.loads(result.stdout)["plain"]
        assert plain["n"] == 3
        assert plain["read"] == pytest.approx(1 / 3, abs=1e-3)
        assert plain["finder: no candidate reads it"] == pytest.approx(1 / 3, abs=1e-3)
        assert plain["finder: nothing proposed"] == pytest.approx(1 / 3, abs=1e-3)


def test_a_missing_detector_is_a_one_line_error(tmp_path):
    write_frames(tmp_path / "frames", [("a.png", "12", "12")])
    result = run_cli("trainer", "finder-report", str(tmp_path / "frames" / "labels.csv"),
                     "--detector", str(tmp_path / "nope.json"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "nope.json" in result.stderr and len(result.stderr.strip().splitlines()) == 1
