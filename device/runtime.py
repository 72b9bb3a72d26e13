"""Build a TFLite interpreter: LiteRT first, tflite-runtime as the fallback.

LiteRT (``ai-edge-litert``) runs int8 through XNNPACK and supports numpy 2;
``tflite-runtime`` 2.14 still works on older images but needs numpy<2 and is
several times slower on int8. ``DIGITCAM_RUNTIME`` forces one of them.

Why the same model invokes several times slower on one host than another is
mostly three things, so ``Model.info`` reports them: whether the XNNPACK
delegate took the graph (tflite-runtime 2.14 does not apply it to int8
models: ~5x slower recogniser, ~20x slower detector, measured in
BENCHMARKS.md), the thread count, and which int8 dot-product instructions
the CPU has (AVX2/AVX-512 VNNI on x86, NEON dot product / i8mm on arm64).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import BundleError, DigitcamError, one_line

logger = logging.getLogger(__name__)

RUNTIMES = {
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
}


def interpreter_class(preferred: str | None = None) -> tuple[type[Any], str]:
    """The Interpreter class of the first runtime that imports, and its name."""
    choice = preferred or os.environ.get("DIGITCAM_RUNTIME") or None
    if choice is not None and choice not in RUNTIMES:
        raise DigitcamError(f"unknown runtime {choice!r}; choose one of {', '.join(RUNTIMES)}")
    names = [choice] if choice else list(RUNTIMES)
    failures = []
    for name in names:
        try:
            module = importlib.import_module(RUNTIMES[name])
        except ImportError as exc:
            failures.append(f"{name}: {exc}")
            continue
        return module.Interpreter, name
    raise DigitcamError(
        "no TFLite runtime is installed (" + "; ".join(failures) + "); "
        "install one with: pip install ai-edge-litert"
    )


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """The runtimes print 'INFO: Created TensorFlow Lite XNNPACK delegate' from
    C++ straight to fd 2; keep it out of a CLI's error stream. Failures still
    surface as Python exceptions."""
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# CPU features that decide which int8 kernels XNNPACK can use, as /proc/cpuinfo
# spells them: x86 (SSE4.1 < AVX2 < AVX-512 < VNNI) and arm64 (NEON = asimd,
# dot product = asimddp, matrix multiply = i8mm; a Pi 4's A72 has only asimd,
# a Pi 5's A76 adds asimddp).
INT8_CPU_FLAGS = ("sse4_1", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                  "asimd", "asimddp", "i8mm", "sve")


@dataclass(frozen=True)
class RuntimeInfo:
    """What an interpreter actually runs with, for ``device bench`` to print."""

    runtime: str  # ai-edge-litert or tflite-runtime
    version: str
    delegate: str  # "XNNPACK", or "none" when the builtin kernels run the graph
    threads: int


def delegate_of(interpreter: Any) -> str:
    """"XNNPACK" when the runtime's default delegate took (part of) the graph.

    LiteRT's only default CPU delegate is XNNPACK, and a delegated graph shows a
    DELEGATE node in the op list. ``_get_ops_details`` is the runtimes' own
    (underscored) introspection; where it is missing the answer is "unknown".
    """
    try:
        ops = interpreter._get_ops_details()
    except (AttributeError, RuntimeError, ValueError):
        return "unknown"
    return "XNNPACK" if any(op.get("op_name") == "DELEGATE" for op in ops) else "none"


def runtime_version(name: str) -> str:
    # The runtime's own __version__ (both have one), not importlib.metadata, which would
    # import email, zipfile and csv into the daemon for this one string.
    return str(getattr(sys.modules.get(RUNTIMES[name].split(".")[0]), "__version__", "?"))


def cpu_summary(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The CPU's model name, architecture and its int8-relevant SIMD flags."""
    names: dict[str, str] = {}
    flags = set[str]()
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "model") and value.strip():
            names.setdefault(key, value.strip())
    # x86 says "model name" (its "model" is a number); a Pi says "Model: Raspberry Pi 4 ...".
    model = names.get("model name") or names.get("model", "")
    return {"model": model or platform.processor() or "?", "arch": platform.machine(),
            "cores": os.cpu_count() or 0, "int8_flags": [f for f in INT8_CPU_FLAGS if f in flags]}


class Model:
    """One model's interpreter, built once: its input and output tensors' details, and
    :meth:`run`, one invoke. A file the runtime cannot parse is a one-line
    ``BundleError`` naming it."""

    def __init__(self, path: Path, threads: int = 1, runtime: str | None = None) -> None:
        started = time.monotonic()
        cls, self.runtime = interpreter_class(runtime)
        try:
            with _quiet_native_stderr():
                self._interpreter = cls(model_path=str(path), num_threads=max(1, threads))
                self._interpreter.allocate_tensors()
        except ValueError as exc:  # the runtime's word for a file it cannot parse
            raise BundleError(f"{path}: not a loadable TFLite model ({one_line(exc)})") from None
        self.load_ms = (time.monotonic() - started) * 1000.0
        logger.debug("built %s interpreter for %s with %d thread(s)", self.runtime, path, threads)
        self.info = RuntimeInfo(self.runtime, runtime_version(self.runtime), delegate_of(self._interpreter),
                                max(1, threads))  # what device bench reports
        self.input: dict[str, Any] = self._interpreter.get_input_details()[0]
        self.output: dict[str, Any] = self._interpreter.get_output_details()[0]
        # The output's scale and zero point, read once, not per invoke.
        scale, zero = self.output.get("quantization", (0.0, 0))
        self._scale, self._zero = float(scale) or 1.0, int(zero)

    def run(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Invoke on ``batch``; the output as float32 (a float model's passes through)."""
        self._interpreter.set_tensor(self.input["index"], batch)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self.output["index"])
        if raw.dtype == np.float32:
            return raw
        return (raw.astype(np.float32) - self._zero) * self._scale
