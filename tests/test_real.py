"""Real-crop import, strip composition and the scoring rules for real photos.

The fixture is a tree of crops drawn here in the layout of a public meter-digit
snapshot (one folder per meter, the label leading each file name, date folders,
a duplicate and an unlabelled file): the import path is what is tested, and no
third-party image is committed to this repository.
"""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PIL")  # the trainer extra

from conftest import run_cli

from digitcam.trainer import real
from digitcam.trainer.scoring import is_right

METERS = {  # folder -> kind as the importer must see it
    "powermeter/ISKRA T3F-01S1/20230626": "roller",
    "powermeter/ISKRA.T3F-01S1_20250630/20250630": "roller",  # the same meter, another day
    "watermeter/Acme/alice": "roller",
    "watermeter/Other/bob": "roller",
    "lcd/lcd_pb": "lcd",
    "lcd2": "lcd",
}


def crop(digit: int, tenths: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 90, (44, 26, 3)).astype(np.uint8)  # noise: every crop unique
    cv2.putText(image, str(digit), (3, 34 - 3 * max(tenths, 0)), cv2.FONT_HERSHEY_SIMPLEX, 1.1,
                (230, 230, 230), 2)
    return image


@pytest.fixture(scope="module")
def crop_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crops")
    seed = 0
    for folder in METERS:
        (root / folder).mkdir(parents=True)
        for digit in range(10):
            for tenths in (-1, 5) if folder != "lcd2" else (-1,):
                seed += 1
                name = f"{digit}_{seed:04x}.jpg" if tenths < 0 else f"{digit}.{tenths}_{seed:04x}.jpg"
                cv2.imwrite(str(root / folder / name), crop(digit, tenths, seed))
    duplicate = root / "watermeter/Acme/alice"
    (duplicate / "7_again.jpg").write_bytes(next(duplicate.glob("7_*.jpg")).read_bytes())
    cv2.imwrite(str(duplicate / "readme.jpg"), crop(1, -1, 999))  # no label in the name
    return root


