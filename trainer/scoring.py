"""Score `digitcam read --json` output against a labels.csv, the way every check here does.

A labels.csv has ``file`` and ``text`` columns, and optionally:
- ``kind``: scores are also given per kind;
- ``accept``: per digit the digits accepted there, ``|``-separated ("0|12|3": a roller
  digit caught between 1 and 2 reads as either), for real roller strips;
- ``decimals``: the label is the display's value in whole units and the display shows this
  many decimals; some labels round ("67.96" is 68), some cut ("139.57" is 139), so a read is
  right when its value is at most half a unit below the label and less than one above, and
  it shows more digits than the decimals.
Frames labelled '' (no digits) are right only when nothing is read.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from digitcam.device.errors import DigitcamError

from .real import matches


def is_right(text: str, row: dict[str, str]) -> bool:
    if row.get("accept"):
        return matches(text, row["accept"].split("|"))
    decimals = int(row.get("decimals") or 0)
    if decimals and row["text"]:
        value, label = int(text) / 10 ** decimals if len(text) > decimals else -1.0, float(row["text"])
        return label - 0.5 <= value < label + 1
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
