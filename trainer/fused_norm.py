"""Batch normalisation whose training step runs TensorFlow's fused kernel.

Keras 3 normalises a batch with separate moments, subtract, multiply and add
ops on every backend; on this 2-core CPU those cost the shipped network 28 %
of a training step (0.227 s against 0.171 s with the fused kernel, measured:
BENCHMARKS.md, "Training"). The fused kernel computes the same function, so this layer
trains the same network faster and is a plain BatchNormalization everywhere
else: inference, the moving statistics it keeps, its saved weights, and the
batch-1 copy that is converted to TFLite (which folds it into the convolution).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="digitcam")
class FusedBatchNorm(layers.BatchNormalization):
    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        # The kernel returns the Bessel-corrected variance for the running average;
        # Keras averages the plain batch variance, and so must this layer.
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
        variance = variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return y

    def _fusable(self, inputs, mask) -> bool:
        """The kernel's case: float32 NHWC normalised over channels, scaled and
        centred, no mask and no renormalisation; anything else takes Keras' path."""
        return (mask is None and not self.renorm and self.scale and self.center
                and len(inputs.shape) == 4 and self.axis in (3, -1)
                and inputs.dtype == tf.float32)
