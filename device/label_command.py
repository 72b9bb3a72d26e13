"""``digitcam label DIR``: confirm or correct the strips the daemon archived, quickly.

A terminal flow, so it works over ssh on the Pi itself: each strip is drawn in the
terminal with half-block characters (two pixel rows a character, 24-bit grey), what
the model read is shown, and one keystroke line answers it:

- Enter: the reading is right;  digits: what the strip really says;
- ``-``: the strip holds no digits;  ``s``: skip it;  ``q``: stop (answers are kept).

Answers go to ``DIR/labels.csv`` (``file,text,read,confidence``) one line at a time,
flushed, so an interrupted session loses nothing and a second run carries on where
the first stopped. Least confident strips come first: they teach the model most.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from .errors import DigitcamError
from .sinks.archive import INDEX

if TYPE_CHECKING:
    from .cli import Env

LABELS = "labels.csv"
COLUMNS = ("file", "text", "read", "confidence")
STRIP_SUFFIXES = (".png", ".jpg", ".jpeg")
ANSWER = re.compile(r"^(|\d{1,10}|-|s|q)$")
SHOW_COLUMNS = 64  # terminal characters across a drawn strip


@dataclass(frozen=True)
class Pending:
    file: str
    read: str
    confidence: float


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("label", help="confirm or correct archived strips, for fine-tuning")
    p.add_argument("folder", type=Path, help="an archive folder ([archive] dir under state_dir)")
    p.add_argument("--order", choices=("confidence", "time"), default="confidence",
                   help="least confident first (default) or oldest first")
    p.add_argument("--no-image", action="store_true", help="do not draw the strips (file names only)")
    p.set_defaults(handler=run)


def pending(folder: Path, order: str = "confidence") -> list[Pending]:
    """Strips in ``folder`` not yet in its labels.csv, with what the daemon read."""
    if not folder.is_dir():
        raise DigitcamError(f"{folder}: no such archive folder")
    done: set[str] = set()
    if (folder / LABELS).is_file():
        with (folder / LABELS).open(newline="") as fh:
            done = {row["file"] for row in csv.DictReader(fh)}
    index: dict[str, dict[str, object]] = {}
    if (folder / INDEX).is_file():
        for line in (folder / INDEX).read_text().splitlines():
            try:
                record = json.loads(line)
                index[str(record["file"])] = record
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a power loss
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in STRIP_SUFFIXES or path.name in done:
            continue
        record = index.get(path.name, {})
        # Without an index line, the archive's file name ends in what was read.
        read = str(record.get("text", path.stem.rsplit("_", 1)[-1] if "_" in path.stem else ""))
        items.append(Pending(path.name, read, float(record.get("confidence", 0.0))))  # type: ignore[arg-type]
    if order == "confidence":
        items.sort(key=lambda p: p.confidence)
    return items


def draw(image: npt.NDArray[np.uint8], columns: int = SHOW_COLUMNS) -> str:
    """The grey image as lines of '▀': foreground the upper pixel, background the lower."""
    h, w = image.shape[:2]
    rows = max(2, round(h * columns / max(w, 1) / 2) * 2)
    small = cv2.resize(image, (columns, rows), interpolation=cv2.INTER_AREA)
    lines = []
    for y in range(0, rows, 2):
        cells = [f"\x1b[38;2;{t};{t};{t}m\x1b[48;2;{b};{b};{b}m▀"
                 for t, b in zip(small[y].tolist(), small[y + 1].tolist(), strict=True)]
        lines.append("".join(cells) + "\x1b[0m")
    return "\n".join(lines)


def run(args: argparse.Namespace, env: Env) -> int:
    folder: Path = args.folder
    items = pending(folder, args.order)
    if not items:
        print(f"nothing to label in {folder}", file=env.stdout)
        return 0
    labels_path = folder / LABELS
    new_file = not labels_path.is_file()
    counts = {"confirmed": 0, "corrected": 0, "no digits": 0, "skipped": 0}
    with labels_path.open("a", newline="") as out:
        writer = csv.writer(out)
        if new_file:
            writer.writerow(COLUMNS)
        for n, item in enumerate(items, 1):
            answer = _ask(env, folder, item, n, len(items), not args.no_image)
            if answer is None or answer == "q":
                break
            if answer == "s":
                counts["skipped"] += 1
                continue
            text = item.read if answer == "" else "" if answer == "-" else answer
            key = "no digits" if answer == "-" else "confirmed" if text == item.read else "corrected"
            counts[key] += 1
            writer.writerow([item.file, text, item.read, f"{item.confidence:.4f}"])
            out.flush()
            os.fsync(out.fileno())
    labelled = counts["confirmed"] + counts["corrected"] + counts["no digits"]
    print(f"labelled {labelled} ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
          f"{len(items) - labelled - counts['skipped']} left; labels in {labels_path}", file=env.stdout)
    return 0


def _ask(env: Env, folder: Path, item: Pending, n: int, total: int, show: bool) -> str | None:
    """One answer, asked again until it is one; None at the end of the input."""
    if show:
        image = cv2.imread(str(folder / item.file), cv2.IMREAD_GRAYSCALE)
        if image is not None:
            print(draw(np.asarray(image, np.uint8)), file=env.stdout)
    shown = item.read or "nothing"
    print(f"[{n}/{total}] {item.file}: read {shown} ({item.confidence:.2f})", file=env.stdout)
    while True:
        print("Enter = right, digits = correct it, - = no digits, s = skip, q = quit > ",
              end="", file=env.stdout, flush=True)
        line = env.stdin.readline()
        if not line:  # the end of the input
            return None
        answer = line.strip()
        if ANSWER.match(answer):
            return answer
        print(f"'{answer}' is not an answer: up to 10 digits, -, s or q", file=env.stdout)
