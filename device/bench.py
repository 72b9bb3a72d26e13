"""``digitcam device bench``: the real pipeline on a real source, timed.

Frames come from the source through the pipeline the daemon builds from the same
config (``pipeline.build_pipeline``; sinks excluded: they are I/O, timed in the
daemon's own profile); a replay runs as fast as it goes, looping. Invoke-only
latency is measured apart on one strip, so the model's cost can be told from the
segmenter's. The result names what was measured (runtime and version, the XNNPACK
delegate per model, threads, the CPU's int8 SIMD flags) and warns when XNNPACK is
not in use, the usual reason the same model invokes several times slower on a host.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from .capture import spec
from .capture.base import SourceError
from .config import Config
from .detector import LearnedFinder
from .errors import DigitcamError
from .pipeline import build_pipeline
from .profiling import CAPTURE_WAIT, LatencyProfile, percentiles
from .runtime import RuntimeInfo, cpu_summary

# A host whose 1-minute load average reaches its core count was busy: the wall-clock
# percentiles then include time spent waiting for a CPU, which the CPU-time row does not.
BUSY_LOAD_PER_CORE = 1.0


def rss_mb() -> float:
    """Resident set size now (Linux /proc), else the peak."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(call: Callable[[npt.NDArray[np.uint8]], object], shape: tuple[int, int], runs: int,
           warmup: int) -> dict[str, float]:
    """Percentiles of ``call`` on a flat grey image, the first ``warmup`` runs left out."""
    image = np.full(shape, 128, np.uint8)
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        call(image)
        times.append((time.monotonic() - t0) * 1000.0)
    return percentiles(times[warmup:])


def runtime_warnings(infos: dict[str, RuntimeInfo]) -> list[str]:
    """Why these numbers may not be what this model can do on this CPU."""
    warnings = []
    for name, info in infos.items():
        if info.delegate != "XNNPACK":
            warnings.append(f"{name}: XNNPACK delegate not in use ({info.runtime} {info.version}, "
                            f"delegate {info.delegate}): int8 runs on the builtin kernels, several "
                            f"times slower; pip install ai-edge-litert")
    cores = os.cpu_count() or 1
    threads = max((i.threads for i in infos.values()), default=1)
    if threads > cores:
        warnings.append(f"{threads} threads on {cores} core(s): threads wait on each other")
    return warnings


def _load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def busy_warning(load: tuple[float, float]) -> list[str]:
    cores = os.cpu_count() or 1
    if max(load) < BUSY_LOAD_PER_CORE * cores:
        return []
    return [f"host busy (1-min load average {load[0]:.1f} before, {load[1]:.1f} after, {cores} "
            f"cores): wall-clock times include waiting for a CPU; see the CPU-time row"]


def run_bench(config: Config, frames: int = 300, warmup: int = 20, full_frame: bool = False
              ) -> dict[str, Any]:
    """Time the pipeline ``config`` describes (built as the daemon builds it) on its source."""
    threads = config.model.threads
    started = time.monotonic()
    pipeline = build_pipeline(config, full_frame=full_frame)
    load_ms = (time.monotonic() - started) * 1000.0  # both models
    described = pipeline.describe()  # before the run: its settings, not its counters
    recognizer, reader, stabiliser = pipeline.recognizer, pipeline.reader, pipeline.stabiliser
    detector = reader.finder.detector if isinstance(reader.finder, LearnedFinder) else None
    infos = {"recogniser": recognizer.info, **({"detector": detector.info} if detector else {})}
    source = config.source.spec
    try:
        # Timing: a replay as fast as it goes, looping; a camera at its own rate.
        src = spec.make_source(replace(config.source, fps=0.0, loop=True))
        src.open()
    except (DigitcamError, SourceError) as exc:
        raise DigitcamError(f"bench source {source!r}: {exc}") from None
    profile = LatencyProfile(window=max(2, frames))
    read_texts = 0
    cpu: list[float] = []  # process CPU time per frame: what the frame cost, waiting excluded
    load_before = _load_average()
    loop_started, tracked_before = time.monotonic(), 0
    try:
        for i in range(warmup + frames):
            waited = time.monotonic()
            if i == warmup:
                loop_started, tracked_before = waited, reader.tracked_frames
            frame = src.read()
            wait_ms = (time.monotonic() - waited) * 1000.0
            if frame is None:
                break
            cpu_started = time.process_time()
            result = reader.read(frame.image)
            cpu_ms = (time.process_time() - cpu_started) * 1000.0
            stabiliser.offer(result.text, result.confidence)
            if i >= warmup:
                cpu.append(cpu_ms)
                profile.record({CAPTURE_WAIT: wait_ms, **result.latency_ms}, time.monotonic())
                read_texts += bool(result.text)
        wall = time.monotonic() - loop_started
    finally:
        src.close()
    measured = len(cpu)
    if measured == 0:
        raise DigitcamError(f"bench source {source!r} gave no frames to measure")
    invoke = _timed(recognizer.scores, (recognizer.meta.height, recognizer.meta.width), 200, 20)
    detect = _timed(detector.probabilities, (480, 640), 100, 10) if detector is not None else None
    summary = profile.summary()
    load = (load_before, _load_average())
    return {
        "frames": measured,
        "fps": measured / wall if wall > 0 else 0.0,
        "total": summary["total"],
        "stages": summary["stages"],
        "cpu_ms": percentiles(cpu),
        "load_average": list(load),
        "rss_mb": round(rss_mb(), 1),
        "model_load_ms": round(load_ms, 2),
        "invoke_ms": invoke, "detector_ms": detect,
        "finder": None if full_frame or config.region.mode != "auto" else config.region.finder,
        "frames_with_digits": read_texts,
        "source": source, "region": "full" if full_frame else config.region.mode, "threads": threads,
        "runtime": recognizer.runtime,
        "runtime_version": recognizer.info.version,
        "opencv_threads": cv2.getNumThreads(),
        "delegates": {name: info.delegate for name, info in infos.items()},
        "warnings": runtime_warnings(infos) + busy_warning(load),
        "track_every": reader.track_every,
        "tracked_frames": reader.tracked_frames - tracked_before,
        "model": recognizer.meta.tflite_path.name, "model_sha256": recognizer.sha256,
        "pipeline": described,
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "cpu": cpu_summary()},
    }


