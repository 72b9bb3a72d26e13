"""``digitcam deploy rollback|status|logs|bench``: the everyday look at a fleet."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from . import probe
from .env import DeployEnv
from .errors import HostError
from .push import Outcome, run_hosts, table
from .release import REMOTE_CURRENT, REMOTE_MODEL, REMOTE_SAMPLES
from .remote import Remote
from .target import SshOptions, Target

SERVICE = "digitcam.service"


def rollback(env: DeployEnv, targets: Sequence[Target], ssh: SshOptions, to: str | None,
             timeout: float, parallel: int) -> list[Outcome]:
    def one(target: Target) -> Outcome:
        started = time.monotonic()
        remote = Remote(env, ssh, target)
        probe.check_installed(str(target), remote.probe())
        env.say(f"{target}: rolling back" + (f" to {to}" if to else ""))
        args = ["--timeout", f"{timeout:g}"] + (["--to", to] if to else [])
        result = remote.agent("rollback", *args, timeout=timeout * 2 + 60)
        if "error" in result:
            raise HostError(str(target), result["error"])
        lines = [] if result["ok"] else [f"{target}: last journal lines:",
                                         *(f"    {ln}" for ln in result.get("journal", []))]
        detail = f"from {result.get('previous')}: {result.get('health')}"
        return Outcome(str(target), bool(result["ok"]), result.get("release", ""),
                       time.monotonic() - started, detail, lines)

    return run_hosts(env, targets, parallel, one)


def _fmt_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def latency(status: dict[str, Any]) -> tuple[float, float] | None:
    """Per-frame total latency (p50, p95) ms: the daemon's own profile from its
    STATUS= line when there, else the field log's recent readings."""
    import re

    text = str(status.get("status") or "")
    if m := re.search(r"total p50 ([\d.]+) p95 ([\d.]+)", text):
        return float(m.group(1)), float(m.group(2))
    totals = [float(t) for t in status.get("totals") or []]
    if totals:
        return _percentile(totals, 0.5), _percentile(totals, 0.95)
    return None


def status(env: DeployEnv, targets: Sequence[Target], ssh: SshOptions, parallel: int,
           as_json: bool) -> int:
    found: dict[str, dict[str, Any]] = {}

    def one(target: Target) -> Outcome:
        remote = Remote(env, ssh, target)
        probe.check_installed(str(target), remote.probe())
        result = remote.agent("status", timeout=120)
        if "error" in result:
            raise HostError(str(target), result["error"])
        result.pop("_stderr", None)
        found[str(target)] = result
        return Outcome(str(target), result.get("state") == "active", result.get("release") or "")

    outcomes = run_hosts(env, targets, parallel, one)
    if as_json:
        for o in outcomes:
            env.out(json.dumps({"host": o.host, **found.get(o.host, {"error": o.detail})}))
        return 0 if all(o.ok for o in outcomes) else 1
    rows = []
    for o in outcomes:
        s = found.get(o.host)
        if s is None:
            rows.append((o.host, "-", "unreachable", "-", "-", "-", o.detail))
            continue
        last = s.get("last_accepted") or {}
        reading = f"{last.get('text')} ({last.get('confidence', 0):.2f}) {last.get('timestamp', '')}" \
            if last else "-"
        lat = latency(s)
        state = f"{s.get('state')}/{s.get('substate')}" + (f" ({s['restarts']} restarts)"
                                                          if s.get("restarts") else "")
        rows.append((o.host, s.get("release") or "-", state, _fmt_uptime(s.get("uptime_s")), reading,
                     f"{lat[0]:.0f}/{lat[1]:.0f}" if lat else "-", ""))
    env.out(table(rows, ("HOST", "RELEASE", "STATE", "UPTIME", "LAST READING", "P50/P95 MS", "")))
    return 0 if all(o.ok for o in outcomes) else 1


def logs(env: DeployEnv, target: Target, ssh: SshOptions, follow: bool, lines: int) -> int:
    remote = Remote(env, ssh, target)
    probe.check_installed(str(target), remote.probe())
    argv = ["journalctl", "--unit", SERVICE, "--no-pager", "--output=short-iso", f"--lines={lines}"]
    if follow:
        argv.append("--follow")
    command = remote.ssh.ssh(target, remote._privileged(argv))
    if not follow:
        result = remote.run(argv, privileged=True, timeout=120)
        env.out(result.stdout.rstrip("\n"))
        return 0 if result.ok else 1
    # -f: the journal streams straight to this terminal until Ctrl-C.
    return env.runner.stream(command)


def bench(env: DeployEnv, target: Target, ssh: SshOptions, frames: int, as_json: bool) -> int:
    remote = Remote(env, ssh, target)
    remote.probe()
    argv = [f"{REMOTE_CURRENT}/venv/bin/digitcam", "device", "bench", "--json", "--frames", str(frames),
            "--source", f"replay:{REMOTE_SAMPLES}", "--model", REMOTE_MODEL]
    env.say(f"{target}: benchmarking {frames} frames (the service keeps running alongside)")
    result = remote.run(argv, timeout=frames * 10 + 300)
    if not result.ok:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        raise HostError(str(target), f"bench failed: {lines[-1] if lines else result.returncode}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if as_json:
        env.out(json.dumps(data))
    else:
        from digitcam.device.bench import table as bench_table

        env.out(f"{target}:\n{bench_table(data)}")
    return 0
