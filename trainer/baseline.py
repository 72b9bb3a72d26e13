"""Tesseract 5 on the same frames, as the baseline digitcam is compared with.

Tesseract runs as its command-line program (what pytesseract does too), single
threaded (OMP_THREAD_LIMIT=1) like our bench, with a digits whitelist; its
latency is the wall time of one call, process start included, as a user pays it.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any


def tesseract_read(path: Path, psm: int) -> tuple[str, float]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    started = time.monotonic()
    result = subprocess.run(
        ["tesseract", str(path), "stdout", "--psm", str(psm), "-l", "eng",
         "-c", "tessedit_char_whitelist=0123456789"],
        capture_output=True, text=True, env=env, check=False)
    elapsed = (time.monotonic() - started) * 1000.0
    digits = "".join(ch for ch in result.stdout if ch.isdigit())
    return digits, elapsed


def run(labels_csv: Path, psm: int, limit: int = 0) -> dict[str, Any]:
    if shutil.which("tesseract") is None:
        raise FileNotFoundError("tesseract is not installed (apt install tesseract-ocr)")
    with labels_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if limit:
        rows = rows[:limit]
    per_kind: dict[str, list[bool]] = {}
    times = []
    for row in rows:
        text, ms = tesseract_read(labels_csv.parent / row["file"], psm)
        times.append(ms)
        per_kind.setdefault(row.get("kind") or "all", []).append(text == row["text"])
    digits = [h for k, v in per_kind.items() if k != "none" for h in v]
    return {
        "psm": psm, "n": len(rows),
        "exact": round(sum(digits) / max(1, len(digits)), 4),
        "kinds": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_kind.items())},
        "latency_ms": {"p50": round(statistics.median(times), 1),
                       "p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1)},
    }
