"""Latency percentiles over a ring buffer, checked against numpy on known data."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from digitcam.device.profiling import LatencyProfile


def percentiles(values: np.ndarray) -> dict[str, float]:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": p50, "p95": p95, "p99": p99, "max": values.max()}


def assert_stats(got: dict[str, float], values: np.ndarray) -> None:
    want = percentiles(values)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key]), key


def test_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(7)
    capture = rng.gamma(2.0, 3.0, size=300)
    infer = rng.normal(20.0, 2.0, size=300)
    prof = LatencyProfile(window=1000)
    for i in range(300):
        prof.record({"capture": capture[i], "infer": infer[i]}, now=i * 0.1)
    s = prof.summary()
    assert s["frames"] == 300 and s["frames_total"] == 300
    assert s["fps"] == pytest.approx(10.0)
    assert list(s["stages"]) == ["capture", "infer"]
    assert_stats(s["stages"]["capture"], capture)
    assert_stats(s["stages"]["infer"], infer)
    assert_stats(s["total"], capture + infer)  # no "total" given: the sum of the stages


def test_window_wraps_around_to_the_latest_frames() -> None:
    prof = LatencyProfile(window=50)
    values = np.arange(130, dtype=float)
    for i, v in enumerate(values):
        # Frames speed up after frame 100: fps must reflect only the window.
        t = i * 0.5 if i <= 100 else 50.0 + (i - 100) * 0.1
        prof.record({"infer": v, "total": v + 1}, now=t)
    s = prof.summary()
    assert s["frames"] == 50 and s["frames_total"] == 130
    assert_stats(s["stages"]["infer"], values[-50:])
    assert_stats(s["total"], values[-50:] + 1)
    # Window: frames 80..129, timestamps 40.0 .. 52.9, 49 intervals.
    assert s["fps"] == pytest.approx(49 / 12.9)


def test_a_skipped_stage_does_not_count_old_laps() -> None:
    prof = LatencyProfile(window=4)
    for _ in range(4):
        prof.record({"capture": 100.0, "publish": 100.0}, now=0.0)
    for i in range(4):
        prof.record({"capture": float(i)}, now=float(i))
    s = prof.summary()
    assert_stats(s["stages"]["capture"], np.arange(4.0))
    assert s["stages"]["publish"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    prof.record({"capture": 1.0, "publish": 5.0}, now=5.0)
    assert s["stages"]["publish"]["max"] == 0.0
    assert prof.summary()["stages"]["publish"]["max"] == 5.0


def test_empty_profile() -> None:
    s = LatencyProfile().summary()
    assert s["frames"] == 0 and s["fps"] == 0.0 and s["stages"] == {}
    assert "0 frames" in LatencyProfile().table()


def test_table_is_fixed_width() -> None:
    prof = LatencyProfile(window=10)
    for i in range(10):
        prof.record({"capture wait": 1.0, "segment": 2.5, "infer": 12.25}, now=i / 5)
    lines = prof.table().splitlines()
    assert lines[0].split() == ["stage", "(ms)", "p50", "p95", "p99", "max"]
    assert [ln.split()[0] for ln in lines[1:-1]] == ["capture", "segment", "infer", "total"]
    assert len({len(ln) for ln in lines[:-1]}) == 1
    assert lines[-1] == "10 frames, 5.00 fps"


def test_log_summary_when_due(caplog: pytest.LogCaptureFixture) -> None:
    prof = LatencyProfile(window=10, summary_interval_s=60)
    caplog.set_level(logging.INFO, logger="digitcam.device.profiling")
    assert not prof.log_summary_if_due(0.0)  # starts the clock
    prof.record({"infer": 3.0}, now=1.0)
    assert not prof.log_summary_if_due(59.9)
    assert prof.log_summary_if_due(60.0)
    assert not prof.log_summary_if_due(61.0)
    assert prof.log_summary_if_due(120.0)
    assert len(caplog.records) == 2
    assert "1 frames" in caplog.records[0].getMessage()
    assert "total p50 3.0" in caplog.records[0].getMessage()
    assert not LatencyProfile(summary_interval_s=0).log_summary_if_due(1e9)
