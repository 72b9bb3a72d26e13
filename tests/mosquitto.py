"""A real mosquitto broker on a loopback port, and a real paho subscriber, for the MQTT tests.

mosquitto comes from apt (the Makefile's APT_TEST); without it the tests that
need it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def mosquitto_path() -> str:
    # /usr/sbin is not on a normal user's PATH.
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.skip("mosquitto is not installed (make .venv/.dev installs it with apt)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto with a config written here; ``kill()`` is SIGKILL, ``start()`` again
    comes back on the same port with the same persistence file."""

    def __init__(self, directory: Path, *, extra: str = "", port: int = 0) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        # Persistence saved on every change, so a test subscriber's session
        # survives a SIGKILL and gets what was published before it reconnects.
        # As root (CI), mosquitto would switch to its own user, which cannot read
        # the test's files; a test broker has nothing to protect.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"""\
{user}listener {self.port} 127.0.0.1
persistence true
persistence_location {self.dir}/
autosave_on_changes true
autosave_interval 1
log_dest file {self.log}
log_type all
{extra}
""")
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = mosquitto_path()

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                pytest.fail(f"mosquitto exited ({self.proc.returncode}): {err}\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"mosquitto did not listen on {self.port} within {timeout}s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass(frozen=True)
class Received:
    topic: str
    payload: str
    retain: bool


class Subscriber:
    """A paho client with a persistent session (clean_session=False) that records every message."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",), *, client_id: str = "test-subscriber",
                 tls_ca: Path | None = None, auth: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        if auth:
            self.client.username_pw_set(*auth)
        if tls_ca:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]

        def on_connect(client, _u, _f, reason_code, _p):  # type: ignore[no-untyped-def]
            if not reason_code.is_failure:
                client.subscribe([(t, 1) for t in topics])

        def on_subscribe(*_args):  # type: ignore[no-untyped-def]
            self.connected.set()

        def on_disconnect(*_args):  # type: ignore[no-untyped-def]
            self.connected.clear()

        def on_message(_client, _u, msg):  # type: ignore[no-untyped-def]
            with self._lock:
                self.messages.append(Received(msg.topic, msg.payload.decode(), bool(msg.retain)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_disconnect = on_disconnect
        self.client.on_message = on_message
        self.client.connect("localhost" if tls_ca else "127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(10):
            pytest.fail("the test subscriber could not subscribe")

    def on(self, topic: str) -> list[str]:
        with self._lock:
            return [m.payload for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        with self._lock:
            seen = sorted({m.topic for m in self.messages})
        pytest.fail(f"no {what} within {timeout}s; topics seen: {seen}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
