"""The daemon as systemd runs it: a real child process on a replay source, real
sd_notify datagrams on a real socket, real signals, a real field log on disk."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import DIGITCAM, ROOT, run_cli

pytestmark = pytest.mark.tflite_runtime

FRAMES = ROOT / "device" / "samples" / "frames"
CONTRACT_2 = {"timestamp", "text", "confidence", "digit_confidences", "quad", "frame_id", "accepted",
              "reason", "latency_ms", "model_sha256"}


# ---------------------------------------------------------------- helpers


class NotifyListener:
    """The service manager's end of sd_notify: the datagram socket $NOTIFY_SOCKET names.

    A thread drains it as systemd does: with Linux's default queue of 10 datagrams
    (net.unix.max_dgram_qlen), an unread socket would soon block the daemon's sends.
    """

    def __init__(self, directory: Path, drain: bool = True) -> None:
        path = directory / "notify.sock"
        if len(str(path)) > 100:  # sun_path holds 108 bytes
            path = Path(tempfile.mkdtemp(prefix="dcn-")) / "n.sock"
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []  # what the test has looked at, in order
        self._queue: queue.Queue[str] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True) if drain else None
        if self._thread is not None:
            self._thread.start()

    def _pump(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self._queue.put(data.decode())

    def env(self) -> dict[str, str]:
        return {**os.environ, "NOTIFY_SOCKET": str(self.path)}

    def receive(self, timeout: float) -> str | None:
        if self._thread is None:
            self.sock.settimeout(max(timeout, 0.001))
            try:
                message = self.sock.recv(65536).decode()
            except TimeoutError:
                return None
        else:
            try:
                message = self._queue.get(timeout=max(timeout, 0.001))
            except queue.Empty:
                return None
        self.messages.append(message)
        return message

    def wait_for(self, predicate: Callable[[str], bool], timeout: float,
                 proc: subprocess.Popen[bytes] | None = None, what: str = "") -> str:
        """The first new datagram that satisfies ``predicate``; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.receive(min(remaining, 0.2))
            if message is not None and predicate(message):
                return message
            if message is None and proc is not None and proc.poll() is not None:
                pytest.fail(f"daemon exited ({proc.returncode}) while waiting for {what}; "
                            f"datagrams: {self.brief()}")
        pytest.fail(f"no {what or 'matching'} datagram within {timeout}s; datagrams: {self.brief()}")

    def drain(self, seconds: float) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.receive(min(remaining, 0.2))
            if message is not None:
                got.append(message)
        return got

    def brief(self) -> list[str]:
        pings = sum(m == "WATCHDOG=1" for m in self.messages)
        return [*[m for m in self.messages if m != "WATCHDOG=1"][-8:], f"... {pings} x WATCHDOG=1"]

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(2)
        self.sock.close()


def has_line(line: str) -> Callable[[str], bool]:
    return lambda message: line in message.splitlines()


def statuses(messages: list[str]) -> list[str]:
    return [line[len("STATUS="):] for m in messages for line in m.splitlines() if line.startswith("STATUS=")]


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path)
    yield listener
    listener.close()


