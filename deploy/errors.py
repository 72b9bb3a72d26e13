"""What can go wrong in a deploy, each as one line the user can act on.

Per-host problems are ``HostError``: a push to many hosts reports them in its
summary table and carries on with the other hosts. Everything else (bad
arguments, no wheel can be built) stops the command before any host is touched.
"""

from __future__ import annotations

from digitcam.device.errors import DigitcamError, ExitStatus


# mypy sees digitcam.device as Any (an editable install's import hook); the CLI
# maps DigitcamError to its one-line message, so deploy's errors must be one.
class DeployError(DigitcamError):  # type: ignore[misc]
    """A problem with the command itself; nothing has been done to any host."""

    exit_status = ExitStatus.ERROR


class UsageError(DeployError):
    exit_status = ExitStatus.USAGE


class HostError(DeployError):
    """One host cannot be deployed to (or looked at); the others carry on."""

    def __init__(self, host: str, problem: str) -> None:
        self.host = host
        self.problem = problem
        super().__init__(f"{host}: {problem}")
