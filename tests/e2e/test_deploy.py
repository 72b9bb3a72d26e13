"""``digitcam deploy`` end to end against a real Debian host with real systemd,
booted here with systemd-nspawn and reached over real ssh (see guest.py).

The tests of the main guest run in file order and build on each other, as a
user's session would: push, look, hang, push again, push a broken release,
roll back. Each asserts what systemd itself says, through ssh.

``DIGITCAM_E2E_ARCH=arm64`` runs the same on an emulated aarch64 guest
(``make e2e-arm64``; about 6x slower, so the timeouts scale).
``DIGITCAM_E2E_WHEEL=FILE`` pushes a prebuilt wheel instead of building one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import guest as guestlib
import pytest

# The tflite-runtime venv collects this module too (and deselects it): it has no selenium.
pytest.importorskip("selenium", reason="selenium (the dev extra) is not installed")
from mosquitto import Broker, Subscriber
from selenium.webdriver.common.by import By
from test_ha_discovery import DISCOVERY_TOPIC, ha_problems
from webclient import chromium, http, latest_reading, metric, scrape

from digitcam.device.reading import utc_now

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARCH = os.environ.get("DIGITCAM_E2E_ARCH") or guestlib.host_arch()
RECIPE = guestlib.Recipe(arch=ARCH)
SLOW = 6.0 if RECIPE.foreign else 1.0  # emulation
HEALTH_TIMEOUT = 90 * SLOW
REMOTE_DIGITCAM = "/opt/digitcam/current/venv/bin/digitcam"
MAX_EXPOSURE = 2.5

# Natively 5 fps; emulated, fps 0 replays every frame as fast as the emulated CPU
# manages (~3 fps): dropping frames there would leave the stabiliser no agreement.
FPS = "0.0" if RECIPE.foreign else "5.0"
E2E_CONFIG = f"""\
# digitcam e2e: replay the frames shipped in the release.
[source]
spec = "replay:/opt/digitcam/current/samples"
fps = {FPS}
loop = true

[model]
path = "/opt/digitcam/current/model/model.json"

[stabiliser]
k = 2
n = 3
min_confidence = 0.5

[console]
enabled = false
"""

# The same with the camera: the picamera2 stand-in, installed as apt installs
# python3-picamera2, replays the sample frames through picamera2's API.
CAMERA_FPS = "2.0" if RECIPE.foreign else "5.0"
CAMERA_CONFIG = E2E_CONFIG.replace('spec = "replay:/opt/digitcam/current/samples"', 'spec = "picamera2"') \
    .replace(f"fps = {FPS}\nloop = true\n", f"fps = {CAMERA_FPS}\n")
STANDIN = Path(__file__).with_name("fake_picamera2") / "picamera2"
SYSTEM_SITE = "/usr/lib/python3/dist-packages"  # where apt puts python3-picamera2

reason = guestlib.cannot_run(RECIPE)
if reason:
    pytest.skip(f"cannot boot a systemd guest here: {reason}", allow_module_level=True)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[guestlib.Guest]:
    guest = guestlib.Guest(tmp_path_factory.mktemp("guest"), RECIPE)
    started = time.monotonic()
    guest.start(ssh_timeout=120 * SLOW)
    print(f"\nguest {ARCH}: {guest.timings} (total {time.monotonic() - started:.1f} s)")
    install_picamera2_standin(guest, tmp_path_factory.mktemp("standin"))
    yield guest
    guest.stop()
    print(f"\nguest stopped in {guest.timings.get('stop_s', 0):.1f} s")


def install_picamera2_standin(guest: guestlib.Guest, workdir: Path) -> None:
    """As a Pi has python3-picamera2: in the system's dist-packages, reached by
    the release's venv only through --system-site-packages, and "built" against
    apt's numpy (its _built.py records that numpy's dtype size, which the
    stand-in checks at import as simplejpeg does)."""
    import cv2
    import numpy as np

    package = workdir / "picamera2"
    shutil.copytree(STANDIN, package, ignore=shutil.ignore_patterns("__pycache__", "_built.py", "frames"))
    (package / "frames").mkdir()
    for path in sorted((ROOT / "device" / "samples" / "frames").glob("*.jpg")):
        np.save(package / "frames" / f"{path.stem}.npy", cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    guest.copy_in(package, f"{SYSTEM_SITE}/")
    record = "import numpy; print('NUMPY_DTYPE_SIZE =', numpy.dtype.__basicsize__)"
    guest.ssh(f"chmod -R a+rX {SYSTEM_SITE}/picamera2 && "
              f"python3 -c {shlex.quote(record)} > {SYSTEM_SITE}/picamera2/_built.py")
    check = guest.ssh(["python3", "-c",
                       "import picamera2, numpy; print(picamera2.__file__, numpy.__version__)"])
    print(f"\npicamera2 stand-in in the guest: {check.stdout.strip()}")


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The shipped default bundle, or the pilot bundle until the trained one lands."""
    from digitcam.device.bundle import RecogniserBundle, shipped

    for path in (shipped(RecogniserBundle), Path("/tmp/pilot/bundle/digits.json")):
        if path.is_file():
            return path
    pytest.fail("no model bundle: neither the shipped one nor /tmp/pilot/bundle")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, bundle: Path) -> dict[str, Path]:
    """The e2e config and a deliberately broken bundle: its metadata claims an
    input height the model does not have; the checksum still matches, so only
    the device, loading it on the target, can tell."""
    d = tmp_path_factory.mktemp("files")
    (d / "e2e.toml").write_text(E2E_CONFIG)
    (d / "camera.toml").write_text(CAMERA_CONFIG)
    broken = d / "broken"
    broken.mkdir()
    shutil.copy2(bundle.with_suffix(".tflite"), broken / "digits.tflite")
    meta = json.loads(bundle.read_text())
    meta["input"]["height"] += 1
    (broken / "digits.json").write_text(json.dumps(meta))
    return {"config": d / "e2e.toml", "camera": d / "camera.toml", "broken": broken / "digits.json"}


