"""``device bench`` says what it measured: runtime, delegate, threads, CPU, tracking;
and what it measured is the daemon's own pipeline."""

import json
from dataclasses import replace

import pytest
from conftest import run_cli

from digitcam.device.bench import busy_warning, run_bench, table
from digitcam.device.config import Config, SourceConfig, load_config
from digitcam.device.daemon import Daemon
from digitcam.device.pipeline import Pipeline, bundled_frames

pytestmark = pytest.mark.tflite_runtime


@pytest.fixture(scope="module")
def bench() -> dict:
    config = replace(Config(), source=SourceConfig(spec=f"replay:{bundled_frames()}"))
    return run_bench(config, frames=40, warmup=5)


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


def daemon_pipeline(config_file) -> dict:
    daemon = Daemon(load_config(config_file))
    daemon.init_model()
    return Pipeline(daemon.recognizer, daemon.reader, daemon.stabiliser).describe()


CONFIGS = {
    "defaults": "",
    "learned": "[region]\ntrack_every = 3\nwindows = false\n[model]\nthreads = 2\n"
               "[stabiliser]\nk = 2\nn = 4\nmin_confidence = 0.7\nemit = \"every\"\nmonotonic = true\n",
    "classical": "[region]\nfinder = \"classical\"\n[stabiliser]\nexpected_digits = 5\n",
    "rect": "[region]\nmode = \"rect\"\nrect = [100, 150, 440, 180]\n[stabiliser]\nmax_rate_per_min = 6\n",
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_bench_times_the_daemons_pipeline(tmp_path, name):
    # The bench's parts, by type and setting (finder, windows, reader floors, tracking,
    # every stabiliser rule, threads), are those the daemon builds from the same file.
    config_file = tmp_path / "digitcam.toml"
    config_file.write_text(f'[source]\nspec = "replay:{bundled_frames()}"\n' + CONFIGS[name])
    result = run_cli("device", "bench", "--config", str(config_file), "--frames", "2", "--warmup", "0",
                     "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    timed = json.loads(result.stdout)["pipeline"]
    assert timed == daemon_pipeline(config_file)
    assert timed["stabiliser"]["emit"] == ("every" if name == "learned" else "change")
    finder = {"defaults": "LearnedFinder", "learned": "LearnedFinder", "classical": "ClassicalFinder",
              "rect": "FixedRegion"}[name]
    assert timed["finder"]["type"] == finder
    assert (timed["windows"] is None) == (name in ("learned", "rect"))
