"""The bundle contract: metadata and model must agree, or the device refuses."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from digitcam.device import bundle
from digitcam.device.errors import BundleError
from digitcam.device.recognizer import Recognizer

pytestmark = pytest.mark.tflite_runtime


def rewrite(json_path: Path, **changes) -> None:
    meta = json.loads(json_path.read_text())
    for dotted, value in changes.items():
        node = meta
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    json_path.write_text(json.dumps(meta))


def test_shipped_bundle_states_its_contract(shipped_bundle):
    meta = bundle.read(shipped_bundle, bundle.RecogniserBundle)
    assert meta.bundle.alphabet == "0123456789" and meta.bundle.blank_index == 10
    assert meta.bundle.input.dtype == "uint8" and meta.bundle.input.channels == 1
    assert meta.bundle.quantization == bundle.INT8
    assert meta.bundle.decoder == "ctc-greedy"
    assert meta.tflite_path.stat().st_size <= 300 * 1024
    for key in ("training", "git_revision", "metrics"):
        assert getattr(meta.bundle, key), key
    assert shipped_bundle.with_suffix(".md").is_file()  # the model card


def test_recognizer_builds_and_reads_a_blank_strip(shipped_bundle):
    rec = Recognizer(shipped_bundle)
    result = rec.read(np.full((40, 200), 230, np.uint8))
    assert result.text == ""
    assert set(result.latency_ms) == {"preprocess", "infer", "decode", "total"}


def test_tampered_model_fails_its_sha256(bundle_copy):
    tflite = bundle_copy.with_suffix(".tflite")
    data = bytearray(tflite.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tflite.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"digits\.tflite: sha256 mismatch"):
        Recognizer(bundle_copy)


def test_wrong_input_shape_in_metadata_is_named(bundle_copy):
    rewrite(bundle_copy, input__width=100)
    with pytest.raises(BundleError, match=r"input shape .* does not match metadata"):
        Recognizer(bundle_copy)


def test_wrong_input_dtype_in_metadata_is_named(bundle_copy):
    rewrite(bundle_copy, input__dtype="float32")
    with pytest.raises(BundleError, match="input dtype uint8 does not match metadata float32"):
        Recognizer(bundle_copy)


def test_wrong_alphabet_size_shows_as_output_mismatch(bundle_copy):
    rewrite(bundle_copy, alphabet="0123456789X")
    with pytest.raises(BundleError, match="output shape"):
        Recognizer(bundle_copy)


def test_corrupt_model_with_matching_sha_is_refused(bundle_copy):
    tflite = bundle_copy.with_suffix(".tflite")
    tflite.write_bytes(b"not a flatbuffer" * 64)
    rewrite(bundle_copy, sha256=bundle.sha256_of(tflite))
    with pytest.raises(BundleError, match="not a loadable TFLite model"):
        Recognizer(bundle_copy)


def test_missing_and_unparsable_metadata(bundle_copy):
    bundle_copy.write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        bundle.read(bundle_copy, bundle.RecogniserBundle)
    bundle_copy.unlink()
    with pytest.raises(BundleError, match="not found"):
        bundle.read(bundle_copy.with_suffix(".tflite"), bundle.RecogniserBundle)


def test_future_format_version_is_refused(bundle_copy):
    rewrite(bundle_copy, format_version=99)
    with pytest.raises(BundleError, match="format version 99"):
        bundle.read(bundle_copy, bundle.RecogniserBundle)


SHIPPED = [("digits", bundle.RecogniserBundle), ("strips", bundle.DetectorBundle)]


@pytest.mark.parametrize("name, schema", SHIPPED)
def test_shipped_bundles_write_back_through_the_schema_unchanged(tmp_path, shipped_bundle, name, schema):
    source = shipped_bundle.with_name(f"{name}.json")
    meta = bundle.load(source, schema)
    written = bundle.write(meta, tmp_path / f"{name}.json")
    assert json.loads(written.read_text()) == json.loads(source.read_text())
    assert written.read_text() == source.read_text()  # the same text too: fields in file order
    assert type(bundle.load_any(source)) is schema


@pytest.mark.parametrize("name, schema", SHIPPED)
def test_keys_the_schema_does_not_name_are_kept(name, schema, shipped_bundle):
    raw = json.loads(shipped_bundle.with_name(f"{name}.json").read_text())
    raw["calibration"] = {"temperature": 1.3}
    raw["input"]["mean"] = 0.5
    raw["output"]["note"] = "from a newer trainer"
    raw["metrics"]["new_set"] = {"exact": 0.5}
    meta = bundle.parse(raw, schema, "x.json")
    assert meta.extra == {"calibration": {"temperature": 1.3}} and meta.input.extra == {"mean": 0.5}
    assert meta.to_dict() == raw


def test_optional_keys_an_older_bundle_lacks_stay_absent(shipped_bundle):
    raw = json.loads(shipped_bundle.read_text())
    for key in ("finetune", "metrics", "name", "model_file"):
        del raw[key]
    del raw["input"]["preprocess"], raw["output"]["classes"]
    assert bundle.parse(raw, bundle.RecogniserBundle, "old.json").to_dict() == raw
    raw["git_revision"] = None  # given as null: written back as null
    meta = bundle.parse(raw, bundle.RecogniserBundle, "old.json")
    assert meta.git_revision is None and meta.to_dict() == raw
    assert dataclasses.replace(meta, git_revision="abc").to_dict()["git_revision"] == "abc"


@pytest.mark.parametrize("change, message", [
    (lambda m: m["input"].pop("height"), r"digits\.json: metadata has no 'input\.height'"),
    (lambda m: m.pop("sha256"), "metadata has no 'sha256'"),
    (lambda m: m["input"].update(height="32"), r"'input\.height' must be an integer, not str \"32\""),
    (lambda m: m.update(blank_index=True), "'blank_index' must be an integer, not bool"),
    (lambda m: m.update(alphabet=list("0123")), "'alphabet' must be a string, not list"),
    (lambda m: m.update(output=48), "'output' must be an object, not int 48"),
    (lambda m: m.update(training="x" * 500), r"'training' must be an object, not str \"x{36}\.\.\.$"),
    (lambda m: m.update(decoder="beam"), "unsupported decoder 'beam'"),
    (lambda m: m.update(blank_index=12), "blank_index 12 is outside the alphabet"),
])
def test_malformed_metadata_is_refused_in_one_line(bundle_copy, change, message):
    meta = json.loads(bundle_copy.read_text())
    change(meta)
    bundle_copy.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=message) as err:
        bundle.read(bundle_copy, bundle.RecogniserBundle)
    assert "\n" not in str(err.value)


def test_a_detector_threshold_must_be_a_number(tmp_path, shipped_bundle):
    for suffix in (".json", ".tflite"):
        (tmp_path / f"strips{suffix}").write_bytes(shipped_bundle.with_name(f"strips{suffix}").read_bytes())
    rewrite(tmp_path / "strips.json", threshold="high")
    with pytest.raises(BundleError, match=r"strips\.json: 'threshold' must be a number, not str"):
        bundle.read(tmp_path / "strips.json", bundle.DetectorBundle)
    assert bundle.parse({**json.loads((shipped_bundle.with_name("strips.json")).read_text()), "threshold": 1},
                        bundle.DetectorBundle, "x").threshold == 1  # an integer is a number


def test_a_recogniser_bundle_is_not_a_detector_bundle(shipped_bundle):
    with pytest.raises(BundleError, match="not a digitcam detector bundle"):
        bundle.read(shipped_bundle, bundle.DetectorBundle)
