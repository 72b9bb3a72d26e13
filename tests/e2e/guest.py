"""A real Debian host to deploy to: systemd as init, booted with systemd-nspawn,
reached over ssh on loopback.

The root file system comes from ``debootstrap`` once and is cached as a
tarball named by a hash of the recipe (suite, architecture, variant,
packages), so a rerun extracts it in seconds instead of bootstrapping for
minutes. Each ``Guest`` gets its own fresh copy, a throwaway client key, a
fresh host key (so the tests keep host-key checking on) and sshd on a free port
of 127.0.0.1; nspawn shares the host's network, so that port is reachable
from here.

Both ``--register=no`` and ``--keep-unit`` are needed because this machine
has no systemd bus of its own; for the same reason ``machinectl`` and
``systemctl -M`` do not work, and everything goes through ssh.

Run as a script to prepare or poke at a guest by hand::

    python tests/e2e/guest.py build [--arch arm64]      # build or reuse the cached tarball
    python tests/e2e/guest.py shell [--arch arm64]      # boot one and print the ssh command

Environment: ``DIGITCAM_E2E_CACHE`` (default /var/cache/digitcam-e2e),
``DIGITCAM_E2E_MIRROR`` (default: the Debian mirror apt already uses),
``DIGITCAM_E2E_KEEP=1`` keeps the guest's root after it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Bump when the way a root is made changes in a way the fields below do not show.
RECIPE_VERSION = 1
# What Raspberry Pi OS has from apt and the daemon uses (python3-systemd: journald
# and sd_notify for real; python3-numpy 1.24, which python3-picamera2 depends on
# and the picamera2 stand-in is "built" against), plus what deploy needs on the
# target (python3-venv, rsync). The list is part of the cache key.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv",
            "python3-systemd", "python3-numpy", "rsync")
DEFAULT_CACHE = Path("/var/cache/digitcam-e2e")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
HOST_TOOLS = ("systemd-nspawn", "ssh", "ssh-keygen", "rsync", "tar")
QEMU_FOR = {"arm64": "qemu-aarch64"}
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def host_arch() -> str:
    return DEB_ARCH.get(os.uname().machine, os.uname().machine)


def apt_mirror(suite: str = "bookworm") -> str:
    """The Debian mirror apt on this machine already uses for ``suite``."""
    if env := os.environ.get("DIGITCAM_E2E_MIRROR"):
        return env
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":  # deb822: URIs and Suites in one stanza
            for stanza in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
                if uris and suites and suite in suites.group(1).split() \
                        and uris.group(1).rstrip("/").endswith("/debian"):
                    return uris.group(1).rstrip("/")
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    rest = [p for p in parts[1:] if not p.startswith("[")]
                    if len(rest) >= 2 and rest[1] == suite and rest[0].rstrip("/").endswith("/debian"):
                        return rest[0].rstrip("/")
    return FALLBACK_MIRROR


@dataclass(frozen=True)
class Recipe:
    """What goes into a guest's root; its hash names the cached tarball."""

    suite: str = "bookworm"
    arch: str = field(default_factory=host_arch)
    variant: str = "minbase"
    packages: tuple[str, ...] = PACKAGES

    @property
    def foreign(self) -> bool:
        return self.arch != host_arch()

    def key(self) -> str:
        blob = json.dumps({"v": RECIPE_VERSION, "suite": self.suite, "arch": self.arch,
                           "variant": self.variant, "packages": sorted(self.packages)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def tarball(self, cache: Path) -> Path:
        return cache / f"debian-{self.suite}-{self.arch}-{self.variant}-{self.key()}.tar"


def cache_dir() -> Path:
    return Path(os.environ.get("DIGITCAM_E2E_CACHE") or DEFAULT_CACHE)


def cannot_run(recipe: Recipe | None = None) -> str | None:
    """Why this machine cannot build or boot a guest at all, or None when it can."""
    recipe = recipe or Recipe()
    if sys.platform != "linux":
        return "needs Linux (systemd-nspawn)"
    if os.geteuid() != 0:
        return "needs root (debootstrap and systemd-nspawn)"
    need = list(HOST_TOOLS)
    if not recipe.tarball(cache_dir()).is_file():
        need.append("debootstrap")
    missing = [tool for tool in need if shutil.which(tool) is None]
    if missing:
        return (f"missing {', '.join(missing)}: apt-get install debootstrap systemd-container "
                "openssh-client rsync")
    if recipe.foreign:
        qemu = QEMU_FOR.get(recipe.arch)
        if qemu is None:
            return f"no emulator known for {recipe.arch}"
        if shutil.which(f"{qemu}-static") is None:
            return f"{recipe.arch} guest needs {qemu}-static: apt-get install qemu-user-static binfmt-support"
    return None


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    logger.debug("run: %s", shlex.join(argv))
    return subprocess.run(list(argv), text=True, check=True, **kwargs)  # type: ignore[call-overload]


def enable_binfmt(arch: str) -> None:
    """Let this kernel run ``arch`` binaries through qemu-user-static, as the
    issue's recipe does (mount binfmt_misc, update-binfmts --enable)."""
    qemu = QEMU_FOR[arch]
    misc = Path("/proc/sys/fs/binfmt_misc")
    if not (misc / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)])
    entry = misc / qemu
    if not entry.exists() or "enabled" not in entry.read_text():
        _run(["update-binfmts", "--enable", qemu])
    text = entry.read_text()
    # F (fix binary): the kernel opens the interpreter now, so it works inside
    # the guest's root where /usr/bin/qemu-*-static does not exist.
    if "enabled" not in text or not re.search(r"^flags:.*F", text, re.M):
        raise RuntimeError(f"binfmt entry {entry} is not enabled with the F flag:\n{text}")


