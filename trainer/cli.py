"""``digitcam trainer …``: train, quantize, evaluate, and the seed-protocol tools.

TensorFlow is imported inside the handlers, so ``digitcam --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
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

    p = tsub.add_parser("speed", help="time training steps here and project a run's training time")
    _schedule_args(p)
    p.add_argument("--tiny", action="store_true", help="time the --tiny run's network")
    p.add_argument("--steps", type=int, default=30, help="steps to time (after 5 of warm-up)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a sentence")
    p.set_defaults(handler=cmd_speed)

    p = tsub.add_parser("detector", help="train the strip detector on synthetic scenes, int8, bundle")
    p.add_argument("--out", dest="out_dir", default="runs/detector", help="run directory")
    p.add_argument("--mnist", dest="mnist_path", metavar="NPZ",
                   help="MNIST in Keras' layout (default: Keras' own download)")
    p.add_argument("--scenes", dest="train_scenes", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--tiny", action="store_true", help="a one-minute run that proves the path")
    p.add_argument("--ship", action="store_true", help="copy the bundle into the device package")
    p.add_argument("--seed", type=int, help="training scenes and weights (default 11, the shipped run's)")
    p.add_argument("--backlit-panels", action="store_true",
                   help="draw seven-segment strips as backlit and meter-register LCD panels")
    p.add_argument("--by-height", type=float, default=0.0, metavar="SHARE",
                   help="share of strips sized by their height rather than their width")
    p.add_argument("--big-words", action="store_true",
                   help="draw clutter words at any size a strip may be, not only small print")
    p.add_argument("--meter-faces", type=float, default=0.0, metavar="SHARE",
                   help="share of frames showing a whole meter's round face, its counter window the strip")
    p.add_argument("--plain", dest="plain_share", type=float, metavar="SHARE",
                   help="share of frames with a number or a word straight on a flat surface")
    p.add_argument("--plain-words", dest="plain_word_share", type=float, metavar="SHARE",
                   help="of those plain frames, the share with a word (default 0.5)")
    p.set_defaults(handler=cmd_detector)

    p = tsub.add_parser("quantize", help="export float32 and int8 TFLite from a run")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(handler=cmd_quantize)

    p = tsub.add_parser("evaluate", help="evaluate a run's bundles and write the report")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--mnist", metavar="NPZ", help="MNIST in Keras' layout (default: Keras)")
    p.set_defaults(handler=cmd_evaluate)

    p = tsub.add_parser("ship", help="copy a run's int8 bundle (recogniser or detector) into the "
                        "device package")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--to", type=Path)
    p.set_defaults(handler=cmd_ship)

    p = tsub.add_parser("seedset", help="write the 2017 seed-protocol strips as PNG files")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--invert", action="store_true", help="black digits on white")
    p.add_argument("--mnist", metavar="NPZ", help="MNIST in Keras' layout (default: Keras)")
    p.set_defaults(handler=cmd_seedset)

    p = tsub.add_parser("import-real", help="turn a local snapshot of labelled real digit crops "
                        "into a cached, versioned training set (held out by meter)")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="folders of crops, one per meter; names start with the label (3_x.jpg, 3.7_x.jpg)")
    p.add_argument("--out", type=Path, default=Path("runs/real"), help="where the set is written")
    p.add_argument("--repo", help="where the snapshot came from (recorded in the set and the model card)")
    p.add_argument("--commit", help="the snapshot's commit")
    p.add_argument("--licence", help="the snapshot's licence")
    p.add_argument("--held-out", action="append", metavar="METER",
                   help="hold out this meter (repeatable; default: a fixed choice by meter name)")
    p.add_argument("--label-from", choices=("name", "folder"), default="name",
                   help="where a crop's label is: the start of its name, else its folder (default), "
                        "or its folder only")
    p.add_argument("--meter-from-name", metavar="REGEX",
                   help="the meter is the pattern's first group in the file name, not the folder "
                        "(files it does not match are skipped)")
    p.add_argument("--measure-only", action="store_true",
                   help="hold out every meter: a snapshot that states no licence is measured on, "
                        "never trained on (train and finetune refuse the set)")
    p.set_defaults(handler=cmd_import_real)

    p = tsub.add_parser("real-strips", help="write strips composed from the held-out meters of a "
                        "real set, with labels.csv, for digitcam read --roi full + trainer score")
    p.add_argument("real_set", type=Path, help="a set written by import-real (.npz)")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--count", type=int, default=1000, help="strips per set")
    p.set_defaults(handler=cmd_real_strips)

    p = tsub.add_parser("crop-report", help="read every crop of a real set's split on its own: "
                        "exact per meter and per tenths of a roll, errors by kind (JSON)")
    p.add_argument("real_set", type=Path, help="a set written by import-real (.npz)")
    p.add_argument("--model", help="recogniser bundle (default: the bundled one)")
    p.add_argument("--split", choices=("held-out", "train"), default="held-out")
    p.set_defaults(handler=cmd_crop_report)

    p = tsub.add_parser("import-photos", help="labelled whole photos (a CSV of image and value) "
                        "into a folder with labels.csv, for digitcam read + trainer score")
    p.add_argument("table", type=Path, help="CSV naming each image and its value")
    p.add_argument("images", type=Path, help="the folder the images are in")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--image-column", default="image")
    p.add_argument("--value-column", default="value")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--decimals", default="0",
                   help="the display shows this many decimals the value leaves out, or a range "
                        "(1-2) when the photos' displays differ")
    p.add_argument("--kind", default="photo", help="the kind these photos are scored as")
    p.set_defaults(handler=cmd_import_photos)

    p = tsub.add_parser("import-windows", help="whole meter photos labelled with the counter window's "
                        "corners and readings: the windows squared up (read with --roi full) and the "
                        "photos (read with the automatic region), each with labels.csv")
    p.add_argument("labels", type=Path, help="the folder of label files (NAME.txt: 8 corners, readings)")
    p.add_argument("images", type=Path, help="the folder of photos (NAME.jpg)")
    p.add_argument("windows_out", type=Path, help="where the squared-up windows go")
    p.add_argument("--photos-out", type=Path, help="where the whole photos go (left out if not given)")
    p.add_argument("--kind", default="meter", help="prefix of the kinds they are scored as")
    p.set_defaults(handler=cmd_import_windows)

    p = tsub.add_parser("finetune", help="fine-tune a bundle on labelled field strips and/or a real "
                        "set, write a new bundle with before/after numbers")
    p.add_argument("--from", dest="source", type=Path, required=True, metavar="BUNDLE",
                   help="the bundle to start from (its float weights sit beside it)")
    p.add_argument("--real", type=Path, action="append", metavar="DIR_OR_SET",
                   help="a folder labelled with `digitcam label`, or a set from import-real (repeatable)")
    p.add_argument("--recipe", type=Path, metavar="BUNDLE",
                   help="repeat the fine-tune step recorded in this bundle (steps, learning rate, replay, "
                        "real set) unless a flag says otherwise: make train does this for the shipped model")
    p.add_argument("--out", type=Path, default=Path("runs/finetune"), help="run directory")
    p.add_argument("--steps", type=int, help="training steps (batch 64; default 600)")
    p.add_argument("--learning-rate", type=float, help="peak learning rate (default 3e-4)")
    p.add_argument("--eval-count", type=int, default=500, help="strips per evaluation set")
    p.add_argument("--real-share", type=float, help="share of composed real strips when a real set "
                   "is given (default 0.3)")
    p.add_argument("--replay", metavar="KIND=SHARE,…", type=_mix,
                   help="the synthetic strips replayed beside the real ones (default: the bundle's "
                        "final mix), e.g. printed=0.2,sevenseg=0.3,counter=0.2,handwriting=0.3")
    p.add_argument("--restyle", action="store_true", default=None,
                   help="give composed real strips another polarity or tone curve, so a meter style "
                        "no training meter has is nearer (default: as --recipe records, else off)")
    p.add_argument("--meter-windows", type=float, metavar="SHARE",
                   help="of the replayed counters, the share drawn as a meter's window: touching light "
                        "drums, thin separators (default: as --recipe records, else 0)")
    p.add_argument("--meter-faces", type=float, metavar="SHARE",
                   help="of those meter windows, the share drawn on the meter's face with a mark ('V') "
                        "and a unit ('m³') beside them (default: as --recipe records, else 0)")
    p.add_argument("--face-lines", type=float, metavar="SHARE",
                   help="of those faces, the share with the face's other print (a serial number) above "
                        "or below the window (default: as --recipe records, else 0)")
    p.add_argument("--mnist", metavar="NPZ", help="MNIST in Keras' layout (default: the bundle's)")
    p.set_defaults(handler=cmd_finetune)

    p = tsub.add_parser("finder-report", help="per kind, how many labelled frames the finder loses "
                        "(no candidate region reads right) and how many the choice loses")
    p.add_argument("labels", type=Path, help="labels.csv beside the frames")
    p.add_argument("--model", help="recogniser bundle (default: the bundled one)")
    p.add_argument("--detector", help="strip detector bundle (default: the bundled one)")
    p.set_defaults(handler=cmd_finder_report)

    p = tsub.add_parser("score", help="exact-match accuracy of `digitcam read --json` output")
    p.add_argument("labels", type=Path, help="labels.csv (file,text) as seedset writes")
    p.add_argument("reads", type=Path, help="JSON lines from digitcam read --json")
    p.set_defaults(handler=cmd_score)

    p = tsub.add_parser("samples", help="write labelled sample strips (file name = digits)")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--per-kind", type=int, default=6)
    p.add_argument("--mnist", metavar="NPZ")
    p.add_argument("--seed", type=int, default=424242)
    p.set_defaults(handler=cmd_samples)

    p = tsub.add_parser("scenes", help="write labelled 640x480 frames for testing the pipeline")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--per-kind", type=int, default=100)
    p.add_argument("--empty", type=int, default=50, help="frames with no digits")
    p.add_argument("--words", type=int, default=0,
                   help="frames with a lone word on a panel and no digits (kind 'word')")
    p.add_argument("--plain", type=int, default=0,
                   help="frames with a printed number straight on a flat surface, any size (kind 'plain')")
    p.add_argument("--plain-words", type=int, default=0,
                   help="the same with a lone word, which must read as nothing (kind 'plain-word')")
    p.add_argument("--repeat", type=int, default=1,
                   help="frames per scene, each with fresh sensor noise and a small shake")
    p.add_argument("--mnist", metavar="NPZ")
    p.add_argument("--seed", type=int, default=777)
    p.set_defaults(handler=cmd_scenes)

    p = tsub.add_parser("tesseract", help="Tesseract 5 baseline on a labelled frame folder")
    p.add_argument("labels", type=Path, help="labels.csv written by `trainer scenes`")
    p.add_argument("--psm", type=int, action="append", help="page segmentation mode(s); default 7 and 11")
    p.add_argument("--limit", type=int, default=0)
    p.set_defaults(handler=cmd_tesseract)

    p = tsub.add_parser("preview", help="write a PNG of synthesised training strips")
    p.add_argument("out", type=Path)
    p.add_argument("--mnist", metavar="NPZ")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_preview)
    trainer.set_defaults(handler=lambda a, e: _usage(trainer))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return int(ExitStatus.USAGE)


def _schedule_args(p: argparse.ArgumentParser) -> None:
    """What fixes a run's network and its number of steps (train and speed)."""
    p.add_argument("--config", type=Path, help="JSON training config (keys of TrainConfig)")
    p.add_argument("--samples", dest="train_samples", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)


