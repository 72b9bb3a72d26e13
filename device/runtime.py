"""Build a TFLite interpreter: LiteRT first, tflite-runtime as the fallback.

LiteRT (``ai-edge-litert``) runs int8 through XNNPACK and supports numpy 2;
``tflite-runtime`` 2.14 still works on older images but needs numpy<2 and is
several times slower on int8. ``DIGITCAM_RUNTIME`` forces one of them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from .errors import DigitcamError

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


def make_interpreter(model_path: str, threads: int = 1, runtime: str | None = None) -> tuple[Any, str]:
    cls, name = interpreter_class(runtime)
    with _quiet_native_stderr():
        interpreter = cls(model_path=model_path, num_threads=max(1, threads))
        interpreter.allocate_tensors()
    logger.debug("built %s interpreter for %s with %d thread(s)", name, model_path, threads)
    return interpreter, name
