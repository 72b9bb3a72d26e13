"""``digitcam device run|check-config|check-source|bench|set-value``."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import FINDERS, RegionConfig
from .config_command import add_check_config
from .errors import DigitcamError
from .source_command import add_check_source

if TYPE_CHECKING:
    from .cli import Env


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    device = sub.add_parser("device", help="the on-device daemon: run, check-config, check-source, "
                                           "bench, set-value")
    dsub = device.add_subparsers(dest="device_command", metavar="COMMAND")

    p = dsub.add_parser("run", help="run the daemon (systemd Type=notify service)")
    p.add_argument("--config", type=Path, help="TOML config (default: built-in defaults)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (0: run until stopped)")
    p.add_argument("--summary", action="store_true", help="print the latency table on exit")
    p.set_defaults(handler=cmd_run)

    add_check_config(dsub)
    add_check_source(dsub)

    p = dsub.add_parser("set-value", help="set the previous value the counter rules compare with",
                        description="Set the stabiliser's previous value (after replacing a meter, or "
                                    "when a misread was accepted). A running daemon takes it within a "
                                    "second; otherwise it is taken at the next start.")
    p.add_argument("value", metavar="N", help="the value as published, in output units (123.456)")
    p.add_argument("--config", type=Path, help="the daemon's TOML config (for state_dir and decimals)")
    p.add_argument("--wait", type=float, default=3.0, metavar="S",
                   help="seconds to wait for a running daemon to take it (default 3)")
    p.set_defaults(handler=cmd_set_value)

    p = dsub.add_parser("bench", help="time the real pipeline on a source",
                        description="Time the pipeline the daemon builds from --config (default: "
                                    "the built-in defaults); the options below override it.")
    p.add_argument("--config", type=Path, help="the daemon's TOML config")
    p.add_argument("--source", default=None, metavar="SPEC",
                   help="replay:DIR_OR_VIDEO, opencv:INDEX_OR_URL or picamera2[:N] (default: the "
                        "config's source with --config, else the bundled sample frames)")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, help="model.threads")
    p.add_argument("--model", metavar="PATH", help="model.path")
    p.add_argument("--region", choices=("auto", "full"),
                   help="auto: find the strip (region.mode auto); full: read each whole frame")
    p.add_argument("--finder", choices=FINDERS, help="region.finder: the learned strip detector "
                                                     "(default) or classical edge blobs")
    p.add_argument("--track-every", type=int, metavar="N",
                   help="region.track_every: re-read the last confident strip for up to N frames "
                        f"before the detector runs again (default {RegionConfig().track_every}; "
                        "0: search every frame)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--compare", type=Path, metavar="PREV.json", help="show changes against a previous run")
    p.set_defaults(handler=cmd_bench)
    device.set_defaults(handler=lambda a, e: _usage(device, e))


def _usage(parser: argparse.ArgumentParser, env: Env) -> int:
    parser.print_help(env.stderr)
    return 2


def cmd_run(args: argparse.Namespace, env: Env) -> int:
    from . import daemon_logging
    from .daemon import run_daemon

    daemon_logging.configure(env.stderr, args.verbose)
    return run_daemon(args.config, max_frames=args.frames,
                      summary=env.stdout if args.summary else None)


def cmd_bench(args: argparse.Namespace, env: Env) -> int:
    from .bench import load_previous, run_bench, table
    from .config import Config, load_config
    from .pipeline import bundled_frames

    previous = load_previous(args.compare) if args.compare else None
    if args.track_every is not None and args.track_every < 0:
        raise DigitcamError(f"--track-every {args.track_every}: expected 0 (off) or more frames")
    config = load_config(args.config) if args.config else Config()
    source = args.source or (None if args.config else f"replay:{bundled_frames()}")
    given = {"source": {"spec": source}, "model": {"threads": args.threads, "path": args.model},
             "region": {"mode": args.region and "auto", "finder": args.finder,
                        "track_every": args.track_every}}
    config = replace(config, **{section: replace(getattr(config, section), **{
        k: v for k, v in values.items() if v is not None}) for section, values in given.items()})
    result = run_bench(config, args.frames, args.warmup, full_frame=args.region == "full")
    if previous is not None:
        result["compared_with"] = str(args.compare)
    if args.json:
        print(json.dumps(result), file=env.stdout)
    else:
        print(table(result, previous), file=env.stdout)
    return 0


def cmd_set_value(args: argparse.Namespace, env: Env) -> int:
    from .config import Config, load_config
    from .previous_value import write_request
    from .value import display, parse_user_value

    config = load_config(args.config) if args.config else Config()
    raw = parse_user_value(args.value, config.output.decimals, config.stabiliser.expected_digits)
    state_dir = Path(config.state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        request = write_request(state_dir, raw)
    except OSError as exc:
        raise DigitcamError(f"cannot write to the state dir {state_dir}: {exc.strerror or exc}") from None
    shown = display(raw, config.output.decimals, config.output.unit)
    deadline = time.monotonic() + max(0.0, args.wait)
    while request.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if request.exists():
        print(f"previous value {shown} (digits {raw}): no daemon took it within {args.wait:g} s; "
              "it will at its next start", file=env.stdout)
    else:
        print(f"previous value {shown} (digits {raw}): taken by the running daemon", file=env.stdout)
    return 0
