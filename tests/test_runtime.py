"""LiteRT first, tflite-runtime as the fallback; both venvs run these."""

import importlib.util
import os

import numpy as np
import pytest

from digitcam.device.errors import DigitcamError
from digitcam.device.recognizer import Recognizer
from digitcam.device.runtime import RUNTIMES, interpreter_class

pytestmark = pytest.mark.tflite_runtime


def installed(name: str) -> bool:
    return importlib.util.find_spec(RUNTIMES[name].split(".")[0]) is not None


def test_the_expected_runtime_runs_the_model(shipped_bundle):
    expected = os.environ.get("DIGITCAM_RUNTIME", "ai-edge-litert")
    rec = Recognizer(shipped_bundle)
    assert rec.runtime == expected
    scores = rec.scores(np.full((rec.meta.height, rec.meta.width), 128, np.uint8))
    assert scores.shape == (rec.meta.time_steps, 11) and scores.dtype == np.float32


def test_falls_back_when_litert_is_missing():
    cls, name = interpreter_class()
    assert name == ("ai-edge-litert" if installed("ai-edge-litert") else "tflite-runtime")
    assert cls.__name__ == "Interpreter"


def test_missing_runtime_is_a_clear_error():
    absent = [n for n in RUNTIMES if not installed(n)]
    if not absent:
        pytest.skip("both runtimes installed here")
    with pytest.raises(DigitcamError, match="no TFLite runtime is installed"):
        interpreter_class(absent[0])


def test_unknown_runtime_name():
    with pytest.raises(DigitcamError, match="unknown runtime 'onnx'"):
        interpreter_class("onnx")
