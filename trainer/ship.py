"""Copy a trained bundle, recogniser or strip detector, into the device package.

`trainer ship RUN` and `trainer detector --ship` both end here: the bundle is checked
as the device would load it (format, schema, sha256) before anything is copied, and
its model card is written beside it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from digitcam.device import bundle

from .config import run_config
from .model_card import write_card, write_detector_card

DEVICE_MODELS = Path(__file__).parent.parent / "device" / "models"


@dataclass(frozen=True)
class Shipped:
    tflite: Path
    sha256: str
    card: Path

    def line(self, to: Path) -> str:
        return f"shipped {self.tflite.name} ({self.sha256[:12]}) and {self.card.name} to {to}"


def run_bundle(run_dir: Path) -> Path:
    """The int8 bundle of a run: a `trainer detector` run's, else a training run's."""
    detector = run_dir / "bundle" / f"{bundle.DETECTOR_NAME}.json"
    if detector.is_file():
        return detector
    return run_dir / "bundle" / f"{run_config(run_dir).name}.json"


def ship(json_path: Path, to: Path = DEVICE_MODELS) -> Shipped:
    """Check the bundle at ``json_path``, copy it into ``to`` and write its card there; a
    recogniser's float weights (``NAME.weights.h5``, what `trainer finetune` starts from)
    go along when they are beside it."""
    meta = bundle.load_any(json_path)
    files = [json_path.with_suffix(".tflite"), json_path]
    weights = json_path.with_name(f"{json_path.stem}.weights.h5")
    if isinstance(meta, bundle.RecogniserBundle) and weights.is_file():
        files.append(weights)
    to.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, to / path.name)
    card = to / f"{json_path.stem}.md"
    if isinstance(meta, bundle.DetectorBundle):
        write_detector_card(card, meta)
    else:
        write_card(card, meta)
    return Shipped(files[0], meta.sha256, card)
