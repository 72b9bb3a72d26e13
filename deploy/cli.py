"""``digitcam deploy push|rollback|status|logs|bench``.

Registered through the ``digitcam.commands`` entry-point group. The handlers
only parse, build a ``DeployEnv`` and call the module that does the work;
per-host failures are table rows, everything else a one-line ``DeployError``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .env import DeployEnv
from .errors import UsageError
from .target import SshOptions, Target, collect_targets

if TYPE_CHECKING:
    from digitcam.device.cli import Env


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    deploy = sub.add_parser("deploy", help="push releases to Pis over ssh; rollback, status, logs, bench",
                            description="Install digitcam as a hardened systemd service on hosts "
                                        "reached over ssh, and look after them.")
    dsub = deploy.add_subparsers(dest="deploy_command", metavar="COMMAND")

    ssh = argparse.ArgumentParser(add_help=False)
    g = ssh.add_argument_group("ssh")
    g.add_argument("--identity", "-i", type=Path, metavar="KEY", help="ssh private key")
    g.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="check host keys against FILE (default: ssh's own known_hosts)")
    g.add_argument("--insecure-host-key", action="store_true",
                   help="do not check host keys (only for a throwaway test host)")
    g.add_argument("--connect-timeout", type=int, default=10, metavar="S")

    many = argparse.ArgumentParser(add_help=False)
    many.add_argument("hosts", nargs="*", metavar="[USER@]HOST[:PORT]")
    many.add_argument("--inventory", type=Path, metavar="FILE",
                      help="more hosts, one [USER@]HOST[:PORT] a line (# comments)")
    many.add_argument("--parallel", type=int, default=4, metavar="N", help="hosts at a time (default 4)")

    p = dsub.add_parser("push", parents=[many, ssh], help="install a new release and switch to it",
                        description="Build the wheel and the target's dependency wheels here, copy a "
                                    "release to /opt/digitcam/releases/, install it offline, switch "
                                    "to it and check it reads; roll back when it does not.")
    p.add_argument("--model", type=Path, metavar="BUNDLE", help="model bundle .json/.tflite "
                   "(default: the one inside the wheel)")
    p.add_argument("--config", type=Path, metavar="FILE", help="config to install where the host has "
                   "none (an existing /etc/digitcam/digitcam.toml is never overwritten)")
    p.add_argument("--unit", type=Path, metavar="FILE",
                   help="systemd unit (default: systemd/digitcam.service)")
    p.add_argument("--wheel", type=Path, metavar="FILE", help="a prebuilt digitcam wheel instead of "
                   "building one from this checkout")
    p.add_argument("--online", action="store_true",
                   help="let the host fetch dependencies from its package index instead of pushing them")
    p.add_argument("--health-timeout", type=float, default=90.0, metavar="S",
                   help="seconds for the new release to report a reading (default 90)")
    p.add_argument("--keep", type=int, default=3, metavar="N", help="releases to keep per host (default 3)")
    p.set_defaults(handler=cmd_push)

    p = dsub.add_parser("rollback", parents=[many, ssh], help="switch back to the previous release")
    p.add_argument("--to", metavar="RELEASE", help="a release by name (default: the one before current)")
    p.add_argument("--health-timeout", type=float, default=90.0, metavar="S")
    p.set_defaults(handler=cmd_rollback)

    p = dsub.add_parser("status", parents=[many, ssh],
                        help="release, state, uptime, last reading, latency per host")
    p.add_argument("--json", action="store_true", help="one JSON object per host")
    p.set_defaults(handler=cmd_status)

    p = dsub.add_parser("logs", parents=[ssh], help="the service's journal (over ssh)")
    p.add_argument("host", metavar="[USER@]HOST[:PORT]")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing (Ctrl-C ends)")
    p.add_argument("-n", "--lines", type=int, default=50, metavar="N")
    p.set_defaults(handler=cmd_logs)

    p = dsub.add_parser("bench", parents=[ssh], help="run `digitcam device bench` on the host")
    p.add_argument("host", metavar="[USER@]HOST[:PORT]")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--json", action="store_true", help="the JSON as the host wrote it")
    p.set_defaults(handler=cmd_bench)

    deploy.set_defaults(handler=lambda a, e: _usage(deploy, e))


def _usage(parser: argparse.ArgumentParser, env: Env) -> int:
    parser.print_help(env.stderr)
    return 2


def _ssh(args: argparse.Namespace) -> SshOptions:
    for path in (args.identity, args.known_hosts):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file")
    return SshOptions(identity=args.identity, known_hosts=args.known_hosts,
                      insecure_host_key=args.insecure_host_key, connect_timeout=args.connect_timeout)


def _finish(env: DeployEnv, outcomes: list, title: str) -> int:  # type: ignore[type-arg]
    from .push import summary

    for outcome in outcomes:
        for line in outcome.lines:
            env.out(line)
    env.out(summary(outcomes))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        env.say(f"{title}: {len(failed)} of {len(outcomes)} host(s) failed")
        return 1
    return 0


def cmd_push(args: argparse.Namespace, env: Env) -> int:
    from .push import PushOptions, push

    denv = DeployEnv.from_env(env)
    targets = collect_targets(args.hosts, args.inventory)
    for name, path in (("--model", args.model), ("--config", args.config), ("--unit", args.unit),
                       ("--wheel", args.wheel)):
        if path is not None and not path.exists():
            raise UsageError(f"{name} {path}: no such file")
    if args.keep < 2:
        raise UsageError("--keep must be 2 or more (the current release and one to roll back to)")
    opts = PushOptions(model=args.model, config=args.config, unit=args.unit, wheel=args.wheel,
                       online=args.online, health_timeout=args.health_timeout, keep=args.keep,
                       parallel=args.parallel)
    return _finish(denv, push(denv, targets, _ssh(args), opts), "push")


def cmd_rollback(args: argparse.Namespace, env: Env) -> int:
    from .ops import rollback

    denv = DeployEnv.from_env(env)
    targets = collect_targets(args.hosts, args.inventory)
    outcomes = rollback(denv, targets, _ssh(args), args.to, args.health_timeout, args.parallel)
    return _finish(denv, outcomes, "rollback")


def cmd_status(args: argparse.Namespace, env: Env) -> int:
    from .ops import status

    denv = DeployEnv.from_env(env)
    return status(denv, collect_targets(args.hosts, args.inventory), _ssh(args), args.parallel, args.json)


def cmd_logs(args: argparse.Namespace, env: Env) -> int:
    from .ops import logs

    denv = DeployEnv.from_env(env)
    return logs(denv, Target.parse(args.host), _ssh(args), args.follow, args.lines)


def cmd_bench(args: argparse.Namespace, env: Env) -> int:
    from .ops import bench

    denv = DeployEnv.from_env(env)
    return bench(denv, Target.parse(args.host), _ssh(args), args.frames, args.json)
