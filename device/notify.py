"""systemd's sd_notify protocol: readiness, watchdog pings and a status line.

The protocol is one datagram of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``; a few
lines of socket code speak it, so nothing from apt is needed for it. Outside
systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op.

Notification failures are logged and swallowed: the daemon must keep reading
digits even if the service manager went away.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0  # a status line per frame would flood PID 1


class Notifier:
    """Tells systemd how the daemon is doing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_status: str | None = None
        self._last_status_at = float("-inf")
        self._last_watchdog_at = float("-inf")
        interval = self.watchdog_interval()
        self._watchdog_every = min(1.0, interval / 4) if interval else 1.0
        address = os.environ.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace, spelt with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._failed = False
        if not address:
            logger.debug("NOTIFY_SOCKET unset: not under systemd, notifications off")
        elif not address.startswith(("/", "@")):
            # systemd 253+ may also pass vsock: addresses (VMs); not needed on a Pi.
            logger.warning("NOTIFY_SOCKET %r is not a unix socket; notifications off", address)
            self._address = ""

    def notify(self, message: str) -> bool:
        """Send raw ``KEY=VALUE`` lines; True if delivered."""
        if not self._address:
            return False
        try:
            if self._sock is None:
                # Python sockets are close-on-exec, so children do not inherit it.
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # Never block the frame loop (or SIGTERM) on a manager that stops
                # reading: a full queue drops the message instead.
                self._sock.setblocking(False)
            self._sock.sendto(message.encode(), self._address)
        except BlockingIOError:
            return False
        except OSError as exc:
            if not self._failed:  # once: a vanished manager would otherwise log every frame
                logger.warning("sd_notify to %r failed: %s", self._address, exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Start-up is done (send again after a reload)."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """Keep-alive from the frame loop. Sent at most every ``watchdog_interval() / 4``
        (or once a second): a hung loop still stops the pings, without flooding PID 1
        with 30 datagrams a second."""
        now = self._clock()
        if now - self._last_watchdog_at < self._watchdog_every:
            return False
        self._last_watchdog_at = now
        return self.notify("WATCHDOG=1")

    def status_due(self) -> bool:
        """Would a changed status be sent now? Lets the caller skip building it."""
        return bool(self._address) and self._clock() - self._last_status_at >= STATUS_EVERY_S

    def status(self, text: str) -> bool:
        """The one-line status ``systemctl status`` shows. Called per frame, so
        repeats are dropped and changes are sent at most once per interval."""
        now = self._clock()
        if text == self._last_status or now - self._last_status_at < STATUS_EVERY_S:
            return False
        self._last_status, self._last_status_at = text, now
        # A status is one line: a newline would start a new KEY=VALUE assignment.
        return self.notify("STATUS=" + text.replace("\n", " "))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """Reload has begun; follow with ``ready()`` when done. systemd 253+
        (Type=notify-reload) wants the CLOCK_MONOTONIC time with it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    @staticmethod
    def watchdog_interval() -> float | None:
        """The watchdog timeout in seconds (``WatchdogSec=``), or None when off or
        meant for another process."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        try:
            if pid and int(pid) != os.getpid():
                return None
            value = int(usec)
        except ValueError:
            return None
        return value / 1e6 if value > 0 else None
