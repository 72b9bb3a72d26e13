"""The world a deploy command sees, as one object tests can replace (httpie style).

Every external program (ssh, rsync, pip) is run through ``Runner`` with an
argument list; nothing here builds a local shell line.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from digitcam.device.cli import Env

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Runs programs with argument lists. Replace it to record or replay."""

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None,
            env: dict[str, str] | None = None) -> Result:
        logger.debug("run: %s", shlex.join(argv))
        try:
            proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                                  timeout=timeout, env=env, stdin=None if input is not None
                                  else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            return Result(124, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout:.0f} s")
        except FileNotFoundError as exc:
            return Result(127, "", f"{argv[0]}: not found ({exc.strerror})")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def stream(self, argv: Sequence[str]) -> int:
        """Run with the terminal's own streams (``logs -f``); the exit status."""
        logger.debug("stream: %s", shlex.join(argv))
        try:
            return subprocess.call(list(argv), stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            return 127


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "digitcam" / "deploy"


@dataclass
class DeployEnv(Env):  # type: ignore[misc]
    """``Env`` plus the ssh/rsync/pip runner and where built wheels are cached."""

    runner: Runner = field(default_factory=Runner)
    cache_dir: Path = field(default_factory=default_cache_dir)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, line: str) -> None:
        """A progress line on stderr; hosts run in threads, so lines are whole."""
        with self.lock:
            print(line, file=self.stderr, flush=True)

    def out(self, text: str) -> None:
        with self.lock:
            print(text, file=self.stdout, flush=True)

    @classmethod
    def from_env(cls, env: Env) -> DeployEnv:
        if isinstance(env, DeployEnv):
            return env
        return cls(stdout=env.stdout, stderr=env.stderr)
