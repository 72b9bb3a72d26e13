import numpy as np
import pytest

pytest.importorskip("PIL")  # trainer dependencies; not in the tflite-runtime venv

from digitcam.trainer import mnist


def write_keras_layout(path, n_train=12, n_test=7):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    np.savez(path, **arrays)
    return arrays


def test_loads_a_file_in_keras_layout(tmp_path):
    arrays = write_keras_layout(tmp_path / "mnist.npz")
    (xtr, _), (xte, yte) = mnist.load(tmp_path / "mnist.npz")
    assert xtr.shape == (12, 28, 28) and xte.shape == (7, 28, 28)
    np.testing.assert_array_equal(xtr, arrays["x_train"])
    np.testing.assert_array_equal(yte, arrays["y_test"])


def test_missing_keys_are_named(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="y_train"):
        mnist.load(tmp_path / "bad.npz")


def test_wrong_digit_size_is_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 20, 20), np.uint8),
             y_train=np.zeros(2, np.uint8), x_test=np.zeros((1, 20, 20), np.uint8),
             y_test=np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="28, 28"):
        mnist.load(tmp_path / "bad.npz")


def test_shared_copy_is_the_real_mnist(mnist_path):
    (xtr, ytr), (xte, yte) = mnist.load(mnist_path)
    assert len(xtr) == 60_000 and len(xte) == 10_000
    assert list(ytr[:5]) == [5, 0, 4, 1, 9] and list(yte[:5]) == [7, 2, 1, 0, 4]
