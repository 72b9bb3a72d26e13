"""Labelled image folders for the checks that read through the real CLI.

Each writer puts images and a ``labels.csv`` (``file,text``, and ``kind``/``quad`` for
whole frames) in a folder, for ``digitcam read --json`` and ``trainer score``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from digitcam.device.preprocess import fit_strip

from . import mnist
from .evaluate import seed_protocol
from .model import ModelArgs
from .synth import fonts
from .synth.handwriting import MnistPool
from .synth.scenes import SceneMaker, reshoot
from .synth.strips import KINDS, Synthesizer


def write_seedset(out_dir: Path, mnist_path: str | None, *, invert: bool = False) -> int:
    """The 2017 seed protocol's strips (MNIST's test split in order) as PNG files."""
    _, (x_test, y_test) = mnist.load(mnist_path)
    dataset = seed_protocol(x_test, y_test, invert=invert)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "text"])
        for i, (image, text) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
            name = f"{i:04d}.png"
            cv2.imwrite(str(out_dir / name), image)
            writer.writerow([name, text])
    return len(dataset.labels)


def write_scenes(out_dir: Path, mnist_path: str | None, *, per_kind: int, empty: int, words: int,
                 repeat: int, seed: int, plain: int = 0, plain_words: int = 0) -> int:
    """Whole 640x480 JPEG frames of every kind, frames without digits and lone words, each
    scene shot ``repeat`` times (fresh sensor noise, a small shake); labels carry the quad."""
    _, (x_test, y_test) = mnist.load(mnist_path)
    maker = SceneMaker(MnistPool(x_test, y_test))
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = [(k, per_kind) for k in KINDS] + [("none", empty), ("word", words), ("plain", plain),
                                             ("plain-word", plain_words)]
    with (out_dir / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "text", "kind", "quad"])
        for k, (kind, count) in enumerate(plan):
            rng = np.random.default_rng([seed, k])
            for i in range(count):
                if kind.startswith("plain"):
                    scene = maker.plain(rng, word=kind == "plain-word")
                else:
                    scene = maker.make(rng, kind)
                for r in range(repeat):
                    image = scene.image if r == 0 else reshoot(rng, scene.image)
                    name = f"{kind}-{i:04d}" + (f"-{r}" if repeat > 1 else "") + ".jpg"
                    cv2.imwrite(str(out_dir / name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
                    writer.writerow([name, scene.text, kind,
                                     json.dumps(np.round(scene.quad, 1).tolist())])
    return sum(c for _, c in plan) * repeat


def write_samples(out_dir: Path, mnist_path: str | None, *, per_kind: int, seed: int) -> int:
    """Strips for the demo (file name = kind, number and digits), drawn with faces the model
    never trained on where the kind allows it, and handwriting from MNIST's test split."""
    _, (x_test, y_test) = mnist.load(mnist_path)
    synth = Synthesizer(MnistPool(x_test, y_test), empty_rate=0.0, spaced_share=0.0)
    synth.printed_fonts = fonts.font_files(fonts.HELD_OUT_PRINTED)
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, kind in enumerate(KINDS):
        rng = np.random.default_rng([seed, k])
        for i in range(per_kind):
            strip, text = synth.sample(rng, kind)
            cv2.imwrite(str(out_dir / f"{kind}-{i:02d}_{text}.png"), strip)
    return len(KINDS) * per_kind


def write_preview(out: Path, mnist_path: str | None, *, seed: int) -> None:
    """One PNG of six training strips a kind, as the model sees them (fit_strip)."""
    (x_train, y_train), _ = mnist.load(mnist_path)
    synth = Synthesizer(MnistPool(x_train, y_train))
    rng = np.random.default_rng(seed)
    m = ModelArgs()
    rows = []
    for kind in KINDS:
        for _ in range(6):
            strip, _text = synth.sample(rng, kind)
            rows.append(np.pad(fit_strip(strip, m.height, m.width), 2, constant_values=128))
    cv2.imwrite(str(out), np.concatenate(rows))
