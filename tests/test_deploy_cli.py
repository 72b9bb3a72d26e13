"""``digitcam deploy`` without a target host: arguments, ssh command lines, the
probe's verdicts, and the CLI's one-line errors.

The whole flow against a real systemd host is tests/e2e/test_deploy.py. Here
the probe's answers from machines that cannot exist on this box (a 32-bit
Raspberry Pi OS, an old Debian) are replayed through the same ``Runner``
seam the CLI uses, like recorded frames through a camera source.
"""

from __future__ import annotations

import io
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from digitcam.deploy import probe, release
from digitcam.deploy.env import DeployEnv, Result, Runner
from digitcam.deploy.errors import HostError, UsageError
from digitcam.deploy.push import Outcome, summary
from digitcam.deploy.target import SshOptions, Target, collect_targets, read_inventory
from digitcam.device.cli import main

ROOT = Path(__file__).resolve().parent.parent


def probe_output(**changes: str) -> str:
    """What the probe prints on a Raspberry Pi OS bookworm 64-bit Pi."""
    values = {"arch": "aarch64", "uid": "1000", "python": "3.11.2", "glibc": "glibc-2.36", "venv": "yes",
              "systemd": "yes", "rsync": "yes", "disk_path": "/opt", "disk_free_kb": str(20 * 2**20),
              "sudo": "yes", "current": "", "probe": "done"}
    values.update(changes)
    return "".join(f"{k}={v}\n" for k, v in values.items())


class ReplayRunner(Runner):
    """Answers ssh with a recorded probe; anything else means the CLI went further than it should."""

    def __init__(self, probe_text: str) -> None:
        self.probe_text = probe_text
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            env: dict[str, str] | None = None) -> Result:
        self.calls.append(list(argv))
        if argv[0] == "ssh" and "probe=done" in argv[-1]:
            return Result(0, self.probe_text, "")
        return Result(99, "", f"not expected in this test: {shlex.join(argv)}")


