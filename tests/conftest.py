"""Shared fixtures. Only numpy/OpenCV at import time: these tests also run in
the tflite-runtime venv, which has no TensorFlow and no trainer dependencies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
DIGITCAM = [sys.executable, "-m", "digitcam.device.cli"]


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    path = Path(os.environ.get("DIGITCAM_MNIST") or SHARED_MNIST)
    if not path.is_file():
        pytest.fail(f"MNIST not found at {path}; set DIGITCAM_MNIST")
    return path


@pytest.fixture(scope="session")
def shipped_bundle() -> Path:
    from digitcam.device.bundle import default_bundle_path

    return default_bundle_path()


@pytest.fixture
def bundle_copy(tmp_path: Path, shipped_bundle: Path) -> Path:
    """A private copy of the shipped bundle that a test may damage."""
    for suffix in (".json", ".tflite"):
        shutil.copy2(shipped_bundle.with_suffix(suffix), tmp_path / f"digits{suffix}")
    return tmp_path / "digits.json"


def run_cli(*args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as a user runs it."""
    return subprocess.run([*DIGITCAM, *args], capture_output=True, text=True, check=check,
                          timeout=timeout, cwd=ROOT)
