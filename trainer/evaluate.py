"""Evaluate bundles the way the device runs them, per kind of strip.

Every set is read through ``digitcam.device.recognizer`` (the same
preprocessing, interpreter and decoder that ship), for the float and the int8
model alike, so the numbers are what a user gets.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from digitcam.device.recognizer import Recognizer

from . import mnist, real
from .synth import fonts
from .synth.handwriting import MnistPool, seed_protocol_strip
from .synth.strips import KINDS, Synthesizer, word_strip
from .synth.words import EVAL_WORDS

logger = logging.getLogger(__name__)

EVAL_SEED = 20_170_000  # far from any training or validation seed


@dataclass
class EvalSet:
    name: str
    images: list[npt.NDArray[np.uint8]]
    labels: list[str]
    # Per strip, per position, the digits accepted there (a roller digit at an exact
    # half reads as either); None: the label alone is right.
    accepted: list[list[str]] | None = None


def seed_protocol(x_test: npt.NDArray[np.uint8], y_test: npt.NDArray[np.uint8],
                  invert: bool = False, gap: int = 0) -> EvalSet:
    """MNIST's test split in order, five digits a strip: 2,000 strips of 28x140, or
    with ``gap`` black columns between the cells ('seed-spaced')."""
    n = len(x_test) // 5
    spacer = np.zeros((x_test.shape[1], gap), np.uint8)

    def cells(i: int) -> list[npt.NDArray[np.uint8]]:
        digits = list(x_test[5 * i:5 * i + 5])
        return [part for d in digits for part in (d, spacer)][:-1] if gap else digits

    images = [seed_protocol_strip(cells(i), invert) for i in range(n)]
    labels = ["".join(str(int(d)) for d in y_test[5 * i:5 * i + 5]) for i in range(n)]
    name = "seed-spaced" if gap else "seed-inverted" if invert else "seed"
    return EvalSet(name, images, labels)


def lone_digits(x_test: npt.NDArray[np.uint8], y_test: npt.NDArray[np.uint8]) -> EvalSet:
    """Each MNIST test digit on its own, 28x36: a one-digit answer on a form. A reader
    taught that a stroke set apart is a scratch drops the lone '1's here."""
    images = [np.pad(cell, ((0, 0), (4, 4))) for cell in x_test]
    return EvalSet("lone", images, [str(int(d)) for d in y_test])


def synthetic_sets(count: int, mnist_test: tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]],
                   seed: int = EVAL_SEED) -> list[EvalSet]:
    """One set per kind; handwriting draws only from MNIST's test split."""
    synth = Synthesizer(MnistPool(*mnist_test), empty_rate=0.0, spaced_share=0.0)
    sets = []
    for k, kind in enumerate(KINDS):
        rng = np.random.default_rng([seed, k])
        pairs = [synth.sample(rng, kind) for _ in range(count)]
        sets.append(EvalSet(kind, [p[0] for p in pairs], [p[1] for p in pairs]))
    return sets


def word_set(count: int, seed: int = EVAL_SEED) -> EvalSet:
    """``count`` lone words cropped close, in faces held out from training (italics
    among them): the share read as nothing is the set's exact match."""
    faces = fonts.font_files(fonts.HELD_OUT_PRINTED)
    rng = np.random.default_rng([seed, len(KINDS)])  # the stream after the kinds' own
    return EvalSet("words", [word_strip(rng, EVAL_WORDS, faces) for _ in range(count)], [""] * count)


def real_sets(crops: real.RealSet, count: int, seed: int = EVAL_SEED) -> list[EvalSet]:
    """Strips composed from the held-out meters only, one set per real kind;
    'real-transition': roller strips with one digit caught exactly between two values; and
    'real-register': roller strips as a meter shows them, every window at rest but the last
    (in 'real-roller' any window may be caught turning, as few meters ever show)."""
    sets = []
    for k, kind in enumerate(real.REAL_KINDS):
        pool = crops.crops("held-out", kind)
        if pool.size == 0:
            continue
        rng = np.random.default_rng([seed, 100 + k])
        drawn = [real.compose_strip(rng, crops, pool) for _ in range(count)]
        sets.append(EvalSet(f"real-{kind}", [d[0] for d in drawn], [d[1] for d in drawn]))
    pool = crops.crops("held-out", "roller")
    if pool.size and (crops.tenths[pool] == real.HALF).any():
        rng = np.random.default_rng([seed, 199])
        drawn = [real.compose_strip(rng, crops, pool, allow_half=True, force_half=True)
                 for _ in range(count)]
        sets.append(EvalSet("real-transition", [d[0] for d in drawn], [d[1] for d in drawn],
                            [d[2] for d in drawn]))
    if pool.size and np.isin(crops.tenths[pool], real.STILL_TENTHS).any():
        rng = np.random.default_rng([seed, 198])
        drawn = [real.compose_strip(rng, crops, pool, still_but_last=True) for _ in range(count)]
        sets.append(EvalSet("real-register", [d[0] for d in drawn], [d[1] for d in drawn]))
    return sets


