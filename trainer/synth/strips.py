"""Mix the generators into a training or evaluation set of model-ready strips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from digitcam.device.preprocess import fit_strip

from ..parallel import map_chunks
from ..real import REAL_KINDS, RealSet, compose_strip
from . import fonts
from .camera import close_rows, photograph, rescale, shapes
from .common import FloatImage, Rng, compose, palette, random_digits
from .counter import ROLL_RANGE, ROLL_RANGE_TRAIN, meter_window, roller_counter
from .handwriting import DISTORT_SHARE, SPACED_SHARE, MnistPool, handwritten
from .printed import hershey_mask, truetype_mask
from .sevenseg import seven_segment
from .words import TRAIN_WORDS, TRAINING_WORDS, UNIT_WORDS

KINDS = ("printed", "sevenseg", "counter", "handwriting")
# A training mix may add real camera crops of meter digits (trainer/real.py), composed
# into strips from the meters of the set's training split; the synthetic KINDS stay
# the per-kind evaluation sets.
REAL = "real"
TRAIN_KINDS = (*KINDS, REAL)
REAL_LCD_SHARE = 0.3  # of real strips, from LCD meters: they are few but fail most
# How hard the camera is on a strip. Camera damage on every strip drowned the digit
# shapes: 1,200 steps of handwriting read the seed protocol 0.61 with it, 0.88 with
# loose crops alone and 0.95 with neither; the hard cases stay in the mix, the easy
# ones come back. Handwriting gets the most clean strips: its shapes are the hardest
# to learn, and a scanned form or a clean crop is as real a case as a bad camera.
PRISTINE_SHARE = {"printed": 0.15, "sevenseg": 0.15, "counter": 0.15, "handwriting": 0.40}
LIGHT_SHARE = 0.30  # after the pristine ones: loose crop, strength 0-0.3; the rest 0.5-1
# Of the pristine and light strips, those first cut close above and below (camera.close_rows).
CLOSE_ROWS_SHARE = 0.4
# Training strips stretched or squeezed sideways (log-uniform factor in STRETCH_RANGE):
# digits come narrow and wide, and fit_strip squeezes long strings, so without it the
# model learns one width per layout — it read the seed protocol 0.953 as drawn and
# 0.9635 with the strips narrowed to 0.87, handwriting strips best at 1.1.
STRETCH_SHARE = 0.75
STRETCH_RANGE = (0.7, 1.4)
# Training strips brought to the model's height by a random resampler, some sharpened
# (camera.rescale); the rest by fit_strip's own, as on the device.
RESCALE_SHARE = 0.5
# Share of strips with no digits (TrainConfig.empty_share sets it for a run), and the
# share of those that are one word cropped close.
EMPTY_SHARE = 0.05
WORD_CROP_SHARE = 0.5


@dataclass
class Synthesizer:
    """Everything the generators need, loaded once per process."""

    mnist: MnistPool | None
    printed_fonts: list = field(default_factory=lambda: fonts.font_files(fonts.TRAIN_PRINTED))
    segment_fonts: list = field(default_factory=lambda: fonts.seven_segment_files())
    # Strips with no digits, most of them a word: a detector proposes words too,
    # and a recogniser that never saw one read "Model" as 17626.
    empty_rate: float = EMPTY_SHARE
    # Handwriting written far apart; evaluation sets and demo samples keep 0 so
    # they stay the strips every earlier model was measured on.
    spaced_share: float = SPACED_SHARE
    real: RealSet | None = None
    roll_range: float = ROLL_RANGE  # training widens it (counter.ROLL_RANGE_TRAIN)
    # Training draws backlit LCD panels (sevenseg.seven_segment); evaluation sets keep the
    # strips every earlier model was measured on.
    backlit: bool = False
    restyle: bool = False  # real strips in another polarity or tone curve (real._restyle)
    meter_windows: float = 0.0  # of the counters, drawn as a meter's window (counter.meter_window)
    meter_faces: float = 0.0  # of those windows, drawn on the meter's face (counter._on_face)
    face_lines: float = 0.0  # of those faces, with more print above or below (counter._face_lines)
    _real_pools: dict[str, npt.NDArray[np.intp]] = field(default_factory=dict, repr=False)

    def clean(self, rng: Rng, kind: str, text: str) -> FloatImage:
        if kind == "printed":
            return _printed(rng, text, self.printed_fonts)
        if kind == "sevenseg":
            return seven_segment(rng, text, self.segment_fonts, self.backlit)
        if kind == "counter":
            if self.meter_windows and rng.random() < self.meter_windows:
                return meter_window(rng, text, self.printed_fonts, self.roll_range, self.meter_faces,
                                    self.face_lines)
            return roller_counter(rng, text, self.printed_fonts, roll_range=self.roll_range)
        if kind == "handwriting":
            if self.mnist is None:
                raise ValueError("handwriting needs MNIST digits")
            return handwritten(rng, text, self.mnist, DISTORT_SHARE, self.spaced_share)
        raise ValueError(f"unknown kind {kind!r}")

    def clutter(self, rng: Rng, kind: str) -> list[FloatImage]:
        pieces: list[FloatImage] = []
        for _ in range(int(rng.choice([0, 0, 1, 1, 2, 3]))):
            if rng.random() < 0.5:
                word = str(rng.choice(UNIT_WORDS))
                pieces.append(_ink(rng, word, self.printed_fonts))
            elif kind == "handwriting" and self.mnist is not None:
                pieces.append(self.mnist.sample(rng, str(rng.integers(10))).astype(np.float32))
            else:
                pieces.append(_ink(rng, str(rng.integers(10)), self.printed_fonts))
        return pieces

    def sample(self, rng: Rng, kind: str) -> tuple[npt.NDArray[np.uint8], str]:
        """One photographed strip of ``kind`` and its label ('' for no digits)."""
        if kind == REAL:
            return self.real_strip(rng)
        if rng.random() < self.empty_rate:
            return self.empty(rng), ""
        text = random_digits(rng)
        strip = self.clean(rng, kind, text)
        draw, pristine = rng.random(), PRISTINE_SHARE[kind]
        if draw < pristine + LIGHT_SHARE and rng.random() < CLOSE_ROWS_SHARE:
            strip = close_rows(rng, strip)
        if draw < pristine:  # a scan, or a crop as tight and clean as the seed protocol's
            return photograph(rng, strip, [], 0.0), text
        strength = rng.uniform(0.0, 0.3) if draw < pristine + LIGHT_SHARE else rng.uniform(0.5, 1.0)
        return photograph(rng, strip, self.clutter(rng, kind), strength), text

    def real_strip(self, rng: Rng) -> tuple[npt.NDArray[np.uint8], str]:
        if self.real is None:
            raise ValueError("the 'real' kind needs a real-crop set (TrainConfig.real_path)")
        if not self._real_pools:
            self._real_pools.update({kind: self.real.crops("train", kind) for kind in REAL_KINDS})
        pools = self._real_pools
        lcd = rng.random() < REAL_LCD_SHARE and pools["lcd"].size > 0
        strip, text, _ = compose_strip(rng, self.real, pools["lcd" if lcd else "roller"], augment=True,
                                       restyle=self.restyle)
        return strip, text

    def empty(self, rng: Rng) -> npt.NDArray[np.uint8]:
        """Background, rules and unit words, but no digits; half of them a word
        cropped as tightly as the strip detector crops one."""
        if rng.random() < WORD_CROP_SHARE:
            return word_strip(rng, TRAINING_WORDS, self.printed_fonts)
        bg, _ = palette(rng)
        h = int(rng.integers(30, 80))
        blank = np.full((h, int(h * rng.uniform(1.0, 7.0))), bg, np.float32)
        if rng.random() < 0.75:
            words = UNIT_WORDS if rng.random() < 0.4 else TRAIN_WORDS
            word = _ink(rng, str(rng.choice(words)), self.printed_fonts)
            ww = min(word.shape[1], blank.shape[1])
            wh = min(word.shape[0], h)
            level = 255.0 - bg
            blank[:wh, :ww] = blank[:wh, :ww] * (1 - word[:wh, :ww] / 255) + level * word[:wh, :ww] / 255
        if rng.random() < 0.5:  # edges, rims and scratches read as '111' on empty frames
            shapes(rng, blank)
        return photograph(rng, blank, self.clutter(rng, "printed"), rng.uniform(0.3, 1.0))


def word_strip(rng: Rng, words: Sequence[str], font_files: list) -> npt.NDArray[np.uint8]:
    """A word alone, cropped close as the device's detector crops one, in either
    polarity and any face (italics included), mostly lightly photographed."""
    size = int(rng.integers(24, 64))
    mask = truetype_mask(rng, str(rng.choice(words)), font_files[int(rng.integers(len(font_files)))],
                         size)
    pad_y, pad_x = (int(size * rng.uniform(0.05, 0.4)) for _ in range(2))
    bg, fg = palette(rng)
    strip = compose(np.pad(mask, ((pad_y, pad_y), (pad_x, pad_x))), bg, fg)
    strength = 0.0 if rng.random() < 0.3 else rng.uniform(0.0, 0.6)
    return photograph(rng, strip, [], strength)


def _ink(rng: Rng, text: str, font_files: list) -> FloatImage:
    """A 0..255 ink image of ``text`` for clutter."""
    size = int(rng.integers(16, 48))
    if font_files and rng.random() < 0.85:
        mask = truetype_mask(rng, text, font_files[int(rng.integers(len(font_files)))], size)
    else:
        mask = hershey_mask(rng, text, size)
    return mask * 255.0


def _printed(rng: Rng, text: str, font_files: list) -> FloatImage:
    from .printed import printed

    return printed(rng, text, font_files)


# ----------------------------------------------------------------- datasets

_worker: Synthesizer | None = None


def _init_worker(mnist_images: npt.NDArray[np.uint8] | None,
                 mnist_labels: npt.NDArray[np.integer] | None, empty_rate: float,
                 real_path: str | None = None, real_restyle: bool = False,
                 meter_windows: float = 0.0, meter_faces: float = 0.0, face_lines: float = 0.0) -> None:
    global _worker
    pool = MnistPool(mnist_images, mnist_labels) if mnist_images is not None else None
    _worker = Synthesizer(pool, empty_rate=empty_rate, roll_range=ROLL_RANGE_TRAIN, backlit=True,
                          real=RealSet.load(real_path) if real_path else None, restyle=real_restyle,
                          meter_windows=meter_windows, meter_faces=meter_faces, face_lines=face_lines)


def _make_chunk(args: tuple[int, int, int, Sequence[str], Sequence[float], int, int]
                ) -> tuple[npt.NDArray[np.uint8], list[str], list[str]]:
    seed, chunk, count, kinds, weights, height, width = args
    assert _worker is not None
    rng = np.random.default_rng([seed, chunk])
    images = np.empty((count, height, width), np.uint8)
    labels, drawn = [], []
    for i in range(count):
        kind = str(rng.choice(kinds, p=weights))
        strip, text = _worker.sample(rng, kind)
        if rng.random() < STRETCH_SHARE:
            strip = stretch(rng, strip)
        if rng.random() < RESCALE_SHARE:
            strip = rescale(rng, strip, height)
        fit_strip(strip, height, width, out=images[i])
        labels.append(text)
        drawn.append(kind)
    return images, labels, drawn


def stretch(rng: Rng, strip: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``strip`` resized sideways by a random factor; its height and label stay."""
    low, high = np.log(STRETCH_RANGE[0]), np.log(STRETCH_RANGE[1])
    factor = float(np.exp(rng.uniform(low, high)))
    width = max(1, round(strip.shape[1] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(strip, (width, strip.shape[0]), interpolation=interpolation)


def build(count: int, seed: int, kinds: dict[str, float], height: int, width: int,
          mnist: tuple[npt.NDArray[np.uint8], npt.NDArray[np.integer]] | None,
          workers: int = 0, chunk: int = 500, empty_rate: float = EMPTY_SHARE,
          real_path: str | None = None, real_restyle: bool = False, meter_windows: float = 0.0,
          meter_faces: float = 0.0, face_lines: float = 0.0
          ) -> tuple[npt.NDArray[np.uint8], list[str], list[str]]:
    """``count`` model-ready strips (count, height, width), their labels and kinds;
    ``empty_rate`` of them hold no digits (label ''); ``real_restyle`` restyles the real
    strips (``Synthesizer.restyle``); ``meter_windows`` of the counters are meter windows,
    ``meter_faces`` of those on the meter's face, ``face_lines`` of those with more print.

    Deterministic by ``seed`` whatever the number of workers: each chunk has
    its own generator seeded by (seed, chunk index).
    """
    names = [k for k, w in kinds.items() if w > 0]
    total = sum(kinds[k] for k in names)
    weights = [kinds[k] / total for k in names]
    jobs = [(seed, i, min(chunk, count - start), names, weights, height, width)
            for i, start in enumerate(range(0, count, chunk))]
    init_args = (*(mnist if mnist is not None else (None, None)), empty_rate, real_path, real_restyle,
                 meter_windows, meter_faces, face_lines)
    results = map_chunks(_make_chunk, jobs, _init_worker, init_args, workers)
    images = np.concatenate([r[0] for r in results]) if results else np.empty((0, height, width), np.uint8)
    labels = [t for r in results for t in r[1]]
    drawn = [k for r in results for k in r[2]]
    return images, labels, drawn
