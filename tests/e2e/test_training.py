"""The training path end to end on a tiny budget: data → train → int8 → load → decode."""

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist_path):
    out = tmp_path_factory.mktemp("tiny-run")
    result = run_cli("trainer", "train", "--tiny", "--mnist", str(mnist_path), "--out", str(out),
                     timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout)


def test_run_leaves_every_artefact(tiny_run):
    out, summary = tiny_run
    for name in ("config.json", "history.csv", "curves.png", "train.log", "evaluation.md",
                 "evaluation.json", "checkpoints/best.keras", "bundle/digits.tflite",
                 "bundle/digits.json", "bundle/digits-float.tflite"):
        assert (out / name).is_file(), name
    assert set(summary["int8"]) == {"printed", "sevenseg", "counter", "handwriting", "seed",
                                    "seed-inverted", "seed-spaced", "lone", "words"}


def test_bundle_is_full_int8_and_honours_the_contract(tiny_run):
    from ai_edge_litert.interpreter import Interpreter

    out, _ = tiny_run
    meta = json.loads((out / "bundle/digits.json").read_text())
    assert meta["blank_index"] == 10 and meta["alphabet"] == "0123456789"
    assert meta["training"]["train_samples"] == 3000  # the resolved config travels along
    interpreter = Interpreter(model_path=str(out / "bundle/digits.tflite"))
    inp = interpreter.get_input_details()[0]
    outp = interpreter.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and list(inp["shape_signature"]) == [1, 32, 192, 1]
    assert outp["dtype"] == np.int8 and list(outp["shape_signature"]) == [1, 48, 11]
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not ops & {"READ_VARIABLE", "VAR_HANDLE", "SHAPE"}, ops  # a static, frozen graph
    metrics = meta["metrics"]
    assert {"float", "int8", "size_kb", "parameters"} <= set(metrics)


def test_device_reads_with_the_new_bundle(tiny_run, tmp_path):
    out, _ = tiny_run
    cv2.imwrite(str(tmp_path / "s.png"), np.full((40, 160), 220, np.uint8))
    result = run_cli("read", "--json", "--model", str(out / "bundle/digits.json"),
                     str(tmp_path / "s.png"))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record["text"]) <= set("0123456789")


def test_evaluation_report_covers_float_and_int8(tiny_run):
    out, _ = tiny_run
    report = json.loads((out / "evaluation.json").read_text())
    for model in ("float", "int8"):
        assert report["results"][model]["seed"]["n"] == 2000
        assert report["results"][model]["lone"]["n"] == 10000
        assert 0.0 <= report["results"][model]["printed"]["exact"] <= 1.0
    assert "| seed-inverted |" in (out / "evaluation.md").read_text()


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory, mnist_path):
    out = tmp_path_factory.mktemp("tiny-detector")
    result = run_cli("trainer", "detector", "--tiny", "--mnist", str(mnist_path), "--out", str(out),
                     timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout)


def test_detector_path_end_to_end(tiny_detector, tmp_path):
    """Scenes → train → int8 → bundle → the device reads a frame with it."""
    from ai_edge_litert.interpreter import Interpreter

    out, summary = tiny_detector
    meta = json.loads((out / "bundle/strips.json").read_text())
    assert meta["format"] == "digitcam-detector" and meta["training"]["train_scenes"] == 300
    assert 0.0 <= summary["cell_recall"] <= 1.0 and 0.0 <= summary["cell_precision"] <= 1.0
    interpreter = Interpreter(model_path=str(out / "bundle/strips.tflite"))
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and list(inp["shape_signature"]) == [1, 240, 320, 1]
    assert outp["dtype"] == np.int8 and list(outp["shape_signature"]) == [1, 60, 80, 1]
    cv2.imwrite(str(tmp_path / "f.png"), np.full((480, 640), 200, np.uint8))
    result = run_cli("read", "--json", "--detector", str(out / "bundle/strips.json"),
                     str(tmp_path / "f.png"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == ""


def test_field_loop_archive_label_finetune_read(tiny_run, tmp_path, mnist_path):
    """The daemon archives the strips it read, a person labels them in the terminal, the
    model is fine-tuned on them, and `digitcam read` reads with the new bundle."""
    import subprocess

    from conftest import DIGITCAM, ROOT

    out, _ = tiny_run
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(f'state_dir = "{state}"\n[source]\nspec = "replay:{ROOT}/device/samples/frames"\n'
                      'fps = 30.0\nloop = false\n[archive]\nmode = "all"\n'
                      '[console]\nenabled = false\n[journal]\nenabled = false\n')
    run = run_cli("device", "run", "--config", str(config), timeout=120)
    assert run.returncode == 0, run.stderr
    archive = state / "archive"
    strips = sorted(archive.glob("*.png"))
    assert strips
    # A person confirms every reading but corrects the first to what its frame really shows.
    answers = "1234\n" + "\n" * (len(strips) - 1)
    labelled = subprocess.run([*DIGITCAM, "label", str(archive), "--no-image"], input=answers,
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert labelled.returncode == 0, labelled.stderr
    assert f"labelled {len(strips)} " in labelled.stdout
    tuned = run_cli("trainer", "finetune", "--from", str(out / "bundle" / "digits.json"),
                    "--real", str(archive), "--out", str(tmp_path / "ft"), "--steps", "8",
                    "--eval-count", "20", "--mnist", str(mnist_path), timeout=900)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    summary = json.loads(tuned.stdout)
    source_sha = json.loads((out / "bundle" / "digits.json").read_text())["sha256"]
    assert summary["from"]["sha256"] == source_sha and summary["steps"] == 8
    assert {"seed", "printed"} <= set(summary["exact"])
    assert all({"before", "after"} <= set(v) for v in summary["exact"].values())
    new_bundle = tmp_path / "ft" / "bundle" / "digits.json"
    meta = json.loads(new_bundle.read_text())
    assert meta["sha256"] != source_sha and meta["metrics"]["finetune"]["from"]["sha256"] == source_sha
    assert (tmp_path / "ft" / "bundle" / "digits.weights.h5").is_file()  # it can be fine-tuned again
    read = run_cli("read", "--json", "--roi", "full", "--model", str(new_bundle), str(strips[0]))
    assert read.returncode == 0, read.stderr
    assert set(json.loads(read.stdout)["text"]) <= set("0123456789")
