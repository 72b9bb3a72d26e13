"""One training run end to end: data → train → float/int8 → evaluate → bundle."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import keras

from digitcam.device import bundle

from . import bundle_writer, evaluate, quantize
from .config import TrainConfig
from .data import make_split, mnist_train
from .model import build

logger = logging.getLogger(__name__)


def load_model(path: Path) -> keras.Model:
    return keras.saving.load_model(path, compile=False)


def export(config: TrainConfig, keras_path: Path, revision: str | None = None
           ) -> tuple[Path, Path, int]:
    """Write NAME.tflite (int8) and NAME-float.tflite with their metadata, and the
    float weights as NAME.weights.h5.

    ``revision`` is the git revision the model was trained at (taken when the
    run started, since the tree may move during an hour of training).
    """
    out = Path(config.out_dir) / "bundle"
    model = load_model(keras_path)
    args = config.model
    rep, _, _ = make_split(config, config.representative_samples, config.seed + 7,
                           mnist_train(config))
    int8_path = quantize.write(out / f"{config.name}.tflite",
                               quantize.to_int8(model, args.height, args.width, rep[..., 0]))
    float_path = quantize.write(out / f"{config.name}-float.tflite",
                                quantize.to_float(model, args.height, args.width))
    for path in (int8_path, float_path):
        quantize.check_static(path.read_bytes())
    # The float weights travel with the bundle: `trainer finetune --from` starts from them.
    model.save_weights(out / f"{config.name}.weights.h5")
    bundle_writer.write_meta(int8_path, bundle_writer.metadata(
        int8_path, config, input_dtype="uint8", quantization=bundle.INT8,
        revision=revision))
    bundle_writer.write_meta(float_path, bundle_writer.metadata(
        float_path, config, input_dtype="float32", quantization="none (float32 reference)",
        revision=revision))
    return int8_path, float_path, int(model.count_params())


def evaluate_run(config: TrainConfig, int8_path: Path, float_path: Path,
                 parameters: int | None = None) -> dict[str, Any]:
    sets = evaluate.standard_sets(config.mnist_path, config.eval_samples, config.real_path)
    results = evaluate.evaluate({"float": float_path, "int8": int8_path}, sets)
    if parameters is None:
        parameters = build(config.model).count_params()
    extra = {
        "model": int8_path.name,
        "size_kb": round(int8_path.stat().st_size / 1024, 1),
        "parameters": int(parameters),
        "input": f"uint8 1x{config.model.height}x{config.model.width}x1",
        **_weights_kept(Path(config.out_dir)),
        "int8_minus_float_points": {
            name: round(100 * (results["int8"][name]["exact"] - results["float"][name]["exact"]), 2)
            for name in results["int8"]},
    }
    md, js = evaluate.report(results, extra, Path(config.out_dir))
    logger.info("evaluation written to %s and %s", md, js)
    metrics = {**extra, "float": results["float"], "int8": results["int8"]}
    # The metrics go into the bundle itself; its sha256 covers only the .tflite.
    for path in (int8_path, float_path):
        meta_path = path.with_suffix(".json")
        meta = bundle.load(meta_path, bundle.RecogniserBundle)
        bundle.write(dataclasses.replace(meta, metrics=metrics), meta_path)
    return metrics


def _weights_kept(run_dir: Path) -> dict[str, str]:
    """Which weights the run exported (best epoch or averaged), when it recorded it."""
    summary = run_dir / "train_summary.json"
    chosen = json.loads(summary.read_text()).get("chosen") if summary.is_file() else None
    return {"weights": chosen} if chosen else {}


def run(config: TrainConfig) -> dict[str, Any]:
    from .train import train

    started = time.monotonic()
    revision = bundle_writer.git_revision()
    best = train(config)
    int8_path, float_path, params = export(config, best, revision)
    metrics = evaluate_run(config, int8_path, float_path, params)
    minutes = (time.monotonic() - started) / 60
    logger.info("whole run took %.1f min", minutes)
    summary = Path(config.out_dir) / "run_summary.json"
    summary.write_text(json.dumps({"total_minutes": round(minutes, 2)}, indent=2) + "\n")
    return metrics
