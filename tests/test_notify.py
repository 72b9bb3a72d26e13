"""sd_notify through a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digitcam.device.notify import Notifier


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """The service manager's end: a bound datagram socket NOTIFY_SOCKET points at."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def nothing_waiting(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(2.0)
    return False


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ready_watchdog_stopping(manager: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.ready()
    assert receive(manager) == "READY=1"
    assert notifier.watchdog()
    assert receive(manager) == "WATCHDOG=1"
    assert notifier.ready(status="reading")
    assert receive(manager) == "READY=1\nSTATUS=reading"
    assert notifier.stopping()
    assert receive(manager) == "STOPPING=1"


def test_status_is_rate_limited(manager: socket.socket) -> None:
    clock = Clock()
    notifier = Notifier(clock=clock)  # a status at most once a second
    assert notifier.status("reading 123")
    assert receive(manager) == "STATUS=reading 123"
    clock.now = 0.5
    assert not notifier.status("reading 124")  # too soon
    clock.now = 1.6
    assert not notifier.status("reading 123")  # unchanged since last sent
    assert notifier.status("reading 125\nsecond line")
    assert receive(manager) == "STATUS=reading 125 second line"
    clock.now = 2.7
    assert notifier.status("stopping")
    assert receive(manager) == "STATUS=stopping"
    assert nothing_waiting(manager)


def test_reloading_carries_monotonic_usec(manager: socket.socket) -> None:
    notifier = Notifier()
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    lines = receive(manager).split("\n")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert lines[0] == "RELOADING=1"
    key, _, usec = lines[1].partition("=")
    assert key == "MONOTONIC_USEC" and before <= int(usec) <= after


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"digitcam-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert Notifier().ready()
        assert receive(sock) == "READY=1"


def test_no_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.ready() and not notifier.watchdog() and not notifier.status("x")


def test_a_vanished_manager_does_not_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    notifier = Notifier()
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert Notifier.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    assert Notifier.watchdog_interval() == 20.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier.watchdog_interval() == 20.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert Notifier.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", "")
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    assert Notifier.watchdog_interval() is None
