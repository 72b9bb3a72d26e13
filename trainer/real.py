"""Real camera crops of meter digits: import a local snapshot once, compose strips from it.

``import_real`` walks folders of single-digit crops (the layout of
haverland/Tenth-of-step-of-a-meter-digit's ``images/collected``: one folder per
meter, the label at the start of each file name, ``3.7_…`` for a roller digit
seven tenths of the way from 3 to 4, or a folder named by the label) and writes
one cached, versioned ``.npz`` with a manifest beside it. Nothing is downloaded:
the snapshot is whatever the user has on disk.

The held-out split is by meter, never by image: a meter's crops are all in
training or all held out, so the real numbers say how a meter the model never
saw reads. Strips are composed from crops of one meter (and some of several
meters of the same kind: digits in separate windows of different colours).

Roller digits between two values are labelled with the digit further in the
window (``d.t`` reads ``d`` for t ≤ 4 and ``d+1`` for t ≥ 6); exact halves
(t = 5) are left out of training and scored as right if either digit is read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from digitcam.device.errors import DigitcamError

from .synth.camera import photograph
from .synth.common import Rng

logger = logging.getLogger(__name__)

FORMAT = 1
CROP_H, CROP_W = 48, 32  # every crop stored at this size; its own aspect is kept beside it
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# "3.7_abc.jpg", "3_abc.jpg", "0 - 0_1.jpg", "0-1.jpg": the digit (and tenths) lead the name.
NAME_LABEL = re.compile(r"^(\d)(?:\.(\d))?(?=[^\d.]|\.[A-Za-z]+$)")
DIR_LABEL = re.compile(r"^(\d)(?:\.(\d))?$")
HELD_OUT_SHARE = 0.2  # of the meters (by a hash of their name), never of the images
# For haverland/Tenth-of-step-of-a-meter-digit the held-out meters are named, chosen before any
# model read them: makers and owners that appear nowhere else in the snapshot, about an eighth
# of its roller crops and a third of its LCD crops. Never held out: 'new' (crops from unnamed
# meters, May-June 2022, possibly the 'iotson' meters of the same weeks) and 'iotson'.
KNOWN_HELD_OUT = ("powermeter/landisgyrmm2600jh", "powermeter/heliowatt/ikn", "powermeter/unknown/timm",
                  "watermeter/wassergeraetegmbh", "watermeter/altair/alkr", "watermeter/jvi",
                  "gasmeter/rockberte", "lcd2", "watermeter/watermeterlcd")
HALF = 5  # a roller digit this many tenths in is between its two values
STILL_TENTHS = (-1, 0)  # a digit at rest in its window (-1: a display, or no tenths given)
REAL_KINDS = ("roller", "lcd")


@dataclass(frozen=True)
class RealSet:
    """The imported crops: ``images`` (N, CROP_H, CROP_W) grey, and per crop its digit,
    tenths (-1: a still digit), aspect (width/height), meter index and split."""

    images: npt.NDArray[np.uint8]
    digits: npt.NDArray[np.int8]
    tenths: npt.NDArray[np.int8]
    aspects: npt.NDArray[np.float32]
    meter_index: npt.NDArray[np.int16]
    meters: list[str]
    meter_kinds: list[str]
    held_out: npt.NDArray[np.bool_]  # per meter
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> RealSet:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            manifest = json.loads(path.with_suffix(".json").read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise DigitcamError(f"{path}: not a real-crop set written by `digitcam trainer "
                                f"import-real` ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise DigitcamError(f"{path}: real-crop set format {manifest.get('format')}, "
                                f"this trainer reads {FORMAT}")
        return cls(arrays["images"], arrays["digits"], arrays["tenths"], arrays["aspects"],
                   arrays["meter_index"], list(manifest["meters"]), list(manifest["meter_kinds"]),
                   arrays["held_out"], manifest)

    @classmethod
    def for_training(cls, path: str | Path) -> RealSet:
        """``load``, refusing a set with nothing to train on: one imported measure-only
        (a snapshot that states no licence) or with every meter held out."""
        loaded = cls.load(path)
        if not loaded.crops("train").size:
            why = "measure only: its snapshot states no licence" if loaded.manifest.get("measure_only") \
                else "every meter is held out"
            raise DigitcamError(f"{path}: no crops to train on ({why})")
        return loaded

    def crops(self, split: str, kind: str | None = None) -> npt.NDArray[np.intp]:
        """Indices of the crops in ``split`` ('train' or 'held-out'), of ``kind`` if given."""
        meter_held = self.held_out[self.meter_index]
        mask = meter_held if split == "held-out" else ~meter_held
        if kind is not None:
            kinds = np.array(self.meter_kinds)[self.meter_index]
            mask &= kinds == kind
        return np.flatnonzero(mask)


def meter_kind(meter: str) -> str:
    """LCD and seven-segment displays apart from roller counters: they fail differently."""
    name = meter.lower()
    # jomjol's "digital counter" is a roller counter (its digits, not its display, are digital).
    return "lcd" if "lcd" in name or ("digital" in name and "counter" not in name) else "roller"


def meter_name(relative_dir: Path) -> str:
    """Which physical meter a folder holds: a date folder or date suffix names a session
    of the same meter ('ISKRA T3F-01S1/20230626', 'ISKRA.T3F-01S1_20250630'), so it is
    dropped, and punctuation is folded, or one meter would sit on both sides of the split."""
    parts = [p for p in relative_dir.parts if not re.fullmatch(r"\d{6,8}|\d{1,2}", p)]
    parts = [re.sub(r"[_ ]?\d{8}$", "", p) for p in parts if p]
    parts = [re.sub(r"[^a-z0-9]+", "", p.lower()) for p in parts]
    # Type/maker/owner is where a meter's name ends: deeper folders are capture sessions.
    return "/".join(p for p in parts[:3] if p) or "root"


def parse_label(path: Path, label_from: str = "name") -> tuple[int, int] | None:
    """(digit, tenths) from the file name or, failing that, the folder; tenths -1 when none.
    ``label_from="folder"``: the folder only, for layouts whose names start with something
    else (ardiloot/meter-digits-recognizer: ``images/7/3_hot_water_meter_….jpg`` is a 7 in
    the meter's fourth window)."""
    name = None if label_from == "folder" else NAME_LABEL.match(path.name)
    m = name or DIR_LABEL.match(path.parent.name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else -1


def roller_label(digit: int, tenths: int) -> int | None:
    """The digit a strip's label carries for this crop; None for an exact half."""
    if tenths < 0 or tenths < HALF:
        return digit
    if tenths == HALF:
        return None
    return (digit + 1) % 10


def _is_held_out(meter: str) -> bool:
    if meter == "new" or "iotson" in meter:  # unnamed or shared meters: see KNOWN_HELD_OUT
        return False
    return int(hashlib.sha256(meter.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELD_OUT_SHARE


def _git_revision(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def import_real(roots: list[Path], out_dir: Path, source: dict[str, str] | None = None,
                held_out_meters: list[str] | None = None, *, label_from: str = "name",
                meter_from_name: str | None = None, measure_only: bool = False) -> Path:
    """Read every labelled crop under ``roots`` into ``out_dir/real-VERSION.npz`` (+ .json).

    VERSION is a hash of what was read (names, labels and bytes), so the same snapshot
    always gives the same file and a training config can name it. Duplicate images
    (the same bytes under two names) are kept once.

    ``meter_from_name``: a pattern whose first group names the meter in the file name, for
    layouts with one folder per label rather than per meter; a file it does not match is
    skipped. ``measure_only``: every meter held out, for a snapshot that states no licence
    (it may be measured on, never trained on).
    """
    meter_pattern = re.compile(meter_from_name) if meter_from_name else None
    files: list[tuple[Path, Path]] = []
    for root in roots:
        if not root.is_dir():
            raise DigitcamError(f"{root}: not a folder of labelled crops")
        files += [(root, p) for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    images, digits, tenths, aspects, meter_of = [], [], [], [], []
    meters: dict[str, int] = {}
    seen: set[str] = set()
    skipped: Counter[str] = Counter()
    version = hashlib.sha256()
    for root, path in files:
        label = parse_label(path, label_from)
        if label is None:
            skipped["no label in the name"] += 1
            continue
        named = meter_pattern.search(path.name) if meter_pattern else None
        if meter_pattern and (named is None or not named.groups()):
            skipped["no meter in the name"] += 1
            continue
        data = path.read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            skipped["duplicate image"] += 1
            continue
        grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if grey is None or min(grey.shape) < 8:
            skipped["unreadable or tiny"] += 1
            continue
        seen.add(digest)
        # Crops straight in a root are named by the root's folder, so that several flat
        # folders (haverland's copies of jomjol's collections) stay apart in the manifest.
        where = path.parent.relative_to(root) if path.parent != root else Path(root.name)
        meter = meter_name(Path(named.group(1))) if named is not None else meter_name(where)
        meter_of.append(meters.setdefault(meter, len(meters)))
        images.append(cv2.resize(grey, (CROP_W, CROP_H), interpolation=cv2.INTER_AREA))
        aspects.append(grey.shape[1] / grey.shape[0])
        digits.append(label[0])
        tenths.append(label[1])
        version.update(f"{meter}|{label}|{digest}\n".encode())
    if not images:
        raise DigitcamError(f"no labelled crops under {', '.join(map(str, roots))} "
                            "(names must start with the digit, e.g. 3_x.jpg or 3.7_x.jpg)")
    names = list(meters)
    chosen = set(held_out_meters) if held_out_meters else None
    if chosen is not None and chosen - set(names):  # a typo would silently hold out nothing
        raise DigitcamError(f"--held-out {', '.join(sorted(chosen - set(names)))}: no such meter; "
                            f"the meters are {', '.join(names)}")
    if chosen is None and set(KNOWN_HELD_OUT) <= set(meters):
        chosen = set(KNOWN_HELD_OUT)
    if measure_only:
        chosen = set(names)
    held = np.array([(m in chosen) if chosen is not None else _is_held_out(m) for m in names])
    kinds = [meter_kind(m) for m in names]
    for kind in REAL_KINDS:  # every kind needs meters on both sides to be measured at all
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if len(idx) >= 2 and chosen is None and held[idx].all():
            held[idx[0]] = False
        if len(idx) >= 2 and chosen is None and not held[idx].any():
            held[min(idx, key=lambda i: hashlib.sha256(names[i].encode()).hexdigest())] = True
    tag = version.hexdigest()[:12]
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / f"real-{tag}.npz"
    meter_index = np.array(meter_of, np.int16)
    np.savez_compressed(npz, images=np.stack(images), digits=np.array(digits, np.int8),
                        tenths=np.array(tenths, np.int8), aspects=np.array(aspects, np.float32),
                        meter_index=meter_index, held_out=held)
    counts = np.bincount(meter_index, minlength=len(names))
    manifest = {
        "format": FORMAT, "version": tag, "crops": len(images),
        "sources": [{"path": str(r), "revision": _git_revision(r), **(source or {})} for r in roots],
        "skipped": dict(skipped), "meters": names, "meter_kinds": kinds,
        "meter_crops": counts.tolist(), "held_out_meters": [n for n, h in zip(names, held, strict=True) if h],
        "split": {split: {kind: int(sum(c for c, h, k in zip(counts, held, kinds, strict=True)
                                        if h == (split == "held-out") and k == kind))
                          for kind in REAL_KINDS} for split in ("train", "held-out")},
        "label_rule": "roller d.t reads d for t<=4, d+1 for t>=6; t=5 either",
        "measure_only": measure_only,
    }
    npz.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("imported %d crops from %d meters (%s skipped) into %s", len(images), len(names),
                sum(skipped.values()), npz)
    return npz


# ------------------------------------------------------------------ strips

MIXED_SHARE = 0.2  # strips whose windows come from several meters of one kind
MIN_DIGITS, MAX_DIGITS = 1, 8


def _crop(real: RealSet, i: int, height: int, rng: Rng, augment: bool = False) -> npt.NDArray[np.float32]:
    width = max(4, round(height * float(real.aspects[i]) * rng.uniform(0.9, 1.1)))
    image = real.images[i]
    if augment:
        image = _recrop(rng, image)
    crop = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    if augment:  # each window lit and exposed its own way
        crop = np.clip((crop - 128.0) * rng.uniform(0.55, 1.3) + 128.0 + rng.uniform(-35, 35), 0, 255)
    return crop


# Training crops are cut again, a little off where the set's author cut them: each meter's
# crops share one framing (window edge here, a neighbour's sliver there), and a held-out
# meter frames its digits its own way. The held-out Altair water meter's '1' between two
# window edges read as nothing on 40 of its 389 crops.
RECROP_SHIFT = 0.12  # of the crop's width, either side; a quarter of that up or down


def _recrop(rng: Rng, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    h, w = image.shape
    pad_x, pad_y = round(w * 0.25), round(h * 0.1)
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    scale = rng.uniform(0.92, 1.1)  # below 1 cuts into the window, above shows more around it
    new_w, new_h = round(w * scale), round(h * scale)
    x0 = pad_x + (w - new_w) // 2 + round(w * rng.uniform(-RECROP_SHIFT, RECROP_SHIFT))
    y0 = pad_y + (h - new_h) // 2 + round(h * rng.uniform(-RECROP_SHIFT, RECROP_SHIFT) / 4)
    x0 = min(max(x0, 0), padded.shape[1] - new_w)
    y0 = min(max(y0, 0), padded.shape[0] - new_h)
    return padded[y0:y0 + new_h, x0:x0 + new_w]


# A held-out meter is a style no training meter has, and 25 meters teach few. A fine-tune's
# real strips (`trainer finetune --restyle`) are given other styles of the same digits: the
# other polarity (white drums and black drums both exist) and another tone curve. The shipped
# fine-tune step's one run with it read the held-out meters 0.5-1.5 points better; a second
# run of the same recipe differed from it by up to a point (BENCHMARKS.md, session 24).
INVERT_SHARE = 0.3


def _restyle(rng: Rng, strip: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    if rng.random() < INVERT_SHARE:
        strip = 255.0 - strip
    gamma = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    return (255.0 * (strip / 255.0) ** gamma).astype(np.float32)


def compose_strip(rng: Rng, real: RealSet, pool: npt.NDArray[np.intp], length: int | None = None,
                  allow_half: bool = False, force_half: bool = False, augment: bool = False,
                  restyle: bool = False, still_but_last: bool = False
                  ) -> tuple[npt.NDArray[np.uint8], str, list[str]]:
    """A strip of real crops side by side, its label, and per position the digits accepted
    there (two for a roller digit at an exact half). Crops come from one meter of ``pool``
    or, in MIXED_SHARE of strips, from several meters of the same kind. ``augment``
    (training) re-cuts and re-lights every crop; evaluation strips keep the set's own.
    ``restyle`` (training) gives the strip another polarity or tone curve (``_restyle``).
    ``still_but_last``: every window but the last shows a still digit (``STILL_TENTHS``),
    where the meter has any, as a register does: its drums turn from the right, and a drum
    moves only while the one after it passes from 9 to 0."""
    meters = real.meter_index[pool]
    meter = meters[int(rng.integers(len(pool)))]
    own = pool[meters == meter] if rng.random() >= MIXED_SHARE else pool
    if not allow_half:
        own = own[real.tenths[own] != HALF] if (real.tenths[own] != HALF).any() else own
    n = length or int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
    picks = list(rng.choice(own, size=n))
    if still_but_last:
        still = own[np.isin(real.tenths[own], STILL_TENTHS)]
        if still.size:
            picks[:-1] = rng.choice(still, size=n - 1)
    if force_half:
        halves = own[real.tenths[own] == HALF]
        if halves.size:
            picks[int(rng.integers(n))] = int(rng.choice(halves))
    height = int(rng.integers(28, 64))
    gap = int(rng.integers(0, max(1, height // 6))) if rng.random() < 0.5 else 0
    pieces: list[npt.NDArray[np.float32]] = []
    accepted: list[str] = []
    label = []
    for i in picks:
        crop = _crop(real, int(i), height, rng, augment)
        if pieces and gap:
            edge = float(np.median(np.concatenate((crop[:, 0], pieces[-1][:, -1]))))
            pieces.append(np.full((height, gap), edge, np.float32))
        pieces.append(crop)
        digit, tenths = int(real.digits[i]), int(real.tenths[i])
        read = roller_label(digit, tenths)
        accepted.append(f"{digit}{(digit + 1) % 10}" if read is None else str(read))
        label.append(str(digit) if read is None else str(read))
    strip = np.concatenate(pieces, axis=1)
    if restyle:
        strip = _restyle(rng, strip)
    # A little of the meter's face around the windows, as a detector or a fixed
    # region crops it, then the camera chain lightly: the crops are real already.
    pad_y, pad_x = int(height * rng.uniform(0, 0.25)), int(height * rng.uniform(0, 0.5))
    strip = cv2.copyMakeBorder(strip, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    return photograph(rng, strip, [], float(rng.uniform(0.0, 0.4))), "".join(label), accepted


def matches(text: str, accepted: list[str]) -> bool:
    """A read is right when it has one digit per window, each one the window accepts."""
    return len(text) == len(accepted) and all(ch in ok for ch, ok in zip(text, accepted, strict=True))


# ------------------------------------------------------------------ whole photos

def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a snapshot is large), a copy where the file
    system refuses; an existing ``target`` is kept."""
    import os
    import shutil

    if not target.exists():
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def import_photos(table: Path, images: Path, out_dir: Path, *, image_column: str = "image",
                  value_column: str = "value", decimals: str = "0", kind: str = "photo",
                  delimiter: str = ",") -> int:
    """Labelled whole photos (a CSV naming each image and its value) into ``out_dir`` with a
    labels.csv that `digitcam trainer score` reads: ``file,text,kind,decimals``. Images are
    hard-linked where the file system allows (a snapshot is large), copied otherwise.
    Calls for several tables add to one folder."""
    import csv

    from .scoring import parse_decimals

    parse_decimals(decimals)  # a bad count is an error before anything is written
    try:
        with table.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter=delimiter))
    except OSError as exc:
        raise DigitcamError(f"{table}: {exc.strerror}") from None
    if rows and (image_column not in rows[0] or value_column not in rows[0]):
        raise DigitcamError(f"{table}: no columns {image_column!r} and {value_column!r} "
                            f"(it has {', '.join(rows[0])})")
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = out_dir / "labels.csv"
    new = not labels.is_file()
    written = 0
    with labels.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["file", "text", "kind", "decimals"])
        for row in rows:
            source = images / row[image_column]
            value = row[value_column].strip()
            if not source.is_file() or not value.isdigit():
                continue
            name = f"{kind}-{source.name}"
            link_or_copy(source, out_dir / name)
            writer.writerow([name, value, kind, decimals])
            written += 1
    return written
