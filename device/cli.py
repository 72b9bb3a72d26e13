"""The ``digitcam`` command: a small entry point, one place for expected errors.

Sub-commands come from the ``digitcam.commands`` entry-point group, so each
part (device, trainer, deploy) registers its own and none imports another's.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

# The device's own top-level commands (add_commands below).
DEVICE_COMMANDS = ("read", "device", "log", "label")


def add_commands(sub: argparse._SubParsersAction, only: str | None = None) -> None:  # type: ignore[type-arg]
    """The device's commands: ``read``, ``log`` and ``label`` at the top level, and ``device …``;
    with ``only``, that one command's (its module alone is imported: the daemon does not
    need the others' modules in its memory)."""
    for name in DEVICE_COMMANDS:
        if only in (None, name):
            importlib.import_module(f".{name}_command", __package__).add_parser(sub)


def _device_command(argv: Sequence[str]) -> str | None:
    """The device command ``argv`` asks for, or None: then every part's commands are built
    (the top-level help lists them all; a misspelt command is told all the choices)."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):  # the top-level options take no values
            return arg if arg in DEVICE_COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitcam", description="Read strings of digits from a camera, headless.")
    parser.add_argument("--version", action="version", version=f"digitcam {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full stack on errors (for bug reports)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = _device_command(sys.argv[1:] if argv is None else argv)
    if command is not None:
        # A device command needs only its own parser: the daemon (`device run`) then starts
        # without importlib.metadata and the other parts' and commands' modules (memory).
        add_commands(sub, only=command)
        return parser
    from importlib.metadata import entry_points

    groups = sorted(entry_points(group="digitcam.commands"), key=lambda e: e.name != "device")
    for ep in groups:
        try:
            ep.load()(sub)
        except ImportError as exc:  # a part's extra is not installed
            logger.debug("commands of %s unavailable: %s", ep.name, exc)
    return parser


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    env = env or Env()
    parser = build_parser(argv)
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