class DaemonProcess:
    def __init__(self, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.proc = proc
        self.stderr_path = stderr_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 8.0) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"daemon did not stop within {timeout}s of SIGTERM; stderr:\n{self.stderr()}")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start ``digitcam device run --config CFG`` as a child; killed at teardown if still alive."""
    started: list[DaemonProcess] = []

    def start(config: Path, env: dict[str, str] | None = None, *extra: str) -> DaemonProcess:
        stderr_path = tmp_path / f"daemon-{len(started)}.stderr"
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen([*DIGITCAM, "device", "run", "--config", str(config), *extra],
                                    cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        daemon = DaemonProcess(proc, stderr_path)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)


@pytest.fixture(scope="session")
def bundle(shipped_bundle: Path) -> Path:
    """The shipped default bundle (conftest), which the daemon uses with no model.path."""
    if not shipped_bundle.is_file():
        pytest.fail(f"no model bundle at {shipped_bundle}")
    return shipped_bundle


@pytest.fixture(scope="session")
def model_toml(bundle: Path) -> str:
    """The [model] table for configs: empty, i.e. the shipped default, once it exists."""
    from digitcam.device.bundle import RecogniserBundle, shipped

    return "" if bundle == shipped(RecogniserBundle) else f'[model]\npath = "{bundle}"\n'


@pytest.fixture(scope="session")
def model_opt(bundle: Path) -> list[str]:
    from digitcam.device.bundle import RecogniserBundle, shipped

    return [] if bundle == shipped(RecogniserBundle) else ["--model", str(bundle)]


def config_text(state_dir: Path, *, model: str = "", spec: str = f"replay:{FRAMES}", fps: float = 20.0,
                loop: bool = True, k: int = 2, n: int = 3, emit: str = "change", commit_s: float = 0.2,
                snapshot: bool = False, extra: str = "") -> str:
    return f"""\
state_dir = "{state_dir}"

[source]
spec = "{spec}"
fps = {fps}
loop = {str(loop).lower()}

[stabiliser]
k = {k}
n = {n}
min_confidence = 0.5
emit = "{emit}"

[fieldlog]
commit_interval_s = {commit_s}

[snapshot]
enabled = {str(snapshot).lower()}

[console]
enabled = false

[journal]
enabled = false