def build_tarball(recipe: Recipe, cache: Path | None = None) -> Path:
    """The cached root for ``recipe``; debootstrap it first when missing."""
    cache = cache or cache_dir()
    tarball = recipe.tarball(cache)
    if tarball.is_file():
        logger.info("guest root: reusing %s", tarball)
        return tarball
    if recipe.foreign:
        enable_binfmt(recipe.arch)
    cache.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror(recipe.suite)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        argv = ["debootstrap", f"--variant={recipe.variant}", f"--arch={recipe.arch}",
                f"--include={','.join(recipe.packages)}", recipe.suite, str(root), mirror]
        logger.info("guest root: %s", shlex.join(argv))
        log = Path(tmp) / "debootstrap.log"
        with log.open("w") as out:
            result = subprocess.run(["nice", "-n", "19", *argv], stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError("debootstrap failed:\n" + "\n".join(tail))
        # Host keys made at bootstrap would be shared by every copy; each guest makes its own.
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        # Keep the root small and boot quiet: no apt lists, no getty on a console nobody reads.
        shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".tar.partial")
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."])
        partial.rename(tarball)
    logger.info("guest root: built %s in %.0f s", tarball.name, time.monotonic() - started)
    return tarball


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(path: Path, comment: str) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
         stdout=subprocess.DEVNULL)


# qemu-user 7.2 (bookworm) passes the host's x86 /proc/cpuinfo through to an
# aarch64 guest. The cpuinfo library inside LiteRT (XNNPACK, ruy) then finds no
# ARM cores and dereferences NULL. A Pi 4 shows this (Cortex-A72, part 0xd08);
# emulated guests get it bound over /proc/cpuinfo, in the guest and, by a
# drop-in, in the service's own /proc (ProtectProc= mounts a fresh one).
PI4_CPU = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

