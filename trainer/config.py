"""The training run's configuration: one typed record, saved with every artefact."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from digitcam.device.errors import DigitcamError

from .model import ModelArgs
from .synth.strips import EMPTY_SHARE, REAL, TRAIN_KINDS


@dataclass
class TrainConfig:
    out_dir: str = "runs/digits"
    name: str = "digits"
    seed: int = 1
    # 216k strips x 5 epochs: 16,875 steps at ~0.17 s (2-core EPYC), 56 min measured with
    # synthesis, export and evaluation; more epochs over fewer strips beat one pass over many.
    train_samples: int = 216_000
    val_samples: int = 4_000
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 2e-3
    patience: int = 4  # epochs without a better validation exact-match before stopping
    # Share of each kind in the training mix; handwriting is the hardest to read.
    kinds: dict[str, float] = field(default_factory=lambda: {
        "printed": 0.20, "sevenseg": 0.12, "counter": 0.13, "handwriting": 0.55})
    # The last ``final_epochs`` of ``epochs`` train on new strips drawn from ``final_kinds``
    # (0: one mix throughout). A handwriting-heavy last phase (0.83) lifts the seed
    # protocol (0.951 -> 0.9605 in 1,500 steps) and holds the other kinds within 0.6
    # points, where the same steps on the default mix reach 0.956 (BENCHMARKS.md).
    final_epochs: int = 0
    final_kinds: dict[str, float] | None = None
    # Keep an exponential moving average of the weights over about this many steps
    # (0: none) and ship it if it validates better than the best epoch (weight_average.py).
    average_horizon: int = 0
    # Strips with no digits (label ''), in every phase; half are a lone word cropped close.
    empty_share: float = EMPTY_SHARE
    mnist_path: str | None = None  # None: Keras' own download and cache
    # Real camera crops (`digitcam trainer import-real`): the 'real' kind of the mixes draws
    # strips from its training meters, and the evaluation adds its held-out meters.
    real_path: str | None = None
    # The real strips in another polarity or tone curve too (real._restyle), as the fine-tune
    # step's --restyle does; off in the shipped recipe's base run (BENCHMARKS.md, session 28).
    real_restyle: bool = False
    # Of the training counters, the share drawn as a meter's window (synth.counter.meter_window:
    # touching light drums, thin separators with gear teeth, neighbours peeking in); 0 as before.
    meter_windows: float = 0.0
    # Of those windows, the share drawn on the meter's face with its mark and unit beside them
    # (synth.counter._on_face); 0 as before.
    meter_faces: float = 0.0
    # Of those faces, the share with the face's other print (a serial number) above or below
    # the window (synth.counter._face_lines); 0 as before.
    face_lines: float = 0.0
    workers: int = 0  # data synthesis processes; 0 = one per core
    representative_samples: int = 400
    # Per kind: int8 must stay within 0.5 points of float, and at 1,000 one strip is 0.1.
    eval_samples: int = 2_000
    model: ModelArgs = field(default_factory=ModelArgs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown training config key(s): {', '.join(unknown)}")
        raw = dict(raw)
        model = dict(raw.pop("model", {}) or {})  # the caller's dict stays as it was
        for key in ("channels", "dilations", "block_convs"):
            if key in model:
                model[key] = tuple(model[key])
        config = cls(**raw, model=ModelArgs(**model))
        config.check()
        return config

    def check(self) -> None:
        """Refuse a schedule or mix that cannot run, before any strips are drawn."""
        for name, mix in (("kinds", self.kinds), ("final_kinds", self.final_kinds or {})):
            unknown = sorted(set(mix) - set(TRAIN_KINDS))
            if unknown:
                raise ValueError(f"{name}: unknown kind(s) {', '.join(unknown)} "
                                 f"(known: {', '.join(TRAIN_KINDS)})")
            if mix.get(REAL, 0) > 0 and not self.real_path:
                raise ValueError(f"{name}: the '{REAL}' kind needs real_path, a set written by "
                                 "`digitcam trainer import-real`")
            if mix and (min(mix.values()) < 0 or sum(mix.values()) <= 0):
                raise ValueError(f"{name}: shares must be >= 0 with a positive sum")
        if not 0 <= self.empty_share < 1:
            raise ValueError("empty_share must be at least 0 and below 1")
        if not 0 <= self.final_epochs < self.epochs:
            raise ValueError(f"final_epochs must be at least 0 and fewer than epochs ({self.epochs})")
        if self.average_horizon < 0:
            raise ValueError("average_horizon must be at least 0 (0: no weight average)")
        if self.final_epochs and not self.final_kinds:
            raise ValueError("final_epochs needs final_kinds, the mix those epochs train on")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """A config file, or a model bundle's JSON: its ``training`` object is the
        recipe that made it (``make train`` retrains the shipped model this way)."""
        raw = json.loads(path.read_text())
        if isinstance(raw, dict) and "format" in raw and isinstance(raw.get("training"), dict):
            raw = raw["training"]
        return cls.from_dict(raw)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def run_config(run_dir: Path) -> TrainConfig:
    """The config a training run saved beside its checkpoints."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise DigitcamError(f"{run_dir}: not a training run (no config.json)")
    return TrainConfig.load(path)


def tiny(config: TrainConfig) -> TrainConfig:
    """A few-minute run that exercises every step of the real path (for CI)."""
    config.train_samples = 3_000
    config.val_samples = 300
    config.epochs = 2
    config.representative_samples = 50
    config.eval_samples = 100
    config.model = ModelArgs(channels=(8, 16, 16, 16, 24), head=32, dilations=(1, 2))
    return config
