"""Build a recogniser bundle's metadata (docs/architecture.md, "the model bundle") from a
training config; ``digitcam.device.bundle`` holds the schema and writes it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from digitcam.device import bundle

from .config import TrainConfig
from .data import MAX_LENGTH


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=Path(__file__).parent).stdout
        return rev + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def metadata(tflite_path: Path, config: TrainConfig, *, input_dtype: str, quantization: str,
             metrics: dict[str, Any] | None = None, revision: str | None = None
             ) -> bundle.RecogniserBundle:
    args = config.model
    return bundle.RecogniserBundle(
        name=tflite_path.stem,
        model_file=tflite_path.name,
        sha256=bundle.sha256_of(tflite_path),
        alphabet=args.alphabet,
        blank_index=args.blank_index,
        input=bundle.InputSpec(height=args.height, width=args.width, channels=1, dtype=input_dtype,
                               layout="NHWC", preprocess=bundle.RECOGNISER_PREPROCESS),
        output=bundle.RecogniserOutput(time_steps=args.time_steps, classes=args.num_classes,
                                       meaning=bundle.RECOGNISER_MEANING),
        decoder="ctc-greedy",
        max_length=MAX_LENGTH,
        quantization=quantization,
        training=config.to_dict(),
        git_revision=revision or git_revision(),
        metrics=metrics or {},
    )


def write_meta(tflite_path: Path, meta: bundle.RecogniserBundle) -> Path:
    return bundle.write(meta, tflite_path.with_suffix(".json"))
