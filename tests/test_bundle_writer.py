"""The trainer writes bundles through the device's schema: what it writes for a recipe is
what ships, fine-tuning keeps every key, and `trainer ship` copies only a checked bundle."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

pytest.importorskip("keras")  # the trainer side

from digitcam.device import bundle
from digitcam.trainer import bundle_writer, finetune
from digitcam.trainer.config import TrainConfig
from digitcam.trainer.detector import DetectorArgs, DetectorConfig
from digitcam.trainer.detector import write_meta as write_detector_meta

MODELS = Path(__file__).resolve().parent.parent / "device" / "models"


def copy_bundle(name: str, into: Path, *suffixes: str) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".tflite", *suffixes):
        shutil.copy2(MODELS / f"{name}{suffix}", into / f"{name}{suffix}")
    return into / f"{name}.json"


def test_the_recogniser_writer_reproduces_the_shipped_bundle_from_its_recipe(tmp_path):
    shipped = bundle.load(MODELS / "digits.json", bundle.RecogniserBundle)
    tflite = copy_bundle("digits", tmp_path).with_suffix(".tflite")
    written = bundle_writer.metadata(tflite, TrainConfig.load(MODELS / "digits.json"), input_dtype="uint8",
                                     quantization=bundle.INT8, metrics=shipped.metrics,
                                     revision=shipped.git_revision)
    path = bundle_writer.write_meta(tflite, dataclasses.replace(written, finetune=shipped.finetune))
    assert json.loads(path.read_text()) == json.loads((MODELS / "digits.json").read_text())


def test_the_detector_writer_reproduces_the_shipped_bundle_from_its_recipe(tmp_path):
    shipped = bundle.load(MODELS / "strips.json", bundle.DetectorBundle)
    training = dict(shipped.training or {})
    model = training.pop("model")
    config = DetectorConfig(**training, model=DetectorArgs(**{**model, "channels": tuple(model["channels"])}))
    tflite = copy_bundle("strips", tmp_path).with_suffix(".tflite")
    path = write_detector_meta(tflite, config, dict(shipped.metrics or {}), shipped.git_revision or "")
    assert json.loads(path.read_text()) == json.loads((MODELS / "strips.json").read_text())


def test_a_fine_tune_step_is_appended_and_nothing_else_is_lost(tmp_path):
    before = bundle.load(MODELS / "digits.json", bundle.RecogniserBundle)
    target = copy_bundle("digits", tmp_path)
    raw = json.loads(target.read_text())
    raw["training"] = {"name": "overwritten by the step's own config"}
    raw["calibration"] = {"temperature": 1.3}  # a key this schema does not know
    target.write_text(json.dumps(raw))
    step = {"from_sha256": before.sha256, "steps": 10}
    finetune.write_recipe(target, before, step, {"int8": {}})
    after = json.loads(target.read_text())
    assert after["training"] == before.training and after["metrics"] == {"int8": {}}
    assert after["finetune"] == [*(before.finetune or []), step]
    assert after["calibration"] == {"temperature": 1.3}
    assert finetune.recorded_steps(target)[-1] == step


def test_a_bundle_without_fine_tune_steps_is_no_recipe(tmp_path):
    plain = copy_bundle("strips", tmp_path)
    with pytest.raises(Exception, match=r"strips\.json: not a bundle made by trainer finetune"):
        finetune.recorded_steps(plain)


@pytest.mark.slow
def test_trainer_ship_copies_either_kind_of_bundle_with_its_card(tmp_path):
    recogniser_run, detector_run = tmp_path / "run", tmp_path / "detector-run"
    copy_bundle("digits", recogniser_run / "bundle", ".weights.h5")
    (recogniser_run / "config.json").write_text(json.dumps(json.loads(
        (MODELS / "digits.json").read_text())["training"]))
    copy_bundle("strips", detector_run / "bundle")
    to = tmp_path / "models"
    for run, name in ((recogniser_run, "digits"), (detector_run, "strips")):
        sha = json.loads((MODELS / f"{name}.json").read_text())["sha256"][:12]
        result = run_cli("trainer", "ship", str(run), "--to", str(to))
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"shipped {name}.tflite ({sha}) and {name}.md to {to}\n"
        assert (to / f"{name}.tflite").read_bytes() == (MODELS / f"{name}.tflite").read_bytes()
        assert (to / f"{name}.json").read_text() == (MODELS / f"{name}.json").read_text()
    assert (to / "digits.weights.h5").is_file()
    assert (to / "strips.md").read_text() == (MODELS / "strips.md").read_text()
    assert (to / "digits.md").read_text().startswith("# Model card: digits\n")


@pytest.mark.slow
def test_trainer_ship_refuses_a_tampered_bundle_and_copies_nothing(tmp_path):
    run = tmp_path / "run"
    json_path = copy_bundle("strips", run / "bundle")
    json_path.with_suffix(".tflite").write_bytes(b"retrained elsewhere")
    result = run_cli("trainer", "ship", str(run), "--to", str(tmp_path / "models"))
    assert result.returncode == 4
    errors = [line for line in result.stderr.splitlines() if line.startswith("digitcam:")]
    assert len(errors) == 1 and "strips.tflite: sha256 mismatch" in errors[0], result.stderr
    assert not (tmp_path / "models").exists()
    missing = run_cli("trainer", "ship", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "not a training run (no config.json)" in missing.stderr


def test_the_detector_card_names_the_scene_options_its_run_used(tmp_path):
    from digitcam.trainer.model_card import write_detector_card

    shipped = bundle.load(Path("device/models/strips.json"), bundle.DetectorBundle)
    plain_card = write_detector_card(tmp_path / "plain.md", shipped).read_text()
    assert "In training also" not in plain_card  # the shipped run used none
    training = {**(shipped.training or {}), "plain_share": 0.15, "plain_word_share": 0.5,
                "scenes": {"backlit": True, "by_height_share": 0.5, "big_words": True}}
    card = write_detector_card(tmp_path / "options.md", dataclasses.replace(shipped, training=training))
    text = card.read_text()
    for words in ("backlit and meter-register LCD panels", "50% of strips sized by their height",
                  "clutter words at any size", "15% plain frames"):
        assert words in text