@pytest.fixture(scope="module")
def real_set(crop_tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real")
    return real.import_real([crop_tree], out, {"repo": "test/fixture", "licence": "MIT"},
                            held_out_meters=["watermeter/other/bob", "lcd2"])


def test_labels_come_from_the_name_or_the_folder():
    assert real.parse_label(Path("x/3.7_abc.jpg")) == (3, 7)
    assert real.parse_label(Path("x/0 - 0_1_20211231.jpg")) == (0, -1)
    assert real.parse_label(Path("x/9-1.jpg")) == (9, -1)
    assert real.parse_label(Path("5.0/anything.jpg")) == (5, 0)
    assert real.parse_label(Path("x/10_abc.jpg")) is None  # not a digit
    assert real.parse_label(Path("x/ISKRA.jpg")) is None


def test_a_roller_digit_reads_as_the_one_further_in():
    assert real.roller_label(3, -1) == 3
    assert real.roller_label(3, 4) == 3
    assert real.roller_label(3, 6) == 4
    assert real.roller_label(9, 7) == 0  # rolls over
    assert real.roller_label(3, 5) is None  # exactly between: either is right


def test_one_meter_photographed_on_two_days_is_one_meter():
    assert (real.meter_name(Path("powermeter/ISKRA T3F-01S1/20230626"))
            == real.meter_name(Path("powermeter/ISKRA.T3F-01S1_20250630/20250630"))
            == "powermeter/iskrat3f01s1")
    assert real.meter_kind("lcd/lcd_pb") == "lcd" and real.meter_kind("watermeter/acme") == "roller"


def test_import_keeps_each_image_once_and_splits_by_meter(real_set, crop_tree, tmp_path):
    manifest = json.loads(real_set.with_suffix(".json").read_text())
    assert manifest["skipped"] == {"duplicate image": 1, "no label in the name": 1}
    assert manifest["crops"] == 5 * 20 + 10  # ISKRA twice, alice, bob, lcd_pb; lcd2 has no halves
    assert set(manifest["held_out_meters"]) == {"watermeter/other/bob", "lcd2"}
    assert manifest["sources"][0]["licence"] == "MIT"
    loaded = real.RealSet.load(real_set)
    train, held = loaded.crops("train"), loaded.crops("held-out")
    assert len(train) + len(held) == manifest["crops"]
    assert not set(loaded.meter_index[train]) & set(loaded.meter_index[held])
    assert len(loaded.crops("held-out", "lcd")) == 10 and len(loaded.crops("train", "lcd")) == 20
    # Same snapshot, same version: a training config can name the file.
    again = real.import_real([crop_tree], tmp_path, held_out_meters=["watermeter/other/bob", "lcd2"])
    assert again.name == real_set.name


def test_an_empty_or_missing_folder_is_a_clear_error(tmp_path):
    from digitcam.device.errors import DigitcamError

    with pytest.raises(DigitcamError, match="no labelled crops"):
        real.import_real([tmp_path], tmp_path / "out")
    with pytest.raises(DigitcamError, match="not a folder"):
        real.import_real([tmp_path / "nope"], tmp_path / "out")


def test_a_snapshot_labelled_by_folder_with_the_meter_in_the_name_imports_measure_only(tmp_path):
    # ardiloot/meter-digits-recognizer's layout: images/<label>/<window>_<meter>_<date>_<time>.jpg.
    # The name's leading number is the window, not the label; the set states no licence.
    seed = 0
    for label in (3, 7):
        (tmp_path / "images" / str(label)).mkdir(parents=True)
        for meter in ("cold_water_meter", "gas_meter"):
            for window in range(4):
                seed += 1
                name = f"{window}_{meter}_20210126_{180000 + seed}.jpg"
                cv2.imwrite(str(tmp_path / "images" / str(label) / name), crop(label, -1, seed))
    cv2.imwrite(str(tmp_path / "images" / "3" / "Ziffer_3_0001.jpg"), crop(3, -1, 500))  # not the author's
    path = real.import_real([tmp_path / "images"], tmp_path / "set", label_from="folder",
                            meter_from_name=r"^\d+_((?:cold_)?water_meter|gas_meter)_\d{8}_\d+\.jpg$",
                            measure_only=True)
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["meters"] == ["coldwatermeter", "gasmeter"] and manifest["measure_only"]
    assert manifest["skipped"] == {"no meter in the name": 1}
    loaded = real.RealSet.load(path)
    assert len(loaded.crops("held-out")) == 16 and not loaded.crops("train").size
    assert sorted(set(loaded.digits.tolist())) == [3, 7]  # from the folder, not the window number
    from digitcam.device.errors import DigitcamError

    with pytest.raises(DigitcamError, match="measure only"):
        real.RealSet.for_training(path)


def test_flat_folders_beside_the_snapshot_train_apart_and_leave_the_held_out_strips_alone(
        real_set, crop_tree, tmp_path):
    # haverland's snapshot also carries jomjol's collections: flat folders of crops from
    # unnamed meters. Given after the per-meter tree, each is one training meter named by
    # its folder (a "digital counter" is a roller counter), and the held-out strips are
    # the same strips, crop for crop, as without them.
    from digitcam.trainer.evaluate import real_sets

    flats = [tmp_path / "neural-network-autotrain-digital-counter", tmp_path / "jomjol_images"]
    for n, flat in enumerate(flats):
        flat.mkdir()
        for digit in range(10):
            cv2.imwrite(str(flat / f"{digit}.3_dig{n}_{digit:04d}.jpg"), crop(digit, 3, 700 + 10 * n + digit))
    path = real.import_real([crop_tree, *flats], tmp_path / "set",
                            held_out_meters=["watermeter/other/bob", "lcd2"])
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["meters"][-2:] == ["neuralnetworkautotraindigitalcounter", "jomjolimages"]
    assert manifest["meter_kinds"][-2:] == ["roller", "roller"]
    assert set(manifest["held_out_meters"]) == {"watermeter/other/bob", "lcd2"}
    assert manifest["split"]["train"]["roller"] == 40 + 20 + 20  # ISKRA (two days), alice, the flats
    before, after = real_sets(real.RealSet.load(real_set), 8), real_sets(real.RealSet.load(path), 8)
    assert [s.name for s in before] == [s.name for s in after]
    for old, new in zip(before, after, strict=True):
        assert old.labels == new.labels
        assert all(np.array_equal(a, b) for a, b in zip(old.images, new.images, strict=True))


def test_holding_out_a_meter_the_snapshot_lacks_is_a_clear_error(crop_tree, tmp_path):
    result = run_cli("trainer", "import-real", str(crop_tree), "--out", str(tmp_path / "set"),
                     "--held-out", "watermeter/other/bobb")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--held-out watermeter/other/bobb: no such meter" in result.stderr
    assert not (tmp_path / "set").exists()


def test_composed_strips_carry_one_label_digit_per_window(real_set):
    loaded = real.RealSet.load(real_set)
    rng = np.random.default_rng(0)
    pool = loaded.crops("train", "roller")
    for _ in range(20):
        strip, label, accepted = real.compose_strip(rng, loaded, pool, length=5)
        assert strip.dtype == np.uint8 and strip.ndim == 2
        assert len(label) == len(accepted) == 5 and all(len(a) == 1 for a in accepted)
        assert real.matches(label, accepted)
    strip, label, accepted = real.compose_strip(rng, loaded, pool, length=4, allow_half=True,
                                                force_half=True)
    halves = [a for a in accepted if len(a) == 2]
    assert len(halves) >= 1
    d = halves[0]
    assert int(d[1]) == (int(d[0]) + 1) % 10
    assert not real.matches(label + "1", accepted)  # an extra digit is wrong


def test_training_recrop_moves_the_window_but_keeps_the_digit_in_it():
    image = np.full((48, 32), 90, np.uint8)
    image[8:40, 12:20] = 250  # the digit's ink, in the middle as the set's crops have it
    rng = np.random.default_rng(5)
    shifts = set()
    for _ in range(200):
        cut = real._recrop(rng, image)
        assert 0.9 <= cut.shape[1] / 32 <= 1.12 and 0.9 <= cut.shape[0] / 48 <= 1.12
        ink = (cut > 200).sum()
        assert ink >= 0.95 * 32 * 8  # never cut out of the window
        shifts.add(int(np.flatnonzero((cut > 200).any(axis=0))[0]))
    assert len(shifts) >= 5  # and it does move


def test_augmented_training_strips_keep_their_labels_and_evaluation_strips_do_not_change(real_set):
    loaded = real.RealSet.load(real_set)
    pool = loaded.crops("train", "roller")
    plain = [real.compose_strip(np.random.default_rng(s), loaded, pool, length=4) for s in range(5)]
    again = [real.compose_strip(np.random.default_rng(s), loaded, pool, length=4) for s in range(5)]
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(plain, again, strict=True))
    rng = np.random.default_rng(1)
    for _ in range(20):
        strip, label, accepted = real.compose_strip(rng, loaded, pool, length=4, augment=True)
        assert strip.dtype == np.uint8 and len(label) == 4 and real.matches(label, accepted)


