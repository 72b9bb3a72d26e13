"""What the unit's journal shows without -v: ready, camera lost and back, and the
latency summary, each with the syslog priority journald reads."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import DIGITCAM, ROOT

FRAMES = ROOT / "device" / "samples" / "frames"

pytestmark = pytest.mark.tflite_runtime


def wait_for_line(path: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"daemon exited ({proc.returncode}) before {needle!r}:\n{path.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"no {needle!r} within {timeout}s:\n{path.read_text()}")


def test_journal_gets_ready_camera_lost_and_back_and_a_latency_summary_at_info(tmp_path):
    later = tmp_path / "camera"  # the "camera": a replay folder that appears after start-up
    config = tmp_path / "digitcam.toml"
    config.write_text(f"""\
state_dir = "{tmp_path / 'state'}"
[source]
spec = "replay:{later}"
fps = 20.0
[stabiliser]
k = 2
n = 3
min_confidence = 0.5
[snapshot]
enabled = false
[console]
enabled = false
[journal]
enabled = false
[profiling]
summary_interval_s = 1.0
""")
    log = tmp_path / "journal.txt"
    with log.open("wb") as err:
        st = os.fstat(err.fileno())
        # What systemd sets when stderr is the journal: the daemon recognises its own stderr.
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        proc = subprocess.Popen([*DIGITCAM, "device", "run", "--config", str(config)], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for_line(log, "camera lost", proc, 60)
        staging = tmp_path / "staging"
        shutil.copytree(FRAMES, staging)
        staging.rename(later)  # all frames at once, as a camera that is plugged in
        wait_for_line(log, "camera back", proc, 30)
        wait_for_line(log, "latency:", proc, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = log.read_text().splitlines()

    def line_with(needle: str) -> str:
        found = [line for line in lines if needle in line]
        assert found, "\n".join(lines)
        return found[0]

    assert line_with("ready:").startswith("<6>digitcam.device.daemon: ready: source replay:")
    assert line_with("camera lost").startswith("<4>digitcam.device.capture.resilient: camera lost")
    assert line_with("camera back").startswith("<6>digitcam.device.capture.resilient: camera back")
    summary = line_with("latency:")
    assert summary.startswith("<6>digitcam.device.profiling: latency: ") and "fps" in summary
    # journald stamps the time itself; every log line carries a priority instead.
    prefixed = [line for line in lines if line.startswith("<")]
    assert len(prefixed) >= 4 and not any(re.match(r"\d{4}-\d\d-\d\d ", line) for line in lines)