"""
PI4_TAIL = "Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n"
CPUINFO_IN_GUEST = "/etc/digitcam-e2e/cpuinfo"
QEMU_CPU = "cortex-a72"
# nspawn's --bind-ro cannot reach into /proc (it binds there after entering the
# container); a boot-time unit in the guest can.
CPUINFO_UNIT = f"""[Unit]
Description=digitcam e2e: a Pi 4's /proc/cpuinfo for the emulated guest
DefaultDependencies=no
Before=sysinit.target ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount --bind -o ro {CPUINFO_IN_GUEST} /proc/cpuinfo
"""
CPUINFO_DROPIN = f"""# digitcam e2e, emulated guest only: what a Pi's kernel shows natively.
[Service]
BindReadOnlyPaths={CPUINFO_IN_GUEST}:/proc/cpuinfo
"""


SSHD_CONFIG = """\
# digitcam e2e: loopback only, keys only.
Port {port}
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
HostKey /etc/ssh/ssh_host_ed25519_key
"""


class Guest:
    """One booted (or, with ``boot=False``, sshd-only and systemd-less) guest."""

    _count = 0

    def __init__(self, workdir: Path, recipe: Recipe | None = None, *, boot: bool = True,
                 name: str | None = None) -> None:
        Guest._count += 1
        self.recipe = recipe or Recipe()
        self.workdir = workdir
        self.boot = boot
        self.name = name or f"dce2e-{os.getpid()}-{Guest._count}"
        self.root = workdir / "root"
        self.identity = workdir / "id_ed25519"
        self.known_hosts = workdir / "known_hosts"
        self.console_log = workdir / "console.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------ lifecycle
    def start(self, ssh_timeout: float = 60.0) -> Guest:
        started = time.monotonic()
        tarball = build_tarball(self.recipe)
        self.timings["root_ready_s"] = time.monotonic() - started
        if self.recipe.foreign:
            enable_binfmt(self.recipe.arch)
        t = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir()
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(self.root), "-xf", str(tarball)])
        self.timings["extract_s"] = time.monotonic() - t
        self._configure()
        t = time.monotonic()
        self._spawn()
        self.wait_for_ssh(ssh_timeout)
        self.timings["boot_to_ssh_s"] = time.monotonic() - t
        logger.info("guest %s up on port %d: %s", self.name, self.port,
                    ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items()))
        return self

    def _configure(self) -> None:
        self.port = free_port()
        make_key(self.identity, "digitcam-e2e-client")
        host_key = self.root / "etc/ssh/ssh_host_ed25519_key"
        make_key(host_key, f"{self.name}-host")
        kind, blob = host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {blob}\n")
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(self.identity.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        (self.root / "etc/ssh/sshd_config.d/e2e.conf").write_text(SSHD_CONFIG.format(port=self.port))
        (self.root / "etc/hostname").write_text(self.name + "\n")
        if self.recipe.foreign:
            cpuinfo = self.root / CPUINFO_IN_GUEST.lstrip("/")
            cpuinfo.parent.mkdir(parents=True, exist_ok=True)
            cpuinfo.write_text("".join(PI4_CPU.format(n=i) for i in range(os.cpu_count() or 1)) + PI4_TAIL)
            # Every process in the guest as a Pi 4's CPU: qemu's default "max" CPU has
            # features (SVE, SME) whose emulation in qemu 7.2 makes OpenCV/LiteRT
            # silently compute garbage (measured: digits found in 0 of 24 frames
            # instead of 12 of 24 with cortex-a72).
            conf = self.root / "etc/systemd/system.conf.d/e2e-qemu-cpu.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(f"[Manager]\nDefaultEnvironment=QEMU_CPU={QEMU_CPU}\n")
            with (self.root / "etc/environment").open("a") as env:  # ssh sessions, via pam_env
                env.write(f"QEMU_CPU={QEMU_CPU}\n")
            unit = self.root / "etc/systemd/system/e2e-qemu-cpuinfo.service"
            unit.write_text(CPUINFO_UNIT)
            wants = self.root / "etc/systemd/system/sysinit.target.wants"
            wants.mkdir(parents=True, exist_ok=True)
            (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
            dropin = self.root / "etc/systemd/system/digitcam.service.d/e2e-qemu-cpuinfo.conf"
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text(CPUINFO_DROPIN)

    def _spawn(self) -> None:
        argv = ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit",
                "--console=pipe", f"--machine={self.name}"]
        if self.recipe.foreign:
            argv.append(f"--setenv=QEMU_CPU={QEMU_CPU}")  # for the guest's init itself
        if self.boot:
            argv.append("-b")
        else:
            # No init at all: sshd is the only process, as on a box without systemd.
            argv += ["--as-pid2", "/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"]
        logger.debug("spawn: %s", shlex.join(argv))
        with self.console_log.open("wb") as log:
            # Its own session: a Ctrl-C in the test run does not reach the guest first.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_ssh(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"guest {self.name} exited with {self.proc.returncode} before ssh came "
                                   f"up:\n{self.console_tail()}")
            result = subprocess.run([*self.ssh_argv(connect_timeout=2), "true"], capture_output=True,
                                    text=True, timeout=30)
            if result.returncode == 0:
                return
            last = result.stderr.strip()
            time.sleep(0.2)
        raise RuntimeError(f"no ssh to guest {self.name} within {timeout:.0f} s ({last})\n"
                           f"{self.console_tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None:
            return
        t = time.monotonic()
        if self.proc.poll() is None and self.boot:
            # A clean poweroff; SIGTERM does not halt an emulated guest.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.ssh("systemctl poweroff", check=False, timeout=15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
        self.timings["stop_s"] = time.monotonic() - t
        self.proc = None
        if not os.environ.get("DIGITCAM_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Guest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ access
    @property
    def target(self) -> str:
        """What ``digitcam deploy`` takes: root@127.0.0.1:PORT."""
        return f"root@127.0.0.1:{self.port}"

    def ssh_options(self, connect_timeout: int = 10) -> list[str]:
        return ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={self.identity}",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={connect_timeout}", "-o", "LogLevel=ERROR",
                "-p", str(self.port)]

    def ssh_argv(self, connect_timeout: int = 10) -> list[str]:
        return ["ssh", *self.ssh_options(connect_timeout), "root@127.0.0.1"]

    def ssh(self, command: str | Sequence[str], *, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the guest: a shell line, or an argument list that is quoted here."""
        line = command if isinstance(command, str) else shlex.join(command)
        result = subprocess.run([*self.ssh_argv(), line], capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"guest command failed ({result.returncode}): {line}\n"
                                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result

    def copy_in(self, local: Path, remote: str) -> None:
        ssh = shlex.join(["ssh", *self.ssh_options()])
        _run(["rsync", "-a", "-e", ssh, str(local), f"root@127.0.0.1:{remote}"],
             capture_output=True)

    def console_tail(self, lines: int = 30) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def booted(workdir: Path, recipe: Recipe | None = None, *, boot: bool = True) -> Iterator[Guest]:
    guest = Guest(workdir, recipe, boot=boot)
    try:
        guest.start()
        yield guest
    finally:
        guest.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "shell", "check"))
    parser.add_argument("--arch", default=host_arch(), help="Debian architecture (amd64, arm64)")
    parser.add_argument("--no-boot", action="store_true", help="sshd only, no systemd (shell)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = Recipe(arch=args.arch)
    if reason := cannot_run(recipe):
        print(f"cannot run a guest here: {reason}", file=sys.stderr)
        return 1
    if args.action == "check":
        print(f"ok: {recipe.tarball(cache_dir())}")
        return 0
    if args.action == "build":
        started = time.monotonic()
        print(build_tarball(recipe), f"({time.monotonic() - started:.0f} s)")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="digitcam-guest-"))

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Stopped by SIGTERM too (a background job ignores SIGINT), still tearing down.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        with booted(workdir, recipe, boot=not args.no_boot) as guest:
            print(f"guest up ({guest.timings}); Ctrl-C stops it:\n  {shlex.join(guest.ssh_argv())}",
                  flush=True)
            while guest.proc is not None and guest.proc.poll() is None:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
