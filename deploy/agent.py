"""The target's side of a deploy, sent over ssh and run as ``python3 - ACTION …``.

Standard library only: it runs under the target's system Python before any
digitcam is installed there. Each action prints one JSON object on the last
line of stdout (after ``RESULT_MARK``); progress and the output of the
programs it runs go to stderr.

Layout on the target::

    /opt/digitcam/releases/<version>-<time>/   venv/ model/ samples/ digitcam.service
                                                digitcam.toml (the pushed config) RELEASE.json
    /opt/digitcam/current -> releases/<…>      switched atomically (rename of a new link)
    /opt/digitcam/wheels/                      the wheels of the last push (offline install)
    /etc/digitcam/digitcam.toml                installed once, never overwritten
    /var/lib/digitcam/                         the field log and snapshot (StateDirectory=)
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULT_MARK = "DIGITCAM-RESULT "
BASE = Path("/opt/digitcam")
RELEASES = BASE / "releases"
CURRENT = BASE / "current"
WHEELS = BASE / "wheels"
SERVICE = "digitcam.service"
UNIT_PATH = Path("/etc/systemd/system") / SERVICE
CONFIG = Path("/etc/digitcam/digitcam.toml")
STATE = Path("/var/lib/digitcam")
USER = "digitcam"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*-\d{8}T\d{6}Z")
DEDUPE_MIN_BYTES = 64 * 1024

# Runs as the service user with the release's own Python: the field log is
# read through the device's API, and nothing root-owned lands in its state dir.
READINGS_SNIPPET = """
import json, sys
from digitcam.device.fieldlog import FieldLog, log_path
from pathlib import Path
path = log_path(sys.argv[1])
if not Path(path).exists():
    print(json.dumps({"last": None, "last_accepted": None, "totals": []}))
    raise SystemExit(0)
log = FieldLog(path, readonly=True)
try:
    rows = log.tail(200)
    accepted = log.tail(1, accepted_only=True)
finally:
    log.close()
totals = [r.reading.latency_ms.get("total") for r in rows]
print(json.dumps({"last": rows[-1].to_dict() if rows else None,
                  "last_accepted": accepted[-1].to_dict() if accepted else None,
                  "totals": [t for t in totals if t is not None]}))
"""


class AgentError(Exception):
    """Stops the action; its message is the host's one-line error."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(argv: Sequence[str], *, check: bool = True, timeout: float | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise AgentError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} timed out after "
                         f"{timeout:.0f} s") from None
    if result.stderr.strip():
        sys.stderr.write(result.stderr)
    if check and result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise AgentError(f"{' '.join(argv[:3])} failed ({result.returncode}): "
                         f"{detail[-1] if detail else 'no output'}")
    return result


def utc_iso(epoch: float) -> str:
    """The field log's timestamp form, so strings compare in time order."""
    stamp = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------ releases
def release_dir(name: str) -> Path:
    if not NAME.fullmatch(name):
        raise AgentError(f"not a release name: {name!r}")
    return RELEASES / name


def current_name() -> str | None:
    try:
        return Path(os.readlink(CURRENT)).name
    except OSError:
        return None


def releases() -> list[str]:
    """Installed releases, oldest first (by the time in their name)."""
    if not RELEASES.is_dir():
        return []
    names = [p.name for p in RELEASES.iterdir() if NAME.fullmatch(p.name) and (p / "venv").is_dir()]
    return sorted(names, key=lambda n: (n.rsplit("-", 1)[1], n))


def previous_of(name: str | None) -> str | None:
    names = releases()
    if name not in names:
        return names[-1] if names else None
    index = names.index(name)
    return names[index - 1] if index > 0 else None


def switch_to(name: str) -> None:
    """Point ``current`` at ``name`` atomically: a new link renamed over the old one."""
    tmp = BASE / ".current.new"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(f"releases/{name}", tmp)
    os.replace(tmp, CURRENT)


def install_unit(name: str) -> None:
    source = release_dir(name) / SERVICE
    tmp = UNIT_PATH.with_name(f".{SERVICE}.new")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o644)
    os.replace(tmp, UNIT_PATH)


