"""The daemon's log: INFO by default, and journald's priorities under systemd.

``digitcam`` logs warnings only, as a command should; the daemon's log is its
journal, where "ready", "camera lost"/"camera back", the minute's latency
summary and MQTT connection changes belong, so ``device run`` logs at INFO
(``-v`` for DEBUG). When stderr is the journal (systemd sets JOURNAL_STREAM to
its device:inode), each line starts with a ``<N>`` syslog priority, which
journald reads (SyslogLevelPrefix=yes, the default), so
``journalctl -u digitcam -p warning`` shows the warnings, and the time stamp is
left to the journal.
"""

from __future__ import annotations

import logging
import os
from typing import TextIO

# logging level -> syslog priority (sd-daemon(3) prefixes)
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in _PRIORITIES if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


def is_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal's socket (JOURNAL_STREAM=DEV:INODE names it)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, inode = expected.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # a StringIO in tests has no descriptor
        return False
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{inode}"


def configure(stream: TextIO, verbose: int) -> None:
    """Called by ``device run`` after the CLI's own set-up."""
    root = logging.getLogger()
    if verbose == 0:
        root.setLevel(logging.INFO)
    if is_journal(stream):
        for handler in root.handlers:
            handler.setFormatter(JournalFormatter())