@pytest.fixture(scope="module")
def deploy(host: guestlib.Guest, bundle: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real CLI, as a user runs it, with the guest's key and known_hosts."""

    def run(command: str, *args: str, target: str | None = None, timeout: float = 900 * SLOW,
            ssh: tuple[str, ...] | None = None) -> subprocess.CompletedProcess[str]:
        ssh_args = ssh if ssh is not None else ("--identity", str(host.identity),
                                                "--known-hosts", str(host.known_hosts))
        # The installed console script: with ``python -m`` from the checkout, a stale
        # digitcam.egg-info there could shadow the installed entry points.
        argv = [str(Path(sys.executable).with_name("digitcam")), "deploy", command, target or host.target,
                *ssh_args, *args]
        if command == "push" and "--model" not in args:
            argv += ["--model", str(bundle)]
        if command == "push" and (wheel := os.environ.get("DIGITCAM_E2E_WHEEL")):
            argv += ["--wheel", wheel]
        started = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=host.workdir)
        print(f"\n$ digitcam deploy {command} … ({time.monotonic() - started:.1f} s, rc {result.returncode})"
              f"\n{result.stdout}{result.stderr}")
        return result

    return run


def props(host: guestlib.Guest, *names: str) -> dict[str, str]:
    out = host.ssh(["systemctl", "show", "digitcam.service", f"--property={','.join(names)}"]).stdout
    values: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:  # a property may repeat (DeviceAllow=): keep every value
            values[key] = f"{values[key]}\n{value}" if key in values else value
    return values


def current(host: guestlib.Guest) -> str:
    return host.ssh(["readlink", "/opt/digitcam/current"]).stdout.strip().rsplit("/", 1)[-1]


