"""Fine-tune a shipped model on real strips in minutes, and say what it changed.

``--from`` is a model bundle whose float weights sit beside it (``NAME.weights.h5``,
written by every training run and shipped with the model) or, for a run directory's
bundle, the run's best checkpoint. ``--real`` is any mix of:

- a folder labelled with ``digitcam label`` (strips the daemon archived, with
  labels.csv): about one value in five, chosen by a hash of the label, is held out to
  measure before and after, the rest is trained on, augmented;
- a real-crop set from ``digitcam trainer import-real`` (.npz): strips composed from its
  training meters, measured on its held-out meters.

Every batch also replays synthetic strips of the model's own training mix, so the
model does not forget the kinds the real data lacks (the seed protocol among them).
The new bundle's JSON carries the before/after numbers and where the real data came from.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from digitcam.device import bundle
from digitcam.device.errors import DigitcamError
from digitcam.device.preprocess import fit_strip

from . import evaluate, mnist
from .config import TrainConfig
from .data import encode_labels, mnist_train
from .evaluate import EvalSet
from .real import RealSet
from .synth import strips

logger = logging.getLogger(__name__)

# Of labelled field strips, by a hash of the label: the frames of one scene (one value on
# the meter) are near copies and must not sit on both sides.
HELD_OUT_SHARE = 0.2
FIELD_SHARE = 0.3  # of the training strips, when field strips are given (oversampled)
REAL_SHARE = 0.3  # of the training strips, when a real-crop set is given


@dataclass
class RealInputs:
    field_train: list[tuple[npt.NDArray[np.uint8], str]]
    field_held_out: EvalSet | None
    real_set: RealSet | None
    sources: list[dict[str, Any]]


def float_weights(source: Path) -> Path:
    """The float weights of a bundle: NAME.weights.h5 beside it, or its run's checkpoint."""
    beside = source.with_name(f"{source.stem}.weights.h5")
    if beside.is_file():
        return beside
    run_checkpoint = source.parent.parent / "checkpoints" / "best.keras"
    if run_checkpoint.is_file():
        return run_checkpoint
    raise DigitcamError(f"{source}: no float weights to fine-tune ({beside.name} beside the bundle, "
                        "or the run's checkpoints/best.keras); bundles trained before the field loop "
                        "have none: retrain with `make train`")


def load_model(source: Path) -> tuple[TrainConfig, Any, bundle.BundleMeta]:
    import keras

    from .model import build

    meta = bundle.read(source, bundle.RecogniserBundle)  # refuses a bundle that disagrees with itself
    if meta.bundle.training is None:
        raise DigitcamError(f"{source}: the bundle records no training config to rebuild its network from")
    config = TrainConfig.from_dict(meta.bundle.training)
    weights = float_weights(source)
    if weights.suffix == ".keras":
        model = keras.saving.load_model(weights, compile=False)
    else:
        model = build(config.model)
        model.load_weights(weights)
    return config, model, meta