def write_sets(sets: list[EvalSet], out_dir: Path) -> int:
    """Each set's strips as PNG files with a labels.csv (file,text,kind[,accept]) for
    `digitcam read --roi full --json` and `digitcam trainer score`."""
    import csv

    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "text", "kind", "accept"])
        for dataset in sets:
            for i, (image, text) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
                name = f"{dataset.name}-{i:04d}.png"
                cv2.imwrite(str(out_dir / name), image)
                accept = "|".join(dataset.accepted[i]) if dataset.accepted else ""
                writer.writerow([name, text, dataset.name, accept])
    return sum(len(s.labels) for s in sets)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def score(recognizer: Recognizer, dataset: EvalSet) -> dict[str, Any]:
    exact = 0
    errors = 0
    chars = 0
    invoke_ms = []
    for i, (image, truth) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
        result = recognizer.read(image)
        exact += (real.matches(result.text, dataset.accepted[i]) if dataset.accepted
                  else result.text == truth)
        errors += edit_distance(result.text, truth)
        chars += max(1, len(truth))
        invoke_ms.append(result.latency_ms["infer"])
    return {"n": len(dataset.labels), "exact": round(exact / len(dataset.labels), 4),
            "cer": round(errors / chars, 4), "invoke_ms_p50": round(statistics.median(invoke_ms), 3)}


def evaluate(bundles: dict[str, Path], sets: list[EvalSet], threads: int = 1) -> dict[str, Any]:
    """{'int8': {set: metrics}, 'float': {...}} for each bundle given."""
    results: dict[str, Any] = {}
    for label, path in bundles.items():
        recognizer = Recognizer(path, threads=threads)
        results[label] = {s.name: score(recognizer, s) for s in sets}
        logger.info("%s: %s", label, " ".join(f"{k}={v['exact']:.4f}"
                                             for k, v in results[label].items()))
    return results


def standard_sets(mnist_path: str | None, count: int, real_path: str | None = None
                  ) -> list[EvalSet]:
    _, (x_test, y_test) = mnist.load(mnist_path)
    sets = [*synthetic_sets(count, (x_test, y_test)),
            seed_protocol(x_test, y_test), seed_protocol(x_test, y_test, invert=True),
            seed_protocol(x_test, y_test, gap=10), lone_digits(x_test, y_test),
            word_set(count)]
    return sets + (real_sets(real.RealSet.load(real_path), count) if real_path else [])


def report(results: dict[str, Any], extra: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    json_path.write_text(json.dumps({**extra, "results": results}, indent=2) + "\n")
    lines = ["# Evaluation", ""]
    lines += [f"- {k}: {v}" for k, v in extra.items()]
    labels = list(results)
    lines += ["", "| set | n | " + " | ".join(f"{m} exact | {m} CER" for m in labels) + " |",
              "|---|---|" + "---|---|" * len(labels)]
    for name in results[labels[0]]:
        cells = []
        for m in labels:
            r = results[m][name]
            cells += [f"{r['exact']:.4f}", f"{r['cer']:.4f}"]
        lines.append(f"| {name} | {results[labels[0]][name]['n']} | " + " | ".join(cells) + " |")
    lines += ["", "Seed protocol: MNIST test split in order, five digits a strip, 28x140, "
              "white on black, no gaps (2017 CNN+GRU: 0.88 test sequence accuracy).", ""]
    md_path = out_dir / "evaluation.md"
    md_path.write_text("\n".join(lines))
    return md_path, json_path
