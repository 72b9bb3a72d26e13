"""MNIST in Keras' layout: from a given .npz file, or Keras' own loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from digitcam.device.errors import DigitcamError

Split = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]
KEYS = ("x_train", "y_train", "x_test", "y_test")


def load(path: str | Path | None = None) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)) as Keras' ``mnist.load_data()`` gives.

    With no path (None or ""), Keras downloads (once, then caches in ~/.keras/datasets).
    """
    if not path:
        from keras.datasets import mnist

        try:
            (xtr, ytr), (xte, yte) = mnist.load_data()
        except Exception as exc:  # Keras raises a bare Exception for a failed fetch
            raise DigitcamError(f"MNIST: no file given and Keras could not download it ({exc}); "
                                "give --mnist PATH") from None
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: MNIST file not found")
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data]
            if missing:
                raise ValueError(f"{p}: not in Keras' MNIST layout (missing {', '.join(missing)})")
            xtr, ytr, xte, yte = (data[k] for k in KEYS)
    for name, x in (("x_train", xtr), ("x_test", xte)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"MNIST {name} has shape {x.shape}, expected (N, 28, 28)")
    return (xtr.astype(np.uint8), ytr.astype(np.uint8)), (xte.astype(np.uint8), yte.astype(np.uint8))
