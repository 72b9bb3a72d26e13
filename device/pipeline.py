"""The one builder of the reader pipeline: recogniser, finder (and display windows),
frame reader and stabiliser, from the typed config. The daemon, ``device bench``
and ``digitcam read`` all build here, so what is timed and what is read is what
the daemon runs; a command overrides only what the config cannot say
(``full_frame``) or sets config fields before it builds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import Config, ModelConfig, RegionConfig
from .detector import LearnedFinder, StripDetector, ZoomFinder
from .errors import DigitcamError
from .finder import Aligner, Finder, FixedRegion
from .frame_reader import FrameReader
from .geometry import rect_quad
from .preprocess import opencv_for_pipeline
from .recognizer import Recognizer
from .segment import ClassicalFinder, FallbackFinder
from .stabilise import Stabiliser
from .windows import WindowsFinder


@dataclass
class Pipeline:
    recognizer: Recognizer
    reader: FrameReader
    stabiliser: Stabiliser

    def describe(self) -> dict[str, Any]:
        """Each part's type and settings: what ``device bench`` says it times."""
        reader = self.reader
        detector = reader.finder.detector if isinstance(reader.finder, LearnedFinder) else None
        parts = {"recogniser": self.recognizer.info, "reader": reader, "finder": reader.finder,
                 "windows": reader.windows, "zoom": reader.zoom, "fallback": reader.fallback,
                 "detector": detector and detector.info, "stabiliser": self.stabiliser}
        return {"model": self.recognizer.sha256, **{name: _settings(part) for name, part in parts.items()}}


def _settings(part: object | None) -> dict[str, Any] | None:
    """A part's type and its public settings of plain types."""
    if part is None:
        return None
    values = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in vars(part).items()}
    return {"type": type(part).__name__, **{k: v for k, v in values.items() if not k.startswith("_")
                                            and isinstance(v, (bool, int, float, str, list))}}


def build_pipeline(config: Config, *, full_frame: bool = False) -> Pipeline:
    """The pipeline ``config`` describes; ``full_frame``: read each whole frame as
    it is (``digitcam read --roi``), whatever ``config.region`` says. Call it on the
    thread that will run it: OpenCV's settings for the pipeline are per thread, and
    are set only once everything has loaded (a failed reload leaves them as they were)."""
    model = config.model
    recognizer = Recognizer(model.path or None, threads=model.threads, runtime=model.runtime or None)
    finder = FixedRegion() if full_frame else make_finder(config.region, model)
    fallback = FallbackFinder() if config.region.fallback and isinstance(finder, LearnedFinder) else None
    zoom = ZoomFinder(finder.detector) if config.region.zoom and isinstance(finder, LearnedFinder) else None
    reader = FrameReader(recognizer, finder, windows=WindowsFinder() if config.region.windows else None,
                         zoom=zoom, fallback=fallback, min_confidence=config.region.min_confidence,
                         track_every=config.region.track_every,
                         expected_digits=config.stabiliser.expected_digits)
    pipeline = Pipeline(recognizer, reader, Stabiliser.from_config(config.stabiliser))
    opencv_for_pipeline(model.threads)
    return pipeline


def make_finder(cfg: RegionConfig, model: ModelConfig) -> Finder:
    if cfg.mode == "auto" and cfg.finder == "classical":
        return ClassicalFinder()
    if cfg.mode == "auto":
        return LearnedFinder(StripDetector(cfg.detector or None, model.threads, model.runtime or None))
    aligner = None
    if cfg.align and cfg.reference_image:
        reference = cv2.imread(cfg.reference_image, cv2.IMREAD_GRAYSCALE)
        if reference is None:
            raise DigitcamError(f"{cfg.reference_image}: cannot read the reference image")
        aligner = Aligner(np.asarray(reference, np.uint8))
    quad = rect_quad(*cfg.rect) if cfg.mode == "rect" else np.array(cfg.quad, np.float32)
    return FixedRegion(quad, aligner)


def bundled_frames() -> Path:
    """The sample frames shipped with the device package."""
    return Path(__file__).parent / "samples" / "frames"
