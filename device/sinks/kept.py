"""A folder of kept files with a disk budget: the oldest go first.

Files kept by earlier runs count against the budget too, so a daemon that
restarts every hour still never fills the SD card.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import deque
from pathlib import Path

from ..atomic import write_atomic

# Only files named by ``snapshot.kept_name`` (TIME_FRAME_TEXT.png) are ours to count and delete.
KEPT_NAME = re.compile(r"^\d{8}T\d{9}Z_\d+_[0-9A-Za-z]*\.png$")


class KeptFolder:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def scan(self) -> None:
        """Create the folder and count what earlier runs left there (names sort by time)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._kept: deque[tuple[Path, int]] = deque()  # oldest first
        self.bytes = 0
        for entry in sorted(os.scandir(self.folder), key=lambda e: e.name):
            if entry.is_file() and KEPT_NAME.match(entry.name):
                size = entry.stat().st_size
                self._kept.append((Path(entry.path), size))
                self.bytes += size
        self.enforce()

    def write(self, name: str, data: bytes) -> None:
        """``data`` as the file ``name`` (atomically), within the budget."""
        write_atomic(self.folder / name, data)
        self._kept.append((self.folder / name, len(data)))
        self.bytes += len(data)
        self.enforce()

    def enforce(self) -> None:
        while self._kept and self.bytes > self.max_bytes:
            path, size = self._kept.popleft()
            self.bytes -= size
            with contextlib.suppress(FileNotFoundError):  # the user already took it away
                path.unlink()