def run_cli(argv: list[str], runner: Runner | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = DeployEnv(stdout=out, stderr=err, runner=runner or Runner())
    code = main(argv, env)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def bundle() -> Path:
    from digitcam.device.bundle import RecogniserBundle, shipped

    for path in (shipped(RecogniserBundle), Path("/tmp/pilot/bundle/digits.json")):
        if path.is_file():
            return path
    pytest.skip("no model bundle yet (device/models is empty)")


# ------------------------------------------------------------------ targets
@pytest.mark.parametrize(("text", "user", "host", "port"), [
    ("meter-pi", None, "meter-pi", None),
    ("pi@meter-pi", "pi", "meter-pi", None),
    ("root@127.0.0.1:2222", "root", "127.0.0.1", 2222),
    ("pi@[fe80::1]:22", "pi", "fe80::1", 22),
    ("meter-pi.local", None, "meter-pi.local", None),
])
def test_targets_parse(text: str, user: str | None, host: str, port: int | None) -> None:
    target = Target.parse(text)
    assert (target.user, target.host, target.port) == (user, host, port)


@pytest.mark.parametrize("text", ["-oProxyCommand=touch /tmp/x", "pi@-evil", "pi@host:0", "pi@host:99999",
                                  "pi@host:22x", "bad user@host", "pi@host;reboot", "pi@[nothex]:22", ""])
def test_bad_targets_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        Target.parse(text)


def test_inventory_skips_comments_and_names_the_bad_line(tmp_path: Path) -> None:
    inv = tmp_path / "fleet.txt"
    inv.write_text("# the meters\npi@meter-1\n\npi@meter-2:2222  # garage\n")
    assert [str(t) for t in read_inventory(inv)] == ["pi@meter-1", "pi@meter-2:2222"]
    targets = collect_targets(["pi@meter-1", "pi@meter-3"], inv)
    assert [str(t) for t in targets] == ["pi@meter-1", "pi@meter-3", "pi@meter-2:2222"]  # no duplicates
    inv.write_text("pi@ok\npi@bad host\n")
    with pytest.raises(UsageError, match=r"fleet.txt:2:"):
        read_inventory(inv)


# ------------------------------------------------------------------ ssh and rsync command lines
def test_ssh_checks_host_keys_and_quotes_the_remote_command(tmp_path: Path) -> None:
    target = Target.parse("pi@meter-pi:2222")
    argv = SshOptions(identity=tmp_path / "key").ssh(target, ["ls", "/opt/digitcam/releases/a b; reboot"])
    assert argv[0] == "ssh" and "StrictHostKeyChecking=no" not in argv
    assert argv[-3:-1] == ["--", "pi@meter-pi"]  # the destination can never be read as an option
    assert shlex.split(argv[-1]) == ["ls", "/opt/digitcam/releases/a b; reboot"]  # one quoted argument
    assert argv[argv.index("-p"):argv.index("-p") + 2] == ["-p", "2222"]
    insecure = SshOptions(insecure_host_key=True).ssh(target, ["true"])
    assert "StrictHostKeyChecking=no" in insecure and "UserKnownHostsFile=/dev/null" in insecure
    pinned = SshOptions(known_hosts=tmp_path / "kh").ssh(target, ["true"])
    assert f"UserKnownHostsFile={tmp_path / 'kh'}" in pinned and "StrictHostKeyChecking=yes" in pinned


def test_rsync_uses_sudo_for_non_root_and_refuses_odd_remote_paths() -> None:
    argv = SshOptions().rsync(Target.parse("pi@meter-pi"), ["/tmp/w/"], "/opt/digitcam/wheels/", sudo=True,
                              delete=True)
    assert argv[argv.index("--rsync-path") + 1] == "sudo -n rsync" and "--delete" in argv
    assert argv[-1] == "pi@meter-pi:/opt/digitcam/wheels/"
    with pytest.raises(ValueError):
        SshOptions().rsync(Target.parse("pi@meter-pi"), ["x"], "/opt/$(reboot)", sudo=False)


# ------------------------------------------------------------------ the probe
def test_the_probe_script_runs_in_a_real_shell() -> None:
    out = subprocess.run(["sh", "-c", probe.PROBE_SCRIPT], capture_output=True, text=True, timeout=60).stdout
    info = probe.parse("localhost", out)
    assert info.arch == subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()
    assert info.python is not None and info.glibc is not None and info.disk_free_mb > 0


def test_a_64_bit_pi_gets_aarch64_wheels_for_its_glibc() -> None:
    info = probe.parse("pi", probe_output())
    probe.check("pi", info, need_mb=400)
    tags = info.platforms()
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_17_aarch64" in tags
    assert tags[-1] == "manylinux2014_aarch64" and info.key() == "cp311-aarch64-glibc2.36"


@pytest.mark.parametrize(("changes", "message"), [
    ({"arch": "armv7l"}, "unsupported architecture armv7l (digitcam has wheels for x86_64 and aarch64 only): "
                         "install the 64-bit Raspberry Pi OS (aarch64)"),
    ({"arch": "riscv64"}, "unsupported architecture riscv64"),
    ({"python": "3.7.3", "glibc": "glibc-2.28"}, "unsupported Python 3.7.3 (digitcam needs 3.10 or newer)"),
    ({"python": ""}, "no python3 on the target"),
    ({"glibc": "-"}, "unsupported C library: glibc none (musl?)"),
    ({"systemd": "no"}, "systemd is not running there"),
    ({"venv": "no"}, "apt-get install python3-venv"),
    ({"rsync": "no"}, "rsync is not installed there"),
    ({"sudo": "no"}, "cannot become root without a password"),
    ({"disk_free_kb": "40960"}, "not enough disk: 40 MB free on /opt, a release needs about 400 MB"),
])
def test_the_probe_refuses_with_one_line(changes: dict[str, str], message: str) -> None:
    with pytest.raises(HostError) as caught:
        probe.check("pi@meter-pi", probe.parse("pi@meter-pi", probe_output(**changes)), need_mb=400)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_cut_off_probe_is_reported() -> None:
    with pytest.raises(HostError, match="did not run to the end"):
        probe.parse("pi", "arch=aarch64\n")


# ------------------------------------------------------------------ the CLI
def test_push_to_a_32_bit_pi_stops_after_the_probe(bundle: Path) -> None:
    runner = ReplayRunner(probe_output(arch="armv7l"))
    code, out, err = run_cli(["deploy", "push", "pi@meter-pi", "--model", str(bundle)], runner)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("pi@meter-pi"))
    assert "FAILED" in row and "unsupported architecture armv7l" in row
    assert len(runner.calls) == 1  # the probe, and nothing else: no build, no copy
    assert "1 of 1 host(s) failed" in err and "Traceback" not in err