def _config_args(p: argparse.ArgumentParser) -> None:
    _schedule_args(p)
    p.add_argument("--out", dest="out_dir", help="run directory")
    p.add_argument("--mnist", dest="mnist_path", metavar="NPZ",
                   help="MNIST in Keras' layout (default: Keras' own download)")
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
    try:
        config.check()  # again: a flag can break what the file allowed (--epochs 1 and final_epochs 1)
    except ValueError as exc:
        raise DigitcamError(f"training config: {exc}") from None
    return config


def _mix(text: str) -> dict[str, float]:
    """'printed=0.2,handwriting=0.8' as a mix of kinds."""
    from .synth.strips import KINDS

    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        try:
            mix[kind.strip()] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: expected KIND=SHARE") from None
    unknown = sorted(set(mix) - set(KINDS))
    if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise argparse.ArgumentTypeError(f"kinds are {', '.join(KINDS)} with shares >= 0 and a "
                                         "positive sum")
    return mix


def _check_mnist(path: str | None) -> None:
    if path and not Path(path).is_file():  # "" or None: Keras' own download
        raise DigitcamError(f"{path}: MNIST file not found")


def cmd_train(args: argparse.Namespace, env: Any) -> int:
    config = _resolve_config(args)
    _check_mnist(config.mnist_path)
    if config.real_path and not Path(config.real_path).is_file():
        raise DigitcamError(f"{config.real_path}: real-crop set not found; make it from a local "
                            "snapshot with `digitcam trainer import-real DIR` (make real-data)")
    if config.real_path:
        from .real import RealSet

        RealSet.for_training(config.real_path)
    _log_to_run_dir(config.out_dir)
    if args.train_only:
        from .train import train

        with contextlib.redirect_stdout(sys.stderr):
            best = train(config)
        print(best, file=env.stdout)
        return 0
    from .pipeline import run

    # Keras prints its progress to stdout; stdout is for the result JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        metrics = run(config)
    print(json.dumps({"bundle": str(Path(config.out_dir) / "bundle" / f"{config.name}.json"),
                      "int8": {k: v["exact"] for k, v in metrics["int8"].items()},
                      "float": {k: v["exact"] for k, v in metrics["float"].items()}}, indent=2),
          file=env.stdout)
    return 0


