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


class KeptFolder:
    def __init__(self, folder: Path, max_bytes: int, name: re.Pattern[str]) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.name = name  # only files this pattern matches are ours to count and delete
        self._kept: deque[tuple[Path, int]] = deque()  # oldest first
        self.bytes = 0
        self.deleted = 0

    def scan(self) -> None:
        """Create the folder and count what earlier runs left there (names sort by time)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._kept.clear()
        self.bytes = 0
        for entry in sorted(os.scandir(self.folder), key=lambda e: e.name):
            if entry.is_file() and self.name.match(entry.name):
                size = entry.stat().st_size
                self._kept.append((Path(entry.path), size))
                self.bytes += size
        self.enforce()

    def add(self, path: Path, size: int) -> None:
        self._kept.append((path, size))
        self.bytes += size
        self.enforce()

    def enforce(self) -> None:
        while self._kept and self.bytes > self.max_bytes:
            path, size = self._kept.popleft()
            self.bytes -= size
            with contextlib.suppress(FileNotFoundError):  # the user already took it away
                path.unlink()
            self.deleted += 1