def test_restyled_strips_keep_their_labels_and_some_turn_polarity(real_set):
    # A fine-tune's real strips may be restyled (another polarity, another tone curve);
    # the digits and what each window accepts stay those of the same draw unstyled.
    loaded = real.RealSet.load(real_set)
    pool = loaded.crops("train", "roller")
    for seed in range(20):
        plain = real.compose_strip(np.random.default_rng(seed), loaded, pool, length=4, augment=True)
        styled = real.compose_strip(np.random.default_rng(seed), loaded, pool, length=4, augment=True,
                                    restyle=True)
        assert styled[1:] == plain[1:] and styled[0].dtype == np.uint8
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (8, 1))
    styled = [real._restyle(np.random.default_rng(seed), ramp) for seed in range(400)]
    inverted = sum(s[0, 0] > s[0, -1] for s in styled) / len(styled)
    assert abs(inverted - real.INVERT_SHARE) < 0.06
    assert all(s.min() >= 0 and s.max() <= 255 for s in styled)


def test_real_sets_measure_only_held_out_meters(real_set):
    from digitcam.trainer.evaluate import real_sets

    loaded = real.RealSet.load(real_set)
    sets = {s.name: s for s in real_sets(loaded, 12)}
    assert set(sets) == {"real-roller", "real-lcd", "real-transition", "real-register"}
    assert all(len(s.labels) == 12 for s in sets.values())
    assert sets["real-transition"].accepted is not None


