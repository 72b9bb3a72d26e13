"""``digitcam log tail|export|stats``: look into the field log the daemon keeps.

The log is opened read-only, so these commands are safe while the daemon
writes (WAL lets readers and the writer work side by side).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from .atomic import replacing
from .errors import DigitcamError, ExitStatus
from .fieldlog import (
    DEFAULT_STATE_DIR,
    STATE_DIR_ENV,
    FieldLog,
    LogRow,
    LogStats,
    canonical_ts,
    log_path,
    state_dir,
)
from .profiling import TOTAL

if TYPE_CHECKING:
    from .cli import Env

CSV_COLUMNS = ("id", "timestamp", "text", "confidence", "digit_confidences", "quad", "frame_id",
               "accepted", "reason", "latency_ms", "model_sha256")
FOLLOW_POLL_S = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("log", help="show or export the field log",
                       description="Look into the field log (every reading, accepted or rejected) "
                                   "that the daemon keeps in its state directory.")
    state_help = (f"where the daemon keeps its state (default: ${STATE_DIR_ENV} or "
                  f"{DEFAULT_STATE_DIR})")
    p.add_argument("--state-dir", metavar="DIR", default=None, help=state_help)
    # Also accepted after the sub-command; SUPPRESS keeps a sub-command from
    # overwriting a --state-dir given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", metavar="DIR", default=argparse.SUPPRESS, help=state_help)
    actions = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)

    tail = actions.add_parser("tail", parents=[common], help="the last readings",
                              description="Print the last readings, oldest first.")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true",
                      help="keep printing new readings as they are committed (Ctrl-C ends)")
    tail.add_argument("--accepted", action="store_true", help="accepted readings only")
    tail.set_defaults(handler=run_tail)

    export = actions.add_parser("export", parents=[common], help="every reading as CSV or JSON lines",
                                description="Write every reading (oldest first) as CSV or as one "
                                            "JSON object a line (the reading's own format plus id).")
    fmt = export.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="CSV with a header; lists and latencies as JSON in their cells")
    fmt.add_argument("--jsonl", dest="format", action="store_const", const="jsonl",
                     help="one JSON object a line")
    export.add_argument("--since", metavar="TS",
                        help="only readings at or after this ISO 8601 time (UTC unless it says)")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default: stdout)")
    export.set_defaults(handler=run_export)

    stats = actions.add_parser("stats", parents=[common], help="counts, time span, size",
                               description="How many readings, accepted and rejected, over what "
                                           "time, per day, and how big the log is on disk.")
    stats.add_argument("--days", type=int, default=14, metavar="N",
                       help="show the last N days one by one (default 14)")
    stats.set_defaults(handler=run_stats)


def open_log(args: argparse.Namespace) -> FieldLog:
    return FieldLog(log_path(state_dir(getattr(args, "state_dir", None))), readonly=True)


@contextlib.contextmanager
def closed_pipe_ok(env: Env) -> Iterator[None]:
    """``digitcam log export --csv | head`` closes the pipe early; that is a
    normal way to stop, not an error worth a traceback."""
    try:
        yield
    except BrokenPipeError:
        if env.stdout is sys.stdout:
            # Python flushes stdout again at exit; point it at /dev/null so
            # that flush cannot fail too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def format_row(row: LogRow) -> str:
    r = row.reading
    status = "ok" if r.accepted else f"rejected{': ' + r.reason if r.reason else ''}"
    total = r.latency_ms.get(TOTAL)
    latency = f"{total:8.1f} ms" if total is not None else f"{'-':>8}   "
    return (f"{r.timestamp}  {r.text or '-':<12} {r.confidence:6.3f}  frame {r.frame_id:<8} "
            f"{latency}  {status}")


def run_tail(args: argparse.Namespace, env: Env) -> int:
    if args.lines < 0:
        raise DigitcamError("-n must be 0 or more")
    with open_log(args) as log, closed_pipe_ok(env):
        rows = log.tail(args.lines, accepted_only=args.accepted)
        for row in rows:
            print(format_row(row), file=env.stdout)
        env.stdout.flush()
        if args.follow:
            last = rows[-1].id if rows else log.last_id()
            while True:  # Ctrl-C ends it; the CLI maps that to exit status 130
                time.sleep(FOLLOW_POLL_S)
                for row in log.after(last, accepted_only=args.accepted):
                    print(format_row(row), file=env.stdout)
                    last = row.id
                env.stdout.flush()
    return int(ExitStatus.OK)


def write_csv(rows: Iterable[LogRow], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        r, record = row.reading, row.reading.to_dict()
        writer.writerow([row.id, r.timestamp, r.text, repr(r.confidence),
                         json.dumps(record["digit_confidences"]), json.dumps(record["quad"]),
                         r.frame_id, int(r.accepted), r.reason, json.dumps(r.latency_ms),
                         r.model_sha256])


def write_jsonl(rows: Iterable[LogRow], out: TextIO) -> None:
    for row in rows:
        out.write(json.dumps(row.to_dict(), separators=(",", ":")) + "\n")


def run_export(args: argparse.Namespace, env: Env) -> int:
    since = None
    if args.since is not None:
        try:
            since = canonical_ts(args.since)
        except ValueError:
            raise DigitcamError(f"--since {args.since!r}: expected an ISO 8601 time such as "
                                "2026-05-01 or 2026-05-01T12:00:00Z") from None
    with open_log(args) as log:
        rows = log.rows(since=since)
        write = write_csv if args.format == "csv" else write_jsonl
        if args.output is None:
            with closed_pipe_ok(env):
                write(rows, env.stdout)
                env.stdout.flush()
        else:
            # Through a temp file and a rename: an interrupted export never leaves a
            # file that looks complete.
            try:
                with replacing(Path(args.output)) as out:
                    write(rows, cast(TextIO, out))  # a text file: binary=False
            except OSError as exc:
                raise DigitcamError(f"{Path(args.output)}: cannot write ({exc.strerror})") from None
    return int(ExitStatus.OK)


def format_stats(stats: LogStats, days: int) -> str:
    mb = 1e6
    lines = [
        f"field log  {stats.path}",
        f"size       {stats.db_bytes / mb:.2f} MB (+ {stats.wal_bytes / mb:.2f} MB write-ahead log)",
        f"readings   {stats.rows} ({stats.accepted} accepted, {stats.rejected} rejected)",
        f"first      {stats.first_ts or '-'}",
        f"last       {stats.last_ts or '-'}",
    ]
    if stats.per_day:
        average = stats.rows / len(stats.per_day)
        lines.append(f"per day    {average:.0f} on average over {len(stats.per_day)} day(s)")
        for day, count in stats.per_day[-days:] if days > 0 else []:
            lines.append(f"  {day}  {count:>9}")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace, env: Env) -> int:
    with open_log(args) as log:
        stats = log.stats()
    print(format_stats(stats, args.days), file=env.stdout)
    return int(ExitStatus.OK)
