"""Which real meters, and which roller states, a recogniser misreads: every crop of a real
set's split read on its own, counted per meter and per tenths of a roll.

A strip check (`trainer real-strips` + `read` + `score`) says how often strips of held-out
meters read right; this says where the misses come from. One held-out water meter made
three quarters of the shipped model's held-out roller errors (BENCHMARKS.md, session 28).

Each crop is read as a lone window: 48 px tall, padded by half its width left and right
with its own edge rows (a strip's margin, as the reader sees one), through
`Recognizer.read_grey`.
An error is one of

- ``neighbour``: the other of the two digits a turning drum shows;
- ``third``: one digit that is neither;
- ``empty``: nothing read;
- ``long``: more than one digit read from one window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from digitcam.device.recognizer import Recognizer

from .real import RealSet, roller_label

READ_HEIGHT = 48


def error_kind(read: str, digit: int, want: int) -> str | None:
    """None when ``read`` is right, else which way it is wrong (module docstring)."""
    if read == str(want):
        return None
    if not read:
        return "empty"
    if len(read) > 1:
        return "long"
    return "neighbour" if read in (str(digit), str((digit + 1) % 10)) else "third"


@dataclass
class _Tally:
    crops: int = 0
    right: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, wrong: str | None) -> None:
        self.crops += 1
        if wrong:
            self.errors[wrong] += 1
        else:
            self.right += 1

    def as_dict(self) -> dict[str, Any]:
        return {"crops": self.crops, "exact": round(self.right / self.crops, 4) if self.crops else None,
                "errors": dict(self.errors)}


def crop_report(real_set: Path, model: str | None = None, split: str = "held-out") -> dict[str, Any]:
    """Per meter and, over the rollers, per tenths: crops read, the share read right, and
    the errors by kind. Crops at an exact half (either digit is right) are left out."""
    real = RealSet.load(real_set)
    recognizer = Recognizer(model)
    overall, per_meter, per_tenths = _Tally(), defaultdict(_Tally), defaultdict(_Tally)
    for i in real.crops(split):
        digit, tenths = int(real.digits[i]), int(real.tenths[i])
        want = roller_label(digit, tenths)
        if want is None:
            continue
        width = max(4, round(READ_HEIGHT * float(real.aspects[i])))
        crop = cv2.resize(real.images[i], (width, READ_HEIGHT), interpolation=cv2.INTER_AREA)
        crop = cv2.copyMakeBorder(crop, 0, 0, width // 2, width // 2, cv2.BORDER_REPLICATE)
        wrong = error_kind(recognizer.read_grey(crop).text, digit, want)
        meter = int(real.meter_index[i])
        overall.add(wrong)
        per_meter[meter].add(wrong)
        if real.meter_kinds[meter] == "roller":  # tenths -1: at rest, no tenths given
            per_tenths[tenths].add(wrong)
    meters = [{"meter": real.meters[m], "kind": real.meter_kinds[m], **per_meter[m].as_dict()}
              for m in sorted(per_meter)]
    return {"set": str(real_set), "model": recognizer.sha256[:12], "split": split,
            **overall.as_dict(), "meters": meters,
            "tenths": {str(t): per_tenths[t].as_dict() for t in sorted(per_tenths)}}
