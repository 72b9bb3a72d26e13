"""The ROI helper's one write: a fixed rectangle into the config file's ``[region]``.

The file is the user's: tomlkit edits the two keys in place and keeps every
comment, key order and blank line. The new text is validated as the daemon
would read it before it replaces the old file (atomically, keeping its
permissions: the file may hold the page's password), so a reload can never
meet a half-written or invalid config.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError

from ..config import Config, parse_config
from ..errors import DigitcamError
from ..sinks.snapshot import write_atomic

logger = logging.getLogger(__name__)

_write_lock = threading.Lock()  # two browsers saving at once write one after the other


class RegionWriteError(DigitcamError):
    """The rectangle could not be written; the message is one line."""


class BadRect(RegionWriteError):
    """The rectangle itself is malformed (the client's mistake, not the file's)."""


def check_rect(rect: Sequence[Any]) -> tuple[int, int, int, int]:
    """``[x, y, w, h]`` as four whole numbers, x, y >= 0 and w, h >= 1."""
    if (not isinstance(rect, (list, tuple)) or len(rect) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in rect)):
        raise BadRect(f"rect must be [x, y, w, h] in whole pixels, got {rect!r}")
    x, y, w, h = (int(v) for v in rect)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise BadRect(f"rect needs x, y >= 0 and width, height >= 1, got {[x, y, w, h]}")
    return x, y, w, h


def with_rect_region(text: str, rect: Sequence[int]) -> str:
    """``text`` with ``region.mode = "rect"`` and ``region.rect`` set, nothing else changed."""
    doc = tomlkit.parse(text)
    if "region" not in doc:
        doc["region"] = tomlkit.table()
    region: Any = doc["region"]
    region["mode"] = "rect"
    region["rect"] = [int(v) for v in rect]
    return tomlkit.dumps(doc)


def write_rect_region(path: Path, rect: Sequence[Any]) -> Config:
    """Write ``rect`` into the config at ``path``; returns the config the daemon will load.

    Raises ``RegionWriteError`` (or ``ConfigError`` for a file that does not
    validate any more) with a one-line message; the file is then unchanged.
    """
    checked = check_rect(rect)
    target = path.resolve()  # a symlinked config: replace the file, not the link
    with _write_lock:
        try:
            text = target.read_text(encoding="utf-8")
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError as exc:
            raise RegionWriteError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            new_text = with_rect_region(text, checked)
        except ParseError as exc:
            raise RegionWriteError(f"{path}: invalid TOML: {exc}") from None
        config = parse_config(new_text, str(path))
        try:
            write_atomic(target, new_text.encode("utf-8"), mode=mode)
        except OSError as exc:
            raise RegionWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    logger.info("ROI helper: wrote region rect %s into %s", list(checked), path)
    return config


def can_write(path: Path) -> bool:
    """Whether the directory takes the temporary file the atomic write needs."""
    return os.access(path.resolve().parent, os.W_OK) and os.access(path.resolve(), os.R_OK)
