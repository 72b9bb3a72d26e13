"""Targets (``[USER@]HOST[:PORT]``), inventories, and the ssh/rsync command lines to reach them.

ssh and rsync are always run with argument lists. The one string ssh hands to
the remote shell is built with ``shlex.join``, so every value in it (release
names, paths) is quoted there. Hosts and users are checked against a strict
pattern first, so a "host" such as ``-oProxyCommand=…`` can never become an
option.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import HostError, UsageError

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")
# Remote paths deploy makes are built from these characters only, so they need
# no quoting in rsync's remote argument (which rsync >= 3.2.4 escapes itself).
SAFE_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")


@dataclass(frozen=True)
class Target:
    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """``[USER@]HOST[:PORT]``; an IPv6 address goes in brackets: ``pi@[fe80::1]:22``."""
        raw = text.strip()
        user: str | None = None
        if "@" in raw:
            user, raw = raw.rsplit("@", 1)
            if not _USER.fullmatch(user):
                raise UsageError(f"{text!r}: not a valid user name")
        port: int | None = None
        if raw.startswith("["):
            host, sep, rest = raw[1:].partition("]")
            if not sep or not _IPV6.fullmatch(host):
                raise UsageError(f"{text!r}: not a valid [IPv6] address")
            if rest:
                if not rest.startswith(":"):
                    raise UsageError(f"{text!r}: expected :PORT after the address")
                port = _port(rest[1:], text)
        else:
            host, sep, port_text = raw.partition(":")
            if sep:
                port = _port(port_text, text)
            if not _HOST.fullmatch(host):
                raise UsageError(f"{text!r}: not a valid host name or address")
        return cls(host=host, user=user, port=port)

    @property
    def destination(self) -> str:
        """For ssh (``user@host``) and, with ``:path``, for rsync."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}" if self.user else host

    @property
    def is_root(self) -> bool:
        return self.user == "root"

    def __str__(self) -> str:
        return self.destination + (f":{self.port}" if self.port else "")


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{whole!r}: port must be a number from 1 to 65535")
    return int(text)


def read_inventory(path: Path) -> list[Target]:
    """One ``[USER@]HOST[:PORT]`` per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the inventory ({exc.strerror})") from None
    targets = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            targets.append(Target.parse(text))
        except UsageError as exc:
            raise UsageError(f"{path}:{number}: {exc}") from None
    return targets


def collect_targets(texts: Iterable[str], inventory: Path | None) -> list[Target]:
    targets = [Target.parse(t) for t in texts]
    if inventory is not None:
        targets += read_inventory(inventory)
    unique = list(dict.fromkeys(targets))
    if not unique:
        raise UsageError("no hosts: give [USER@]HOST[:PORT] or --inventory FILE")
    return unique


@dataclass(frozen=True)
class SshOptions:
    """How to reach every host: key, known hosts, and whether to check host keys."""

    identity: Path | None = None
    known_hosts: Path | None = None
    insecure_host_key: bool = False
    connect_timeout: int = 10

    def ssh_args(self, target: Target) -> list[str]:
        """ssh's options for ``target`` (no destination, no command)."""
        args = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if self.identity is not None:
            args += ["-o", "IdentitiesOnly=yes", "-i", str(self.identity)]
        if self.insecure_host_key:
            # Only for throwaway test hosts: the user asked for it by name.
            args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                     "-o", "LogLevel=ERROR"]
        elif self.known_hosts is not None:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
        if target.port:
            args += ["-p", str(target.port)]
        return args

    def ssh(self, target: Target, remote: Sequence[str]) -> list[str]:
        """The argv that runs ``remote`` (an argument list, quoted here) on ``target``."""
        return ["ssh", *self.ssh_args(target), "--", target.destination, shlex.join(remote)]

    def rsync(self, target: Target, sources: Sequence[str], remote_dir: str, *, sudo: bool,
              delete: bool = False) -> list[str]:
        if not SAFE_PATH.fullmatch(remote_dir):
            raise ValueError(f"unsafe remote path {remote_dir!r}")
        argv = ["rsync", "-rlt", "--chmod=D755,F644", "--partial-dir=.rsync-partial",
                "-e", shlex.join(["ssh", *self.ssh_args(target)])]
        if delete:
            argv.append("--delete")
        if sudo:
            argv += ["--rsync-path", "sudo -n rsync"]
        return [*argv, "--", *sources, f"{target.destination}:{remote_dir}"]


def ssh_failure(target: Target, stderr: str) -> HostError | None:
    """The one-line reason when ssh itself failed (exit status 255), else None."""
    text = " ".join(stderr.split())
    lowered = text.lower()
    if "host key verification failed" in lowered or "remote host identification has changed" in lowered:
        return HostError(str(target), "host key not known or changed: check it, then add it to known_hosts "
                                      "(ssh-keyscan, or --known-hosts FILE); --insecure-host-key only for a "
                                      "throwaway test host")
    if "permission denied" in lowered:
        return HostError(str(target), "ssh refused the key (Permission denied): give --identity KEY or add "
                                      "your public key to the user's ~/.ssh/authorized_keys there")
    for marker in ("connection refused", "no route to host", "could not resolve hostname",
                   "connection timed out", "network is unreachable", "operation timed out",
                   "connection closed", "connection reset"):
        if marker in lowered:
            detail = _last_ssh_line(stderr)
            return HostError(str(target), f"unreachable ({detail})")
    return None


def _last_ssh_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "ssh failed"
