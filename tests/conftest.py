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
    """DIGITCAM_MNIST, else the shared copy beside the repo, else Keras' own
    download (cached in ~/.keras/datasets), as on a user's machine."""
    given = os.environ.get("DIGITCAM_MNIST")
    if given or SHARED_MNIST.is_file():
        path = Path(given or SHARED_MNIST)
        if not path.is_file():
            pytest.fail(f"MNIST not found at {path}; set DIGITCAM_MNIST")
        return path
    from keras.datasets import mnist  # trainer tests only; the tflite venv never gets here

    try:
        mnist.load_data()
    except Exception as exc:  # no network and no copy: say so in one line
        pytest.fail(f"MNIST: no copy at {SHARED_MNIST} and Keras could not download it ({exc}); "
                    "set DIGITCAM_MNIST")
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / "mnist.npz"


@pytest.fixture(scope="session")
def shipped_bundle() -> Path:
    from digitcam.device.bundle import RecogniserBundle, shipped

    return shipped(RecogniserBundle)


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


def edge_energy(image) -> float:
    """Mean absolute Laplacian: how hard a strip's edges are (blur lowers it)."""
    import cv2
    import numpy as np
    return float(np.abs(cv2.Laplacian(image.astype(np.float32), cv2.CV_32F)).mean())
