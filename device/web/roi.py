"""The ROI helper's one write: a fixed rectangle or quadrilateral as the config's ``[region]``.

Where it goes (``region_file`` says why): into the config file itself when the
daemon may write there, else into ``STATE_DIR/region.toml``, which the daemon
merges over the config on start and reload (the systemd unit's case). Either
way the config the daemon will load is validated first and the file is
replaced atomically (a rewritten config keeps its permissions: it may hold the
page's password), so a reload never meets a half-written or invalid config.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..config import Config, parse_config
from ..errors import DigitcamError
from ..region_file import HEADER, with_region

logger = logging.getLogger(__name__)

_write_lock = threading.Lock()  # two browsers saving at once write one after the other
MIN_QUAD_AREA = 16.0  # px²: four clicks on (nearly) one spot are a slip, not a region
STATE_FILE_MODE = 0o640  # as the unit's UMask=0027 would make it


class BadRect(DigitcamError):
    """The rectangle or quadrilateral itself is malformed (the client's mistake, not the file's)."""


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def check_rect(rect: Sequence[Any]) -> tuple[int, int, int, int]:
    """``[x, y, w, h]`` as four whole numbers, x, y >= 0 and w, h >= 1."""
    if (not isinstance(rect, (list, tuple)) or len(rect) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in rect)):
        raise BadRect(f"rect must be [x, y, w, h] in whole pixels, got {rect!r}")
    x, y, w, h = (int(v) for v in rect)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise BadRect(f"rect needs x, y >= 0 and width, height >= 1, got {[x, y, w, h]}")
    return x, y, w, h


def check_quad(quad: Sequence[Any]) -> tuple[tuple[float, float], ...]:
    """Four ``[x, y]`` corners, top-left, top-right, bottom-right, bottom-left, as the
    fixed-quad reader rectifies them: x, y >= 0, a convex shape turning clockwise on
    screen (y down) whose top edge runs left to right, not a sliver."""
    if (not isinstance(quad, (list, tuple)) or len(quad) != 4
            or not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_number, p)) for p in quad)):
        raise BadRect(f"quad must be four [x, y] corners, got {quad!r}")
    points = tuple((p[0], p[1]) for p in quad)
    if any(x < 0 or y < 0 for x, y in points):
        raise BadRect(f"quad corners need x, y >= 0, got {[list(p) for p in points]}")
    turns = []
    for i in range(4):
        (ax, ay), (bx, by), (cx, cy) = points[i], points[(i + 1) % 4], points[(i + 2) % 4]
        turns.append((bx - ax) * (cy - by) - (by - ay) * (cx - bx))
    area = 0.5 * sum(points[i][0] * points[(i + 1) % 4][1] - points[(i + 1) % 4][0] * points[i][1]
                     for i in range(4))
    if not all(t > 0 for t in turns) or points[1][0] <= points[0][0]:
        raise BadRect("quad corners must go top-left, top-right, bottom-right, bottom-left around a "
                      f"convex shape, got {[list(p) for p in points]}")
    if area < MIN_QUAD_AREA:
        raise BadRect(f"quad encloses {area:.1f} px², less than {MIN_QUAD_AREA:g}")
    return points


def checked_region(mode: str, shape: Any) -> list[Any]:
    """``shape`` for ``mode`` ("rect" or "quad") checked, as lists: [x, y, w, h] or four [x, y]."""
    if mode == "rect":
        return list(check_rect(shape))
    if mode == "quad":
        return [list(p) for p in check_quad(shape)]
    raise BadRect(f"region mode must be rect or quad, got {mode!r}")


def can_write(path: Path) -> bool:
    """Whether the atomic write can replace (or create) ``path``: its directory takes the
    temporary file. False on a read-only mount too (access(2) says EROFS)."""
    target = path.resolve()
    return os.access(target.parent, os.W_OK) and (not target.exists() or os.access(target, os.R_OK))


def write_region(path: Path, mode: str, shape: Sequence[Any], state_file: Path,
                 in_place: bool | None = None) -> tuple[Config, Path]:
    """Make ``mode`` ("rect" or "quad") with ``shape`` the region of the config at ``path``.

    Written into ``path`` when it is writable (``in_place`` None) or asked to,
    else into ``state_file`` (the state dir's ``region.toml``). Returns the
    config the daemon will load and the file written. Raises ``BadRect``,
    ``DigitcamError`` or ``ConfigError`` with one line; nothing is then changed.
    """
    checked = checked_region(mode, shape)
    keys = {"mode": mode, mode: checked}
    # tomlkit only when a region is saved: the daemon runs without it otherwise.
    from tomlkit.exceptions import ParseError

    target = path.resolve()  # a symlinked config: replace the file, not the link
    if in_place is None:
        in_place = can_write(target)
    with _write_lock:
        try:
            text = target.read_text(encoding="utf-8")
            file_mode = stat.S_IMODE(target.stat().st_mode)
        except OSError as exc:
            raise DigitcamError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            merged = with_region(text, keys)
        except ParseError as exc:
            raise DigitcamError(f"{path}: invalid TOML: {exc}") from None
        config = parse_config(merged, str(path))  # what the daemon will load, or ConfigError
        written = target if in_place else state_file
        try:
            if in_place:
                write_atomic(target, merged.encode("utf-8"), mode=file_mode)
                # A region.toml from an earlier save under systemd would override this one.
                with contextlib.suppress(FileNotFoundError):
                    state_file.unlink()
            else:
                state_file.parent.mkdir(parents=True, exist_ok=True)
                region_toml = with_region(HEADER.format(config=path), keys)  # the header, then [region]
                write_atomic(state_file, region_toml.encode("utf-8"), mode=STATE_FILE_MODE)
        except OSError as exc:
            raise DigitcamError(f"cannot write {written}: {exc.strerror or exc}") from None
    logger.info("ROI helper: wrote region %s %s into %s", mode, checked, written)
    return config, written