def readings(host: guestlib.Guest) -> list[dict[str, object]]:
    out = host.ssh(["runuser", "-u", "digitcam", "--", REMOTE_DIGITCAM, "log", "--state-dir",
                    "/var/lib/digitcam", "export", "--jsonl"], check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def wait_for(what: str, check: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(1.0)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def fresh_accepted(host: guestlib.Guest, after_id: int) -> list[dict[str, object]]:
    return [r for r in readings(host) if int(r["id"]) > after_id and r["accepted"]]  # type: ignore[call-overload]


def last_id(host: guestlib.Guest) -> int:
    rows = readings(host)
    return int(rows[-1]["id"]) if rows else 0  # type: ignore[call-overload]


STATE: dict[str, str] = {}
Deploy = Callable[..., subprocess.CompletedProcess[str]]


# ------------------------------------------------------------------ the happy path
def test_push_installs_a_service_that_reads(host: guestlib.Guest, deploy: Deploy,
                                            files: dict[str, Path], bundle: Path) -> None:
    result = deploy("push", "--model", str(bundle), "--config", str(files["config"]),
                    "--health-timeout", str(HEALTH_TIMEOUT))
    assert result.returncode == 0, result.stderr
    assert "installed /etc/digitcam/digitcam.toml" in result.stdout
    STATE["first"] = current(host)
    assert re.fullmatch(r"0\.1\.0-\d{8}T\d{6}Z|[\w.+]+-\d{8}T\d{6}Z", STATE["first"])
    assert STATE["first"] in result.stdout  # the summary table names the release
    assert host.ssh(["systemctl", "is-active", "digitcam.service"]).stdout.strip() == "active"
    assert host.ssh(["systemctl", "is-enabled", "digitcam.service"]).stdout.strip() == "enabled"
    rows = wait_for("accepted readings in the field log", lambda: fresh_accepted(host, 0), 60 * SLOW)
    assert rows
    # The config installed is the one pushed, owned so that only the service can read it.
    assert host.ssh(["cat", "/etc/digitcam/digitcam.toml"]).stdout == E2E_CONFIG
    mode = host.ssh(["stat", "-c", "%a %U:%G", "/etc/digitcam/digitcam.toml"]).stdout.split()
    assert mode == ["640", "root:digitcam"]


def test_the_release_uses_apts_numpy_and_loads_the_systems_picamera2(host: guestlib.Guest) -> None:
    """Nothing in the venv shadows apt's numpy, so apt's picamera2 (here the
    stand-in) imports; deploy ran the same check before it switched."""
    venv = "/opt/digitcam/current/venv"
    own = host.ssh(f"ls {venv}/lib/python3*/site-packages | grep -i '^numpy' || true").stdout.split()
    assert own == [], own
    out = host.ssh([REMOTE_DIGITCAM, "device", "check-source", "/etc/digitcam/digitcam.toml"]).stdout
    print(f"\n{out}")
    assert re.search(rf"numpy 1\.24\.\d+ from {SYSTEM_SITE}\n", out), out
    assert f"picamera2 from {SYSTEM_SITE}\n" in out, out


def test_status_line_reaches_systemctl_status(host: guestlib.Guest) -> None:
    out = host.ssh(["systemctl", "status", "--no-pager", "digitcam.service"], check=False).stdout
    status = re.search(r"Status: \"(.*)\"", out)
    assert status and re.search(r"\d+ frames", status.group(1)), out


def test_readings_reach_journald_as_structured_entries(host: guestlib.Guest) -> None:
    """python3-systemd from apt, seen through the venv's --system-site-packages."""
    def entries() -> list[dict[str, str]]:
        out = host.ssh(["journalctl", "--unit", "digitcam.service", "--output=json", "--no-pager",
                        "--lines=500"]).stdout
        return [e for e in map(json.loads, out.splitlines()) if "DIGITCAM_TEXT" in e]

    found = wait_for("journal entries with DIGITCAM_TEXT", entries, 30 * SLOW)
    assert found[-1]["DIGITCAM_ACCEPTED"] == "1"  # type: ignore[index]


def test_unit_verifies_clean_and_scores_under_2_5(host: guestlib.Guest) -> None:
    verify = host.ssh(["systemd-analyze", "verify", "/etc/systemd/system/digitcam.service"], check=False)
    assert verify.returncode == 0 and not (verify.stdout + verify.stderr).strip(), verify
    security = host.ssh(["systemd-analyze", "security", "--no-pager", "digitcam.service"]).stdout
    score = float(re.search(r"Overall exposure level for digitcam.service: ([\d.]+)", security).group(1))  # type: ignore[union-attr]
    print(f"\nsystemd-analyze security digitcam.service: exposure {score}")
    assert score <= MAX_EXPOSURE, security


def test_the_daemon_runs_under_every_hardening_directive(host: guestlib.Guest) -> None:
    """systemd took each directive, and the running process shows it."""
    expected = {
        "Type": "notify", "User": "digitcam", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "ProtectClock": "yes", "ProtectHostname": "yes", "ProtectProc": "invisible",
        "RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "RemoveIPC": "yes",
        "DevicePolicy": "closed", "CapabilityBoundingSet": "", "WatchdogUSec": "30s",
        "Restart": "on-failure", "StartLimitBurst": "5",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",  # as systemctl sorts them
    }
    got = props(host, *expected, "MainPID", "ActiveState", "MemoryMax", "CPUQuotaPerSecUSec", "TasksMax",
                "SystemCallFilter", "DeviceAllow", "StateDirectory", "ConfigurationDirectory",
                "SupplementaryGroups")
    assert got["ActiveState"] == "active"
    assert {k: got.get(k) for k in expected} == expected
    assert got["MemoryMax"] == str(400 * 2**20) and got["CPUQuotaPerSecUSec"] == "2s"
    assert got["TasksMax"] == "64" and got["SupplementaryGroups"] == "video"
    assert got["StateDirectory"] == "digitcam" and got["ConfigurationDirectory"] == "digitcam"
    assert "sched_setaffinity" not in got["SystemCallFilter"].split()  # @resources is denied
    allowed = got["DeviceAllow"]
    assert all(d in allowed for d in ("char-video4linux", "char-media", "char-dma_heap")), allowed
    pid = got["MainPID"]
    status = host.ssh(["cat", f"/proc/{pid}/status"]).stdout
    fields = dict(re.findall(r"^(\w+):\s*(.*)$", status, re.M))
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    assert int(fields["CapBnd"], 16) == 0 and int(fields["CapEff"], 16) == 0
    assert "44" in fields["Groups"].split()  # video
    # The service's mount table: ProtectSystem=strict mounts / read-only,
    # StateDirectory= binds the state dir writable, ReadOnlyPaths= keeps
    # /etc/digitcam read-only, PrivateTmp= and ProtectHome= mount over /tmp, /root.
    mounts = {}
    for line in host.ssh(["cat", f"/proc/{pid}/mountinfo"]).stdout.splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")[0]  # the topmost mount at a point wins
    assert mounts["/"] == "ro" and mounts["/etc/digitcam"] == "ro", mounts
    assert mounts["/var/lib/digitcam"] == "rw" and "/tmp" in mounts and "/root" in mounts, mounts
    if RECIPE.foreign:
        return  # qemu-user cannot setns(), so nsenter does not work in an emulated guest
    # And from inside (even as root): writes fail where they should, work where they must.
    host.ssh("touch /tmp/outside-the-service")
    inside = ["nsenter", f"--target={pid}", "--mount", "--", "sh", "-c"]
    probe = ("for d in /opt/digitcam /etc/digitcam /usr /var/lib/digitcam; do "
             "if touch $d/.w 2>/dev/null; then rm $d/.w; echo $d rw; else echo $d ro; fi; done; "
             "ls -A /root | wc -l; test -e /tmp/outside-the-service && echo shared-tmp || echo private-tmp")
    seen = host.ssh([*inside, probe]).stdout.split("\n")
    assert seen[:4] == ["/opt/digitcam ro", "/etc/digitcam ro", "/usr ro", "/var/lib/digitcam rw"], seen
    assert seen[4:6] == ["0", "private-tmp"], seen


def test_inference_is_not_slowed_by_the_sandbox(host: guestlib.Guest,
                                                deploy: Deploy) -> None:
    """ProcSubset=pid once hid /proc/cpuinfo and made LiteRT ~70x slower; the
    service's infer p50 must stay near `digitcam device bench` outside it."""
    result = deploy("bench", "--json", "--frames", "60")
    assert result.returncode == 0, result.stderr
    bench = json.loads(result.stdout.strip().splitlines()[-1])
    bench_p50 = float(bench["stages"]["infer"]["p50"])
    status = props(host, "StatusText")["StatusText"]
    service_p50 = float(re.search(r"infer ([\d.]+)/", status).group(1))  # type: ignore[union-attr]
    print(f"\ninfer p50: service {service_p50} ms, bench {bench_p50} ms")
    assert service_p50 < max(5 * bench_p50, 20 * SLOW), (service_p50, bench_p50)


def test_deploy_status_shows_readings_with_latency(host: guestlib.Guest,
                                                   deploy: Deploy) -> None:
    result = deploy("status")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(host.target))
    assert STATE["first"] in row and "active/running" in row
    assert re.search(r"\d+ \(\d\.\d\d\) \d{4}-\d\d-\d\dT", row), row  # last reading (confidence) time
    assert re.search(r"\b\d+/\d+\b", row.split("Z", 1)[-1]), row  # latency p50/p95
    data = json.loads(deploy("status", "--json").stdout.splitlines()[0])
    assert data["state"] == "active" and data["last_accepted"]["text"]


def test_deploy_logs_shows_the_journal(deploy: Deploy) -> None:
    result = deploy("logs", "-n", "20")
    assert result.returncode == 0 and "digitcam" in result.stdout


def test_deploy_logs_follows_until_interrupted(host: guestlib.Guest) -> None:
    argv = [str(Path(sys.executable).with_name("digitcam")), "deploy", "logs", host.target, "-f", "-n", "0",
            "--identity", str(host.identity), "--known-hosts", str(host.known_hosts)]
    # A shell running the suite in the background hands SIGINT down as ignored; restore
    # the default so Ctrl-C (our SIGINT) reaches the command as it would from a terminal.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=host.workdir,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # a new reading arrives within seconds at 5 fps
        assert "digitcam" in line, line
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code in (0, 130, -signal.SIGINT)


# ------------------------------------------------------------------ failure and recovery
def test_watchdog_kills_and_restarts_a_hung_daemon(host: guestlib.Guest) -> None:
    """SIGSTOP freezes every thread, so no WATCHDOG=1 is sent: exactly a hang as
    systemd sees one. systemd sends SIGABRT (then SIGCONT), Python's faulthandler
    writes the stacks, and Restart= brings it back."""
    before = props(host, "MainPID", "NRestarts")
    host.ssh(["kill", "-STOP", before["MainPID"]])
    started = time.monotonic()

    def restarted() -> bool:
        now = props(host, "MainPID", "NRestarts", "ActiveState", "SubState")
        return (int(now["NRestarts"]) > int(before["NRestarts"]) and now["ActiveState"] == "active"
                and now["SubState"] == "running" and now["MainPID"] not in ("0", before["MainPID"]))

    wait_for("the watchdog to restart the daemon", restarted, 30 + 60 * SLOW)
    print(f"\nwatchdog restart after {time.monotonic() - started:.0f} s (WatchdogSec=30, RestartSec=5)")
    journal = host.ssh(["journalctl", "--unit", "digitcam.service", "--no-pager", "--lines=200"]).stdout
    assert "Watchdog timeout" in journal
    assert "Fatal Python error" in journal  # PYTHONFAULTHANDLER=1: the hang explains itself
    mark = last_id(host)
    wait_for("readings after the restart", lambda: fresh_accepted(host, mark), 60 * SLOW)


def test_second_push_keeps_the_users_config(host: guestlib.Guest,
                                            deploy: Deploy,
                                            files: dict[str, Path], bundle: Path) -> None:
    edited = E2E_CONFIG.replace("min_confidence = 0.5", "min_confidence = 0.4") + "# edited on the host\n"
    host.ssh(["sh", "-c", "cat > /etc/digitcam/digitcam.toml"], input=edited)
    time.sleep(1.1)  # release names have one-second resolution
    result = deploy("push", "--model", str(bundle), "--config", str(files["config"]),
                    "--health-timeout", str(HEALTH_TIMEOUT))
    assert result.returncode == 0, result.stderr
    assert host.ssh(["cat", "/etc/digitcam/digitcam.toml"]).stdout == edited
    assert "kept your /etc/digitcam/digitcam.toml" in result.stdout
    assert "-min_confidence = 0.4" in result.stdout and "+min_confidence = 0.5" in result.stdout  # shown
    STATE["second"] = current(host)
    assert STATE["second"] != STATE["first"]
    releases = host.ssh(["ls", "/opt/digitcam/releases"]).stdout.split()
    assert set(releases) == {STATE["first"], STATE["second"]}
    mark = last_id(host)
    wait_for("readings from the second release", lambda: fresh_accepted(host, mark), 60 * SLOW)


def test_broken_release_is_rolled_back_and_the_old_one_keeps_reading(
        host: guestlib.Guest, deploy: Deploy,
        files: dict[str, Path]) -> None:
    time.sleep(1.1)
    result = deploy("push", "--model", str(files["broken"]), "--config", str(files["config"]),
                    "--health-timeout", str(HEALTH_TIMEOUT))
    assert result.returncode == 1
    assert f"rolled back to {STATE['second']} and it is healthy" in result.stdout
    assert "does not match metadata" in result.stdout  # the journal's last lines, shown
    assert current(host) == STATE["second"]
    releases = host.ssh(["ls", "/opt/digitcam/releases"]).stdout.split()
    assert set(releases) == {STATE["first"], STATE["second"]}  # the broken one is gone
    assert props(host, "ActiveState")["ActiveState"] == "active"
    mark = last_id(host)
    wait_for("readings from the old release", lambda: fresh_accepted(host, mark), 60 * SLOW)


def test_rollback_switches_to_the_previous_release(host: guestlib.Guest,
                                                   deploy: Deploy) -> None:
    result = deploy("rollback", "--health-timeout", str(HEALTH_TIMEOUT))
    assert result.returncode == 0, result.stderr
    assert current(host) == STATE["first"]
    assert props(host, "ActiveState")["ActiveState"] == "active"
    mark = last_id(host)
    wait_for("readings after the rollback", lambda: fresh_accepted(host, mark), 60 * SLOW)
    again = deploy("rollback")
    assert again.returncode == 1 and "no earlier release" in again.stdout


# ------------------------------------------------------------------ the camera, to Home Assistant
def chain_config(mqtt_port: int, web_port: int) -> str:
    """The camera config with what a Home Assistant user turns on: MQTT to the broker
    on this host (nspawn shares its network, so 127.0.0.1 is the same loopback in the
    guest), the status page and /metrics, and a water meter's value."""
    return CAMERA_CONFIG + f"""
[output]
decimals = 3
unit = "m³"

[mqtt]
enabled = true
host = "127.0.0.1"
port = {mqtt_port}
node_id = "e2e"
device_name = "e2e water meter"
device_class = "water"
# What a counter is announced as. The stand-in's frames are many meters, not one
# counter, so stabiliser.monotonic (which implies it) would reject most of them.
state_class = "total_increasing"

[web]
enabled = true
port = {web_port}
"""


NODE = "e2e"
VALUE_TOPIC, AVAILABILITY_TOPIC = f"digitcam/{NODE}/value", f"digitcam/{NODE}/availability"
REGION_FILE = "/var/lib/digitcam/region.toml"
TILTED = [[100, 200], [500, 190], [505, 280], [104, 290]]  # TL TR BR BL of a strip seen at an angle


@dataclass
class Chain:
    """What the steps of TestCameraToHomeAssistant hand on to each other."""

    broker: Broker
    subscriber: Subscriber
    config: Path
    url: str
    done: set[str] = field(default_factory=set)
    mark: int = 0  # the last field log id before the daemon under test wrote

    def require(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"an earlier step of the chain failed: {', '.join(missing)}")

    def received(self) -> dict[str, dict[str, object]]:
        """Values the subscriber got on the value topic, by the reading's timestamp."""
        return {str(p["timestamp"]): p for p in map(json.loads, self.subscriber.on(VALUE_TOPIC))}


@pytest.fixture(scope="class")
def chain(host: guestlib.Guest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    d = tmp_path_factory.mktemp("chain")
    broker = Broker(d / "broker", extra="allow_anonymous true")  # mosquitto from apt, on this host
    broker.start()
    # A persistent session (clean_session=False, the broker saving it on every change): what
    # was published for it while it was away, broker restart included, reaches it.
    subscriber = Subscriber(broker.port, ("digitcam/#", "homeassistant/#"), client_id="e2e-home-assistant")
    web_port = guestlib.free_port()
    (d / "chain.toml").write_text(chain_config(broker.port, web_port))
    try:
        yield Chain(broker, subscriber, d / "chain.toml", f"http://127.0.0.1:{web_port}/")
    finally:
        subscriber.close()
        broker.kill()


def journal_since(host: guestlib.Guest, since: float) -> str:
    return host.ssh(["journalctl", "--unit", "digitcam.service", "--no-pager", "--output=cat",
                     f"--since=@{int(since)}"]).stdout


def page_status(url: str) -> dict[str, Any] | None:
    try:
        status, _, body = http(url + "api/status", timeout=5.0)
    except OSError:
        return None  # not listening (yet)
    return json.loads(body) if status == 200 else None


class TestCameraToHomeAssistant:
    """One user's path through the deployed guest, in order: ``deploy push`` with the
    camera config → the daemon reads picamera2 (the stand-in in the system's
    dist-packages, through the venv's system site packages) → readings over MQTT at a
    real mosquitto → Home Assistant discovery valid → the broker killed and restarted
    with nothing lost → the status page in Chromium shows the latest reading →
    /metrics → the ROI helper's quad, written under the unit's ProtectSystem=strict."""

    def test_push_with_the_camera_config_reads_through_the_picamera2_standin(
            self, host: guestlib.Guest, deploy: Deploy, chain: Chain) -> None:
        # A Pi with no config yet: the push installs the one pushed.
        host.ssh(["rm", "-f", "/etc/digitcam/digitcam.toml"])
        time.sleep(1.1)  # release names have one-second resolution
        since = time.time()
        result = deploy("push", "--config", str(chain.config), "--health-timeout", str(HEALTH_TIMEOUT))
        assert result.returncode == 0, result.stderr
        assert "installed /etc/digitcam/digitcam.toml" in result.stdout
        assert host.ssh(["cat", "/etc/digitcam/digitcam.toml"]).stdout == chain.config.read_text()
        STATE["camera"] = current(host)
        chain.mark = last_id(host)
        wait_for("readings from the camera", lambda: fresh_accepted(host, chain.mark), 60 * SLOW)
        # The camera stack's own lines in the service's journal: the stand-in was
        # found through the venv and configured with one YUV420 stream at the config's size.
        journal = journal_since(host, since)
        assert "Registered camera /base/soc/i2c0mux/i2c@1/imx708@1a" in journal, journal
        assert "configuring streams: (0) 640x480-YUV420" in journal, journal
        assert "picamera2 does not load" not in journal and "camera lost" not in journal, journal
        assert f"mqtt: connected to 127.0.0.1:{chain.broker.port}" in journal, journal  # as the README says
        out = host.ssh([REMOTE_DIGITCAM, "device", "check-source", "/etc/digitcam/digitcam.toml"]).stdout
        assert f"picamera2 from {SYSTEM_SITE}\n" in out, out
        chain.done.add("push")

    def test_readings_reach_the_broker_and_discovery_passes_home_assistants_schema(
            self, host: guestlib.Guest, chain: Chain) -> None:
        chain.require("push")
        sub = chain.subscriber
        sub.wait_for(lambda s: len(s.on(VALUE_TOPIC)) >= 2, 60 * SLOW, "two values from the guest")
        assert sub.on(AVAILABILITY_TOPIC)[-1:] == ["online"]
        # Home Assistant started after the guest gets the discovery configs the broker retained.
        late = Subscriber(chain.broker.port, ("homeassistant/#", VALUE_TOPIC), client_id="e2e-ha-late")
        try:
            late.wait_for(lambda s: sum(m.retain for m in s.messages) >= 6, 10,
                          "retained discovery configs and value")
            configs = {m.topic: json.loads(m.payload) for m in late.messages
                       if m.retain and m.payload and m.topic.startswith("homeassistant/")}
            # The last value first, retained; live ones may follow while we wait.
            assert [m.retain for m in late.messages if m.topic == VALUE_TOPIC][:1] == [True]
        finally:
            late.close()
        live = {m.topic: json.loads(m.payload) for m in sub.messages if m.topic.startswith("homeassistant/")}
        assert live == configs  # the same, as sent to the subscriber there at the time
        objects = {DISCOVERY_TOPIC.match(t)["object"] for t in configs}  # type: ignore[index]
        assert objects == {"value", "confidence", "status", "latency", "set_value"}, sorted(configs)
        for topic, config in configs.items():
            assert ha_problems(topic, config) == [], (topic, config)
            assert config["availability_topic"] == AVAILABILITY_TOPIC
        assert len({c["unique_id"] for c in configs.values()}) == len(configs)
        assert len({json.dumps(c["device"], sort_keys=True) for c in configs.values()}) == 1
        value = configs[f"homeassistant/sensor/{NODE}/value/config"]
        assert value["state_topic"] == VALUE_TOPIC
        assert (value["state_class"], value["device_class"], value["unit_of_measurement"]) == (
            "total_increasing", "water", "m³")
        assert value["device"]["name"] == "e2e water meter"
        # What arrived is what the guest logged: the same reading, as a water meter's m³.
        logged = {str(r["timestamp"]): r for r in readings(host) if r["accepted"]}
        for ts, payload in chain.received().items():
            if ts in logged:
                assert payload["raw"] == logged[ts]["text"] and payload["unit"] == "m³"
                assert payload["value"] == pytest.approx(int(str(logged[ts]["text"])) / 1000)
        assert set(chain.received()) & set(logged), "no value on the broker matches the guest's field log"
        chain.done.add("mqtt")

    def test_the_broker_is_killed_and_restarted_and_nothing_is_lost(
            self, host: guestlib.Guest, chain: Chain) -> None:
        """Nothing lost means: every accepted reading the deployed daemon wrote into its
        field log, from the push until after the broker is back (those taken while it was
        dead included), reaches the subscriber on the value topic with the same digits;
        and the field log has readings from inside the outage."""
        chain.require("mqtt")
        sub, broker = chain.subscriber, chain.broker
        onlines = sum(m.topic == AVAILABILITY_TOPIC and m.payload == "online" and not m.retain
                      for m in sub.messages)
        started = time.time()
        broker.kill()
        down = utc_now()
        time.sleep(6.0)  # readings go on: into the field log, and into the daemon's MQTT queue
        assert props(host, "ActiveState")["ActiveState"] == "active"
        up = utc_now()
        broker.start()
        # The daemon is back on the broker within its backoff (1, 2, 4 ... s): a fresh "online".
        sub.wait_for(lambda s: sum(m.topic == AVAILABILITY_TOPIC and m.payload == "online"
                                   and not m.retain for m in s.messages) > onlines, 30 * SLOW, "online again")
        time.sleep(2.0)
        cut = utc_now()  # readings up to here must all have arrived
        deadline = time.monotonic() + 20 * SLOW
        while True:
            logged = [r for r in fresh_accepted(host, chain.mark) if str(r["timestamp"]) < cut]
            missing = [str(r["timestamp"]) for r in logged if str(r["timestamp"]) not in chain.received()]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert missing == [], f"{len(missing)} of {len(logged)} accepted readings never reached the broker"
        during = [r for r in logged if down < str(r["timestamp"]) < up]
        assert during, (down, up)  # the field log went on while the broker was dead
        received = chain.received()
        for row in during:
            assert received[str(row["timestamp"])]["raw"] == row["text"]
        journal = journal_since(host, started)
        assert "mqtt: lost the broker" in journal, journal
        sent = [int(n) for n in re.findall(r"sent (\d+) queued reading", journal)]
        assert sent and max(sent) >= 1, journal  # some readings went out from the queue
        assert "offline queue full" not in journal
        print(f"\nbroker outage {down} .. {up}: {len(during)} accepted readings logged meanwhile, "
              f"{max(sent)} sent from the queue on reconnect; all {len(logged)} accepted since the push "
              "received")
        chain.done.add("restart")

    def test_the_status_page_in_chromium_shows_the_latest_reading(
            self, host: guestlib.Guest, chain: Chain, tmp_path: Path) -> None:
        chain.require("push")
        browser = chromium(tmp_path / "chromium-profile")
        try:
            shown, text, ts, frame_id = latest_reading(browser, chain.url)
            seen_at = utc_now()
            assert browser.find_element(By.ID, "camera").text == "camera connected"
        finally:
            browser.quit()
        assert shown == f"{int(text) / 1000:.3f} m³", (shown, text)  # decimals = 3, unit = "m³"
        time.sleep(2.0)  # the field log commits once a second
        logged = [r for r in readings(host) if r["accepted"]]
        assert (ts, frame_id, text) in {(r["timestamp"], r["frame_id"], r["text"]) for r in logged}
        # The latest: nothing the daemon accepted well before the page's last poll (every
        # second, so 3 s of slack) is newer than what the page showed.
        settled = [str(r["timestamp"]) for r in logged if str(r["timestamp"]) < utc_now_minus(seen_at, 3.0)]
        assert not settled or max(settled) <= ts, (ts, max(settled))

    def test_metrics_are_scraped_from_the_guest(self, chain: Chain) -> None:
        chain.require("push")
        samples = scrape(chain.url)
        assert metric(samples, "digitcam_readings_total") > 0
        assert metric(samples, "digitcam_frames_total") > metric(samples, "digitcam_readings_total")
        assert metric(samples, "digitcam_camera_connected") == 1
        assert metric(samples, "digitcam_fieldlog_bytes") > 0
        assert metric(samples, "digitcam_stage_latency_seconds_count", stage="infer") > 0

    def test_the_roi_helper_writes_a_quad_the_sandboxed_daemon_picks_up(
            self, host: guestlib.Guest, chain: Chain) -> None:
        """Under ProtectSystem=strict the daemon cannot write /etc/digitcam (and the file is
        root's): the helper writes the unit's state dir, and the daemon merges that file
        over [region] on reload and on every start."""
        chain.require("push")
        status = page_status(chain.url)
        assert status is not None and status["roi"] == {"enabled": True, "why": "", "config": REGION_FILE}
        etc_before = host.ssh(["sha256sum", "/etc/digitcam/digitcam.toml"]).stdout
        reply = http(chain.url + "api/region", data=json.dumps({"quad": TILTED}).encode(),
                     headers={"Content-Type": "application/json"})
        assert reply[0] == 200, reply
        body = json.loads(reply[2])
        assert body["config"] == REGION_FILE and body["quad"] == TILTED
        owner = host.ssh(["stat", "-c", "%U:%G %a", REGION_FILE]).stdout.split()
        assert owner == ["digitcam:digitcam", "640"], owner
        assert host.ssh(["sha256sum", "/etc/digitcam/digitcam.toml"]).stdout == etc_before

        def region() -> str:
            status = page_status(chain.url)
            return status["region"]["mode"] if status else ""

        def quad_in_force() -> bool:
            status = page_status(chain.url)
            return status is not None and status["region"] == {"mode": "quad", "quad": TILTED,
                                                                "rect": []}

        wait_for("the reloaded daemon to use the quad", quad_in_force, 20 * SLOW)
        # And after a restart: the daemon reads region.toml at start.
        restarted = time.time()
        host.ssh(["systemctl", "restart", "digitcam.service"], timeout=120 * SLOW)
        wait_for("the restarted daemon to use the quad", quad_in_force, 60 * SLOW)
        assert f"region quad from {REGION_FILE}" in journal_since(host, restarted)
        # Deleting the file gives the config's own region (auto) back, on a reload.
        mark = last_id(host)
        host.ssh(["rm", REGION_FILE])
        host.ssh(["systemctl", "reload", "digitcam.service"])
        wait_for("the config's own region again", lambda: region() == "auto", 20 * SLOW)
        wait_for("readings with the automatic region", lambda: fresh_accepted(host, mark), 60 * SLOW)
        assert host.ssh(["sha256sum", "/etc/digitcam/digitcam.toml"]).stdout == etc_before


def utc_now_minus(stamp: str, seconds: float) -> str:
    """An ISO UTC timestamp as the daemon writes them, ``seconds`` before ``stamp``."""
    from datetime import datetime, timedelta

    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") - timedelta(seconds=seconds)
    return then.strftime("%Y-%m-%dT%H:%M:%S.") + f"{then.microsecond // 1000:03d}Z"


def unpinned_wheel(workdir: Path) -> Path:
    """The digitcam wheel as it was before the Pi extra held numpy below 2."""
    src = workdir / "src"
    for item in ("pyproject.toml", "README.md", "LICENSE", "device", "trainer", "deploy"):
        path = ROOT / item
        if path.is_dir():
            shutil.copytree(path, src / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / item)
    pyproject = (src / "pyproject.toml").read_text()
    pinned = '"numpy>=1.23,<2",\n    "opencv-python-headless>=4.8,<4.12",'
    assert pinned in pyproject
    (src / "pyproject.toml").write_text(pyproject.replace(pinned, '"numpy>=1.23",'))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(workdir / "dist"),
                    str(src)], check=True, capture_output=True, timeout=600)
    return next((workdir / "dist").glob("digitcam-*.whl"))