# ------------------------------------------------------------------ systemd
def show() -> dict[str, str]:
    props = "ActiveState,SubState,Result,NRestarts,MainPID,StatusText,ExecMainStatus," \
            "ActiveEnterTimestampMonotonic,UnitFileState,LoadState"
    out = run(["systemctl", "show", SERVICE, f"--property={props}"], check=False).stdout
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def journal_tail(since: float | None, lines: int = 25) -> list[str]:
    argv = ["journalctl", "--unit", SERVICE, "--no-pager", "--output=short-iso", f"--lines={lines}"]
    if since is not None:
        argv.append(f"--since=@{int(since) - 1}")
    return run(argv, check=False).stdout.splitlines()


def readings(release: str | None = None) -> dict[str, Any]:
    """The last reading, the last accepted one, and recent total latencies."""
    name = release or current_name()
    if name is None:
        return {"last": None, "last_accepted": None, "totals": []}
    python = release_dir(name) / "venv" / "bin" / "python"
    result = run(["runuser", "-u", USER, "--", str(python), "-c", READINGS_SNIPPET, str(STATE)],
                 check=False, timeout=60)
    try:
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"last": None, "last_accepted": None, "totals": [], "error": result.stderr.strip()[-300:]}


def frames_in(status: str) -> int:
    """Frames the daemon reports in its STATUS= line (``…; 41 frames, 3.9 fps; …``)."""
    match = re.search(r"(\d+) frames", status)
    return int(match.group(1)) if match else 0


def wait_healthy(name: str, since: float, timeout: float, restarts_before: int) -> tuple[bool, str]:
    """Active (so READY=1 was sent: Type=notify), not restarting, and a fresh
    reading in the field log or frames counted in the status, within ``timeout``."""
    deadline = time.monotonic() + timeout
    fresh_since = utc_iso(since)
    props: dict[str, str] = {}
    while time.monotonic() < deadline:
        props = show()
        state, sub = props.get("ActiveState", ""), props.get("SubState", "")
        restarts = int(props.get("NRestarts") or 0)
        if state == "failed" or sub == "auto-restart" or restarts > restarts_before:
            return False, (f"the service failed ({state}/{sub}, result {props.get('Result')}, "
                           f"exit status {props.get('ExecMainStatus')})")
        if state == "active" and sub == "running":
            seen = readings(name)
            last = seen.get("last") or {}
            if str(last.get("timestamp", "")) >= fresh_since or frames_in(props.get("StatusText", "")):
                time.sleep(1.0)  # still up a moment later, not dying after its first frame
                again = show()
                if again.get("ActiveState") == "active" and int(again.get("NRestarts") or 0) == restarts:
                    frames = frames_in(again.get("StatusText", ""))
                    if str(last.get("timestamp", "")) >= fresh_since:
                        return True, f"active, reading {last.get('text')!r} after {time.time() - since:.0f} s"
                    return True, f"active, {frames} frames read, no reading logged yet"
        time.sleep(0.5)
    return False, (f"no reading within {timeout:.0f} s ({props.get('ActiveState')}/{props.get('SubState')}, "
                   f"status: {props.get('StatusText') or '-'})")


def restart(name: str, timeout: float) -> tuple[bool, str, float]:
    run(["systemctl", "daemon-reload"])
    run(["systemctl", "enable", "--quiet", SERVICE])
    run(["systemctl", "reset-failed", SERVICE], check=False)  # the start limit, after earlier failures
    restarts_before = int(show().get("NRestarts") or 0)
    started = time.time()
    # Blocks until READY=1 (Type=notify) or failure; the health check judges either way.
    run(["systemctl", "restart", SERVICE], check=False, timeout=timeout + 30)
    ok, detail = wait_healthy(name, started, timeout, restarts_before)
    return ok, detail, started


# ------------------------------------------------------------------ actions
def act_prepare(args: argparse.Namespace) -> dict[str, Any]:
    target = release_dir(args.name)
    if target.exists():
        raise AgentError(f"release {args.name} already exists")
    WHEELS.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True)
    for path in (BASE, RELEASES, WHEELS, target):
        path.chmod(0o755)
    return {"release": args.name, "current": current_name()}


