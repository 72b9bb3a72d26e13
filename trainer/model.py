"""A fully convolutional CTC recogniser: no RNN, so int8 conversion is clean
and XNNPACK runs every op.

The height is folded away by pooling and one (2, 1) convolution; what is left
is a row of columns, each scored over the alphabet plus the CTC blank.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from .fused_norm import FusedBatchNorm

ALPHABET = "0123456789"
BLANK = len(ALPHABET)  # written into the bundle; never left to a library default


@dataclass(frozen=True)
class ModelArgs:
    height: int = 32
    width: int = 192
    # Wider after the second pooling, where it is cheap: the 48-channel model fit
    # only 94 % of clean MNIST *training* digits read alone (underfitting), and a
    # training step costs about the same (it is not bound by these convolutions).
    channels: tuple[int, ...] = (16, 32, 64, 80, 96)
    # New keys default to what models had before them, so an older run's
    # config.json still rebuilds its own network.
    # 1: a 3x3 convolution fills a 32xW map that is max-pooled.
    # 2: that convolution strides instead: a quarter off a training step (0.17 ->
    # 0.128 s at batch 64; same weights); the epochs that buys in an hour do not
    # read the seed protocol better on their own (BENCHMARKS.md, "Training").
    first_stride: int = 1
    # 3x3 convolutions per block (b1's first is the stem). (1, 2, 2, 1, 1) puts two
    # at 16 x W/2 and 8 x W/4, where the strokes are, as VGG-style MNIST networks
    # do: whole frames read a little better (BENCHMARKS.md).
    block_convs: tuple[int, ...] = (1, 1, 1, 1, 1)
    # Rows left when the fold convolution turns the map into columns. 2: max-pool
    # 4 -> 2 rows first. 4: the last block works on 4 rows and the fold weighs all of
    # them, so where a stroke sits vertically (the closed top of a 9, the bar of a 7)
    # survives to the columns instead of being max-pooled away: the shipped model uses
    # 4 (seed protocol 0.970 / 0.970 against 0.968 / 0.9685 with 2, same recipe and
    # strips: BENCHMARKS.md).
    fold_rows: int = 2
    head: int = 96
    context: int = 3  # taps of the column convolutions in the head
    # One column convolution per entry, dilated by it: the head sees ~3 digits
    # either side, enough to tell where two touching digits meet (with one
    # undilated layer the model inserted a digit at such junctions).
    dilations: tuple[int, ...] = (1, 2, 4)
    # Depthwise (1, context) + pointwise: a third of a full column convolution's
    # bytes; spending those bytes on wider last blocks instead reads no better.
    separable_context: bool = False
    alphabet: str = ALPHABET
    blank_index: int = BLANK

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1

    @property
    def time_steps(self) -> int:
        return self.width // 4

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(x, filters: int, kernel=(3, 3), padding: str = "same", strides: int = 1, name: str = ""):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = FusedBatchNorm(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _block(x, filters: int, count: int, name: str, strides: int = 1):
    """``count`` 3x3 convolutions: ``name`` (which may stride), then ``name_2``…"""
    x = _conv(x, filters, strides=strides, name=name)
    for extra in range(2, count + 1):
        x = _conv(x, filters, name=f"{name}_{extra}")
    return x


def build(args: ModelArgs, batch_size: int | None = None) -> keras.Model:
    """Pixels 0..255 in (the scaling is part of the model), logits out.

    ``batch_size=1`` gives the static-shape graph that is exported to TFLite.
    """
    if args.height != 32 or args.width % 4 or args.first_stride not in (1, 2):
        raise ValueError("this architecture needs height 32, a width divisible by 4 and first_stride 1 or 2")
    if args.fold_rows not in (2, 4):
        raise ValueError("fold_rows must be 2 or 4")
    if len(args.block_convs) != 5 or min(args.block_convs) < 1:
        raise ValueError("block_convs needs five counts of at least 1")
    c1, c2, c3, c4, c5 = args.channels
    n1, n2, n3, n4, n5 = args.block_convs
    inputs = keras.Input(batch_shape=(batch_size, args.height, args.width, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    x = _block(x, c1, n1, "b1", strides=args.first_stride)
    if args.first_stride == 1:
        x = layers.MaxPooling2D((2, 2), name="p1")(x)  # 16 x W/2 either way
    x = _block(x, c2, n2, "b2")
    x = layers.MaxPooling2D((2, 2), name="p2")(x)  # 8 x W/4
    x = _block(x, c3, n3, "b3")
    x = layers.MaxPooling2D((2, 1), name="p3")(x)  # 4 x W/4: keep the columns, drop rows
    x = _block(x, c4, n4, "b4")
    if args.fold_rows == 2:
        x = layers.MaxPooling2D((2, 1), name="p4")(x)  # 2 x W/4
    x = _block(x, c5, n5, "b5")
    x = _conv(x, args.head, kernel=(args.fold_rows, 1), padding="valid", name="fold")  # 1 x W/4
    for i, rate in enumerate(args.dilations, start=1):
        conv = layers.SeparableConv2D if args.separable_context else layers.Conv2D
        x = conv(args.head, (1, args.context), padding="same", dilation_rate=(1, rate),
                 use_bias=False, name=f"ctx{i}_conv")(x)
        x = FusedBatchNorm(name=f"ctx{i}_bn")(x)
        x = layers.ReLU(name=f"ctx{i}_relu")(x)
    x = layers.Dropout(0.15, name="drop")(x)
    x = layers.Conv2D(args.num_classes, (1, 1), name="logits_conv")(x)
    logits = layers.Reshape((args.time_steps, args.num_classes), name="logits")(x)
    return keras.Model(inputs, logits, name="digitcam_ctc")

