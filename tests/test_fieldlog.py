"""The field log: real SQLite files, a real process killed mid-write, and
`digitcam log` driven through its handlers and as a child process."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import DIGITCAM, ROOT

from digitcam.device import fieldlog, log_command
from digitcam.device.cli import Env
from digitcam.device.config import FieldLogConfig
from digitcam.device.errors import DigitcamError
from digitcam.device.fieldlog import FieldLog, FieldLogError, canonical_ts, log_path
from digitcam.device.reading import Reading

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def reading(i: int, *, accepted: bool = True, when: datetime | None = None) -> Reading:
    ts = (when or T0 + timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Reading(
        timestamp=ts, text=f"{1000 + i}", confidence=0.5 + (i % 50) / 100,
        digit_confidences=(0.99, 0.98, 0.97, 0.5 + (i % 50) / 100),
        quad=((10.0, 20.0), (110.5, 20.0), (110.5, 50.25), (10.0, 50.25)),
        frame_id=i, accepted=accepted, reason="" if accepted else "no 2-of-3 agreement",
        latency_ms={"capture": 3.5, "infer": 11.25, "total": 20.0 + i % 7}, model_sha256="ab" * 32)


def write_log(path: Path, readings: list[Reading], **config: float) -> None:
    with FieldLog(path, FieldLogConfig(**config)) as log:  # type: ignore[arg-type]
        for r in readings:
            log.append(r)
        log.flush()


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])


# -- the log itself --------------------------------------------------------------


def test_round_trip_keeps_every_field(tmp_path):
    path = log_path(tmp_path)
    originals = [reading(i, accepted=i % 3 != 0) for i in range(12)]
    write_log(path, originals)
    with FieldLog(path, readonly=True) as log:
        rows = log.tail(100)
    assert [row.reading for row in rows] == originals
    assert [row.id for row in rows] == list(range(1, 13))
    assert Reading.from_dict(rows[0].to_dict()) == originals[0]


def test_rejected_rows_are_stored_and_flagged_with_the_reason(tmp_path):
    path = log_path(tmp_path)
    write_log(path, [reading(0), reading(1, accepted=False), reading(2)])
    with sqlite3.connect(path) as conn:
        flags = conn.execute("SELECT frame_id, accepted, reason FROM readings ORDER BY id").fetchall()
    assert flags == [(0, 1, ""), (1, 0, "no 2-of-3 agreement"), (2, 1, "")]
    with FieldLog(path, readonly=True) as log:
        assert [r.reading.frame_id for r in log.tail(10, accepted_only=True)] == [0, 2]


def test_wal_mode_full_sync_and_ts_index(tmp_path):
    path = log_path(tmp_path / "state")  # the directory is created
    log = FieldLog(path)
    try:
        assert log._conn is not None
        assert log._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        log.close()
    with sqlite3.connect(path) as conn:  # WAL is a property of the file, not the connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[0] for row in conn.execute("SELECT sql FROM sqlite_master WHERE type='index'")}
        assert any("(ts)" in (sql or "") for sql in indexes)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(readings)")]
    assert columns == ["id", "ts", "text", "confidence", "digit_confidences", "quad", "frame_id",
                       "accepted", "reason", "latency", "model_sha256"]


def test_rows_are_batched_until_a_commit_is_due_and_close_commits_the_rest(tmp_path, monkeypatch):
    path = log_path(tmp_path)
    monkeypatch.setattr(fieldlog, "COMMIT_EVERY_ROWS", 5)
    log = FieldLog(path, FieldLogConfig(commit_interval_s=0.2))
    due = [log.append(reading(i)) for i in range(5)]
    assert due == [False] * 4 + [True]
    assert count_rows(path) == 0  # nothing on disk before a flush
    assert log.flush() == 5 and count_rows(path) == 5
    log.append(reading(5))
    assert not log.commit_due()
    time.sleep(0.25)
    assert log.commit_due()  # old enough
    log.append(reading(6))
    log.close()
    log.close()  # twice is fine
    assert count_rows(path) == 7


def test_retention_by_age_deletes_only_rows_older_than_the_limit(tmp_path):
    path = log_path(tmp_path)
    now = T0 + timedelta(days=10.5)
    write_log(path, [reading(i, when=T0 + timedelta(days=i)) for i in range(10)], retention_days=4)
    with FieldLog(path, FieldLogConfig(retention_days=4)) as log:
        assert log.prune(now=now) == 7  # day 6 is 4.5 days old
        kept = [row.reading.frame_id for row in log.tail(100)]
    assert kept == [7, 8, 9]


def test_retention_by_size_deletes_the_oldest_and_the_file_stops_growing(tmp_path):
    path = log_path(tmp_path)
    budget_mb = 0.1
    sizes = []
    # A fraction of a MB (the config's max_mb is whole MB) fills in a test's time.
    with FieldLog(path, FieldLogConfig(max_mb=budget_mb, retention_days=36_500)) as log:
        for round_ in range(4):
            for i in range(1500 * round_, 1500 * (round_ + 1)):
                log.append(reading(i, accepted=i % 4 != 0))
            log.flush()
            deleted = log.prune()
            assert deleted > 0
            log.checkpoint()
            sizes.append(path.stat().st_size)
        ids = [row.id for row in log.rows()]
        assert log._conn is not None
        used = FieldLog._used_bytes(log._conn)
    assert used <= budget_mb * 1e6
    # What is left is the newest rows, without gaps.
    assert ids[-1] == 6000 and ids == list(range(ids[0], 6001)) and ids[0] > 1
    # Freed pages are reused: the file does not keep growing round after round.
    assert sizes[-1] <= sizes[1] * 1.1, sizes


def test_maintain_prunes_only_when_due(tmp_path):
    path = log_path(tmp_path)
    with FieldLog(path, FieldLogConfig(retention_days=1)) as log:  # prunes every PRUNE_EVERY_S
        log.append(reading(0, when=T0))  # years ago by the time this test runs
        log.append(reading(1, when=datetime.now(timezone.utc)))
        log.flush()
        assert log.maintain() == 0 and count_rows(path) == 2
        assert log.maintain(force=True) == 1 and count_rows(path) == 1


def test_ids_never_repeat_after_retention_empties_the_log(tmp_path):
    path = log_path(tmp_path)
    with FieldLog(path, FieldLogConfig(retention_days=1)) as log:
        log.append(reading(0, when=T0))
        log.flush()
        log.prune()
        log.append(reading(1, when=datetime.now(timezone.utc)))
        log.flush()
        assert [row.id for row in log.tail()] == [2]


def test_stats_and_export_since(tmp_path):
    path = log_path(tmp_path)
    write_log(path, [reading(i, accepted=i != 2, when=T0 + timedelta(hours=12 * i))
                     for i in range(5)])
    with FieldLog(path, readonly=True) as log:
        stats = log.stats()
        since = [row.reading.frame_id for row in log.rows(since="2026-05-02T00:00:00+02:00")]
        tiny_batches = log.rows(since="2026-05-02T00:00:00.001", batch=1)
        since_tiny_batches = [row.reading.frame_id for row in tiny_batches]
    assert (stats.rows, stats.accepted, stats.rejected) == (5, 4, 1)
    assert stats.first_ts == "2026-05-01T12:00:00.000Z" and stats.last_ts == "2026-05-03T12:00:00.000Z"
    assert stats.per_day == [("2026-05-01", 1), ("2026-05-02", 2), ("2026-05-03", 2)]
    assert stats.db_bytes > 0
    assert since == [1, 2, 3, 4]  # 2026-05-01T22:00Z and later
    assert since_tiny_batches == [2, 3, 4]


def test_canonical_ts_orders_as_text():
    assert canonical_ts("2026-05-01") == "2026-05-01T00:00:00.000Z"
    assert canonical_ts("2026-05-01T14:00:00+02:00") == "2026-05-01T12:00:00.000Z"
    assert canonical_ts("2026-05-01T12:00:00.5Z") == "2026-05-01T12:00:00.500Z"
    with pytest.raises(ValueError):
        canonical_ts("yesterday")


# -- opening fails clearly -------------------------------------------------------


def read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write in, even as root (sysfs refuses)."""
    if os.geteuid() != 0:
        tmp_path.chmod(0o500)
        return tmp_path
    try:
        (Path("/sys") / "digitcam-probe").write_text("")
    except OSError:
        return Path("/sys")
    pytest.skip("no read-only directory available as root here")


