"""The bundle contract: metadata and model must agree, or the device refuses."""

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
    meta = bundle.read_meta(shipped_bundle)
    assert meta.alphabet == "0123456789" and meta.blank_index == 10
    assert meta.input_dtype == "uint8" and meta.channels == 1
    assert meta.raw["quantization"].startswith("full-int8")
    assert meta.raw["decoder"] == "ctc-greedy"
    assert meta.tflite_path.stat().st_size <= 300 * 1024
    for key in ("training", "git_revision", "metrics"):
        assert meta.raw[key], key
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
        bundle.read_meta(bundle_copy)
    bundle_copy.unlink()
    with pytest.raises(BundleError, match="not found"):
        bundle.read_meta(bundle_copy.with_suffix(".tflite"))


def test_future_format_version_is_refused(bundle_copy):
    rewrite(bundle_copy, format_version=99)
    with pytest.raises(BundleError, match="format version 99"):
        bundle.read_meta(bundle_copy)
