"""systemd's sd_notify protocol: readiness, watchdog pings and a status line.

python3-systemd (from apt, hence the service venv's ``--system-site-packages``)
is used when importable; otherwise a few lines of socket code speak the same
protocol, which is one datagram of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``.
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op.

Notification failures are logged and swallowed: the daemon must keep reading
digits even if the service manager went away.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

Sender = Callable[[str], bool]


def _systemd_sender() -> Sender | None:
    try:
        # By name, not "from systemd import daemon": in a source checkout the repo's
        # systemd/ folder is a namespace package that shadows python3-systemd for mypy.
        daemon = importlib.import_module("systemd.daemon")
    except ImportError:
        return None
    return lambda message: bool(daemon.notify(message))


class _SocketSender:
    """The fallback: one datagram per message to ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str) -> None:
        # A leading '@' names a socket in the abstract namespace, spelt with a NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._failed = False

    def __call__(self, message: str) -> bool:
        try:
            if self._sock is None:
                # Python sockets are close-on-exec, so children do not inherit it.
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # Never block the frame loop (or SIGTERM) on a manager that stops
                # reading: a full queue drops the message instead.
                self._sock.setblocking(False)
            self._sock.sendto(message.encode(), self.address)
        except BlockingIOError:
            return False
        except OSError as exc:
            if not self._failed:  # once: a vanished manager would otherwise log every frame
                logger.warning("sd_notify to %r failed: %s", self.address, exc)
                self._failed = True
            return False
        return True


class Notifier:
    """Tells systemd how the daemon is doing. ``prefer_systemd=False`` forces the
    built-in sender (tests, or a broken python3-systemd)."""

    def __init__(self, status_min_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 prefer_systemd: bool = True) -> None:
        self.status_min_interval_s = status_min_interval_s
        self._clock = clock
        self._last_status: str | None = None
        self._last_status_at = float("-inf")
        self._last_watchdog_at = float("-inf")
        interval = self.watchdog_interval()
        self._watchdog_every = min(1.0, interval / 4) if interval else 1.0
        address = os.environ.get("NOTIFY_SOCKET", "")
        self._send: Sender | None = None
        if not address:
            logger.debug("NOTIFY_SOCKET unset: not under systemd, notifications off")
        elif prefer_systemd and (sender := _systemd_sender()) is not None:
            self._send = sender
        elif address.startswith(("/", "@")):
            self._send = _SocketSender(address)
        else:
            # systemd 253+ may also pass vsock: addresses (VMs); not needed on a Pi.
            logger.warning("NOTIFY_SOCKET %r is not a unix socket; notifications off", address)

    @property
    def enabled(self) -> bool:
        return self._send is not None

    def notify(self, message: str) -> bool:
        """Send raw ``KEY=VALUE`` lines; True if delivered."""
        if self._send is None:
            return False
        return self._send(message)

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
        return self._send is not None and self._clock() - self._last_status_at >= self.status_min_interval_s

    def status(self, text: str, force: bool = False) -> bool:
        """The one-line status ``systemctl status`` shows. Called per frame, so
        repeats are dropped and changes are sent at most once per interval."""
        now = self._clock()
        if not force and (text == self._last_status
                          or now - self._last_status_at < self.status_min_interval_s):
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
