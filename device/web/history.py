"""The value over time, for the page's plot, read from the field log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..fieldlog import FieldLog, FieldLogError, canonical_ts
from ..value import number


def value_history(log_path: Path, hours: float, max_points: int, decimals: int = 0, unit: str = "",
                  now: datetime | None = None) -> dict[str, Any]:
    """The last ``max_points`` accepted readings of the last ``hours``, oldest first, as
    ``{"points": [[ts, value, text], ...], "hours", "unit", "error"}``, the value scaled by
    ``decimals`` as it is published. Readings that are not digits are left out of the
    plot; a log that cannot be read gives no points and its one-line error."""
    cutoff = canonical_ts(((now or datetime.now(timezone.utc)) - timedelta(hours=hours)).isoformat())
    points: list[list[Any]] = []
    try:
        # Read-only: the daemon's own writer commits on its own thread; WAL lets both run.
        with FieldLog(log_path, readonly=True) as log:
            rows = log.accepted_texts(max_points)
    except FieldLogError as exc:
        return {"points": points, "hours": hours, "unit": unit, "error": str(exc)}
    for timestamp, text in rows:
        if timestamp < cutoff:  # canonical timestamps sort as text
            continue
        value = number(text, decimals)
        if value is not None:
            points.append([timestamp, value, text])
    return {"points": points, "hours": hours, "unit": unit, "error": ""}