def test_a_register_strip_is_at_rest_but_its_last_window():
    """Still crops are all 1s and turning ones (3 tenths in) all 7s: a register strip reads
    1s to its last window; a plain roller strip has 7s anywhere."""
    rng = np.random.default_rng(3)
    tenths = np.array([0] * 20 + [3] * 20, np.int8)
    crops = real.RealSet(rng.integers(0, 255, (40, real.CROP_H, real.CROP_W), dtype=np.uint8),
                         np.where(tenths == 0, 1, 7).astype(np.int8), tenths, np.full(40, 0.6, np.float32),
                         np.zeros(40, np.int16), ["meter"], ["roller"], np.array([True]), {})
    pool = np.arange(40)
    registers = [real.compose_strip(rng, crops, pool, length=5, still_but_last=True)[1] for _ in range(40)]
    assert all(label[:-1] == "1111" and label[-1] in "17" for label in registers)
    assert {label[-1] for label in registers} == {"1", "7"}
    plain = [real.compose_strip(rng, crops, pool, length=5)[1] for _ in range(40)]
    assert any("7" in label[:-1] for label in plain)


def test_scoring_rules_for_rollers_and_displays_with_decimals():
    assert is_right("1239", {"text": "1229", "accept": "1|2|23|9"})
    assert not is_right("12399", {"text": "1229", "accept": "1|2|23|9"})
    pump = {"text": "68", "decimals": "2"}
    assert is_right("6796", pump) and is_right("6800", pump) and is_right("6849", pump)
    assert not is_right("6749", pump) and not is_right("68", pump) and not is_right("", pump)
    assert is_right("13957", {"text": "139", "decimals": "2"})  # some labels cut, not round
    assert is_right("42", {"text": "42"}) and not is_right("42", {"text": "421"})
    # A set of pumps showing one or two decimals, the label not saying which.
    either = {"text": "220", "decimals": "1-2"}
    assert is_right("2201", either) and is_right("22010", either)
    assert not is_right("2201", {"text": "220", "decimals": "2"})
    assert not is_right("220", either) and not is_right("2210", either) and not is_right("220100", either)


@pytest.mark.parametrize("bad", ["two", "2-1", "-1", "1-x", "10"])
def test_a_bad_decimals_count_is_a_clear_error(bad):
    from digitcam.device.errors import DigitcamError
    from digitcam.trainer.scoring import parse_decimals

    with pytest.raises(DigitcamError, match="decimals"):
        parse_decimals(bad)


