"""The ``digitcam`` command: a small entry point, one place for expected errors.

Sub-commands come from the ``digitcam.commands`` entry-point group, so each
part (device, trainer, deploy) registers its own and none imports another's.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TextIO

from . import __version__
from .errors import DigitcamError, ExitStatus

logger = logging.getLogger(__name__)


@dataclass
class Env:
    """The world a command sees; tests swap the streams."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)


Handler = Callable[[argparse.Namespace, Env], int]


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The device's commands: ``read``, ``log`` and ``label`` at the top level, and ``device …``."""
    from . import device_command, label_command, log_command, read_command

    read_command.add_parser(sub)
    device_command.add_parser(sub)
    log_command.add_parser(sub)
    label_command.add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitcam", description="Read strings of digits from a camera, headless.")
    parser.add_argument("--version", action="version", version=f"digitcam {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full stack on errors (for bug reports)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = sorted(entry_points(group="digitcam.commands"), key=lambda e: e.name != "device")
    for ep in groups:
        try:
            ep.load()(sub)
        except ImportError as exc:  # a part's extra is not installed
            logger.debug("commands of %s unavailable: %s", ep.name, exc)
    return parser


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    env = env or Env()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=env.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(env.stderr)
        return ExitStatus.USAGE
    try:
        return int(handler(args, env))
    except DigitcamError as exc:
        if args.traceback:
            raise
        print(f"digitcam: error: {exc}", file=env.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    except MemoryError:
        if args.traceback:
            raise
        print("digitcam: error: out of memory", file=env.stderr)
        return int(ExitStatus.ERROR)


if __name__ == "__main__":
    sys.exit(main())