def test_a_release_whose_numpy_shadows_apts_is_refused(host: guestlib.Guest, deploy: Deploy,
                                                       files: dict[str, Path], tmp_path: Path) -> None:
    """The issue's crash loop: pip puts numpy 2 (which the newest OpenCV needs)
    into the venv, it shadows apt's, and picamera2 no longer imports. The push
    refuses to switch, and the camera release keeps reading."""
    wheel = unpinned_wheel(tmp_path)
    releases_before = set(host.ssh(["ls", "/opt/digitcam/releases"]).stdout.split())
    time.sleep(1.1)
    result = deploy("push", "--wheel", str(wheel), "--config", str(files["camera"]),
                    "--health-timeout", str(HEALTH_TIMEOUT))
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith(host.target))
    assert "cannot load its camera, nothing changed" in row, row
    assert "picamera2 does not load (numpy.dtype size changed" in row and "numpy<2" in row, row
    assert current(host) == STATE["camera"]
    assert set(host.ssh(["ls", "/opt/digitcam/releases"]).stdout.split()) == releases_before
    assert props(host, "ActiveState")["ActiveState"] == "active"
    mark = last_id(host)
    wait_for("readings from the camera release", lambda: fresh_accepted(host, mark), 60 * SLOW)


# ------------------------------------------------------------------ bad input: one line, nothing done
def _one_line(result: subprocess.CompletedProcess[str], host_text: str) -> str:
    assert result.returncode == 1, result
    row = next(line for line in result.stdout.splitlines() if line.startswith(host_text))
    assert "FAILED" in row
    assert "Traceback" not in result.stderr
    return row


