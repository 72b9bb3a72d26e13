"""Look at a target before touching it: architecture, Python, glibc, systemd, disk, root.

One ssh round trip runs a fixed POSIX sh script (no user values in it) that
prints ``key=value`` lines; ``check()`` turns what it found into a one-line
refusal, or the wheel platform the target needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import HostError

# Machines digitcam has wheels for (ai-edge-litert, OpenCV, numpy: manylinux, 64-bit only).
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
MIN_PYTHON = (3, 10)
MIN_GLIBC = (2, 17)  # manylinux2014
BASE_DIR = "/opt/digitcam"

PROBE_SCRIPT = r"""
echo "arch=$(uname -m)"
echo "uid=$(id -u)"
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import platform, sys
print("python=%d.%d.%d" % sys.version_info[:3])
print("glibc=%s" % "-".join(platform.libc_ver()))' 2>/dev/null
  if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then echo venv=yes; else echo venv=no; fi
else
  echo python=
fi
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
if command -v rsync >/dev/null 2>&1; then echo rsync=yes; else echo rsync=no; fi
d=/opt/digitcam/releases
while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "disk_path=$d"
echo "disk_free_kb=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')"
if [ "$(id -u)" = 0 ]; then echo sudo=root
elif sudo -n true >/dev/null 2>&1; then echo sudo=yes
else echo sudo=no; fi
echo "current=$(readlink /opt/digitcam/current 2>/dev/null)"
echo probe=done
"""


@dataclass(frozen=True)
class TargetInfo:
    arch: str  # uname -m
    python: tuple[int, int, int] | None
    glibc: tuple[int, int] | None
    venv: bool
    systemd: bool
    rsync: bool
    disk_path: str
    disk_free_mb: float
    root: bool
    sudo: bool
    current: str  # the current release's link target, "" on a fresh host

    @property
    def machine(self) -> str:
        """The wheel tag's machine (x86_64, aarch64)."""
        return ARCHES[self.arch]

    @property
    def python_tag(self) -> str:
        assert self.python is not None
        return f"{self.python[0]}.{self.python[1]}"

    def platforms(self) -> list[str]:
        """Every manylinux tag this target's glibc can load, newest first."""
        assert self.glibc is not None
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, MIN_GLIBC[1] - 1, -1)]
        return [*tags, f"manylinux2014_{self.machine}"]

    def key(self) -> str:
        """Targets with the same key take the same wheels."""
        glibc = ".".join(map(str, self.glibc or ()))
        return f"cp{self.python_tag.replace('.', '')}-{self.machine}-glibc{glibc}"


def parse(host: str, text: str) -> TargetInfo:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    if values.get("probe") != "done":
        raise HostError(host, "the probe did not run to the end (is /bin/sh a POSIX shell?)")
    python = None
    if m := re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", values.get("python", "")):
        python = (int(m[1]), int(m[2]), int(m[3]))
    glibc = None
    if m := re.fullmatch(r"glibc-(\d+)\.(\d+).*", values.get("glibc", "")):
        glibc = (int(m[1]), int(m[2]))
    try:
        free_mb = int(values.get("disk_free_kb", "")) / 1024.0
    except ValueError:
        free_mb = 0.0
    return TargetInfo(arch=values.get("arch", "?"), python=python, glibc=glibc,
                      venv=values.get("venv") == "yes", systemd=values.get("systemd") == "yes",
                      rsync=values.get("rsync") == "yes", disk_path=values.get("disk_path", "/"),
                      disk_free_mb=free_mb, root=values.get("sudo") == "root",
                      sudo=values.get("sudo") in ("root", "yes"), current=values.get("current", ""))


def check(host: str, info: TargetInfo, need_mb: float | None = None) -> None:
    """Raise a one-line ``HostError`` for anything that would stop a deploy midway."""
    if info.arch not in ARCHES:
        hint = (": install the 64-bit Raspberry Pi OS (aarch64)" if info.arch.startswith("arm")
                else "")
        raise HostError(host, f"unsupported architecture {info.arch} (digitcam has wheels for "
                              f"x86_64 and aarch64 only){hint}")
    if info.python is None:
        raise HostError(host, "no python3 on the target: apt-get install python3 python3-venv")
    if info.python[:2] < MIN_PYTHON:
        raise HostError(host, f"unsupported Python {'.'.join(map(str, info.python))} "
                              f"(digitcam needs {'.'.join(map(str, MIN_PYTHON))} or newer)")
    if info.glibc is None or info.glibc < MIN_GLIBC:
        found = ".".join(map(str, info.glibc)) if info.glibc else "none (musl?)"
        raise HostError(host, f"unsupported C library: glibc {found} "
                              f"(the wheels need glibc {'.'.join(map(str, MIN_GLIBC))} or newer)")
    if not info.systemd:
        raise HostError(host, "systemd is not running there (no /run/systemd/system): digitcam runs as a "
                              "systemd service")
    if not info.venv:
        raise HostError(host, "python3 there cannot make venvs: apt-get install python3-venv")
    if not info.rsync:
        raise HostError(host, "rsync is not installed there: apt-get install rsync")
    if not info.sudo:
        raise HostError(host, "the user cannot become root without a password (sudo -n): use root@ "
                              "or allow passwordless sudo")
    if need_mb is not None and info.disk_free_mb < need_mb:
        raise HostError(host, f"not enough disk: {info.disk_free_mb:.0f} MB free on {info.disk_path}, "
                              f"a release needs about {need_mb:.0f} MB")


def check_installed(host: str, info: TargetInfo) -> None:
    """For rollback/status/logs/bench: a systemd host we can become root on."""
    if not info.systemd:
        raise HostError(host, "systemd is not running there (no /run/systemd/system)")
    if not info.sudo:
        raise HostError(host, "the user cannot become root without a password (sudo -n)")
