"""The strip detector: a small fully convolutional net that marks where the
digit strip is in a whole frame.

Classical proposals (device/segment.py) miss strips a person finds at a
glance — roller counters whose boxes break the line, handwriting with gaps,
LCDs with ghost segments — and propose words and shapes instead. This net
sees the frame at 320x240 and scores every 4x4 cell (every 8x8 pixels of a
640x480 frame) for "inside a digit strip"; the device turns the connected
regions into quadrilaterals and lets the recogniser read them.

It trains on ``train``-split scenes (training faces, MNIST's training split,
words and panels the test scenes never use), so the pipeline's measurement
on ``test``-split scenes stays honest.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import numpy.typing as npt
from keras import layers

from digitcam.device import bundle
from digitcam.device import detector as device_detector

from . import mnist, quantize
from .bundle_writer import git_revision
from .parallel import map_chunks
from .synth.handwriting import MnistPool
from .synth.scenes import SceneMaker, SceneOptions
from .synth.strips import KINDS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorArgs:
    height: int = 240
    width: int = 320
    stride: int = 4  # one output cell per stride x stride input pixels
    # stem, head, context. (16, 16, 48) trained on 8k scenes cut strip ends off and
    # missed faint LCDs outright (probability 0.00): wider, and trained on twice the scenes.
    channels: tuple[int, int, int] = (24, 24, 64)

    @property
    def out_height(self) -> int:
        return self.height // self.stride

    @property
    def out_width(self) -> int:
        return self.width // self.stride


@dataclass
class DetectorConfig:
    out_dir: str = "runs/detector"
    name: str = "strips"
    seed: int = 11
    train_scenes: int = 16_000
    val_scenes: int = 600
    none_share: float = 0.12  # frames with no digits at all
    scenes: SceneOptions = field(default_factory=SceneOptions)
    # Frames with a number (or, plain_word_share of them, a word) printed straight on a flat
    # surface: every other scene puts the strip on a panel over texture (off by default).
    plain_share: float = 0.0
    plain_word_share: float = 0.5
    epochs: int = 9
    batch_size: int = 32
    learning_rate: float = 3e-3
    mnist_path: str | None = None
    workers: int = 0
    model: DetectorArgs = field(default_factory=DetectorArgs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tiny(config: DetectorConfig) -> DetectorConfig:
    config.train_scenes, config.val_scenes, config.epochs = 300, 60, 1
    config.model = DetectorArgs(channels=(8, 8, 16))
    return config


def _sep(x, filters: int, stride: int = 1, dilation: int = 1, name: str = ""):
    """Depthwise-separable 3x3: a tenth of a full convolution's work."""
    x = layers.DepthwiseConv2D(3, strides=stride, dilation_rate=dilation, padding="same",
                               use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_pw_bn")(x)
    return layers.ReLU(name=f"{name}_pw_relu")(x)


def build(args: DetectorArgs, batch_size: int | None = None) -> keras.Model:
    """uint8 frame in (scaled inside), per-cell probability of "digit strip" out."""
    if args.stride != 4 or args.height % 8 or args.width % 8:
        raise ValueError("this architecture needs stride 4 and a size divisible by 8")
    c1, c2, c3 = args.channels
    inputs = keras.Input(batch_shape=(batch_size, args.height, args.width, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    # A patchify stem: one strided 4x4 convolution reads every pixel once and lands
    # straight on the output grid; full-resolution layers would cost more than the rest.
    x = layers.Conv2D(c1, args.stride, strides=args.stride, use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    fine = layers.ReLU(name="stem_relu")(x)  # 1/4: the output grid
    x = _sep(fine, c3, stride=2, name="down8")  # 1/8
    # Dilated context: enough to tell a line of digits from a word or a rule.
    for d in (2, 4, 8):
        x = _sep(x, c3, dilation=d, name=f"ctx{d}")
    x = layers.Conv2D(c1, 1, use_bias=False, name="lift_conv")(x)
    x = layers.BatchNormalization(name="lift_bn")(x)
    x = layers.ReLU(name="lift_relu")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up")(x)
    x = layers.Add(name="merge")([x, fine])  # sharp edges from the stem, meaning from the context
    x = _sep(x, c2, name="out")
    prob = layers.Conv2D(1, 1, activation="sigmoid", name="strip_prob")(x)
    return keras.Model(inputs, prob, name="digitcam_strip_detector")


def target(quad: npt.NDArray[np.float32], frame_size: tuple[int, int], args: DetectorArgs
           ) -> npt.NDArray[np.float32]:
    """The share of every output cell covered by the strip's quadrilateral."""
    w, h = frame_size
    fine = np.zeros((args.height, args.width), np.uint8)
    if np.any(quad):
        scaled = quad * np.float32([args.width / w, args.height / h])
        cv2.fillPoly(fine, [np.round(scaled * 4).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=2)
    small = cv2.resize(fine, (args.out_width, args.out_height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


# Frames of pure noise (a covered lens at high gain, a broken stream): without
# them the detector calls texture a strip and the recogniser reads 888 in it.
NOISE_SHARE = 0.04


def sensor_noise(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.uint8]:
    """Uniform, Gaussian or salt-and-pepper noise, sometimes blurred."""
    style = rng.integers(3)
    if style == 0:
        frame = rng.uniform(0, 255, (h, w))
    elif style == 1:
        frame = rng.normal(rng.uniform(40, 215), rng.uniform(10, 90), (h, w))
    else:
        frame = np.where(rng.random((h, w)) < 0.5, 0.0, 255.0)
    if rng.random() < 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.5, 2.0)))
    return np.clip(frame, 0, 255).astype(np.uint8)


_maker: SceneMaker | None = None


def _init_worker(x: npt.NDArray[np.uint8], y: npt.NDArray[np.uint8], options: SceneOptions) -> None:
    global _maker
    cv2.setNumThreads(1)
    _maker = SceneMaker(MnistPool(x, y), split="train", options=options)


def _make_chunk(job: tuple[int, int, int, DetectorConfig]
                ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    seed, index, count, config = job
    args, none_share = config.model, config.none_share
    assert _maker is not None
    rng = np.random.default_rng([seed, index])
    frames = np.empty((count, args.height, args.width), np.uint8)
    masks = np.empty((count, args.out_height, args.out_width), np.float32)
    for i in range(count):
        if rng.random() < NOISE_SHARE:
            frames[i] = cv2.resize(sensor_noise(rng, _maker.h, _maker.w), (args.width, args.height),
                                   interpolation=cv2.INTER_AREA)
            masks[i] = 0.0
            continue
        if config.scenes.meter_faces and rng.random() < config.scenes.meter_faces:
            scene = _maker.meter_face(rng, portrait=rng.random() < 0.5)
        elif config.plain_share and rng.random() < config.plain_share:
            scene = _maker.plain(rng, word=rng.random() < config.plain_word_share)
        else:
            kind = "none" if rng.random() < none_share else str(rng.choice(KINDS))
            scene = _maker.make(rng, kind)
        frames[i] = cv2.resize(scene.image, (args.width, args.height), interpolation=cv2.INTER_AREA)
        masks[i] = target(scene.quad, (scene.image.shape[1], scene.image.shape[0]), args)
    return frames, masks


def make_scenes(config: DetectorConfig, count: int, seed: int,
                digits: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]
                ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """``count`` training scenes at the detector's input size and their targets
    (deterministic by ``seed`` whatever the number of workers)."""
    started = time.monotonic()
    chunk = 200
    jobs = [(seed, i, min(chunk, count - s), config) for i, s in enumerate(range(0, count, chunk))]
    results = map_chunks(_make_chunk, jobs, _init_worker, (*digits, config.scenes), config.workers)
    frames = np.concatenate([r[0] for r in results])
    masks = np.concatenate([r[1] for r in results])
    logger.info("synthesised %d scenes in %.0f s", count, time.monotonic() - started)
    return frames[..., None], masks[..., None]


def dice_bce(y_true, y_pred):
    """Cross-entropy per cell plus a soft Dice term per frame, so the few strip
    cells of a small strip are not drowned by the background."""
    bce = keras.ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    inter = keras.ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = keras.ops.sum(y_true + y_pred, axis=(1, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (total + 1.0)
    return bce + 0.5 * dice


def train(config: DetectorConfig) -> tuple[Path, dict[str, Any]]:
    """Train, export int8, write the bundle; return its .tflite path and metrics."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    revision = git_revision()
    keras.utils.set_random_seed(config.seed)
    (x_train, y_train), _ = mnist.load(config.mnist_path)
    frames, masks = make_scenes(config, config.train_scenes, config.seed, (x_train, y_train))
    val_frames, val_masks = make_scenes(config, config.val_scenes, config.seed + 1_000_003,
                                        (x_train, y_train))
    model = build(config.model)
    steps = int(np.ceil(len(frames) / config.batch_size)) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=dice_bce, jit_compile=False)
    logger.info("detector: %d parameters, input %dx%d", model.count_params(),
                config.model.width, config.model.height)
    started = time.monotonic()
    history = model.fit(frames, masks, validation_data=(val_frames, val_masks),
                        batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
                        verbose=2)
    minutes = (time.monotonic() - started) / 60
    model.save(out / "detector.keras")
    args = config.model
    plain = build(args)  # an uncompiled twin: cloning a compiled model drags its loss along
    plain.set_weights(model.get_weights())
    tflite = quantize.to_int8(plain, args.height, args.width, frames[:200, ..., 0])
    quantize.check_static(tflite)
    path = quantize.write(out / "bundle" / f"{config.name}.tflite", tflite)
    metrics: dict[str, Any] = {"train_minutes": round(minutes, 2),
                               "parameters": int(model.count_params()),
                               "val_loss": round(float(history.history["val_loss"][-1]), 4)}
    write_meta(path, config, metrics, revision)  # the device's loader needs it to measure
    metrics.update(cell_metrics(path, val_frames, val_masks))
    write_meta(path, config, metrics, revision)
    logger.info("detector metrics: %s", metrics)
    return path, metrics


def cell_metrics(path: Path, frames: npt.NDArray[np.uint8], masks: npt.NDArray[np.float32]
                 ) -> dict[str, float]:
    """Cell precision/recall of the int8 model, run through the device's own code."""
    det = device_detector.StripDetector(path)
    tp = fp = fn = 0
    for frame, mask in zip(frames[..., 0], masks[..., 0], strict=True):
        hit = det.probabilities(frame) >= det.threshold  # already at the input size
        truth = mask >= 0.5
        tp += int((hit & truth).sum())
        fp += int((hit & ~truth).sum())
        fn += int((~hit & truth).sum())
    return {"cell_precision": round(tp / max(1, tp + fp), 4), "cell_recall": round(tp / max(1, tp + fn), 4)}


def write_meta(path: Path, config: DetectorConfig, metrics: dict[str, Any], revision: str) -> Path:
    args = config.model
    meta = bundle.DetectorBundle(
        name=path.stem,
        model_file=path.name,
        sha256=bundle.sha256_of(path),
        input=bundle.InputSpec(height=args.height, width=args.width, channels=1, dtype="uint8",
                               layout="NHWC", preprocess=bundle.DETECTOR_PREPROCESS),
        output=bundle.DetectorOutput(height=args.out_height, width=args.out_width, stride=args.stride,
                                     meaning=bundle.DETECTOR_MEANING),
        threshold=0.5,
        quantization=bundle.INT8,
        training=config.to_dict(),
        git_revision=revision,
        metrics=metrics,
    )
    return bundle.write(meta, path.with_suffix(".json"))
