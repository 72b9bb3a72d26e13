"""The training kernels that make a step cheaper compute what Keras' own ops do."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from digitcam.trainer.data import encode_labels  # noqa: E402
from digitcam.trainer.fused_norm import FusedBatchNorm  # noqa: E402
from digitcam.trainer.model import ModelArgs, build  # noqa: E402
from digitcam.trainer.train import ctc_loss_fn  # noqa: E402


def _pair(shape, rng):
    plain, fused = keras.layers.BatchNormalization(), FusedBatchNorm()
    gamma, beta = rng.normal(1, 0.2, shape[-1]), rng.normal(0, 0.2, shape[-1])
    for layer in (plain, fused):
        layer.build(shape)
        layer.gamma.assign(gamma.astype("float32"))
        layer.beta.assign(beta.astype("float32"))
    return plain, fused


def test_fused_batch_norm_trains_and_infers_as_keras_does():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, (8, 4, 12, 5)).astype("float32"))
    weights = tf.constant(rng.normal(size=x.shape).astype("float32"))
    results = []
    for layer in _pair(x.shape, rng):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([layer(x, training=True), *grads, layer.moving_mean, layer.moving_variance,
                        layer(x, training=False)])
    names = ["output", "d/dx", "d/dgamma", "d/dbeta", "moving mean", "moving variance",
             "inference"]
    for name, plain, fused in zip(names, *results, strict=True):
        np.testing.assert_allclose(np.asarray(fused), np.asarray(plain), rtol=1e-4, atol=1e-4,
                                   err_msg=name)
    # The moving variance moved: a layer that skipped its update would pass the rest.
    assert not np.allclose(np.asarray(results[1][5]), 1.0)


def test_fused_batch_norm_falls_back_where_the_kernel_does_not_apply():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(6, 7)).astype("float32"))  # 2-D: not the kernel's case
    plain, fused = _pair(x.shape, rng)
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=1e-5)


def test_a_saved_network_loads_back_with_its_fused_layers(tmp_path):
    net = build(ModelArgs(channels=(4, 4, 4, 4, 4), head=8, dilations=(1,)))
    assert any(isinstance(layer, FusedBatchNorm) for layer in net.layers)
    net.save(tmp_path / "net.keras")
    again = keras.saving.load_model(tmp_path / "net.keras", compile=False)
    x = np.random.default_rng(2).integers(0, 256, (2, 32, 192, 1)).astype("uint8")
    np.testing.assert_allclose(again.predict(x, verbose=0), net.predict(x, verbose=0), atol=1e-6)


def test_ctc_loss_matches_keras_padded_labels():
    rng = np.random.default_rng(3)
    alphabet, blank = "0123456789", 10
    texts = ["", "7", "1234567890", "00", "4242"]
    y = tf.constant(encode_labels(texts, alphabet, blank))
    logits = tf.constant(rng.normal(size=(len(texts), 48, 11)).astype("float32"))
    lengths = tf.cast(y[:, 0], "int32")
    steps = tf.fill((len(texts),), 48)
    losses, grads = [], []
    for loss in (ctc_loss_fn(blank),
                 lambda y, p: keras.ops.ctc_loss(tf.cast(y[:, 1:], "int32"), p, lengths, steps,
                                                 mask_index=blank)):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = loss(y, logits)
            total = tf.reduce_sum(value)
        losses.append(value)
        grads.append(tape.gradient(total, logits))
    # Row 0 has no digits: the kernel cannot take it, and its loss comes another way.
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-4)  # float32 rounding