[profiling]
summary_interval_s = 0
{model}{extra}"""


ROW = "id, ts, text, confidence, digit_confidences, quad, frame_id, accepted, reason, latency, model_sha256"
ID, TS, REASON = 0, 1, 8


def committed(db: Path) -> list[tuple[object, ...]]:
    """Every committed row, read as another process would (read-only); [] before the log exists."""
    if not db.is_file():
        return []
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        return conn.execute(f"SELECT {ROW} FROM readings ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def wait_rows(db: Path, at_least: int, timeout: float, daemon: DaemonProcess) -> list[tuple[object, ...]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = committed(db)
        if len(rows) >= at_least:
            return rows
        if daemon.proc.poll() is not None:
            pytest.fail(f"daemon exited ({daemon.proc.returncode}):\n{daemon.stderr()}")
        time.sleep(0.1)
    pytest.fail(f"fewer than {at_least} committed rows after {timeout}s ({len(committed(db))})")


def shoelace(quad: list[list[float]]) -> float:
    pairs = zip(quad, [*quad[1:], quad[0]], strict=True)
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)) / 2


def export_jsonl(state: Path) -> list[dict[str, object]]:
    result = run_cli("log", "--state-dir", str(state), "export", "--jsonl", timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    # The daemon logs its start-up at INFO (its journal); the error itself is one line.
    lines = [line for line in result.stderr.strip().splitlines() if " INFO " not in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---------------------------------------------------------------- 1. sd_notify


def test_sd_notify_ready_watchdog_status_and_stopping(tmp_path, notify, spawn, model_toml):
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(tmp_path / "state", model=model_toml))
    daemon = spawn(config, notify.env())

    ready = notify.wait_for(has_line("READY=1"), 30, daemon.proc, "READY=1")
    assert ready.splitlines()[0] == "READY=1"
    assert not any(has_line("WATCHDOG=1")(m) for m in notify.messages[:-1]), "watchdog before READY"
    for _ in range(3):
        notify.wait_for(has_line("WATCHDOG=1"), 5, daemon.proc, "WATCHDOG=1")
    # The per-frame status line, sent on its own (READY=1 carries only the start-up status).
    status = notify.wait_for(lambda m: m.startswith("STATUS=") and "frames" in m, 5, daemon.proc,
                             "per-frame STATUS=")
    assert "\n" not in status
    assert daemon.proc.poll() is None

    assert daemon.stop() == 0
    notify.drain(0.3)
    assert notify.messages[-1] == "STOPPING=1", notify.brief()  # and nothing after it
    assert "Traceback" not in daemon.stderr()


def test_sigterm_stops_the_daemon_when_the_manager_does_not_read(tmp_path, spawn, model_toml):
    listener = NotifyListener(tmp_path, drain=False)
    try:
        config = tmp_path / "digitcam.toml"
        config.write_text(config_text(tmp_path / "state", model=model_toml, fps=30.0))
        daemon = spawn(config, listener.env())
        listener.wait_for(has_line("READY=1"), 30, daemon.proc, "READY=1")
        time.sleep(1.5)  # about 30 pings a second; the socket's queue holds 10
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(2.5) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon hung in sd_notify and ignored SIGTERM")
    finally:
        listener.close()


# ---------------------------------------------------------------- 2. readings reach the field log


def test_readings_reach_the_field_log_with_contract_2_fields(tmp_path, bundle, model_toml):
    state = tmp_path / "state"
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(state, model=model_toml, fps=30.0, loop=False, snapshot=True))

    run = run_cli("device", "run", "--config", str(config), timeout=120)
    assert run.returncode == 0, run.stderr  # a finite replay ends the daemon cleanly
    assert "Traceback" not in run.stderr

    rows = export_jsonl(state)
    assert rows, "no readings in the field log"
    sha = json.loads(bundle.read_text())["sha256"]
    labels = {row["text"] for row in csv.DictReader((FRAMES / "labels.csv").open())}
    frame_ids = []
    for row in rows:
        assert set(row) >= CONTRACT_2, sorted(CONTRACT_2 - set(row))
        assert datetime.fromisoformat(str(row["timestamp"]).replace("Z", "+00:00")).tzinfo is not None
        text = str(row["text"])
        assert text.isascii() and text.isdigit(), text  # empty frames are not readings
        assert 0.0 <= float(row["confidence"]) <= 1.0
        assert len(row["digit_confidences"]) == len(text)
        assert all(0.0 <= float(c) <= 1.0 for c in row["digit_confidences"])
        assert len(row["quad"]) == 4 and all(len(p) == 2 for p in row["quad"])
        # Frame coordinates (a 640x480 frame), allowing for the margin added around a found strip.
        assert all(-160 <= x <= 800 and -120 <= y <= 600 for x, y in row["quad"]), row["quad"]
        assert shoelace(row["quad"]) > 16, row["quad"]
        assert {"segment", "infer", "decode", "total"} <= set(row["latency_ms"])
        assert row["model_sha256"] == sha
        assert isinstance(row["accepted"], bool)
        if row["accepted"]:
            assert row["reason"] == ""
        else:
            assert str(row["reason"]).strip(), row
        frame_ids.append(int(row["frame_id"]))
    assert frame_ids == sorted(frame_ids) and len(set(frame_ids)) == len(frame_ids)
    accepted = [str(r["text"]) for r in rows if r["accepted"]]
    assert accepted, "no reading was accepted on the sample frames"
    assert set(accepted) & labels, f"no accepted reading {accepted} is a true label {sorted(labels)}"
    assert (state / "snapshot.jpg").stat().st_size > 0


# ---------------------------------------------------------------- 3. SIGKILL


def test_sigkill_loses_no_committed_row(tmp_path, spawn, model_toml):
    state = tmp_path / "state"
    db = state / "fieldlog.sqlite3"
    config = tmp_path / "digitcam.toml"
    # k=1 and emit=every: every frame with digits is a row, so commits are frequent.
    config.write_text(config_text(state, model=model_toml, fps=30.0, k=1, n=1, emit="every",
                                  commit_s=0.1))
    daemon = spawn(config)
    wait_rows(db, 5, 30, daemon)
    time.sleep(0.25)  # let it get into the middle of the next batch
    before = committed(db)
    daemon.proc.send_signal(signal.SIGKILL)
    assert daemon.proc.wait(10) == -signal.SIGKILL

    conn = sqlite3.connect(db)  # read-write: recovers the WAL as the next start would
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        after = conn.execute(f"SELECT {ROW} FROM readings ORDER BY id").fetchall()
    finally:
        conn.close()
    assert set(before) <= set(after), f"lost rows: {sorted(set(before) - set(after))[:3]}"
    assert len(after) >= len(before) > 0
    # The CLI reads the survivor too, and a restarted daemon appends after the old ids.
    exported = export_jsonl(state)
    assert [r["id"] for r in exported] == [row[ID] for row in after]
    restart = run_cli("device", "run", "--config", str(config), "--frames", "15", timeout=60)
    assert restart.returncode == 0, restart.stderr
    again = committed(db)
    assert set(after) <= set(again)
    new_ids = [row[ID] for row in again if row not in set(after)]
    assert new_ids and min(new_ids) > max(row[ID] for row in after)


# ---------------------------------------------------------------- 4. SIGHUP


def test_sighup_reloads_config_and_keeps_the_log(tmp_path, notify, spawn, model_toml):
    state = tmp_path / "state"
    db = state / "fieldlog.sqlite3"
    config = tmp_path / "digitcam.toml"
    # k=3 of 3 with emit=change: agreement is rarely complete, so "no agreement yet" rows are common.
    config.write_text(config_text(state, model=model_toml, fps=25.0, k=3, n=3))
    daemon = spawn(config, notify.env())
    notify.wait_for(has_line("READY=1"), 30, daemon.proc, "READY=1")
    wait_rows(db, 3, 20, daemon)
    assert any("no agreement yet" in str(row[REASON]) for row in committed(db))

    # k=1 of 1 and emit=every: every frame with digits agrees with itself, so after the
    # reload no row can be rejected for lack of agreement.
    config.write_text(config_text(state, model=model_toml, fps=25.0, k=1, n=1, emit="every"))
    os.kill(daemon.pid, signal.SIGHUP)
    notify.wait_for(has_line("RELOADING=1"), 10, daemon.proc, "RELOADING=1")
    reloading = notify.messages[-1]
    assert any(line.startswith("MONOTONIC_USEC=") for line in reloading.splitlines())
    notify.wait_for(has_line("READY=1"), 10, daemon.proc, "READY=1 after the reload")
    ready_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    count_at_ready = len(committed(db))

    rows = wait_rows(db, count_at_ready + 5, 20, daemon)
    assert daemon.proc.poll() is None
    ids = [row[ID] for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    newer = [row for row in rows if str(row[TS]) > ready_at]
    assert newer, "no rows written after the reload"
    assert not [row for row in newer if "no agreement" in str(row[REASON])], "the new k/n did not apply"

    # A broken config on reload: keep running with the old one, say so once, stay READY.
    config.write_text(config_text(state, model=model_toml, extra="bogus = 1\n"))
    os.kill(daemon.pid, signal.SIGHUP)
    notify.wait_for(has_line("RELOADING=1"), 10, daemon.proc, "RELOADING=1 (bad config)")
    notify.wait_for(has_line("READY=1"), 10, daemon.proc, "READY=1 (bad config)")
    grown = len(committed(db))
    wait_rows(db, grown + 3, 20, daemon)
    assert daemon.stop() == 0
    errors = [line for line in daemon.stderr().splitlines() if "reload failed" in line]
    assert len(errors) == 1 and "bogus" in errors[0], daemon.stderr()
    assert "Traceback" not in daemon.stderr()


# ---------------------------------------------------------------- 5. bad configs, bad models, no camera


BAD_CONFIGS = {
    "unknown-key": ("[stabiliser]\nkk = 3\n", "stabiliser.kk", ":2:"),
    "wrong-type": ("[source]\nfps = \"fast\"\n", "source.fps", ":2:"),
    "k-above-n": ("[stabiliser]\nk = 6\nn = 5\n", "stabiliser.k", ":2:"),
    "bad-toml": ("[source\nfps = 1\n", "invalid TOML", "line 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_config_names_the_bad_key(tmp_path, case):
    text, key, where = BAD_CONFIGS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_cli("device", "check-config", str(path), timeout=60)
    assert result.returncode == 78
    assert_one_line_error(result, str(path), key, where)
    assert result.stdout == ""


def test_check_config_accepts_the_shipped_examples(tmp_path, model_toml):
    for path in (ROOT / "systemd" / "digitcam.toml.example", ROOT / "device" / "samples" / "demo.toml"):
        result = run_cli("device", "check-config", str(path), timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{path}: ok\n")
        assert "source:" in result.stdout and result.stderr == ""


def test_daemon_refuses_an_unknown_key_with_exit_78(tmp_path, notify):
    config = tmp_path / "digitcam.toml"
    text = config_text(tmp_path / "state").replace("k = 2\n", "k = 2\nkk = 3\n")
    config.write_text(text)
    line = text.splitlines().index("kk = 3") + 1
    result = subprocess.run([*DIGITCAM, "device", "run", "--config", str(config)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, env=notify.env())
    assert result.returncode == 78
    assert_one_line_error(result, f"{config}:{line}: stabiliser.kk: unknown key")
    assert not notify.drain(0.1), "a daemon with a bad config must not talk to systemd"
    assert not (tmp_path / "state").exists()


def test_daemon_refuses_a_commit_interval_of_zero_with_exit_78(tmp_path):
    # It once passed validation and the daemon then died in the field log's options with a traceback.
    config = tmp_path / "digitcam.toml"
    text = config_text(tmp_path / "state", commit_s=0)
    config.write_text(text)
    line = text.splitlines().index("commit_interval_s = 0") + 1
    result = subprocess.run([*DIGITCAM, "device", "run", "--config", str(config)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 78
    assert_one_line_error(result, f"{config}:{line}: fieldlog.commit_interval_s: 0.0 is out of range")


def _flip_bytes(bundle: Path) -> Path:
    tflite = bundle.with_suffix(".tflite")
    data = bytearray(tflite.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tflite.write_bytes(bytes(data))
    return tflite


def _truncate_json(bundle: Path) -> Path:
    bundle.write_text(bundle.read_text()[:40])
    return bundle


def _garbage_with_matching_sha(bundle: Path) -> Path:
    tflite = bundle.with_suffix(".tflite")
    tflite.write_bytes(bytes(range(256)) * 64)
    meta = json.loads(bundle.read_text())
    meta["sha256"] = hashlib.sha256(tflite.read_bytes()).hexdigest()
    bundle.write_text(json.dumps(meta))
    return tflite


def _missing_tflite(bundle: Path) -> Path:
    tflite = bundle.with_suffix(".tflite")
    tflite.unlink()
    return tflite


DAMAGE = {"flipped-byte": _flip_bytes, "truncated-json": _truncate_json,
          "garbage-model": _garbage_with_matching_sha, "missing-tflite": _missing_tflite}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_daemon_refuses_a_damaged_model(tmp_path, notify, bundle, damage):
    copy = tmp_path / "model" / "digits.json"
    copy.parent.mkdir()
    for suffix in (".json", ".tflite"):
        shutil.copy2(bundle.with_suffix(suffix), copy.with_suffix(suffix))
    named = DAMAGE[damage](copy)
    config = tmp_path / "digitcam.toml"
    config.write_text(config_text(tmp_path / "state", model=f'[model]\npath = "{copy}"\n'))
    result = subprocess.run([*DIGITCAM, "device", "run", "--config", str(config)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT, env=notify.env())
    assert result.returncode == 4
    assert_one_line_error(result, str(named))
    assert not any(has_line("READY=1")(m) for m in notify.drain(0.1)), "READY=1 without a model"


@pytest.fixture(scope="module")
def lost_camera(tmp_path_factory, model_toml) -> dict[str, object]:
    """One run of the daemon on a replay folder that does not exist."""
    tmp_path = tmp_path_factory.mktemp("lost")
    listener = NotifyListener(tmp_path)
    config = tmp_path / "digitcam.toml"
    missing = tmp_path / "no-such-folder"
    config.write_text(config_text(tmp_path / "state", model=model_toml, spec=f"replay:{missing}"))
    proc = subprocess.Popen([*DIGITCAM, "device", "run", "--config", str(config)], cwd=ROOT,
                            env=listener.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        listener.wait_for(has_line("READY=1"), 30, proc, "READY=1")
        listener.drain(2.0)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        listener.drain(0.3)
        code = proc.wait(8)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        listener.close()
    return {"alive": alive, "code": code, "stderr": stderr, "messages": listener.messages,
            "missing": str(missing)}


def test_missing_replay_folder_keeps_the_daemon_running(lost_camera):
    assert lost_camera["alive"], lost_camera["stderr"]
    assert lost_camera["code"] == 0
    seen = statuses(lost_camera["messages"])
    lost = [s for s in seen if "camera lost" in s]
    assert lost and lost_camera["missing"] in lost[0], seen
    # Still pinging the watchdog while it waits for the camera.
    assert sum(m == "WATCHDOG=1" for m in lost_camera["messages"]) >= 1
    warnings = [line for line in str(lost_camera["stderr"]).splitlines() if "camera lost" in line]
    assert len(warnings) == 1, lost_camera["stderr"]  # once per outage, not per retry
    assert "Traceback" not in str(lost_camera["stderr"])


def test_status_still_says_camera_lost_while_it_is_lost(lost_camera):
    seen = statuses(lost_camera["messages"])
    assert seen and "camera lost" in seen[-1], seen


# ---------------------------------------------------------------- 6. bench


PERCENTILES = {"p50", "p95", "p99", "max"}


def test_bench_json_and_compare(tmp_path, model_opt):
    args = ["device", "bench", "--source", "replay:device/samples/frames", "--frames", "30",
            "--warmup", "5", *model_opt]
    result = run_cli(*args, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    bench = json.loads(lines[0])
    assert bench["frames"] == 30
    assert bench["fps"] > 0
    assert set(bench["total"]) >= PERCENTILES
    assert bench["stages"] and {"segment", "infer", "decode"} <= set(bench["stages"])
    for name, stage in bench["stages"].items():
        assert set(stage) >= PERCENTILES, name
        assert 0 <= stage["p50"] <= stage["p95"] <= stage["p99"] <= stage["max"], name
    assert set(bench["invoke_ms"]) >= PERCENTILES
    assert bench["rss_mb"] > 0 and bench["model_load_ms"] > 0

    previous = tmp_path / "previous.json"
    previous.write_text(result.stdout)
    compared = run_cli(*args, "--compare", str(previous), timeout=120)
    assert compared.returncode == 0, compared.stderr
    rows: dict[str, str] = {}
    for line in compared.stdout.splitlines()[2:]:
        rows.setdefault(line.split(" ", 1)[0], line)
    for stage in (*bench["stages"], "total"):
        assert " p50 " in rows[stage] and "%" in rows[stage], compared.stdout


@pytest.mark.parametrize("source", ["replay:/no/such/folder", "bogus"])
def test_bench_bad_source_is_one_line(source, model_opt):
    result = run_cli("device", "bench", "--source", source, "--frames", "3", "--warmup", "0", *model_opt,
                     timeout=60)
    assert result.returncode != 0
    assert_one_line_error(result, source)
    assert result.stdout == ""


def test_bench_compare_with_a_bad_file_is_one_line(tmp_path, model_opt):
    previous = tmp_path / "previous.json"
    previous.write_text("{not json")
    result = run_cli("device", "bench", "--frames", "3", "--warmup", "0", "--compare", str(previous),
                     *model_opt, timeout=60)
    assert result.returncode != 0
    assert_one_line_error(result, str(previous))



def test_bench_compare_with_a_malformed_result_is_one_line(tmp_path, model_opt):
    previous = tmp_path / "previous.json"
    previous.write_text('{"stages": []}')
    result = run_cli("device", "bench", "--frames", "3", "--warmup", "0", "--compare", str(previous),
                     *model_opt, timeout=60)
    assert result.returncode != 0
    assert_one_line_error(result, str(previous))