def act_install(args: argparse.Namespace) -> dict[str, Any]:
    """A venv with the system site packages (picamera2, python3-systemd come from apt)
    and digitcam installed from the pushed wheels, offline unless ``--online``."""
    rel = release_dir(args.name)
    wheel = WHEELS / args.wheel
    if "/" in args.wheel or not wheel.is_file():
        raise AgentError(f"wheel {args.wheel} is not in {WHEELS}")
    started = time.monotonic()
    venv = rel / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout=600)
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir",
           "--no-warn-script-location", "--find-links", str(WHEELS)]
    if not args.online:
        pip.append("--no-index")
    try:
        # [pi]: numpy<2, so apt's numpy (which apt's picamera2 is built against) stays the one.
        run([*pip, f"{wheel}[device,pi]"], timeout=args.timeout, env=env)
    except AgentError as exc:
        raise AgentError(f"pip install in {rel.name}: {exc}") from None
    version = run([str(venv / "bin" / "digitcam"), "--version"], timeout=120).stdout.strip()
    saved = dedupe(venv, previous_of(args.name))
    return {"release": args.name, "version": version, "seconds": round(time.monotonic() - started, 1),
            "deduplicated_mb": round(saved / 2**20, 1)}


def dedupe(venv: Path, previous: str | None) -> int:
    """Hard-link big files identical to the previous release's: a venv with
    OpenCV and LiteRT is ~300 MB, and an SD card keeps several releases."""
    if previous is None:
        return 0
    old = RELEASES / previous / "venv"
    saved = 0
    for path in venv.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        twin = old / path.relative_to(venv)
        if size < DEDUPE_MIN_BYTES or not twin.is_file() or twin.is_symlink():
            continue
        if twin.stat().st_size != size or os.path.samefile(twin, path):
            continue
        if filecmp.cmp(twin, path, shallow=False):
            tmp = path.with_name(path.name + ".dclink")
            os.link(twin, tmp)
            os.replace(tmp, path)
            saved += size
    return saved


