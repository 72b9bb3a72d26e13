"""``digitcam device check-config FILE``: validate a daemon config before (re)starting it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .capture import spec
from .config import Config
from .errors import ExitStatus
from .region_file import load_daemon_config, region_file

if TYPE_CHECKING:
    from .cli import Env


def add_check_config(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``check-config FILE`` to an existing sub-parsers object (the ``device`` group)."""
    p = sub.add_parser("check-config", help="validate a daemon config file",
                       description="Read FILE as the daemon would and report the first problem, "
                                   "with its key and line; print a summary when it is valid.")
    p.add_argument("file", metavar="FILE", help="the TOML config, e.g. /etc/digitcam/digitcam.toml")
    p.set_defaults(handler=run_check_config)


def run_check_config(args: argparse.Namespace, env: Env) -> int:
    """Print ``FILE: ok`` and a summary; a bad file raises ConfigError for the CLI to report."""
    cfg = load_daemon_config(Path(args.file))  # with the status page's saved region, as the daemon runs
    print(f"{args.file}: ok", file=env.stdout)
    for line in summarise(cfg):
        print(f"  {line}", file=env.stdout)
    if region_file(cfg).is_file():
        print(f"  (region from {region_file(cfg)}, saved by the status page; delete it to use this "
              "file's [region])", file=env.stdout)
    return int(ExitStatus.OK)


def summarise(cfg: Config) -> list[str]:
    """A few lines that say what the daemon will do with this config."""
    src = cfg.source
    fps = "as fast as possible" if src.fps == 0 else f"{src.fps:g} fps"
    region = {"auto": "automatic strip detection",
              "rect": f"fixed rectangle {list(cfg.region.rect)}",
              "quad": f"fixed quadrilateral {[list(p) for p in cfg.region.quad]}"}[cfg.region.mode]
    if cfg.region.align:
        region += f", aligned to {cfg.region.reference_image}"
    model = cfg.model.path or "the bundled model"
    st = cfg.stabiliser
    rules = [f"{st.k} of {st.n} frames agree", f"confidence >= {st.min_confidence:.2f}"]
    if st.monotonic:
        rules.append("never decreasing")
    if st.max_rate_per_min:
        rules.append(f"at most +{st.max_rate_per_min:g}/min")
    if st.expected_digits:
        rules.append(f"{st.expected_digits} digits")
    sinks = [name for name, on in (("fieldlog", cfg.fieldlog.enabled), ("snapshot", cfg.snapshot.enabled),
                                   ("console", cfg.console.enabled), ("journal", cfg.journal.enabled),
                                   ("mqtt", cfg.mqtt.enabled)) if on]
    if cfg.mqtt.enabled:
        mq = cfg.mqtt
        sinks[-1] = (f"mqtt {mq.host}:{mq.port}{' (TLS)' if mq.tls else ''}"
                     f"{', Home Assistant discovery' if mq.discovery else ''}")
    camera = ""
    if spec.split(src.spec)[0] == "picamera2":
        focus = src.af_mode or ("manual" if src.lens_position >= 0 else "continuous")
        at = f" at {src.lens_position:g} dioptres" if src.lens_position >= 0 else ""
        exposure = f"exposure {src.exposure_us} us" if src.exposure_us else "auto exposure"
        camera = f", focus {focus}{at}, {exposure}"
    web = cfg.web
    host = f"[{web.bind}]" if ":" in web.bind else web.bind
    page = (f"http://{host}:{web.port}/ and /metrics" + (", password required" if web.password else "")
            if web.enabled else "off")
    return [
        f"source:     {src.spec} at {fps}, {src.width}x{src.height}{camera}",
        f"region:     {region}",
        f"model:      {model}, {cfg.model.threads} thread(s), runtime {cfg.model.runtime or 'auto'}",
        f"stabiliser: {', '.join(rules)}; emit {st.emit}",
        f"publish to: {', '.join(sinks) or 'nothing'}",
        f"value:      {cfg.output.decimals} decimal(s){', in ' + cfg.output.unit if cfg.output.unit else ''}",
        f"state_dir:  {cfg.state_dir}",
        f"web:        {page}",
    ]
