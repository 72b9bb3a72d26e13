"""One target over ssh: the probe, the agent's actions, rsync, plain commands.

Every failure becomes a one-line ``HostError``; ssh's own failures (exit
status 255) are told apart from the remote command's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import probe
from .agent import RESULT_MARK
from .env import DeployEnv, Result
from .errors import HostError
from .target import SshOptions, Target, ssh_failure

logger = logging.getLogger(__name__)

AGENT_SOURCE = Path(__file__).with_name("agent.py")


class Remote:
    def __init__(self, env: DeployEnv, ssh: SshOptions, target: Target) -> None:
        self.env = env
        self.ssh = ssh
        self.target = target
        self.host = str(target)
        self.sudo = not target.is_root  # set for real by probe()

    def _privileged(self, argv: Sequence[str]) -> list[str]:
        return ["sudo", "-n", *argv] if self.sudo else list(argv)

    def run(self, argv: Sequence[str], *, privileged: bool = False, timeout: float = 120,
            input: str | None = None) -> Result:
        remote = self._privileged(argv) if privileged else list(argv)
        result = self.env.runner.run(self.ssh.ssh(self.target, remote), input=input, timeout=timeout)
        if result.returncode == 255:
            raise ssh_failure(self.target, result.stderr) or HostError(
                self.host, f"ssh failed: {_last(result.stderr)}")
        if result.returncode == 124:
            raise HostError(self.host, f"{argv[0]} timed out after {timeout:.0f} s")
        return result

    def probe(self) -> probe.TargetInfo:
        result = self.run(["sh", "-c", probe.PROBE_SCRIPT], timeout=60)
        info = probe.parse(self.host, result.stdout)
        self.sudo = not info.root
        return info

    def agent(self, action: str, *args: str, timeout: float = 300) -> dict[str, Any]:
        """Run one agent action as root; its JSON result (``ok`` False on failure)."""
        result = self.run(["python3", "-", action, *args], privileged=True, timeout=timeout,
                          input=AGENT_SOURCE.read_text(encoding="utf-8"))
        for line in reversed(result.stdout.splitlines()):
            if line.startswith(RESULT_MARK):
                logger.debug("%s agent %s stderr:\n%s", self.host, action, result.stderr)
                value: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
                value["_stderr"] = result.stderr
                return value
        raise HostError(self.host, f"agent {action} failed ({result.returncode}): {_last(result.stderr)}")

    def rsync(self, sources: Sequence[str], remote_dir: str, *, delete: bool = False,
              timeout: float = 1800) -> None:
        argv = self.ssh.rsync(self.target, sources, remote_dir, sudo=self.sudo, delete=delete)
        result = self.env.runner.run(argv, timeout=timeout)
        if result.ok:
            return
        text = result.stderr
        if "No space left on device" in text or "Disk quota exceeded" in text:
            raise HostError(self.host, f"disk full on the target while copying to {remote_dir}")
        if result.returncode == 255 or "connection unexpectedly closed" in text:
            raise ssh_failure(self.target, text) or HostError(self.host, f"rsync: {_last(text)}")
        raise HostError(self.host, f"rsync to {remote_dir} failed ({result.returncode}): {_last(text)}")


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
