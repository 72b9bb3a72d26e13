"""``digitcam trainer …``: train, quantize, evaluate, and the seed-protocol tools.

TensorFlow is imported inside the handlers, so ``digitcam --help`` stays fast.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from digitcam.device.errors import DigitcamError, ExitStatus

logger = logging.getLogger(__name__)


def add_commands(sub: argparse._SubParsersAction) -> None:
    trainer = sub.add_parser("trainer", help="synthesise data, train, quantise, evaluate")
    tsub = trainer.add_subparsers(dest="trainer_command", metavar="COMMAND")

    p = tsub.add_parser("train", help="train a model end to end: data, train, int8, evaluate")
    _config_args(p)
    p.add_argument("--tiny", action="store_true", help="a few-minute run that proves the path")
    p.add_argument("--train-only", action="store_true", help="stop after training")
    p.set_defaults(handler=cmd_train)

    p = tsub.add_parser("quantize", help="export float32 and int8 TFLite from a run")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(handler=cmd_quantize)

    p = tsub.add_parser("evaluate", help="evaluate a run's bundles and write the report")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--mnist", metavar="NPZ", help="MNIST in Keras' layout (default: Keras)")
    p.set_defaults(handler=cmd_evaluate)

    p = tsub.add_parser("ship", help="copy a run's int8 bundle into the device package")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--to", type=Path, default=Path(__file__).parent.parent / "device" / "models")
    p.set_defaults(handler=cmd_ship)

    p = tsub.add_parser("seedset", help="write the 2017 seed-protocol strips as PNG files")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--invert", action="store_true", help="black digits on white")
    p.add_argument("--mnist", metavar="NPZ", help="MNIST in Keras' layout (default: Keras)")
    p.set_defaults(handler=cmd_seedset)

    p = tsub.add_parser("score", help="exact-match accuracy of `digitcam read --json` output")
    p.add_argument("labels", type=Path, help="labels.csv (file,text) as seedset writes")
    p.add_argument("reads", type=Path, help="JSON lines from digitcam read --json")
    p.set_defaults(handler=cmd_score)

    p = tsub.add_parser("preview", help="write a PNG of synthesised training strips")
    p.add_argument("out", type=Path)
    p.add_argument("--mnist", metavar="NPZ")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_preview)
    trainer.set_defaults(handler=lambda a, e: _usage(trainer))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return int(ExitStatus.USAGE)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="JSON training config (keys of TrainConfig)")
    p.add_argument("--out", dest="out_dir", help="run directory")
    p.add_argument("--mnist", dest="mnist_path", metavar="NPZ",
                   help="MNIST in Keras' layout (default: Keras' own download)")
    p.add_argument("--samples", dest="train_samples", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int)


def _resolve_config(args: argparse.Namespace) -> Any:
    from .config import TrainConfig, tiny

    try:
        config = TrainConfig.load(args.config) if args.config else TrainConfig()
    except (OSError, ValueError, TypeError) as exc:
        raise DigitcamError(f"{args.config}: {exc}") from None
    if getattr(args, "tiny", False):
        config = tiny(config)
    for key in ("out_dir", "mnist_path", "train_samples", "epochs", "batch_size", "seed",
                "workers"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(config, key, value)
    return config


def _check_mnist(path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise DigitcamError(f"{path}: MNIST file not found")


def cmd_train(args: argparse.Namespace, env: Any) -> int:
    config = _resolve_config(args)
    _check_mnist(config.mnist_path)
    _log_to_run_dir(config.out_dir)
    if args.train_only:
        from .train import train

        print(train(config), file=env.stdout)
        return 0
    from .pipeline import run

    metrics = run(config)
    print(json.dumps({"bundle": str(Path(config.out_dir) / "bundle" / f"{config.name}.json"),
                      "int8": {k: v["exact"] for k, v in metrics["int8"].items()},
                      "float": {k: v["exact"] for k, v in metrics["float"].items()}}, indent=2),
          file=env.stdout)
    return 0


def _run_config(run_dir: Path) -> Any:
    from .config import TrainConfig

    path = run_dir / "config.json"
    if not path.is_file():
        raise DigitcamError(f"{run_dir}: not a training run (no config.json)")
    return TrainConfig.load(path)


def cmd_quantize(args: argparse.Namespace, env: Any) -> int:
    from .pipeline import export

    config = _run_config(args.run_dir)
    config.out_dir = str(args.run_dir)
    best = args.run_dir / "checkpoints" / "best.keras"
    if not best.is_file():
        raise DigitcamError(f"{best}: no trained model in this run")
    int8_path, float_path, _ = export(config, best)
    print(int8_path, float_path, sep="\n", file=env.stdout)
    return 0


def cmd_evaluate(args: argparse.Namespace, env: Any) -> int:
    from .pipeline import evaluate_run

    config = _run_config(args.run_dir)
    config.out_dir = str(args.run_dir)
    if args.mnist:
        config.mnist_path = args.mnist
    _check_mnist(config.mnist_path)
    bundle_dir = args.run_dir / "bundle"
    metrics = evaluate_run(config, bundle_dir / f"{config.name}.tflite",
                           bundle_dir / f"{config.name}-float.tflite")
    print((args.run_dir / "evaluation.md").read_text(), file=env.stdout)
    del metrics
    return 0


def cmd_ship(args: argparse.Namespace, env: Any) -> int:
    from digitcam.device import bundle

    from .model_card import write_card

    config = _run_config(args.run_dir)
    src = args.run_dir / "bundle" / f"{config.name}.json"
    meta = bundle.read_meta(src)  # refuses a bundle that disagrees with itself
    args.to.mkdir(parents=True, exist_ok=True)
    for path in (meta.tflite_path, meta.json_path):
        shutil.copy2(path, args.to / path.name)
    card = write_card(args.to / f"{config.name}.md", meta.raw, args.run_dir)
    print(f"shipped {meta.tflite_path.name} ({meta.sha256[:12]}) and {card.name} to {args.to}",
          file=env.stdout)
    return 0


def cmd_seedset(args: argparse.Namespace, env: Any) -> int:
    import cv2

    from . import mnist
    from .evaluate import seed_protocol

    _check_mnist(args.mnist)
    _, (x_test, y_test) = mnist.load(args.mnist)
    dataset = seed_protocol(x_test, y_test, invert=args.invert)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (args.out_dir / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "text"])
        for i, (image, text) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
            name = f"{i:04d}.png"
            cv2.imwrite(str(args.out_dir / name), image)
            writer.writerow([name, text])
    print(f"wrote {len(dataset.labels)} strips to {args.out_dir}", file=env.stdout)
    return 0


def cmd_score(args: argparse.Namespace, env: Any) -> int:
    with args.labels.open(newline="") as fh:
        truth = {row["file"]: row["text"] for row in csv.DictReader(fh)}
    seen = hits = 0
    for line in args.reads.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        name = Path(record["path"]).name
        if name in truth:
            seen += 1
            hits += record["text"] == truth[name]
    if seen == 0:
        raise DigitcamError(f"{args.reads}: no reads match the files in {args.labels}")
    missing = len(truth) - seen
    print(json.dumps({"n": seen, "missing": missing, "exact": round(hits / seen, 4)}),
          file=env.stdout)
    return 0 if missing == 0 else int(ExitStatus.BAD_INPUT)


def cmd_preview(args: argparse.Namespace, env: Any) -> int:
    import cv2
    import numpy as np

    from . import mnist
    from .model import ModelArgs
    from .synth.handwriting import MnistPool
    from .synth.strips import KINDS, Synthesizer

    from digitcam.device.preprocess import fit_strip

    (x_train, y_train), _ = mnist.load(args.mnist)
    synth = Synthesizer(MnistPool(x_train, y_train))
    rng = np.random.default_rng(args.seed)
    m = ModelArgs()
    rows = []
    for kind in KINDS:
        for _ in range(6):
            strip, _text = synth.sample(rng, kind)
            rows.append(np.pad(fit_strip(strip, m.height, m.width), 2, constant_values=128))
    cv2.imwrite(str(args.out), np.concatenate(rows))
    print(args.out, file=env.stdout)
    return 0


def _log_to_run_dir(out_dir: str) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(out_dir) / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
