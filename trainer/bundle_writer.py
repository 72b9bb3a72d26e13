"""Write a model bundle (contract 1 in docs/architecture.md) and its model card."""

from __future__ import annotations

import json
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
             metrics: dict[str, Any] | None = None, revision: str | None = None) -> dict[str, Any]:
    args = config.model
    return {
        "format": bundle.FORMAT,
        "format_version": bundle.FORMAT_VERSION,
        "name": tflite_path.stem,
        "model_file": tflite_path.name,
        "sha256": bundle.sha256_of(tflite_path),
        "alphabet": args.alphabet,
        "blank_index": args.blank_index,
        "input": {"height": args.height, "width": args.width, "channels": 1,
                  "dtype": input_dtype, "layout": "NHWC",
                  "preprocess": "grey; scale to height keeping aspect, squeeze if wider, "
                                "a margin of the border median on both sides (device/preprocess.py)"},
        "output": {"time_steps": args.time_steps, "classes": args.num_classes,
                   "meaning": "per-column logits over the alphabet with the blank at blank_index"},
        "decoder": "ctc-greedy",
        "max_length": MAX_LENGTH,
        "quantization": quantization,
        "training": config.to_dict(),
        "git_revision": revision or git_revision(),
        "metrics": metrics or {},
    }


def write_meta(tflite_path: Path, meta: dict[str, Any]) -> Path:
    path = tflite_path.with_suffix(".json")
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path
