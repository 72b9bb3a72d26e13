"""Export the prediction graph to float32 and full-integer int8 TFLite.

The export goes through a copy of the model with a fixed batch of 1: left
dynamic, the final Reshape keeps a dynamic batch and XNNPACK delegates
nothing. Input stays uint8 pixels (scale 1, zero point 0) because the model
does its own scaling; the int8 output is dequantised on the device.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

logger = logging.getLogger(__name__)


def _converter(model: keras.Model, height: int, width: int) -> tf.lite.TFLiteConverter:
    """A converter over a batch-1 copy of ``model`` (same layers, same weights)."""
    static = keras.models.clone_model(
        model, input_tensors=keras.Input(batch_shape=(1, height, width, 1), name="pixels"))
    static.set_weights(model.get_weights())
    return tf.lite.TFLiteConverter.from_keras_model(static)


def to_float(model: keras.Model, height: int, width: int) -> bytes:
    return _converter(model, height, width).convert()


def to_int8(model: keras.Model, height: int, width: int,
            representative: npt.NDArray[np.uint8]) -> bytes:
    """Full-integer int8 with uint8 input, calibrated on ``representative`` strips
    drawn from the training distribution."""

    def samples() -> Iterator[list[npt.NDArray[np.float32]]]:
        for strip in representative:
            yield [strip.reshape(1, height, width, 1).astype(np.float32)]

    converter = _converter(model, height, width)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    return converter.convert()


def check_static(tflite: bytes) -> None:
    """Fail loudly if the exported graph has any dynamic dimension."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    for detail in interpreter.get_input_details() + interpreter.get_output_details():
        if -1 in list(detail["shape_signature"]):
            raise RuntimeError(f"tensor {detail['name']} has a dynamic shape {detail['shape_signature']}")


def write(path: Path, tflite: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tflite)
    logger.info("wrote %s (%.1f KB)", path, len(tflite) / 1024)
    return path
