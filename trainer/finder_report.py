"""Where whole frames are lost: the finder (no candidate region reads right) or the rest
(some candidate reads right, but the frame reader chose another, or read nothing sure).

Every candidate the device's frame reader could read is read: the strip detector's
boxes at both crops, the insides of display windows, and the detector's closer looks
inside those regions (and their cuts for a counter line). A frame is

- ``read``: the frame reader's own answer is right;
- ``chosen wrong``: some candidate reads it right, the answer is not;
- ``finder``: no candidate reads it right: the finder did not give the recogniser a
  region it reads (no region on the digits, or one the recogniser misreads: this
  counts both, and says how often no candidate was proposed at all).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from digitcam.device.config import config_from
from digitcam.device.errors import InputError
from digitcam.device.geometry import rectify
from digitcam.device.pipeline import build_pipeline
from digitcam.device.read_command import load_grey

from .scoring import is_right

logger = logging.getLogger(__name__)


def report(labels: Path, model: str | None = None, detector: str | None = None) -> dict[str, Any]:
    # `digitcam read`'s pipeline: the one builder, each image on its own (no tracking).
    region = {"track_every": 0, "detector": detector or ""}
    pipeline = build_pipeline(config_from({"model": {"path": model or ""}, "region": region},
                                          "trainer finder-report"))
    recognizer, reader = pipeline.recognizer, pipeline.reader
    with labels.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["text"]]
    per_kind: dict[str, Counter[str]] = {}
    for row in rows:
        try:  # decoded as `digitcam read` decodes it (straight to grey), so "read" is its score
            grey = load_grey(labels.parent / row["file"])
        except InputError as exc:
            logger.warning("skipped: %s", exc)
            continue
        found = reader.finder.find(grey)
        groups = list(found)
        if reader.windows is not None:
            groups += reader.windows.find(grey)
        cuts: list[list[Any]] = []
        if reader.zoom is not None:  # as if nothing read 0.9 sure; around the finder's regions only
            closer = reader.zoom.around(grey, [group[0] for group in found])
            groups += closer
            cuts = reader.zoom.line_cuts(closer)
        quads = [q for group in groups for q in group]
        cut_quads = [q for group in cuts for q in group]
        any_right = (any(is_right(recognizer.read(rectify(grey, q)).text, row) for q in quads)
                     or any(is_right(text := recognizer.read(rectify(grey, q)).text, row)
                            and len(text) >= reader.zoom.line_digits for q in cut_quads))
        answer = reader.read(grey).text
        outcome = ("read" if is_right(answer, row) else "chosen wrong" if any_right
                   else "finder: nothing proposed" if not quads else "finder: no candidate reads it")
        per_kind.setdefault(row.get("kind") or "all", Counter())[outcome] += 1
    return {kind: {k: round(v / sum(c.values()), 4) for k, v in sorted(c.items())} | {"n": sum(c.values())}
            for kind, c in sorted(per_kind.items())}
