"""Expected failures and the exit status each maps to.

Anything raised as a ``DigitcamError`` is a user-facing problem: the CLI prints
its message as one line and exits with its status. Everything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    BAD_INPUT = 3  # one or more input files could not be read
    BAD_MODEL = 4  # the model bundle is missing, corrupt or inconsistent
    CONFIG = 78  # EX_CONFIG: the unit stops restarting a daemon whose config is wrong
    INTERRUPTED = 130


class DigitcamError(Exception):
    """A problem the user can fix; the message is shown as one line."""

    exit_status = ExitStatus.ERROR


class BundleError(DigitcamError):
    exit_status = ExitStatus.BAD_MODEL


class InputError(DigitcamError):
    exit_status = ExitStatus.BAD_INPUT


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (libraries' messages span lines), or its type."""
    return " ".join(str(exc).split()) or type(exc).__name__
