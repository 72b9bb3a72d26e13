"""Train the CTC recogniser on synthesised strips.

Progress goes to the log, the best weights (by validation exact-match) to a
checkpoint, and the curves to ``curves.png``; the resolved config is saved
next to every artefact so the run can be rebuilt exactly.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from . import data
from .config import TrainConfig
from .model import build
from .weight_average import WeightAverage

logger = logging.getLogger(__name__)


def ctc_loss_fn(blank: int):
    """Keras loss over y_true = [length, labels…]; the blank index is explicit
    because keras.losses.CTC assumes 0.

    The labels go to TensorFlow as a SparseTensor: that runs the fused CTC
    kernel, where the padded labels keras.ops.ctc_loss passes run a loop of
    small ops (same loss to 1e-5; 13 ms of a 0.227 s step here: BENCHMARKS.md).
    """

    stand_in = 1 if blank == 0 else 0  # any class but the blank

    def ctc_loss(y_true, y_pred):
        lengths = tf.cast(y_true[:, 0], tf.int32)
        padded = tf.cast(y_true[:, 1:], tf.int32)
        # The kernel refuses an empty label (a strip with no digits), so such rows
        # pass it a one-digit stand-in and take their exact loss instead: every
        # column scored blank.
        where = tf.where(tf.sequence_mask(tf.maximum(lengths, 1), tf.shape(padded)[1]))
        values = tf.gather_nd(padded, where)  # an empty row gets one slot of padding (the blank)
        values = tf.where(values == blank, tf.fill(tf.shape(values), stand_in), values)
        labels = tf.SparseTensor(where, values, tf.shape(padded, out_type=tf.int64))
        steps = tf.fill(tf.shape(y_pred)[:1], tf.shape(y_pred)[1])
        kernel = tf.nn.ctc_loss(labels, y_pred, None, steps, logits_time_major=False,
                                blank_index=blank)
        all_blank = -tf.reduce_sum(tf.nn.log_softmax(y_pred)[:, :, blank], axis=1)
        return tf.where(lengths == 0, all_blank, kernel)

    return ctc_loss


def greedy_texts(logits: npt.NDArray[np.floating], alphabet: str, blank: int) -> list[str]:
    """Batch greedy decode (vectorised; the device decodes one strip in decode.py)."""
    best = logits.argmax(axis=-1)
    keep = (best != blank) & np.concatenate(
        [np.ones((best.shape[0], 1), bool), best[:, 1:] != best[:, :-1]], axis=1)
    chars = np.array([*alphabet[:blank], "", *alphabet[blank:]])
    return ["".join(chars[row[k]]) for row, k in zip(best, keep, strict=True)]


def label_texts(y: npt.NDArray[np.int32], alphabet: str, blank: int) -> list[str]:
    chars = np.array([*alphabet[:blank], "", *alphabet[blank:]])
    return ["".join(chars[row[1:1 + row[0]]]) for row in y]


class ExactMatch(keras.callbacks.Callback):
    """Validation exact-match accuracy per epoch, logged as ``val_exact`` so the
    checkpoint and early stopping select on what users care about."""

    def __init__(self, x: npt.NDArray[np.uint8], y: npt.NDArray[np.int32], kinds: list[str],
                 alphabet: str, blank: int) -> None:
        super().__init__()
        self.x, self.kinds = x, np.array(kinds)
        self.truth = np.array(label_texts(y, alphabet, blank))
        self.alphabet, self.blank = alphabet, blank

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        exact = self.score(f"epoch {epoch + 1}")
        if logs is not None:
            logs["val_exact"] = exact

    def score(self, what: str) -> float:
        """The model's validation exact-match as it stands now, logged per kind."""
        logits = self.model.predict(self.x, batch_size=256, verbose=0)
        hits = np.array(greedy_texts(logits, self.alphabet, self.blank)) == self.truth
        per_kind = {k: float(hits[self.kinds == k].mean()) for k in sorted(set(self.kinds))}
        logger.info("%s: val exact %.4f %s", what, hits.mean(),
                    " ".join(f"{k}={v:.3f}" for k, v in per_kind.items()))
        return float(hits.mean())


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history["loss"]) + 1)
    ax1.plot(epochs, history["loss"], label="train")
    if "val_loss" in history:
        ax1.plot(epochs, history["val_loss"], label="validation")
    ax1.set(title="CTC loss", xlabel="epoch", yscale="log")
    ax1.legend()
    if "val_exact" in history:
        ax2.plot(epochs, history["val_exact"], marker="o")
    ax2.set(title="validation exact-match", xlabel="epoch", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def steps_per_epoch(config: TrainConfig) -> int:
    return int(np.ceil(config.train_samples / config.batch_size))


def compile_for_training(model: keras.Model, config: TrainConfig) -> keras.Model:
    """Adam on a cosine schedule over the whole run, CTC loss with the explicit blank."""
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps_per_epoch(config) * config.epochs, alpha=0.02,
        warmup_target=None)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0),
                  loss=ctc_loss_fn(config.model.blank_index),
                  jit_compile=False)  # XLA on CPU is ~2x slower for this model
    return model


