"""Whole camera frames with a digit strip somewhere in them: rotation up to
±10°, perspective, strips from 20 % to 90 % of the width, textured backgrounds
and clutter (rules, shapes, words).

Two splits that share no type face, no MNIST digit and no clutter word:
``test`` scenes (held-out faces, MNIST's test split) measure the device's whole
pipeline; ``train`` scenes (training faces, MNIST's training split, other
words, meter-housing panels in the background) teach the strip detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from . import fonts
from .common import FloatImage, Rng, random_digits
from .counter import roller_counter
from .handwriting import DISTORT_SHARE, MnistPool, handwritten
from .meter_face import meter_face
from .printed import truetype_mask
from .sevenseg import seven_segment
from .words import EVAL_WORDS, LABEL_WORDS, TRAIN_WORDS, WORDS


@dataclass
class Scene:
    image: npt.NDArray[np.uint8]  # grey frame
    text: str  # "" when the frame has no digits
    kind: str
    quad: npt.NDArray[np.float32]  # 4x2 strip corners in the frame (TL, TR, BR, BL); zeros if none


def background(rng: Rng, h: int, w: int) -> FloatImage:
    base = rng.uniform(30, 220)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = base + rng.uniform(-60, 60) * (xx / w - 0.5) + rng.uniform(-60, 60) * (yy / h - 0.5)
    noise = cv2.resize(rng.normal(0, 1, (h // 16 + 1, w // 16 + 1)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    img += noise * rng.uniform(0, 25)
    return img.astype(np.float32)


def panels(rng: Rng, img: FloatImage) -> None:
    """Flat rectangles of another grey: the housing and dial plate of a meter."""
    h, w = img.shape
    for _ in range(int(rng.integers(0, 4))):
        x, y = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        pw, ph = int(rng.integers(w // 8, w)), int(rng.integers(h // 8, h))
        img[max(0, y):y + ph, max(0, x):x + pw] = rng.uniform(0, 255)


def clutter(rng: Rng, img: FloatImage, keep_out: npt.NDArray[np.float32] | None,
            font_files: list, words: tuple[str, ...] = WORDS, big_words: bool = False) -> None:
    """Lines, boxes, circles and words, kept off the strip's area. Words are small print
    (14-40 px), or with ``big_words`` any size a strip may be drawn (14-120 px)."""
    h, w = img.shape
    mask = np.zeros((h, w), np.uint8)
    if keep_out is not None:
        cv2.fillConvexPoly(mask, keep_out.astype(np.int32), 255)
        mask = cv2.dilate(mask, np.ones((15, 15), np.uint8))
    layer = img.copy()
    for _ in range(int(rng.integers(2, 9))):
        level = float(rng.uniform(0, 255))
        thick = int(rng.integers(1, 5))
        shape = rng.integers(4)
        if shape == 0:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(layer, p1, p2, level, thick, cv2.LINE_AA)
        elif shape == 1:
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.rectangle(layer, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(20, 150))),
                          level, thick)
        elif shape == 2:
            cv2.circle(layer, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                       int(rng.integers(5, 80)), level, thick if rng.random() < 0.7 else -1, cv2.LINE_AA)
        elif font_files:
            word = str(rng.choice(words))
            face = font_files[int(rng.integers(len(font_files)))]
            size = (int(np.exp(rng.uniform(np.log(14), np.log(120)))) if big_words
                    else int(rng.integers(14, 40)))
            ink = truetype_mask(rng, word, face, size)
            y = int(rng.integers(0, max(1, h - ink.shape[0])))
            x = int(rng.integers(0, max(1, w - ink.shape[1])))
            region = layer[y:y + ink.shape[0], x:x + ink.shape[1]]
            ink = ink[:region.shape[0], :region.shape[1]]
            region[...] = region * (1 - ink) + level * ink
    img[mask == 0] = layer[mask == 0]


@dataclass(frozen=True)
class SceneOptions:
    """Training-scene variations the detector can be trained with; all off by default, so
    `make detector` draws the scenes the shipped detector saw (sessions 23 and 24's runs with
    them are in BENCHMARKS.md: better on the pump photos, worse on plain words, and each
    failed reader tests the shipped detector passes)."""

    backlit: bool = False  # seven-segment strips drawn as backlit and meter-register LCD panels
    by_height_share: float = 0.0  # strips sized by a log-uniform height, not by their width
    # Clutter words as large as strips: with strips sized by height, a word at 60 px is
    # otherwise a shape the detector never saw as "not a strip" (it boxed "Model" as digits).
    big_words: bool = False
    # Frames of a whole meter's round face, its counter window the strip among the face's
    # other print (``SceneMaker.meter_face``), half of them 9:16 phone photos.
    meter_faces: float = 0.0


class SceneMaker:
    def __init__(self, mnist: MnistPool, frame_size: tuple[int, int] = (640, 480),
                 split: str = "test", options: SceneOptions = SceneOptions()) -> None:
        """``mnist`` must come from the matching MNIST split (test for ``test``)."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown scene split {split!r}")
        if split == "test" and options != SceneOptions():
            raise ValueError("test scenes are drawn one way only")
        self.mnist = mnist
        self.split = split
        self.options = options
        self.w, self.h = frame_size
        faces = fonts.HELD_OUT_PRINTED if split == "test" else fonts.TRAIN_PRINTED
        self.printed_fonts = fonts.font_files(faces)
        self.segment_fonts = fonts.seven_segment_files()
        # Test clutter may use any face: words are not what the pipeline reads.
        self.clutter_fonts = fonts.font_files(
            fonts.HELD_OUT_PRINTED + fonts.TRAIN_PRINTED if split == "test" else faces)
        self.words = WORDS if split == "test" else TRAIN_WORDS
        # A word alone on a plain panel (kind "word"), which must read as nothing.
        self.panel_words = EVAL_WORDS if split == "test" else LABEL_WORDS

    def strip(self, rng: Rng, kind: str, text: str) -> FloatImage:
        if kind == "printed":
            size = int(rng.integers(36, 72))
            mask = truetype_mask(rng, text, self.printed_fonts[int(rng.integers(len(self.printed_fonts)))],
                                 size)
            bg, fg = (rng.uniform(170, 255), rng.uniform(0, 70)) if rng.random() < 0.6 else \
                (rng.uniform(0, 70), rng.uniform(170, 255))
            pad = int(size * rng.uniform(0.15, 0.5))
            return (bg + (fg - bg) * np.pad(mask, pad)).astype(np.float32)
        if kind == "sevenseg":
            return seven_segment(rng, text, self.segment_fonts, backlit=self.options.backlit)
        if kind == "counter":
            return roller_counter(rng, text, self.printed_fonts)
        if kind == "handwriting":
            strip = handwritten(rng, text, self.mnist,
                                DISTORT_SHARE if self.split == "train" else 0.0)
            return np.pad(strip, 6, mode="edge")
        if kind == "word":  # drawn as a printed number is, so only the letters differ
            return self.strip(rng, "printed", str(rng.choice(self.panel_words)))
        raise ValueError(kind)

    def make(self, rng: Rng, kind: str) -> Scene:
        frame = background(rng, self.h, self.w)
        if self.split == "train":
            panels(rng, frame)
        if kind == "none":
            clutter(rng, frame, None, self.clutter_fonts, self.words, self.options.big_words)
            return Scene(_camera(rng, frame), "", kind, np.zeros((4, 2), np.float32))
        text = "" if kind == "word" else random_digits(rng, 1, 10)
        if kind == "handwriting":
            text = text[:8] or "0"  # a handwritten line wider than 8 digits rarely fits 90 %
        strip = self.strip(rng, kind, text)
        sh, sw = strip.shape
        target_w = rng.uniform(0.2, 0.9) * self.w
        scale = min(target_w / sw, 0.35 * self.h / sh)
        if self.options.by_height_share and rng.random() < self.options.by_height_share:
            # Sized by its height, not its width: otherwise a number of one to three digits is
            # always drawn a third of the frame tall, and the detector never saw "12" at 56 px
            # on a plain label.
            height = float(np.exp(rng.uniform(np.log(22), np.log(0.35 * self.h))))
            scale = min(height / sh, 0.9 * self.w / sw)
        scale = max(scale, 22 / sh)  # at least ~22 px tall: smaller is beyond any camera setup
        dst_w, dst_h = sw * scale, sh * scale
        angle = np.deg2rad(rng.uniform(-10, 10))
        cx = rng.uniform(dst_w / 2 + 10, max(dst_w / 2 + 11, self.w - dst_w / 2 - 10))
        cy = rng.uniform(dst_h / 2 + 20, max(dst_h / 2 + 21, self.h - dst_h / 2 - 20))
        corners = np.float32([[-dst_w / 2, -dst_h / 2], [dst_w / 2, -dst_h / 2],
                              [dst_w / 2, dst_h / 2], [-dst_w / 2, dst_h / 2]])
        rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        quad = corners @ rot.T + np.float32([cx, cy])
        quad += rng.uniform(-0.04, 0.04, (4, 2)).astype(np.float32) * dst_h * 2  # perspective
        quad[:, 0] = np.clip(quad[:, 0], 1, self.w - 2)
        quad[:, 1] = np.clip(quad[:, 1], 1, self.h - 2)
        src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
        matrix = cv2.getPerspectiveTransform(src, quad)
        clutter(rng, frame, quad, self.clutter_fonts, self.words, self.options.big_words)
        warped = cv2.warpPerspective(strip, matrix, (self.w, self.h), flags=cv2.INTER_AREA)
        coverage = cv2.warpPerspective(np.ones_like(strip), matrix, (self.w, self.h), flags=cv2.INTER_LINEAR)
        frame = frame * (1 - coverage) + warped * coverage
        if kind == "word":  # no digit strip to find
            quad = np.zeros((4, 2), np.float32)
        return Scene(_camera(rng, frame), text, kind, quad)

    def meter_face(self, rng: Rng, portrait: bool = False) -> Scene:
        """A whole meter's round face filling much of the frame, turned up to 25 degrees,
        the counter window its strip (``synth.meter_face``). ``portrait``: a 9:16 phone photo
        (480x854), which the detector sees squeezed to 4:3 as it sees iaoqian's photos."""
        w, h = (480, 854) if portrait else (self.w, self.h)
        frame = background(rng, h, w)
        panels(rng, frame)
        face, coverage, window, text = meter_face(rng, self.printed_fonts)
        side = face.shape[0]
        for _ in range(20):  # a placement that keeps the whole window in the frame
            size = rng.uniform(0.55, 1.1) * min(w, h)
            angle = np.deg2rad(rng.uniform(-25, 25))
            centre = np.float32([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h])
            corners = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size / 2
            rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            dst = corners @ rot.T + centre + rng.uniform(-0.06, 0.06, (4, 2)).astype(np.float32) * size
            square = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
            matrix = cv2.getPerspectiveTransform(square, dst)
            quad = cv2.perspectiveTransform(window[None], matrix)[0]
            if quad.min() >= 1 and quad[:, 0].max() <= w - 2 and quad[:, 1].max() <= h - 2:
                break
        quad[:, 0] = np.clip(quad[:, 0], 1, w - 2)
        quad[:, 1] = np.clip(quad[:, 1], 1, h - 2)
        clutter(rng, frame, dst, self.clutter_fonts, self.words, self.options.big_words)
        warped = cv2.warpPerspective(face, matrix, (w, h), flags=cv2.INTER_AREA)
        alpha = cv2.warpPerspective(coverage, matrix, (w, h), flags=cv2.INTER_LINEAR)
        frame = frame * (1 - alpha) + warped * alpha
        return Scene(_camera(rng, frame), text, "meter-face", quad.astype(np.float32))

    def plain(self, rng: Rng, word: bool = False) -> Scene:
        """A printed number straight on a flat surface (a label, a sticker, a screen): no
        panel edge around it, any length at any size. The test scenes' strips are all on
        panels and short ones are drawn a third of the frame tall, so they never show it.
        ``word``: a lone word drawn the same way instead, with no strip to find."""
        text = str(rng.choice(self.panel_words)) if word else random_digits(rng, 1, 8)
        level = float(rng.uniform(0, 255))
        ink = float(rng.uniform(180, 255)) if level < 120 else float(rng.uniform(0, 70))
        face = self.printed_fonts[int(rng.integers(len(self.printed_fonts)))]
        mask = truetype_mask(rng, text, face, int(np.exp(rng.uniform(np.log(24), np.log(140)))))
        if mask.shape[1] > 0.9 * self.w:  # a long number in a big face: smaller, whole
            fit = 0.9 * self.w / mask.shape[1]
            mask = cv2.resize(mask, (int(mask.shape[1] * fit), max(1, int(mask.shape[0] * fit))),
                              interpolation=cv2.INTER_AREA)
        mh, mw = mask.shape
        y, x = int(rng.integers(10, self.h - mh - 10)), int(rng.integers(10, self.w - mw - 10))
        frame = np.full((self.h, self.w), level, np.float32)
        frame[y:y + mh, x:x + mw] += (ink - level) * mask
        if word:
            return Scene(_camera(rng, frame), "", "word", np.zeros((4, 2), np.float32))
        quad = np.float32([[x, y], [x + mw, y], [x + mw, y + mh], [x, y + mh]])
        return Scene(_camera(rng, frame), text, "plain", quad)


def _camera(rng: Rng, frame: FloatImage) -> npt.NDArray[np.uint8]:
    h, w = frame.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.4 * w) ** 2))
    frame = frame * (1 + rng.uniform(-0.25, 0.25) * spot)
    sigma = rng.uniform(0, 1.4)
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    frame = frame + rng.normal(0, rng.uniform(1, 8), frame.shape)
    out = np.clip(frame, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else out


def reshoot(rng: Rng, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The same scene a moment later: a pixel of shake and new sensor noise."""
    shifted = np.roll(image, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    noisy = shifted.astype(np.float32) + rng.normal(0, rng.uniform(1, 5), image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)
