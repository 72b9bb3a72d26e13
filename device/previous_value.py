"""The stabiliser's last accepted value on disk, and requests to change it.

A counter's plausibility rules compare each reading with the previous one, so
a restart that forgot it would accept anything (or, after ``set-value``, undo
the user's correction). The value lives in ``STATE_FILE`` under the state
dir, written atomically (temporary file, fsync, rename), at most once every
``min_interval_s`` while it changes and once more when the daemon stops; an
SD card is not written for every tick of a fast meter.

``digitcam device set-value`` does not write ``STATE_FILE`` itself (a running
daemon would overwrite it with its own value): it leaves ``REQUEST_FILE``,
which the daemon takes within a second, or at its next start.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from .atomic import write_atomic
from .sinks.fanout import FailureLog
from .stabilise import Previous

logger = logging.getLogger(__name__)

STATE_FILE = "previous-value.json"
REQUEST_FILE = "set-value.request"


def write_request(state_dir: Path, raw_text: str) -> Path:
    """Ask the daemon (running, or at its next start) to take ``raw_text`` as the previous value."""
    path = Path(state_dir) / REQUEST_FILE
    request = {"text": raw_text, "requested_at": time.time()}
    write_atomic(path, json.dumps(request).encode() + b"\n", sync_dir=True)
    return path


class PreviousValueStore:
    def __init__(self, state_dir: Path, min_interval_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.request_path = Path(state_dir) / REQUEST_FILE
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._wall = wall
        self._saved: tuple[str, str] | None = None  # (text, origin) on disk
        self._last_save: float | None = None
        self._failures = FailureLog(f"saving the previous value to {self.path}")

    def load(self) -> Previous | None:
        """The saved value, its age now counted in wall-clock time; None if there is none.
        A damaged file is a warning, not a reason to stop reading the meter."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            text, accepted_at = str(raw["text"]), float(raw["accepted_at"])
            origin = str(raw.get("origin", "read"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring the saved previous value %s: %s", self.path, exc)
            return None
        self._saved = (text, origin)
        return Previous(text, max(0.0, self._wall() - accepted_at), origin)

    def note(self, previous: Previous | None, *, force: bool = False) -> None:
        """Save ``previous`` if it differs from what is on disk and a save is due
        (``force``: now). Never raises: a full disk must not stop the pipeline."""
        if previous is None or (previous.text, previous.origin) == self._saved:
            return
        now = self._clock()
        if not force and self._last_save is not None and now - self._last_save < self.min_interval_s:
            return
        self._last_save = now
        record = {"text": previous.text, "accepted_at": self._wall() - previous.age_s,
                  "origin": previous.origin}
        try:
            write_atomic(self.path, json.dumps(record).encode() + b"\n", sync_dir=True)
        except OSError as exc:
            self._failures.failed(exc)
            return
        self._failures.succeeded()
        self._saved = (previous.text, previous.origin)

    def take_request(self) -> str | None:
        """A pending ``set-value`` request's raw text, removing it; None if there is none."""
        try:
            raw = json.loads(self.request_path.read_text(encoding="utf-8"))
            text = str(raw["text"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring a damaged set-value request %s: %s", self.request_path, exc)
            text = ""
        try:
            self.request_path.unlink()
        except OSError as exc:
            logger.warning("cannot remove %s: %s", self.request_path, exc)
        return text or None