def table(result: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    def row(name: str, st: dict[str, float], old: dict[str, float] | None) -> str:
        line = f"{name:<14}" + "".join(f"{st[k]:>9.3f}" for k in ("p50", "p95", "p99", "max"))
        if old:
            delta = st["p50"] - old["p50"]
            line += f"   p50 {delta:+.3f} ({delta / old['p50'] * 100 if old['p50'] else 0:+.0f}%)"
        return line

    prev = previous or {}
    finder = f", {result['finder']} finder" if result.get("finder") else ""
    lines = [f"{result['frames']} frames from {result['source']} ({result['region']} region{finder}), "
             f"{result['threads']} thread(s), {result['runtime']}, model {result['model']} "
             f"({result['model_sha256'][:12]})"]
    lines += [runtime_line(result), *(f"WARNING: {w}" for w in result.get("warnings", []))]
    lines.append(f"{'stage (ms)':<14}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for name, st in result["stages"].items():
        lines.append(row(name, st, prev.get("stages", {}).get(name)))
    for name, key in (("total", "total"), ("total CPU time", "cpu_ms"), ("invoke only", "invoke_ms"),
                      ("detector only", "detector_ms")):
        if result.get(key):  # an older release's result has no CPU time; no detector, no row
            lines.append(row(name, result[key], prev.get(key)))
    lines.append(f"{result['fps']:.1f} frames/s, RSS {result['rss_mb']:.1f} MB, model loaded in "
                 f"{result['model_load_ms']:.1f} ms, digits found in {result['frames_with_digits']} "
                 f"of {result['frames']} frames")
    if result.get("track_every"):
        lines.append(f"tracking: the last confident quad re-read for up to {result['track_every']} "
                     f"frames; {result.get('tracked_frames', 0)} of {result['frames']} frames "
                     f"skipped the detector")
    lines.append("total = preprocess + segment (detect included) + infer + decode, wall clock (capture "
                 "wait excluded); CPU time = the process's CPU time for the same span")
    return "\n".join(lines)


def runtime_line(result: dict[str, Any]) -> str:
    """Runtime, delegate per model, threads and CPU; a result from an older
    release (``deploy bench`` on a Pi not yet updated) lacks some of these."""
    delegates = result.get("delegates") or {}
    shown = ", ".join(f"{name} {d}" for name, d in delegates.items()) or "delegate unknown"
    cpu = (result.get("machine") or {}).get("cpu") or {}
    flags = " ".join(cpu.get("int8_flags", [])) or "none known"
    return (f"runtime {result.get('runtime', '?')} {result.get('runtime_version', '')}".rstrip()
            + f"; {shown}; {result.get('threads', '?')} thread(s)"
            + (f" (OpenCV {result['opencv_threads']})" if "opencv_threads" in result else "")
            + f"; CPU {cpu.get('model', '?')} "
              f"({cpu.get('arch', '?')}, {cpu.get('cores', '?')} cores; int8 flags: {flags})")


def load_previous(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DigitcamError(f"{path}: cannot read a previous bench result ({exc})") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    total = data.get("total") if isinstance(data, dict) else None
    if (not isinstance(stages, dict) or not isinstance(total, dict) or "p50" not in total
            or not all(isinstance(v, dict) and "p50" in v for v in stages.values())):
        raise DigitcamError(f"{path}: not a digitcam bench JSON (no stages with p50)")
    return data