def cmd_speed(args: argparse.Namespace, env: Any) -> int:
    if args.steps < 1:
        raise DigitcamError("--steps must be at least 1")
    config = _resolve_config(args)
    from .speed import time_steps

    timing = time_steps(config, steps=args.steps)
    if args.json:
        print(json.dumps(timing.to_dict()), file=env.stdout)
        return 0
    print(f"{timing.parameters:,} parameters, batch {timing.batch_size}: "
          f"{timing.seconds_per_step:.3f} s a step (median of {args.steps}; "
          f"{timing.fastest:.3f}-{timing.slowest:.3f}), so {timing.steps_per_run:,} steps "
          f"({config.train_samples:,} strips x {config.epochs} epochs) take "
          f"{timing.training_minutes:.0f} min of training here, before synthesis, export and "
          "evaluation", file=env.stdout)
    return 0


def cmd_detector(args: argparse.Namespace, env: Any) -> int:
    from .detector import DetectorConfig, tiny
    from .synth.scenes import SceneOptions

    config = tiny(DetectorConfig()) if args.tiny else DetectorConfig()
    for key in ("out_dir", "mnist_path", "train_scenes", "epochs", "workers", "seed", "plain_share",
                "plain_word_share"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(config, key, value)
    config.scenes = SceneOptions(backlit=args.backlit_panels, by_height_share=args.by_height,
                                 big_words=args.big_words, meter_faces=args.meter_faces)
    for flag, share in (("--by-height", config.scenes.by_height_share),
                        ("--meter-faces", config.scenes.meter_faces), ("--plain", config.plain_share),
                        ("--plain-words", config.plain_word_share)):
        if not 0.0 <= share <= 1.0:
            raise DigitcamError(f"{flag} is a share: between 0 and 1, not {share:g}")
    _check_mnist(config.mnist_path)
    _log_to_run_dir(config.out_dir)
    from .detector import train

    with contextlib.redirect_stdout(sys.stderr):
        path, metrics = train(config)
    if args.ship:
        from .ship import ship

        ship(path.with_suffix(".json"))
    print(json.dumps({"bundle": str(path.with_suffix(".json")), "shipped": args.ship, **metrics},
                     indent=2), file=env.stdout)
    return 0


def cmd_quantize(args: argparse.Namespace, env: Any) -> int:
    from .config import run_config
    from .pipeline import export

    config = run_config(args.run_dir)
    config.out_dir = str(args.run_dir)
    best = args.run_dir / "checkpoints" / "best.keras"
    if not best.is_file():
        raise DigitcamError(f"{best}: no trained model in this run")
    int8_path, float_path, _ = export(config, best)
    print(int8_path, float_path, sep="\n", file=env.stdout)
    return 0


def cmd_evaluate(args: argparse.Namespace, env: Any) -> int:
    from .config import run_config
    from .pipeline import evaluate_run

    config = run_config(args.run_dir)
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
    from .ship import DEVICE_MODELS, run_bundle, ship

    to = args.to or DEVICE_MODELS
    print(ship(run_bundle(args.run_dir), to).line(to), file=env.stdout)
    return 0


def cmd_seedset(args: argparse.Namespace, env: Any) -> int:
    from .datasets import write_seedset

    _check_mnist(args.mnist)
    written = write_seedset(args.out_dir, args.mnist, invert=args.invert)
    print(f"wrote {written} strips to {args.out_dir}", file=env.stdout)
    return 0


def cmd_import_real(args: argparse.Namespace, env: Any) -> int:
    from .real import import_real

    source = {k: v for k, v in (("repo", args.repo), ("commit", args.commit),
                                ("licence", args.licence)) if v}
    try:
        re.compile(args.meter_from_name or "")
    except re.error as exc:
        raise DigitcamError(f"--meter-from-name {args.meter_from_name!r}: {exc}") from None
    path = import_real(args.dirs, args.out, source, args.held_out, label_from=args.label_from,
                       meter_from_name=args.meter_from_name, measure_only=args.measure_only)
    manifest = json.loads(path.with_suffix(".json").read_text())
    print(json.dumps({"set": str(path), "version": manifest["version"], "crops": manifest["crops"],
                      "split": manifest["split"], "held_out_meters": manifest["held_out_meters"],
                      "skipped": manifest["skipped"]}, indent=2), file=env.stdout)
    return 0


def cmd_real_strips(args: argparse.Namespace, env: Any) -> int:
    from .evaluate import real_sets, write_sets
    from .real import RealSet

    written = write_sets(real_sets(RealSet.load(args.real_set), args.count), args.out_dir)
    print(f"wrote {written} strips to {args.out_dir}", file=env.stdout)
    return 0


def cmd_crop_report(args: argparse.Namespace, env: Any) -> int:
    from .crop_report import crop_report

    print(json.dumps(crop_report(args.real_set, args.model, args.split), indent=2), file=env.stdout)
    return 0


def cmd_import_photos(args: argparse.Namespace, env: Any) -> int:
    from .real import import_photos

    written = import_photos(args.table, args.images, args.out_dir, image_column=args.image_column,
                            value_column=args.value_column, decimals=args.decimals, kind=args.kind,
                            delimiter=args.delimiter)
    print(f"wrote {written} labelled photos to {args.out_dir}", file=env.stdout)
    return 0 if written else int(ExitStatus.BAD_INPUT)


def cmd_import_windows(args: argparse.Namespace, env: Any) -> int:
    from .window_import import import_windows

    summary = import_windows(args.labels, args.images, args.windows_out, args.photos_out, kind=args.kind)
    print(json.dumps(summary, indent=2), file=env.stdout)
    return 0


def cmd_finetune(args: argparse.Namespace, env: Any) -> int:
    """One fine-tune step, or with --recipe the steps a bundle records, each from the last."""
    from .finetune import finetune_steps, recorded_steps

    steps = recorded_steps(args.recipe) if args.recipe is not None else [{}]
    _check_mnist(args.mnist)
    _log_to_run_dir(str(args.out))
    with contextlib.redirect_stdout(sys.stderr):
        summary = finetune_steps(args.source, steps, args.out, real=args.real, count=args.steps,
                                 learning_rate=args.learning_rate, eval_count=args.eval_count,
                                 mnist_path=args.mnist, replay_kinds=args.replay,
                                 real_share=args.real_share, restyle=args.restyle,
                                 meter_windows=args.meter_windows, meter_faces=args.meter_faces,
                                 face_lines=args.face_lines)
    print(json.dumps(summary, indent=2), file=env.stdout)
    return 0


def cmd_finder_report(args: argparse.Namespace, env: Any) -> int:
    from .finder_report import report

    print(json.dumps(report(args.labels, args.model, args.detector), indent=2), file=env.stdout)
    return 0


def cmd_score(args: argparse.Namespace, env: Any) -> int:
    from .scoring import score

    result = score(args.labels, args.reads)
    print(json.dumps(result), file=env.stdout)
    return 0 if result["missing"] == 0 else int(ExitStatus.BAD_INPUT)


def cmd_scenes(args: argparse.Namespace, env: Any) -> int:
    from .datasets import write_scenes

    _check_mnist(args.mnist)
    total = write_scenes(args.out_dir, args.mnist, per_kind=args.per_kind, empty=args.empty,
                         words=args.words, repeat=args.repeat, seed=args.seed, plain=args.plain,
                         plain_words=args.plain_words)
    print(f"wrote {total} frames to {args.out_dir}", file=env.stdout)
    return 0


def cmd_preview(args: argparse.Namespace, env: Any) -> int:
    from .datasets import write_preview

    write_preview(args.out, args.mnist, seed=args.seed)
    print(args.out, file=env.stdout)
    return 0


def cmd_samples(args: argparse.Namespace, env: Any) -> int:
    from .datasets import write_samples

    _check_mnist(args.mnist)
    written = write_samples(args.out_dir, args.mnist, per_kind=args.per_kind, seed=args.seed)
    print(f"wrote {written} strips to {args.out_dir}", file=env.stdout)
    return 0


def cmd_tesseract(args: argparse.Namespace, env: Any) -> int:
    from .baseline import run

    try:
        for psm in args.psm or [7, 11]:
            print(json.dumps(run(args.labels, psm, args.limit)), file=env.stdout)
    except FileNotFoundError as exc:
        raise DigitcamError(str(exc)) from None
    return 0


def _log_to_run_dir(out_dir: str) -> None:
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(out_dir) / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