def _held_out(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELD_OUT_SHARE


def load_real(inputs: list[Path]) -> RealInputs:
    field_train: list[tuple[npt.NDArray[np.uint8], str]] = []
    held_images: list[npt.NDArray[np.uint8]] = []
    held_labels: list[str] = []
    real_set: RealSet | None = None
    sources: list[dict[str, Any]] = []
    for path in inputs:
        if path.suffix == ".npz":
            if real_set is not None:
                raise DigitcamError(f"{path}: give one real-crop set (import-real can read many folders)")
            real_set = RealSet.for_training(path)
            sources.append({"set": str(path), "version": real_set.manifest["version"],
                            "sources": real_set.manifest["sources"]})
            continue
        labels = path / "labels.csv"
        if not labels.is_file():
            raise DigitcamError(f"{path}: no labels.csv (label the strips with `digitcam label {path}`)")
        with labels.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        used = 0
        for row in rows:
            image = cv2.imread(str(path / row["file"]), cv2.IMREAD_GRAYSCALE)
            if image is None or not (row["text"] == "" or row["text"].isdigit()):
                continue
            used += 1
            if _held_out(row["text"]):
                held_images.append(image)
                held_labels.append(row["text"])
            else:
                field_train.append((image, row["text"]))
        sources.append({"field": str(path), "labelled": used})
    if not field_train and real_set is None:
        raise DigitcamError("no labelled strips to fine-tune on in " + ", ".join(map(str, inputs)))
    held = EvalSet("field-held-out", held_images, held_labels) if held_images else None
    return RealInputs(field_train, held, real_set, sources)


def training_strips(config: TrainConfig, real: RealInputs, count: int, seed: int,
                    replay_kinds: dict[str, float] | None = None, real_share: float = REAL_SHARE,
                    restyle: bool = False) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """``count`` model-ready strips: field strips (augmented), composed real strips, and
    synthetic replay of the model's own mix for the rest."""
    rng = np.random.default_rng(seed)
    m = config.model
    n_field = round(count * FIELD_SHARE) if real.field_train else 0
    n_real = round(count * real_share) if real.real_set is not None else 0
    mix = {k: v for k, v in (replay_kinds or config.final_kinds or config.kinds).items()
           if k != strips.REAL}
    replay, replay_labels, _ = strips.build(count - n_field - n_real, seed, mix, m.height, m.width,
                                            mnist_train(config), workers=config.workers,
                                            empty_rate=config.empty_share,
                                            meter_windows=config.meter_windows,
                                            meter_faces=config.meter_faces,
                                            face_lines=config.face_lines)
    images = [replay]
    labels = list(replay_labels)
    own = np.empty((n_field + n_real, m.height, m.width), np.uint8)
    for i in range(n_field):
        strip, text = real.field_train[int(rng.integers(len(real.field_train)))]
        if rng.random() < strips.STRETCH_SHARE:
            strip = strips.stretch(rng, strip)
        gain = rng.uniform(0.7, 1.3)
        strip = np.clip(strip.astype(np.float32) * gain + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        fit_strip(strip, m.height, m.width, out=own[i])
        labels.append(text)
    if real.real_set is not None:
        # The training mix's own real strips, restyled if asked.
        composer = strips.Synthesizer(None, real=real.real_set, restyle=restyle)
        for i in range(n_field, n_field + n_real):
            strip, text = composer.real_strip(rng)
            if rng.random() < strips.STRETCH_SHARE:
                strip = strips.stretch(rng, strip)
            fit_strip(strip, m.height, m.width, out=own[i])
            labels.append(text)
    images.append(own)
    return np.concatenate(images), labels


def measure_sets(config: TrainConfig, real: RealInputs, count: int) -> list[EvalSet]:
    """What before/after is measured on: the real held-out sets, and the synthetic kinds
    and the seed protocol, which must not regress."""
    sets: list[EvalSet] = []
    if real.real_set is not None:
        sets += evaluate.real_sets(real.real_set, count)
    if real.field_held_out is not None:
        sets.append(real.field_held_out)
    _, (x_test, y_test) = mnist.load(config.mnist_path)
    sets += evaluate.synthetic_sets(count, (x_test, y_test))
    sets += [evaluate.seed_protocol(x_test, y_test), evaluate.seed_protocol(x_test, y_test, invert=True)]
    return sets


def write_recipe(meta_path: Path, before: bundle.RecogniserBundle, recipe: dict[str, Any],
                 metrics: dict[str, Any]) -> None:
    """The bundle says how it was made: ``training`` stays the base run's recipe (what
    `make train` retrains), ``finetune`` the list of steps on top of it, in order."""
    meta = bundle.load(meta_path, bundle.RecogniserBundle)
    bundle.write(dataclasses.replace(meta, training=before.training, metrics=metrics,
                                     finetune=[*(before.finetune or []), recipe]), meta_path)


def finetune(source: Path, inputs: list[Path], out_dir: Path, *, steps: int = 600,
             batch_size: int = 64, learning_rate: float = 3e-4, eval_count: int = 500,
             mnist_path: str | None = None, seed: int = 7,
             replay_kinds: dict[str, float] | None = None, real_share: float = REAL_SHARE,
             restyle: bool = False, meter_windows: float = 0.0, meter_faces: float = 0.0,
             face_lines: float = 0.0) -> dict[str, Any]:
    import keras

    from . import pipeline
    from .train import compile_for_training

    started = time.monotonic()
    config, model, before = load_model(source)
    # Default replay: the mix the source model ended its training on.
    replay_kinds = replay_kinds or dict(config.final_kinds or config.kinds)
    real = load_real(inputs)
    config.out_dir = str(out_dir)
    if mnist_path is not None:
        config.mnist_path = mnist_path
    if real.real_set is not None:
        config.real_path = str(inputs[[p.suffix for p in inputs].index(".npz")])
    config.train_samples, config.epochs, config.final_epochs = steps * batch_size, 1, 0
    config.final_kinds, config.learning_rate, config.seed = None, learning_rate, seed
    config.meter_windows = meter_windows  # the replay's counters, not the base run's
    config.meter_faces = meter_faces
    config.face_lines = face_lines
    keras.utils.set_random_seed(seed)
    x, labels = training_strips(config, real, steps * batch_size, seed, replay_kinds, real_share, restyle)
    y = encode_labels(labels, config.model.alphabet, config.model.blank_index)
    compile_for_training(model, config)
    fit_started = time.monotonic()
    model.fit(x[..., None], y, batch_size=batch_size, epochs=1, shuffle=True, verbose=2)
    fit_minutes = (time.monotonic() - fit_started) / 60
    checkpoint = out_dir / "checkpoints" / "best.keras"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model.save(checkpoint)
    config.save(out_dir / "config.json")
    int8_path, float_path, _ = pipeline.export(config, checkpoint)
    sets = measure_sets(config, real, eval_count)
    results = evaluate.evaluate({"before": before.tflite_path, "int8": int8_path, "float": float_path},
                                sets)
    summary = {
        "bundle": str(int8_path.with_suffix(".json")),
        "from": {"bundle": str(source), "sha256": before.sha256},
        "real": real.sources, "steps": steps, "batch_size": batch_size,
        "learning_rate": learning_rate, "replay_kinds": replay_kinds, "fit_minutes": round(fit_minutes, 2),
        "minutes": round((time.monotonic() - started) / 60, 2),
        "exact": {name: {"before": results["before"][name]["exact"],
                         "after": results["int8"][name]["exact"],
                         "after_float": results["float"][name]["exact"]} for name in results["int8"]},
    }
    recipe = {"from_sha256": before.sha256, "real": real.sources, "steps": steps,
              "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
              "replay_kinds": replay_kinds, "real_share": real_share, "restyle": restyle}
    if meter_windows:  # named only when used, so earlier recipes read the same
        recipe["meter_windows"] = meter_windows
    if meter_faces:
        recipe["meter_faces"] = meter_faces
    if face_lines:
        recipe["face_lines"] = face_lines
    for path in (int8_path, float_path):
        write_recipe(path.with_suffix(".json"), before.bundle, recipe,
                     {"float": results["float"], "int8": results["int8"], "finetune": summary})
    evaluate.report({"before": results["before"], "after int8": results["int8"],
                     "after float": results["float"]},
                    {"fine-tuned from": f"{source} ({before.sha256[:12]})", "steps": steps},
                    out_dir)
    logger.info("fine-tuned in %.1f min: %s", summary["minutes"], summary["exact"])
    return summary


def recorded_steps(recipe: Path) -> list[dict[str, Any]]:
    """The fine-tune steps a bundle records, in order (what `make train` repeats)."""
    try:
        steps = bundle.parse(json.loads(recipe.read_text()), bundle.RecogniserBundle, recipe).finetune
    except (OSError, ValueError, DigitcamError):
        steps = None
    if not steps:
        raise DigitcamError(f"{recipe}: not a bundle made by trainer finetune")
    return steps


def finetune_steps(source: Path, steps: list[dict[str, Any]], out: Path, *, real: list[Path] | None,
                   count: int | None, learning_rate: float | None, eval_count: int,
                   mnist_path: str | None, replay_kinds: dict[str, float] | None,
                   real_share: float | None, restyle: bool | None = None,
                   meter_windows: float | None = None, meter_faces: float | None = None,
                   face_lines: float | None = None) -> dict[str, Any]:
    """Each step from the last one's bundle; an argument given overrides what a step records.
    One step writes to ``out``, several to ``out/step-N``. The last step's summary."""
    summary: dict[str, Any] = {}
    for number, recipe in enumerate(steps, 1):
        inputs = real or [Path(r["set"]) for r in recipe.get("real", []) if r.get("set")]
        if not inputs:
            raise DigitcamError("give --real DIR_OR_SET (or --recipe BUNDLE)")
        n = count or recipe.get("steps", 600)
        if n < 1:
            raise DigitcamError("--steps must be at least 1")
        summary = finetune(source, inputs, out if len(steps) == 1 else out / f"step-{number}", steps=n,
                           learning_rate=learning_rate or recipe.get("learning_rate", 3e-4),
                           eval_count=eval_count, mnist_path=mnist_path,
                           replay_kinds=replay_kinds or recipe.get("replay_kinds"),
                           real_share=real_share or recipe.get("real_share", REAL_SHARE),
                           restyle=recipe.get("restyle", False) if restyle is None else restyle,
                           meter_windows=(recipe.get("meter_windows", 0.0) if meter_windows is None
                                          else meter_windows),
                           meter_faces=recipe.get("meter_faces", 0.0) if meter_faces is None else meter_faces,
                           face_lines=recipe.get("face_lines", 0.0) if face_lines is None else face_lines,
                           seed=recipe.get("seed", 7))
        source = Path(summary["bundle"])
    return summary
