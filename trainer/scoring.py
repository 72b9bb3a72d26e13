"""Score `digitcam read --json` output against a labels.csv, the way every check here does.

A labels.csv has ``file`` and ``text`` columns, and optionally:
- ``kind``: scores are also given per kind;
- ``accept``: per digit the digits accepted there, ``|``-separated ("0|12|3": a roller
  digit caught between 1 and 2 reads as either), for real roller strips;
- ``decimals``: the label is the display's value in whole units and the display shows this
  many decimals, or one of a range ("1-2": a set of photos from pumps that show one or two,
  whose labels do not say which); some labels round ("67.96" is 68), some cut ("139.57" is
  139), so a read is right when, for one of those decimals, its value is at most half a unit
  below the label and less than one above, and it shows more digits than the decimals.
  The digits after the point cannot be checked against such a label, so with a range a
  two-decimal display read with one decimal digit dropped counts as right: the range is
  the honest rule when the labels leave it open, the single count the stricter one.
Frames labelled '' (no digits) are right only when nothing is read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from digitcam.device.errors import DigitcamError

from .real import matches


def parse_decimals(text: str) -> range:
    """'2' -> range(2, 3); '1-2' -> range(1, 3); '' -> range(0, 1)."""
    low, _, high = (text or "0").partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise DigitcamError(f"decimals {text!r}: expected a count (2) or a range (1-2)") from None
    if not 0 <= first <= last <= 9:
        raise DigitcamError(f"decimals {text!r}: expected counts 0-9, the smaller first")
    return range(first, last + 1)


def is_right(text: str, row: dict[str, str]) -> bool:
    if row.get("accept"):
        return matches(text, row["accept"].split("|"))
    decimals = parse_decimals(row.get("decimals") or "")
    if decimals != range(0, 1) and row["text"]:
        label = float(row["text"])
        return any(len(text) > d and label - 0.5 <= int(text) / 10 ** d < label + 1 for d in decimals)
    return text == row["text"]


def score(labels: Path, reads: Path) -> dict[str, Any]:
    """{'n', 'missing', 'exact'[, 'kinds']}: exact match over the frames with digits."""
    with labels.open(newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    per_kind: dict[str, list[bool]] = {}
    digits: list[bool] = []  # frames whose truth has digits
    seen = 0
    for line in reads.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        row = rows.get(Path(record["path"]).name)
        if row is None:
            continue
        seen += 1
        hit = is_right(record["text"], row)
        per_kind.setdefault(row.get("kind") or "all", []).append(hit)
        if row["text"]:
            digits.append(hit)
    if seen == 0:
        raise DigitcamError(f"{reads}: no reads match the files in {labels}")
    hits = [h for v in per_kind.values() for h in v]
    result: dict[str, Any] = {"n": seen, "missing": len(rows) - seen,
                              "exact": round(sum(digits or hits) / max(1, len(digits or hits)), 4)}
    if len(per_kind) > 1:
        result["kinds"] = {k: {"n": len(v), "exact": round(sum(v) / len(v), 4)}
                           for k, v in sorted(per_kind.items())}
    return result