def ensure_user() -> None:
    if run(["getent", "group", "video"], check=False).returncode != 0:
        run(["groupadd", "--system", "video"])
    if run(["getent", "passwd", USER], check=False).returncode != 0:
        run(["useradd", "--system", "--user-group", "--groups", "video", "--home-dir", str(STATE),
             "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "digitcam daemon", USER])
    else:
        run(["usermod", "--append", "--groups", "video", USER])


def install_config(rel: Path) -> tuple[str, list[str]]:
    """Install the pushed config only where there is none; otherwise keep the
    user's and return how the pushed one differs."""
    pushed = rel / "digitcam.toml"
    if not CONFIG.exists():
        CONFIG.parent.mkdir(parents=True, exist_ok=True)
        tmp = CONFIG.with_name(".digitcam.toml.new")
        shutil.copyfile(pushed, tmp)
        shutil.chown(tmp, "root", USER)
        tmp.chmod(0o640)
        os.replace(tmp, CONFIG)
        return "installed", []
    mine = CONFIG.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    theirs = pushed.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    diff = [line.rstrip("\n") for line in difflib.unified_diff(
        mine, theirs, fromfile=f"{CONFIG} (kept)", tofile="pushed config (not installed)")]
    return ("kept" if diff else "unchanged"), diff


def act_activate(args: argparse.Namespace) -> dict[str, Any]:
    rel = release_dir(args.name)
    if not (rel / "venv" / "bin" / "digitcam").exists():
        raise AgentError(f"release {args.name} is not installed")
    previous = current_name()
    if previous == args.name:
        previous = previous_of(args.name)
    result: dict[str, Any] = {"release": args.name, "previous": previous}
    ensure_user()
    config_was_there = CONFIG.exists()
    result["config"], result["config_diff"] = install_config(rel)
    check = run([str(rel / "venv" / "bin" / "digitcam"), "device", "check-config", str(CONFIG)],
                check=False, timeout=120)
    if check.returncode != 0:
        if not config_was_there:
            CONFIG.unlink()
        shutil.rmtree(rel, ignore_errors=True)
        lines = (check.stderr.strip() or check.stdout.strip()).splitlines()
        raise AgentError(f"{CONFIG} does not pass check-config with this release, nothing changed: "
                         f"{lines[-1] if lines else check.returncode}")
    # The health check below cannot see a camera module that does not load while
    # the config replays sample frames; the release must load it before it runs.
    check = run([str(rel / "venv" / "bin" / "digitcam"), "device", "check-source", str(CONFIG)],
                check=False, timeout=300)
    # A wheel older than check-source (pushed with --wheel) has no such command: argparse says so.
    older = check.returncode == 2 and "invalid choice: 'check-source'" in check.stderr
    if check.returncode != 0 and not older:
        if not config_was_there:
            CONFIG.unlink()
        shutil.rmtree(rel, ignore_errors=True)
        lines = (check.stderr.strip() or check.stdout.strip()).splitlines()
        last = lines[-1].removeprefix("digitcam: error: ") if lines else str(check.returncode)
        raise AgentError(f"release {args.name} cannot load its camera, nothing changed: {last}")
    result["source_check"] = ["skipped: this release has no check-source"] if older else \
        check.stdout.strip().splitlines()
    install_unit(args.name)
    switch_to(args.name)
    ok, detail, started = restart(args.name, args.timeout)
    result.update(ok=ok, health=detail)
    if ok:
        result["pruned"] = prune(args.keep)
        return result
    result["journal"] = journal_tail(started)
    say(f"health check failed: {detail}; rolling back")
    if previous is not None and (RELEASES / previous / "venv").is_dir():
        install_unit(previous)
        switch_to(previous)
        back_ok, back_detail, _ = restart(previous, args.timeout)
        result.update(rolled_back_to=previous, rollback_ok=back_ok, rollback_health=back_detail)
    else:
        # A first install that fails leaves nothing behind but the service user.
        run(["systemctl", "disable", "--now", SERVICE], check=False, timeout=60)
        UNIT_PATH.unlink(missing_ok=True)
        if CURRENT.is_symlink():
            CURRENT.unlink()
        run(["systemctl", "daemon-reload"], check=False)
        run(["systemctl", "reset-failed", SERVICE], check=False)
        if not config_was_there:
            CONFIG.unlink(missing_ok=True)
        result.update(rolled_back_to=None, rollback_ok=None)
    shutil.rmtree(rel, ignore_errors=True)
    return result


def act_rollback(args: argparse.Namespace) -> dict[str, Any]:
    now = current_name()
    target = args.to or previous_of(now)
    if target is None:
        raise AgentError(f"no earlier release to roll back to (current: {now or 'none'})")
    if not (release_dir(target) / "venv").is_dir():
        raise AgentError(f"release {target} is not installed")
    install_unit(target)
    switch_to(target)
    ok, detail, started = restart(target, args.timeout)
    result: dict[str, Any] = {"ok": ok, "release": target, "previous": now, "health": detail}
    if not ok:
        result["journal"] = journal_tail(started)
    return result


def act_status(args: argparse.Namespace) -> dict[str, Any]:
    props = show()
    uptime = None
    entered = int(props.get("ActiveEnterTimestampMonotonic") or 0)
    if props.get("ActiveState") == "active" and entered:
        uptime = round(time.clock_gettime(time.CLOCK_MONOTONIC) - entered / 1e6, 1)
    seen = readings() if props.get("LoadState") == "loaded" else {}
    return {"release": current_name(), "releases": releases(), "state": props.get("ActiveState"),
            "substate": props.get("SubState"), "enabled": props.get("UnitFileState"),
            "restarts": int(props.get("NRestarts") or 0), "status": props.get("StatusText", ""),
            "uptime_s": uptime, **seen}


def act_abort(args: argparse.Namespace) -> dict[str, Any]:
    """Remove a release that never became current (a push that stopped midway)."""
    rel = release_dir(args.name)
    if current_name() == args.name:
        raise AgentError(f"release {args.name} is current; not removing it")
    shutil.rmtree(rel, ignore_errors=True)
    return {"removed": args.name}


def prune(keep: int) -> list[str]:
    """Delete all but the newest ``keep`` releases, never the current one."""
    names = releases()
    now = current_name()
    doomed = [n for n in names[:-keep] if n != now] if keep > 0 else []
    for name in doomed:
        shutil.rmtree(RELEASES / name, ignore_errors=True)
    return doomed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digitcam-agent")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("name")
    p = sub.add_parser("install")
    p.add_argument("name")
    p.add_argument("--wheel", required=True)
    p.add_argument("--online", action="store_true")
    p.add_argument("--timeout", type=float, default=1800)
    p = sub.add_parser("activate")
    p.add_argument("name")
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--keep", type=int, default=3)
    p = sub.add_parser("rollback")
    p.add_argument("--to")
    p.add_argument("--timeout", type=float, default=90)
    sub.add_parser("status")
    p = sub.add_parser("abort")
    p.add_argument("name")
    args = parser.parse_args(argv)
    actions = {"prepare": act_prepare, "install": act_install, "activate": act_activate,
               "rollback": act_rollback, "status": act_status, "abort": act_abort}
    try:
        result = actions[args.action](args)
        result.setdefault("ok", True)
    except AgentError as exc:
        result = {"ok": False, "error": str(exc)}
    except OSError as exc:  # a full disk, a read-only file system: one line, not a traceback
        result = {"ok": False, "error": f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")}
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