def test_unreachable_host(deploy: Deploy) -> None:
    target = f"root@127.0.0.1:{guestlib.free_port()}"
    row = _one_line(deploy("push", target=target, timeout=120), target)
    assert "unreachable" in row and "Connection refused" in row


def test_wrong_key(host: guestlib.Guest, deploy: Deploy,
                   tmp_path: Path) -> None:
    guestlib.make_key(tmp_path / "stranger", "not-authorized")
    row = _one_line(deploy("push", ssh=("--identity", str(tmp_path / "stranger"),
                                        "--known-hosts", str(host.known_hosts)), timeout=120), host.target)
    assert "ssh refused the key" in row


def test_changed_host_key_is_refused(host: guestlib.Guest, deploy: Deploy,
                                     tmp_path: Path) -> None:
    guestlib.make_key(tmp_path / "other", "other-host")
    kind, blob = (tmp_path / "other.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{host.port} {kind} {blob}\n")
    ssh = ("--identity", str(host.identity), "--known-hosts", str(tmp_path / "known_hosts"))
    row = _one_line(deploy("push", ssh=ssh, timeout=120), host.target)
    assert "host key not known or changed" in row


@pytest.fixture
def spare(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[guestlib.Guest]:
    """A second, fresh guest; ``boot=False`` gives one with sshd and no systemd."""
    boot = getattr(request, "param", True)
    guest = guestlib.Guest(tmp_path_factory.mktemp("spare"), RECIPE, boot=boot)
    guest.start(ssh_timeout=120 * SLOW)
    yield guest
    guest.stop()


def _push_to(guest: guestlib.Guest, deploy: Deploy) -> str:
    result = deploy("push", target=guest.target, ssh=("--identity", str(guest.identity),
                                                      "--known-hosts", str(guest.known_hosts)), timeout=300)
    return _one_line(result, guest.target)


@pytest.mark.parametrize("spare", [False], indirect=True)
def test_target_without_systemd(spare: guestlib.Guest,
                                deploy: Deploy) -> None:
    row = _push_to(spare, deploy)
    assert "systemd is not running there" in row
    assert spare.ssh("test -e /opt/digitcam", check=False).returncode != 0  # nothing done


def test_full_disk(spare: guestlib.Guest, deploy: Deploy) -> None:
    spare.ssh("mkdir -p /opt/digitcam/releases && mount -t tmpfs -o size=40m tmpfs /opt/digitcam/releases")
    row = _push_to(spare, deploy)
    assert re.search(r"not enough disk: \d+ MB free on /opt/digitcam/releases, a release needs about \d+ MB",
                     row), row
    assert spare.ssh("ls -A /opt/digitcam/releases").stdout.strip() == ""
    assert spare.ssh("test -e /etc/systemd/system/digitcam.service", check=False).returncode != 0
