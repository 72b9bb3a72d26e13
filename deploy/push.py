"""``digitcam deploy push``: probe, build, copy, install, switch, check, or roll back.

Per host, in order; the first failure stops that host (and removes what the
push had copied there) without touching the others:

1. probe: architecture, Python, glibc, systemd, free disk, root;
2. wheels for the target's platform (built once per platform, shared by hosts);
3. ``/opt/digitcam/releases/<version>-<time>/`` made, wheels and release copied;
4. venv (``--system-site-packages``) and an offline install;
5. activate: service user, config (installed only when absent), check-config and
   check-source (the camera module loads, or nothing changes), unit, the
   ``current`` switch, restart, health check; on failure the previous release
   comes back and the last journal lines are shown.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import build, probe, release
from .env import DeployEnv
from .errors import DeployError, HostError
from .remote import Remote
from .target import SshOptions, Target

logger = logging.getLogger(__name__)

REMOTE_WHEELS = "/opt/digitcam/wheels/"
REMOTE_RELEASES = "/opt/digitcam/releases"
MAX_DIFF_LINES = 40


@dataclass
class Outcome:
    host: str
    ok: bool
    release: str = ""
    seconds: float = 0.0
    detail: str = ""
    lines: list[str] = field(default_factory=list)  # shown under the table: diffs, journal


@dataclass(frozen=True)
class PushOptions:
    model: Path | None = None
    config: Path | None = None
    unit: Path | None = None
    wheel: Path | None = None
    online: bool = False
    health_timeout: float = 90.0
    keep: int = 3
    parallel: int = 4


class Shared:
    """What every host's push shares: one wheel, one release payload, one
    wheelhouse per target platform. Arguments are checked here, before any host
    is touched; the building waits until a host has passed its probe, so an
    unreachable fleet costs seconds, not a build."""

    def __init__(self, env: DeployEnv, opts: PushOptions, workdir: Path) -> None:
        self.env = env
        self.opts = opts
        self.workdir = workdir
        self.root: Path | None
        try:
            self.root = build.source_root()
        except DeployError:
            if opts.wheel is None or opts.unit is None:
                raise
            self.root = None
        self.model = opts.model
        if self.model is None:
            has_model = (build.bundled_model(opts.wheel) if opts.wheel is not None
                         else release.default_model().is_file())
            if not has_model:
                raise DeployError("no model: the digitcam package carries no default model "
                                  "(device/models is empty); give --model BUNDLE")
            self.model = release.default_model()
        release.check_model(self.model)
        self.unit = opts.unit or (self.root / "systemd" / release.UNIT_NAME if self.root else None)
        if self.unit is None or not self.unit.is_file():
            raise DeployError(f"no unit file at {self.unit}; give --unit FILE")
        if opts.config is not None:
            self.config_text = release.check_config(opts.config)
        else:
            self.config_text = release.default_config(self.root)
        self.config_note = ""
        if opts.model is not None and release.config_model_path(self.config_text) != release.REMOTE_MODEL:
            self.config_note = (f"note: the config's [model] path is not {release.REMOTE_MODEL}, so the "
                                "daemon will not use the pushed --model")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def _once(self, key: str, make: Callable[[], object]) -> object:
        """``make()`` by the first thread that asks for ``key``; the others wait for it."""
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(make())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def payload(self) -> release.Payload:
        def make() -> release.Payload:
            wheel = self.opts.wheel or build.build_wheel(self.env, self.root)
            name = release.release_name(build.wheel_metadata(wheel)["Version"][0])
            self.env.say(f"release {name} ({wheel.name})")
            root = self.root
            assert self.model is not None and self.unit is not None
            samples = root / "device" / "samples" / "frames" if root else None
            return release.make_payload(
                self.workdir / "release", name=name, wheel=wheel, model=self.model, unit=self.unit,
                config_text=self.config_text, samples=samples,
                readme=root / "README.md" if root else None, root=root)

        result = self._once("payload", make)
        assert isinstance(result, release.Payload)
        return result

    def wheelhouse(self, info: probe.TargetInfo) -> build.Wheelhouse:
        key = info.key() + ("-online" if self.opts.online else "")

        def make() -> build.Wheelhouse:
            self.env.say(f"collecting wheels for {info.key()} ({info.arch}, Python {info.python_tag})")
            return build.collect(self.env, self.payload().wheel, info, self.workdir / "wheels" / key,
                                 online=self.opts.online)

        result = self._once(f"wheels-{key}", make)
        assert isinstance(result, build.Wheelhouse)
        return result


def push_host(env: DeployEnv, shared: Shared, ssh: SshOptions, target: Target) -> Outcome:
    started = time.monotonic()
    host = str(target)
    remote = Remote(env, ssh, target)
    opts = shared.opts

    def step(text: str) -> None:
        env.say(f"{host}: {text}")

    step("probing")
    info = remote.probe()
    probe.check(host, info)
    try:
        payload = shared.payload()
        house = shared.wheelhouse(info)
    except HostError:
        raise
    except DeployError as exc:
        raise HostError(host, str(exc)) from None
    # The venv unpacks to ~3x its wheels; the release and a margin come on top.
    need_mb = house.size_mb * 3.5 + 50
    probe.check(host, info, need_mb)
    name = payload.name
    result = remote.agent("prepare", name)
    if not result["ok"]:
        raise HostError(host, result["error"])
    lines: list[str] = []
    try:
        step(f"copying {house.size_mb:.0f} MB of wheels and release {name}")
        remote.rsync([f"{house.path}/"], REMOTE_WHEELS, delete=True)
        remote.rsync([f"{payload.path}/"], f"{REMOTE_RELEASES}/{name}/")
        step("installing (venv, offline pip install)" if not opts.online else "installing (online)")
        args = [name, "--wheel", house.digitcam_wheel] + (["--online"] if opts.online else [])
        result = remote.agent("install", *args, timeout=3600)
        if not result["ok"]:
            raise HostError(host, result["error"])
        step(f"installed in {result['seconds']:.0f} s ({result['version']}); activating")
    except BaseException:
        # Nothing half-done: the release that never became current goes again.
        try:
            remote.agent("abort", name, timeout=120)
        except HostError as exc:
            logger.warning("%s: could not remove the unfinished release %s: %s", host, name, exc.problem)
        raise
    result = remote.agent("activate", name, "--timeout", f"{opts.health_timeout:g}", "--keep", str(opts.keep),
                          timeout=opts.health_timeout * 3 + 120)
    if "error" in result:
        raise HostError(host, result["error"])
    if result.get("config") == "installed":
        lines.append(f"{host}: installed /etc/digitcam/digitcam.toml")
    elif result.get("config") == "kept":
        diff = result.get("config_diff", [])
        lines.append(f"{host}: kept your /etc/digitcam/digitcam.toml; the pushed config "
                     f"({REMOTE_RELEASES}/{name}/digitcam.toml) differs:")
        lines += [f"    {line}" for line in diff[:MAX_DIFF_LINES]]
        if len(diff) > MAX_DIFF_LINES:
            lines.append(f"    … {len(diff) - MAX_DIFF_LINES} more diff lines")
    if result["ok"]:
        pruned = result.get("pruned") or []
        if pruned:
            lines.append(f"{host}: removed old release(s) {', '.join(pruned)}")
        return Outcome(host, True, name, time.monotonic() - started, result.get("health", ""), lines)
    back = result.get("rolled_back_to")
    if back:
        state = "and it is healthy" if result.get("rollback_ok") else \
            f"but it is not healthy either: {result.get('rollback_health')}"
        detail = f"health check failed: {result.get('health')}; rolled back to {back} {state}"
    else:
        detail = f"health check failed: {result.get('health')}; first install, removed it"
    lines.append(f"{host}: last journal lines of the failed start:")
    lines += [f"    {line}" for line in result.get("journal", [])]
    return Outcome(host, False, back or "", time.monotonic() - started, detail, lines)


def run_hosts(env: DeployEnv, targets: Sequence[Target], parallel: int,
              work: Callable[[Target], Outcome]) -> list[Outcome]:
    """``work`` per target, ``parallel`` at a time; a failing host does not stop the others."""

    def guarded(target: Target) -> Outcome:
        started = time.monotonic()
        try:
            return work(target)
        except HostError as exc:
            return Outcome(str(target), False, seconds=time.monotonic() - started, detail=exc.problem)
        except Exception as exc:  # a bug for one host must not hide the others' results
            logger.exception("%s: unexpected error", target)
            return Outcome(str(target), False, seconds=time.monotonic() - started,
                           detail=f"unexpected error: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(guarded, targets))


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def summary(outcomes: Sequence[Outcome]) -> str:
    rows = [(o.host, "ok" if o.ok else "FAILED", o.release or "-", f"{o.seconds:.0f} s", o.detail)
            for o in outcomes]
    return table(rows, ("HOST", "RESULT", "RELEASE", "TIME", "DETAIL"))


def push(env: DeployEnv, targets: Sequence[Target], ssh: SshOptions, opts: PushOptions) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="digitcam-push-") as tmp:
        shared = Shared(env, opts, Path(tmp))
        if shared.config_note:
            env.say(shared.config_note)
        env.say(f"pushing to {len(targets)} host(s)")
        return run_hosts(env, targets, opts.parallel, lambda t: push_host(env, shared, ssh, t))
