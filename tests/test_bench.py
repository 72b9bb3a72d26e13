"""``device bench`` says what it measured: runtime, delegate, threads, CPU, tracking."""

import pytest
from conftest import run_cli

from digitcam.device.assemble import bundled_frames
from digitcam.device.bench import busy_warning, run_bench, table

pytestmark = pytest.mark.tflite_runtime


@pytest.fixture(scope="module")
def bench() -> dict:
    return run_bench(f"replay:{bundled_frames()}", frames=40, warmup=5, threads=1, track_every=10)


def test_the_result_names_runtime_delegates_threads_and_cpu(bench):
    assert bench["runtime"] in ("ai-edge-litert", "tflite-runtime") and bench["runtime_version"]
    want = "XNNPACK" if bench["runtime"] == "ai-edge-litert" else "none"
    assert bench["delegates"] == {"recogniser": want, "detector": want}
    assert bench["threads"] == 1
    assert bench["opencv_threads"] == 1  # OpenCV's own pool follows --threads
    cpu = bench["machine"]["cpu"]
    assert cpu["arch"] and cpu["cores"] >= 1 and isinstance(cpu["int8_flags"], list)
    lines = table(bench).splitlines()
    assert lines[1].startswith(f"runtime {bench['runtime']} ") and f"recogniser {want}" in lines[1]
    assert "1 thread(s) (OpenCV 1)" in lines[1] and cpu["arch"] in lines[1]
    assert any(line.startswith("WARNING: recogniser: XNNPACK") for line in lines) == (want != "XNNPACK")


def test_the_result_splits_out_the_detector_cpu_time_and_tracking(bench):
    assert 0 <= bench["stages"]["detect"]["p50"] <= bench["stages"]["segment"]["max"] + 1e-9
    assert 0 < bench["cpu_ms"]["p50"] <= bench["cpu_ms"]["max"]
    # The bundled frames are 15 scenes, most shot four times in a row: some are tracked.
    assert bench["track_every"] == 10 and 0 < bench["tracked_frames"] < bench["frames"]
    assert f"{bench['tracked_frames']} of 40 frames skipped the detector" in table(bench)


def test_an_older_result_without_these_fields_still_prints(bench):
    old = {k: v for k, v in bench.items()
           if k not in ("delegates", "runtime_version", "warnings", "cpu_ms", "track_every",
                        "tracked_frames")}
    old["machine"] = {k: v for k, v in bench["machine"].items() if k != "cpu"}
    assert "delegate unknown" in table(old)


def test_a_busy_host_is_a_warning():
    assert busy_warning((0.2, 0.4)) == []
    (warning,) = busy_warning((0.5, 1000.0))
    assert warning.startswith("host busy (1-min load average 0.5 before, 1000.0 after")


def test_a_negative_track_every_is_one_line():
    result = run_cli("device", "bench", "--frames", "3", "--warmup", "0", "--track-every", "-1", timeout=60)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line == "digitcam: error: --track-every -1: expected 0 (off) or more frames"