@pytest.mark.parametrize("where", ["existing dir", "dir to create"])
def test_opening_in_a_read_only_dir_is_one_clear_line(tmp_path, where):
    directory = read_only_dir(tmp_path)
    path = log_path(directory if where == "existing dir" else directory / "digitcam")
    try:
        with pytest.raises(FieldLogError) as info:
            FieldLog(path)
    finally:
        tmp_path.chmod(0o700)
    message = str(info.value)
    assert "\n" not in message and str(path.parent) in message
    assert "cannot" in message


def test_opening_on_a_full_disk_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(fieldlog, "MIN_FREE_MB", 1e12)
    with pytest.raises(FieldLogError, match=r"disk full \(.* MB free") as info:
        FieldLog(log_path(tmp_path))
    assert "\n" not in str(info.value)
    assert not log_path(tmp_path).exists()


def test_opening_under_a_file_is_one_clear_line(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    with pytest.raises(FieldLogError, match="cannot create"):
        FieldLog(log_path(tmp_path / "state" / "digitcam"))


def test_a_missing_log_says_so_and_is_not_created(tmp_path):
    with pytest.raises(FieldLogError, match=r"no field log here \(has the daemon run\?\)"):
        FieldLog(log_path(tmp_path), readonly=True)
    assert list(tmp_path.iterdir()) == []


# -- durability: a real process killed mid-run ------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from digitcam.device.fieldlog import FieldLog
    from digitcam.device.reading import Reading
    log = FieldLog(sys.argv[1])  # commits only when flushed: every 7 rows
    i = 0
    while True:
        for _ in range(7):
            log.append(Reading(timestamp="2026-05-01T12:00:00.000Z", text=str(i), confidence=0.9,
                               digit_confidences=(0.9,), quad=((0, 0), (1, 0), (1, 1), (0, 1)),
                               frame_id=i, accepted=i % 2 == 0))
            i += 1
        log.flush()
        print(i, flush=True)
""")


def read_lines(proc: subprocess.Popen[bytes], until: float, want: int | None = None,
               buffer: list[bytes] | None = None) -> list[str]:
    """Lines the child wrote to stdout before ``until`` (monotonic) or once ``want`` are in."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks = buffer if buffer is not None else []
    while time.monotonic() < until:
        lines = b"".join(chunks).split(b"\n")[:-1]
        if want is not None and len(lines) >= want:
            break
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
    return [line.decode() for line in b"".join(chunks).split(b"\n")[:-1]]


def test_rows_reported_committed_survive_sigkill(tmp_path):
    path = log_path(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        started = time.monotonic()
        lines = read_lines(proc, started + 20, want=30)
        assert len(lines) >= 30, proc.stderr.read().decode() if proc.poll() is not None else lines
        time.sleep(0.2)  # let it get well into another batch
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # Everything it printed before the kill, whether we had read it yet or not.
    assert proc.stdout is not None
    lines += proc.stdout.read().decode().split()
    reported = int(lines[-1])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        frames = [row[0] for row in conn.execute("SELECT frame_id FROM readings ORDER BY id")]
    assert len(frames) >= reported > 0
    assert frames == list(range(len(frames)))  # whole batches, nothing torn or missing


# -- `digitcam log` through its handlers --------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="digitcam")
    log_command.add_parser(top.add_subparsers(dest="command"))
    return top


def run_log(*argv: str) -> tuple[int, str]:
    args = parser().parse_args(["log", *argv])
    env = Env(stdout=io.StringIO(), stderr=io.StringIO())
    status = args.handler(args, env)
    return status, env.stdout.getvalue()


@pytest.fixture
def state(tmp_path):
    write_log(log_path(tmp_path), [reading(i, accepted=i % 4 != 3) for i in range(8)])
    return tmp_path


def test_log_tail_prints_the_last_rows_oldest_first(state):
    status, out = run_log("--state-dir", str(state), "tail", "-n", "3")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3
    assert [line.split()[1] for line in lines] == ["1005", "1006", "1007"]
    assert "rejected: no 2-of-3 agreement" in lines[2] and lines[0].rstrip().endswith("ok")
    _, accepted = run_log("tail", "--accepted", "--state-dir", str(state))  # option after the action
    assert [line.split()[1] for line in accepted.splitlines()] == ["1000", "1001", "1002", "1004",
                                                                  "1005", "1006"]


def test_log_state_dir_comes_from_the_environment(state, monkeypatch):
    monkeypatch.setenv("DIGITCAM_STATE_DIR", str(state))
    status, out = run_log("tail", "-n", "1")
    assert status == 0 and "1007" in out


def test_log_export_csv_and_jsonl(state, tmp_path):
    _, out = run_log("--state-dir", str(state), "export", "--csv")
    records = list(csv.DictReader(io.StringIO(out)))
    assert len(records) == 8
    assert records[3]["accepted"] == "0" and records[3]["reason"] == "no 2-of-3 agreement"
    assert json.loads(records[0]["quad"]) == [[10.0, 20.0], [110.5, 20.0], [110.5, 50.25], [10.0, 50.25]]
    assert float(records[5]["confidence"]) == reading(5).confidence

    target = tmp_path / "out" / "since.jsonl"
    target.parent.mkdir()
    status, out = run_log("--state-dir", str(state), "export", "--jsonl", "--since",
                          "2026-05-01T12:00:05Z", "--output", str(target))
    assert status == 0 and out == ""
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in rows] == [6, 7, 8]
    assert Reading.from_dict(rows[0]) == reading(5)
    assert [p.name for p in target.parent.iterdir()] == ["since.jsonl"]  # no temp file left


def test_log_stats(state):
    status, out = run_log("--state-dir", str(state), "stats")
    assert status == 0
    assert "8 (6 accepted, 2 rejected)" in out
    assert "2026-05-01T12:00:00.000Z" in out and "2026-05-01T12:00:07.000Z" in out
    assert "2026-05-01          8" in out


def test_log_errors_are_one_line(tmp_path, state):
    with pytest.raises(DigitcamError, match="no field log here"):
        run_log("--state-dir", str(tmp_path / "nowhere"), "stats")
    with pytest.raises(DigitcamError, match="--since 'last tuesday'"):
        run_log("--state-dir", str(state), "export", "--csv", "--since", "last tuesday")
    with pytest.raises(SystemExit):  # argparse: one of --csv/--jsonl is required
        parser().parse_args(["log", "export"])


# -- `digitcam log` as a child process ------------------------------------------------

# The same handlers without the top-level CLI, for as long as `log` is not
# registered there.
STANDALONE = textwrap.dedent("""
    import argparse, sys
    from digitcam.device import log_command
    from digitcam.device.cli import Env
    top = argparse.ArgumentParser(prog="digitcam")
    log_command.add_parser(top.add_subparsers(dest="command"))
    args = top.parse_args(sys.argv[1:])
    try:
        sys.exit(args.handler(args, Env()))
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.fixture(scope="module")
def cli_has_log() -> bool:
    probe = subprocess.run([*DIGITCAM, "log", "--help"], capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
    return probe.returncode == 0


def test_log_through_the_real_cli(state, cli_has_log):
    if not cli_has_log:
        pytest.skip("`log` is not registered in digitcam.device.cli yet")
    result = subprocess.run([*DIGITCAM, "log", "--state-dir", str(state), "tail", "-n", "2"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2 and "1007" in result.stdout
    missing = subprocess.run([*DIGITCAM, "log", "--state-dir", str(state / "none"), "stats"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("no field log here (has the daemon run?)")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_log_tail_follow_prints_rows_as_they_are_committed(state, cli_has_log):
    command = [*DIGITCAM] if cli_has_log else [sys.executable, "-c", STANDALONE]
    # A shell running us in the background hands down SIGINT as ignored, and Python then
    # never installs its Ctrl-C handler: give the child the default back, as a terminal would.
    proc = subprocess.Popen([*command, "log", "--state-dir", str(state), "tail", "-n", "1", "--follow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    buffer: list[bytes] = []
    try:
        first = read_lines(proc, time.monotonic() + 30, want=1, buffer=buffer)
        assert len(first) == 1 and "1007" in first[0], proc.stderr.read().decode() if proc.poll() else first
        with FieldLog(log_path(state)) as log:  # the daemon, meanwhile
            for i in (8, 9, 10):
                log.append(reading(i))
            log.flush()
        lines = read_lines(proc, time.monotonic() + 30, want=4, buffer=buffer)
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=30)
    assert [line.split()[1] for line in lines] == ["1007", "1008", "1009", "1010"]
    assert status == 130


def test_a_reading_without_a_strip_keeps_its_null_quad(tmp_path):
    # Reading.of is the one conversion of a frame's result; no strip is None, never zeros.
    from digitcam.device.frame_reader import FrameResult

    nothing = Reading.of(FrameResult("", 0.31234, (), {"total": 1.23456}), frame_id=3, reason="no digits")
    assert nothing.quad is None and nothing.confidence == 0.3123 and nothing.latency_ms == {"total": 1.235}
    assert nothing.to_dict()["quad"] is None and Reading.from_dict(nothing.to_dict()) == nothing
    path = tmp_path / "fieldlog.sqlite3"
    write_log(path, [nothing])
    with FieldLog(path) as log:
        (row,) = log.tail(1)
    assert row.reading == nothing
