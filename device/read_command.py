"""``digitcam read``: digits from image files, one result a line."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from .capture.replay import image_files
from .config import FINDERS, RegionConfig
from .errors import DigitcamError, ExitStatus, InputError
from .preprocess import silence_opencv
from .profiling import LOAD, TOTAL, LatencyProfile

if TYPE_CHECKING:
    from .cli import Env

# --json: the path, then these fields of the reading's record (reading.py).
JSON_FIELDS = ("text", "confidence", "digit_confidences", "quad", "latency_ms")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("read", help="read digits from image files or folders",
                       description="Read the digit string in each image. Folders are read in "
                                   "sorted order (image files only).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image file or folder")
    p.add_argument("--roi", default="auto", metavar="auto|full|X,Y,W,H",
                   help="where the strip is: found automatically (auto, default), the whole "
                        "image (full), or a rectangle")
    p.add_argument("--model", metavar="PATH", help="model bundle (.json or .tflite); "
                                                   "default: the bundled model")
    p.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    p.add_argument("--finder", default="learned", choices=FINDERS,
                   help="--roi auto: the learned strip detector (default) or classical edge blobs")
    p.add_argument("--detector", metavar="PATH", help="strip detector bundle (default: the bundled one)")
    p.add_argument("--no-windows", dest="windows", action="store_false",
                   help="--roi auto: do not read display windows")
    p.add_argument("--no-zoom", dest="zoom", action="store_false",
                   help="--roi auto: do not look again closer inside the detector's regions")
    p.add_argument("--no-fallback", dest="fallback", action="store_false",
                   help="--roi auto: do not read the classical edge blobs when nothing else read")
    p.add_argument("--min-confidence", type=float, default=RegionConfig.min_confidence, metavar="C",
                   help="--roi auto: a best found strip below this confidence (0..1) reads as no "
                        f"digits (region.min_confidence, default {RegionConfig.min_confidence})")
    p.add_argument("--expected-digits", type=int, default=0, metavar="N",
                   help="the meter shows exactly N digits: regions read with another count are passed "
                        "over (stabiliser.expected_digits; default 0 = any)")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.add_argument("--stats", action="store_true",
                   help="finish with a latency table (p50/p95/p99/max per stage)")
    p.set_defaults(handler=run)


def parse_roi(spec: str) -> str | tuple[int, int, int, int]:
    """'auto', 'full', or (x, y, w, h)."""
    if spec in ("auto", "full"):
        return spec
    try:
        x, y, w, h = (int(v) for v in spec.split(","))
    except ValueError:
        raise DigitcamError(f"--roi {spec!r}: expected auto, full or X,Y,W,H") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise DigitcamError(f"--roi {spec!r}: X and Y must be >= 0, W and H >= 1")
    return x, y, w, h


def expand(paths: list[str]) -> Iterator[Path]:
    """Files as given; folders as their image files in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from image_files(path)
        else:
            yield path


def load_grey(path: Path) -> npt.NDArray[np.uint8]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return image  # type: ignore[return-value]


def crop(image: npt.NDArray[np.uint8], roi: str | tuple[int, int, int, int],
         path: Path) -> npt.NDArray[np.uint8]:
    if isinstance(roi, str):
        return image
    x, y, w, h = roi
    if x + w > image.shape[1] or y + h > image.shape[0]:
        raise InputError(f"{path}: --roi {x},{y},{w},{h} lies outside the "
                         f"{image.shape[1]}x{image.shape[0]} image")
    return image[y:y + h, x:x + w]


def run(args: argparse.Namespace, env: Env) -> int:
    from .config import config_from
    from .pipeline import build_pipeline
    from .reading import Reading

    silence_opencv()
    roi = parse_roi(args.roi)
    if not 0 <= args.expected_digits <= 10:
        raise DigitcamError(f"--expected-digits {args.expected_digits}: a count of digits, 0 (any) to 10")
    # Each image is independent: no tracking. The rest is the daemon's pipeline.
    config = config_from({"model": {"path": args.model or "", "threads": args.threads},
                          "region": {"finder": args.finder, "detector": args.detector or "",
                                     "windows": args.windows, "zoom": args.zoom, "fallback": args.fallback,
                                     "track_every": 0,
                                     "min_confidence": args.min_confidence},
                          "stabiliser": {"expected_digits": args.expected_digits}}, "digitcam read")
    pipeline = build_pipeline(config, full_frame=roi != "auto")
    paths = list(expand(args.paths))
    profile = LatencyProfile(window=max(2, len(paths)))
    failed = 0
    for path in paths:
        started = time.monotonic()
        try:
            image = crop(load_grey(path), roi, path)
        except InputError as exc:
            print(f"digitcam: {exc}", file=env.stderr)
            failed += 1
            continue
        load_ms = (time.monotonic() - started) * 1000.0
        result = pipeline.reader.read(image)
        latency = {LOAD: load_ms, **result.latency_ms}
        latency[TOTAL] += load_ms
        profile.record(latency, time.monotonic())
        if args.json:
            record = Reading.of(replace(result, latency_ms=latency)).to_dict()
            print(json.dumps({"path": str(path), **{k: record[k] for k in JSON_FIELDS}}), file=env.stdout)
        else:
            print(f"{path}\t{result.text or '-'}\t{result.confidence:.3f}\t"
                  f"{latency[TOTAL]:.2f} ms", file=env.stdout)
    if args.stats and profile.frames:
        recognizer = pipeline.recognizer
        print(f"\n{profile.frames} image(s), model {recognizer.meta.tflite_path.name} "
              f"({recognizer.sha256[:12]}), runtime {recognizer.runtime}, loaded in "
              f"{recognizer.load_ms:.1f} ms\n{profile.table()}", file=env.stdout)
    return int(ExitStatus.BAD_INPUT if failed else ExitStatus.OK)
