"""LiteRT first, tflite-runtime as the fallback; both venvs run these."""

import importlib.util
import os

import numpy as np
import pytest

from digitcam.device.bench import runtime_warnings
from digitcam.device.errors import DigitcamError
from digitcam.device.recognizer import Recognizer
from digitcam.device.runtime import RUNTIMES, RuntimeInfo, cpu_summary, delegate_of, interpreter_class

pytestmark = pytest.mark.tflite_runtime


def installed(name: str) -> bool:
    return importlib.util.find_spec(RUNTIMES[name].split(".")[0]) is not None


def test_the_expected_runtime_runs_the_model(shipped_bundle):
    expected = os.environ.get("DIGITCAM_RUNTIME", "ai-edge-litert")
    rec = Recognizer(shipped_bundle)
    assert rec.runtime == expected
    scores = rec.scores(np.full((rec.meta.height, rec.meta.width), 128, np.uint8))
    assert scores.shape == (rec.meta.bundle.output.time_steps, 11) and scores.dtype == np.float32


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


def test_the_bench_names_the_delegate_the_interpreter_runs_with(shipped_bundle):
    # ai-edge-litert applies XNNPACK to the int8 graph; tflite-runtime 2.14 does not
    # (its int8 runs on the builtin kernels, the slow host of issue 28).
    rec = Recognizer(shipped_bundle, threads=2)
    want = "XNNPACK" if rec.runtime == "ai-edge-litert" else "none"
    assert rec.info.delegate == want
    assert rec.info.threads == 2 and rec.info.runtime == rec.runtime and rec.info.version != "?"


def test_delegate_is_unknown_without_the_runtimes_introspection():
    assert delegate_of(object()) == "unknown"


X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model\t\t: 2
model name\t: AMD EPYC 9R45
flags\t\t: fpu sse2 ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni
"""
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU part\t: 0xd08

Revision\t: c03114
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


@pytest.mark.parametrize("text, model, flags", [
    (X86, "AMD EPYC 9R45", ["sse4_1", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]),
    (PI4, "Raspberry Pi 4 Model B Rev 1.4", ["asimd"]),
    ("", None, []),
])
def test_cpu_summary_reads_the_model_and_the_int8_flags(tmp_path, text, model, flags):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    summary = cpu_summary(cpuinfo)
    assert summary["int8_flags"] == flags
    if model is not None:
        assert summary["model"] == model
    assert summary["cores"] >= 1


def test_a_graph_without_xnnpack_is_a_bench_warning():
    fast = RuntimeInfo("ai-edge-litert", "2.3.0", "XNNPACK", 1)
    slow = RuntimeInfo("tflite-runtime", "2.14.0", "none", 1)
    assert runtime_warnings({"recogniser": fast, "detector": fast}) == []
    (warning,) = runtime_warnings({"recogniser": fast, "detector": slow})
    assert warning.startswith("detector: XNNPACK delegate not in use (tflite-runtime 2.14.0")
    crowded = runtime_warnings({"recogniser": RuntimeInfo("ai-edge-litert", "2.3.0", "XNNPACK", 64)})
    assert len(crowded) == 1 and "64 threads" in crowded[0]