def train(config: TrainConfig) -> Path:
    """Train and return the path of the best Keras model."""
    out = Path(config.out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    config.save(out / "config.json")
    keras.utils.set_random_seed(config.seed)
    args = config.model

    digits = data.mnist_train(config)
    x_val, y_val, val_kinds = data.make_split(config, config.val_samples,
                                              config.seed + data.VAL_SEED_OFFSET, digits)

    model = compile_for_training(build(args), config)
    logger.info("model: %d parameters, input %dx%d, %d time steps", model.count_params(),
                args.height, args.width, args.time_steps)
    best = out / "checkpoints" / "best.keras"
    # One instance across both phases: the checkpoint keeps the best epoch of the run.
    exact = ExactMatch(x_val, y_val, val_kinds, args.alphabet, args.blank_index)
    keep_best = keras.callbacks.ModelCheckpoint(best, monitor="val_exact", mode="max",
                                                save_best_only=True)
    keep_last = keras.callbacks.ModelCheckpoint(out / "checkpoints" / "last.keras")
    stop = keras.callbacks.EarlyStopping(monitor="val_exact", mode="max",
                                         patience=config.patience, restore_best_weights=True)
    callbacks: list[keras.callbacks.Callback] = [exact, keep_best, keep_last, stop]
    average = WeightAverage(config.average_horizon) if config.average_horizon else None
    if average is not None:
        callbacks.append(average)
    # (mix, seed, last epoch): the final phase draws new strips from its own mix. The
    # optimizer and its cosine schedule carry on across the two fits.
    phases = [(config.kinds, config.seed, config.epochs - config.final_epochs)]
    if config.final_epochs:
        phases.append((config.final_kinds, config.seed + data.FINAL_SEED_OFFSET, config.epochs))
    history: dict[str, list[float]] = {}
    done, minutes = 0, 0.0  # minutes in fit: synthesis is logged on its own
    upcoming: data.PendingSplit | None = None
    try:
        for number, (mix, seed, until) in enumerate(phases):
            if upcoming is None:
                x_train, y_train, _ = data.make_split(config, config.train_samples, seed, digits, mix)
            else:
                x_train, y_train, _ = upcoming.wait()
                upcoming = None
            if number + 1 < len(phases):
                # The next phase's strips are drawn while this one trains, on the
                # CPU time training leaves idle: minutes off the run (BENCHMARKS.md).
                next_mix, next_seed, _ = phases[number + 1]
                upcoming = data.PendingSplit(config, config.train_samples, next_seed, digits,
                                             next_mix)
            if len(phases) > 1:
                logger.info("phase %d: epochs %d-%d on %s", number + 1, done + 1, until, mix)
            started = time.monotonic()
            fit = model.fit(x_train, y_train, validation_data=(x_val, y_val),
                            batch_size=config.batch_size, initial_epoch=done, epochs=until,
                            shuffle=True, verbose=2,
                            callbacks=[*callbacks,
                                       keras.callbacks.CSVLogger(str(out / "history.csv"),
                                                                 append=number > 0)])
            minutes += (time.monotonic() - started) / 60
            del x_train, y_train  # the next phase's strips take their place
            for key, values in fit.history.items():
                history.setdefault(key, []).extend(values)
            done += len(fit.history.get("loss", []))
            if stop.stopped_epoch:
                logger.info("early stopping after epoch %d", done)
                break
    finally:
        if upcoming is not None:
            upcoming.cancel()
    chosen = "best epoch"
    if average is not None:
        chosen = _keep_average_if_better(model, average, exact, keep_best, best, out)
    logger.info("trained %d epochs in %.1f min", len(history.get("loss", [])), minutes)
    plot_curves(history, out / "curves.png")
    (out / "train_summary.json").write_text(json.dumps({
        "epochs_run": len(history["loss"]),
        "train_minutes": round(minutes, 2),
        "best_val_exact": max(history.get("val_exact", [0.0])),
        "chosen": chosen,
        "parameters": int(model.count_params()),
    }, indent=2) + "\n")
    return best


def _keep_average_if_better(model: keras.Model, average: WeightAverage, exact: ExactMatch,
                            keep_best: keras.callbacks.ModelCheckpoint, best: Path,
                            out: Path) -> str:
    """Score the averaged weights on the validation set; they replace the best
    checkpoint only if they read it better. Returns which weights were kept."""
    average.swap()
    averaged = out / "checkpoints" / "averaged.keras"
    model.save(averaged)
    score = exact.score(f"weights averaged over ~{average.horizon} steps")
    best_epoch = float(keep_best.best)
    if score > best_epoch:
        model.save(best)
        logger.info("kept the averaged weights (%.4f > best epoch %.4f)", score, best_epoch)
        return f"averaged ({score:.4f} > best epoch {best_epoch:.4f})"
    logger.info("kept the best epoch (%.4f >= averaged %.4f)", best_epoch, score)
    return f"best epoch ({best_epoch:.4f} >= averaged {score:.4f})"
