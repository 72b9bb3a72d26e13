"""Build the pipeline's parts from the typed config: source, model, region,
stabiliser. The daemon and ``digitcam device bench`` share these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .capture.base import FrameSource
from .capture.spec import parse_source
from .config import ModelConfig, RegionConfig, SourceConfig
from .detector import load_finder
from .errors import DigitcamError
from .frame_reader import Aligner, FrameReader
from .recognizer import Recognizer
from .segment import rect_quad


def source_options(cfg: SourceConfig) -> dict[str, Any]:
    """Only the options the named source takes, with 0/-1 'automatic' left out."""
    kind = cfg.spec.split(":", 1)[0].lower()
    if kind == "replay":
        return {"fps": cfg.fps, "loop": cfg.loop}
    if kind == "opencv":
        return {"width": cfg.width, "height": cfg.height, **({"fps": cfg.fps} if cfg.fps > 0 else {})}
    options: dict[str, Any] = {"size": (cfg.width, cfg.height), "framerate": cfg.fps}
    if cfg.exposure_us > 0:
        options["exposure_us"] = cfg.exposure_us
    if cfg.gain > 0:
        options["analogue_gain"] = cfg.gain
    if cfg.af_mode:
        options["af_mode"] = cfg.af_mode
    if cfg.lens_position >= 0:
        options.update(af_mode="manual", lens_position=cfg.lens_position)
    if len(cfg.awb_gains) == 2:
        options["colour_gains"] = (cfg.awb_gains[0], cfg.awb_gains[1])
    return options


def make_source(cfg: SourceConfig) -> FrameSource:
    try:
        return parse_source(cfg.spec, **source_options(cfg))
    except ValueError as exc:
        raise DigitcamError(str(exc)) from None


def make_recognizer(cfg: ModelConfig) -> Recognizer:
    return Recognizer(cfg.path or None, threads=cfg.threads, runtime=cfg.runtime or None)


def make_reader(recognizer: Recognizer, cfg: RegionConfig, model: ModelConfig | None = None
                ) -> FrameReader:
    aligner = None
    if cfg.align and cfg.reference_image:
        reference = cv2.imread(cfg.reference_image, cv2.IMREAD_GRAYSCALE)
        if reference is None:
            raise DigitcamError(f"{cfg.reference_image}: cannot read the reference image")
        aligner = Aligner(np.asarray(reference, np.uint8))
    if cfg.mode == "rect":
        x, y, w, h = cfg.rect
        return FrameReader(recognizer, "rect", rect_quad(x, y, w, h), aligner=aligner)
    if cfg.mode == "quad":
        return FrameReader(recognizer, "quad", np.array(cfg.quad, np.float32), aligner=aligner)
    model = model or ModelConfig()
    detector = load_finder(cfg.finder, cfg.detector or None, model.threads, model.runtime or None)
    return FrameReader(recognizer, cfg.mode, detector=detector, windows=cfg.windows,
                       track_every=cfg.track_every)


def bundled_frames() -> Path:
    """The sample frames shipped with the device package."""
    return Path(__file__).parent / "samples" / "frames"