def test_import_real_and_real_strips_through_the_cli(crop_tree, tmp_path):
    result = run_cli("trainer", "import-real", str(crop_tree), "--out", str(tmp_path / "set"),
                     "--repo", "test/fixture", "--held-out", "lcd2", "--held-out", "watermeter/other/bob")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["crops"] == 110 and summary["split"]["held-out"]["lcd"] == 10
    result = run_cli("trainer", "real-strips", summary["set"], str(tmp_path / "strips"), "--count", "5")
    assert result.returncode == 0, result.stderr
    with (tmp_path / "strips" / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and {r["kind"] for r in rows} == {"real-roller", "real-lcd", "real-transition",
                                                             "real-register"}
    assert all((tmp_path / "strips" / r["file"]).is_file() for r in rows)
    bad = run_cli("trainer", "import-real", str(tmp_path / "missing"))
    assert bad.returncode != 0 and "not a folder" in bad.stderr and "Traceback" not in bad.stderr


def test_labelled_photos_are_scored_with_their_decimals(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(images / name), np.zeros((20, 40), np.uint8))
    (tmp_path / "t.csv").write_text("n;used_liter;image\n0;68;a.jpg\n1;33;b.jpg\n2;5;missing.jpg\n")
    result = run_cli("trainer", "import-photos", str(tmp_path / "t.csv"), str(images),
                     str(tmp_path / "photos"), "--delimiter", ";", "--value-column", "used_liter",
                     "--decimals", "2", "--kind", "pump")
    assert result.returncode == 0, result.stderr
    reads = tmp_path / "reads.jsonl"
    reads.write_text(json.dumps({"path": "pump-a.jpg", "text": "6796"}) + "\n"
                     + json.dumps({"path": "pump-b.jpg", "text": "3"}) + "\n")
    scored = run_cli("trainer", "score", str(tmp_path / "photos" / "labels.csv"), str(reads))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["exact"] == 0.5


@pytest.mark.parametrize(("read", "digit", "want", "kind"), [
    ("3", 3, 3, None), ("4", 3, 3, "neighbour"), ("0", 9, 9, "neighbour"), ("7", 1, 2, "third"),
    ("", 8, 8, "empty"), ("17", 1, 1, "long")])
def test_a_misread_crop_is_named_by_how_it_is_wrong(read, digit, want, kind):
    from digitcam.trainer.crop_report import error_kind

    assert error_kind(read, digit, want) == kind


def test_crop_report_counts_every_held_out_crop_once_per_meter_and_tenths(real_set):
    result = run_cli("trainer", "crop-report", str(real_set))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Held out: bob (roller; its exact halves are left out) and lcd2, ten digits each.
    assert {m["meter"]: (m["kind"], m["crops"]) for m in report["meters"]} == {
        "watermeter/other/bob": ("roller", 10), "lcd2": ("lcd", 10)}
    assert report["crops"] == 20 and list(report["tenths"]) == ["-1"]  # bob's, at rest
    for tally in (report, *report["meters"], *report["tenths"].values()):
        wrong = sum(tally["errors"].values())
        assert round(tally["crops"] * tally["exact"]) + wrong == tally["crops"]
    bad = run_cli("trainer", "crop-report", str(real_set.with_suffix(".missing.npz")))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_a_base_run_can_restyle_its_real_strips_and_keeps_their_labels(real_set):
    from digitcam.trainer.config import TrainConfig
    from digitcam.trainer.synth.strips import build

    # One strip a chunk: each its own generator, so the two builds draw the same strips.
    plain = build(40, 3, {"real": 1.0}, 32, 192, None, workers=1, chunk=1, real_path=str(real_set))
    styled = build(40, 3, {"real": 1.0}, 32, 192, None, workers=1, chunk=1, real_path=str(real_set),
                   real_restyle=True)
    assert plain[1] == styled[1]  # the same strips, labelled the same
    changed = [not np.array_equal(a, b) for a, b in zip(plain[0], styled[0], strict=True)]
    assert all(changed)  # every real strip gets a tone curve, some the other polarity
    # Where a strip turned polarity its mean mirrors about mid-grey: dark meters go light.
    flipped = [abs(float(a.mean()) + float(b.mean()) - 255) < 40
               for a, b in zip(plain[0], styled[0], strict=True)]
    assert 0 < sum(flipped) < 40
    assert TrainConfig.from_dict({"real_restyle": True}).real_restyle
    assert not TrainConfig().real_restyle  # the shipped recipe's base run does not