def test_one_bad_host_does_not_stop_the_others_and_the_table_says_so(bundle: Path) -> None:
    runner = ReplayRunner(probe_output(python="3.9.2"))
    argv = ["deploy", "push", "pi@a", "pi@b", "--model", str(bundle), "--parallel", "2"]
    code, out, _ = run_cli(argv, runner)
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("pi@")]
    assert len(rows) == 2 and all("unsupported Python 3.9.2" in r for r in rows)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_an_unreachable_host_is_one_line_through_real_ssh() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run_cli(["deploy", "status", f"root@127.0.0.1:{port}", "--connect-timeout", "5"])
    assert code == 1
    assert f"root@127.0.0.1:{port}" in out and "unreachable" in out and "Connection refused" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["deploy", "push"], "no hosts"),
    (["deploy", "push", "pi@-oProxyCommand=x"], "not a valid host name"),
    (["deploy", "push", "pi@a", "--keep", "1"], "--keep must be 2 or more"),
    (["deploy", "push", "pi@a", "--model", "/nonexistent.json"], "no such file"),
    (["deploy", "status", "pi@a", "--identity", "/nonexistent-key"], "no such file"),
])
def test_usage_errors_are_one_line_and_touch_nothing(argv: list[str], message: str) -> None:
    runner = ReplayRunner(probe_output())
    code, _, err = run_cli(argv, runner)
    assert code == 2 and message in err and not runner.calls
    assert len(err.strip().splitlines()) == 1


def test_deploy_help_lists_every_command() -> None:
    out = subprocess.run([str(Path(sys.executable).with_name("digitcam")), "deploy", "--help"],
                         capture_output=True, text=True, timeout=60, cwd="/")
    for command in ("push", "rollback", "status", "logs", "bench"):
        assert command in out.stdout


# ------------------------------------------------------------------ the pieces a push ships
def test_the_default_config_is_valid_and_points_at_the_release(tmp_path: Path) -> None:
    from digitcam.device.config import load_config

    path = tmp_path / "digitcam.toml"
    path.write_text(release.default_config(ROOT))
    config = load_config(path)
    assert config.source.spec == f"replay:{release.REMOTE_SAMPLES}"
    assert config.model.path == release.REMOTE_MODEL and not config.console.enabled


def test_the_agent_needs_only_the_standard_library() -> None:
    """It runs under the target's system Python before digitcam is installed there."""
    source = (ROOT / "deploy" / "agent.py").read_text()
    result = subprocess.run([sys.executable, "-I", "-", "--help"], input=source, capture_output=True,
                            text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    for action in ("prepare", "install", "activate", "rollback", "status", "abort"):
        assert action in result.stdout


def test_release_names_sort_by_time() -> None:
    assert release.release_name("0.1.0", 0) == "0.1.0-19700101T000000Z"
    with pytest.raises(Exception, match="cannot name"):
        release.release_name("0.1/../../x", 0)


def test_summary_table() -> None:
    text = summary([Outcome("pi@a", True, "0.1.0-20260101T000000Z", 41.2, "active, reading '123'"),
                    Outcome("pi@b", False, "", 0.4, "unreachable (Connection refused)")])
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "RESULT", "RELEASE", "TIME", "DETAIL"]
    assert "ok" in lines[1] and "FAILED" in lines[2] and "unreachable" in lines[2]
