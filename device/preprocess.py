"""Fit a grey strip of any size into the model's fixed input.

The trainer builds every training sample with this same function, so what the
model learned is exactly what the device feeds it.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

GreyImage = npt.NDArray[np.uint8]

# A strip smaller than the model's input is enlarged by one bilinear pass, which
# keeps every hard pixel edge of a small crop. The recogniser reads softened
# edges best (nearly all its training strips were smoothed on their way: warps,
# stretches, area shrinks, camera blur), so an enlarged strip is softened as much
# as a shrunk one would be. Sigma chosen on training digits, not on any evaluation
# set (BENCHMARKS.md).
UPSCALE_BLUR_SIGMA = 0.7


def silence_opencv() -> None:
    """Keep libpng/libjpeg complaints off stderr: a bad file gets our one line, not three.
    (OpenCV 4 spells it cv2.setLogLevel, OpenCV 5 cv2.utils.logging.setLogLevel.)"""
    logging_module = getattr(cv2.utils, "logging", None)
    set_level = getattr(logging_module, "setLogLevel", None) or getattr(cv2, "setLogLevel", None)
    if set_level is not None:
        set_level(0)  # LOG_LEVEL_SILENT in both


def opencv_for_pipeline(threads: int) -> None:
    """OpenCV as the pipeline runs it, on the calling thread (OpenCV keeps this per thread):
    ``threads`` for its pool, as the interpreters take, and no Intel IPP.
    `pipeline.build_pipeline` calls it, so every tool reads alike.

    OpenCV's default pool over every core buys nothing on frame-sized images, costs CPU,
    and on a busy host makes a frame wait for a pool thread. IPP, OpenCV's x86-only fast
    path, maps megabytes more of cv2 into the daemon for no speed, and without it the
    pipeline runs the code a Pi runs. The numbers are in BENCHMARKS.md (issues 26 and 28).
    """
    cv2.setNumThreads(max(1, threads))
    cv2.ipp.setUseIPP(False)


def to_grey(image: npt.NDArray[np.generic]) -> GreyImage:
    """Any 2-D or HxWxC image, any numeric dtype, as 2-D uint8 grey."""
    if image.ndim == 3 and image.size == 0:
        return np.zeros(image.shape[:2], np.uint8)
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.shape[2] == 3:
            image = cv2.cvtColor(_as_uint8(image), cv2.COLOR_BGR2GRAY)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(_as_uint8(image), cv2.COLOR_BGRA2GRAY)
        else:
            raise ValueError(f"unsupported channel count {image.shape[2]}")
    elif image.ndim != 2:
        raise ValueError(f"expected a 2-D or 3-D image, got shape {image.shape}")
    return _as_uint8(image)


def _as_uint8(image: npt.NDArray[np.generic]) -> GreyImage:
    if image.dtype == np.uint8:
        return image  # type: ignore[return-value]
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        with np.errstate(over="ignore", invalid="ignore"):  # 1e300 becomes inf, then 255
            finite = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        # Floats in [0, 1] are the usual normalised convention; anything larger is 0..255.
        if finite.size and float(finite.max()) <= 1.0:
            finite = finite * 255.0
        return np.clip(finite, 0, 255).astype(np.uint8)
    if image.dtype == np.uint16:
        return np.right_shift(image, 8).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def fit_strip(grey: GreyImage, height: int, width: int, out: GreyImage | None = None,
              stretch: float = 1.0) -> GreyImage:
    """Scale ``grey`` to ``height`` keeping its aspect (times ``stretch``: wider digits for a
    second look), squeeze it if wider than the room left by the margins, and fill the rest
    with the strip's background.

    Every strip gets a margin of background on both sides: a digit touching the
    edge of the input meets the convolutions' zero padding and is easily lost
    (measured: 0.32 → 0.70 exact on the seed protocol from padding alone).
    The fill value is the median of the resized strip's border, which matches
    the background in either polarity where a constant would add a false edge.
    A strip that had to be enlarged is blurred by ``UPSCALE_BLUR_SIGMA`` after.
    """
    if out is None:
        out = np.empty((height, width), dtype=np.uint8)
    src_h, src_w = grey.shape[:2]
    if src_h < 1 or src_w < 1:
        out.fill(0)
        return out
    margin = height // 5
    room = width - 2 * margin
    new_w = max(1, min(room, round(src_w * height / src_h * stretch)))
    shrinking = src_h > height or src_w > new_w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    target = out[:, margin:margin + new_w]
    # dst= lets OpenCV write straight into the model buffer when it can.
    resized = cv2.resize(grey, (new_w, height), dst=target, interpolation=interpolation)
    if resized is not target:  # OpenCV reallocated (a strided view)
        target[...] = resized
    if src_h < height and UPSCALE_BLUR_SIGMA > 0:
        # A new array, copied back: OpenCV will not filter into a strided view.
        target[...] = cv2.GaussianBlur(target, (0, 0), UPSCALE_BLUR_SIGMA,
                                       borderType=cv2.BORDER_REPLICATE)
    border = np.concatenate((target[0], target[-1], target[:, 0], target[:, -1]))
    fill = np.uint8(np.median(border))
    out[:, :margin] = fill
    out[:, margin + new_w:] = fill
    return out
