"""The field log: every reading, accepted or rejected, in one SQLite file.

This is the record a user keeps for months on an SD card, so it is built for
three things at once:

* Committed rows survive power loss. The database runs in WAL mode with
  ``synchronous=FULL``: with ``NORMAL`` a WAL commit is safe from a crash of
  the process but the WAL is only fsynced at checkpoints, so the last
  transactions can roll back when the power goes. ``FULL`` fsyncs the WAL on
  every commit.
* Few writes. That fsync is expensive on an SD card (and wears it), so rows are
  buffered in memory and committed as one transaction every
  ``COMMIT_EVERY_ROWS`` rows or ``commit_interval_s`` seconds, whichever comes
  first. The price: a batch not yet committed (at most ``commit_interval_s``,
  1 s by default) is lost on power loss or SIGKILL. ``flush()`` and
  ``close()`` commit it, so a clean SIGTERM loses nothing.
* Bounded size. ``maintain()`` deletes the oldest rows by age and by size
  every ``PRUNE_EVERY_S`` seconds (never per insert) and then truncates the
  WAL. It never VACUUMs: freed pages are reused by new rows, so the file grows
  to about ``max_mb`` and stays there.

``FieldLog`` is thread-safe: ``append()`` only touches a list in memory, so the
capture loop never waits for the disk while another thread commits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .config import FieldLogConfig
from .errors import DigitcamError, one_line
from .reading import Reading

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("/var/lib/digitcam")
STATE_DIR_ENV = "DIGITCAM_STATE_DIR"
LOG_NAME = "fieldlog.sqlite3"
SCHEMA_VERSION = 1
MAX_PENDING = 10_000  # rows buffered while the disk refuses writes; the oldest are dropped
COMMIT_EVERY_ROWS = 100  # a batch this big commits at once, before commit_interval_s is up
PRUNE_EVERY_S = 600.0  # how often maintain() prunes and truncates the WAL
MIN_FREE_MB = 1.0  # refuse to open when the disk has less than this free

# AUTOINCREMENT so ids never repeat, even after retention has deleted every
# row: `digitcam log tail --follow` waits for ids above the last it printed.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        text TEXT NOT NULL,
        confidence REAL NOT NULL,
        digit_confidences TEXT NOT NULL,
        quad TEXT NOT NULL,
        frame_id INTEGER NOT NULL,
        accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
        reason TEXT NOT NULL DEFAULT '',
        latency TEXT NOT NULL DEFAULT '{}',
        model_sha256 TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts)",
)
COLUMNS = ("id", "ts", "text", "confidence", "digit_confidences", "quad", "frame_id", "accepted",
           "reason", "latency", "model_sha256")
INSERT = (f"INSERT INTO readings ({', '.join(COLUMNS[1:])}) "
          f"VALUES ({', '.join('?' * (len(COLUMNS) - 1))})")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM readings"

Row = tuple[str, str, float, str, str, int, int, str, str, str]


class FieldLogError(DigitcamError):
    """The field log cannot be opened or read; the message is one line."""


@dataclass(frozen=True)
class LogRow:
    """One stored reading with its row id (ids only grow)."""

    id: int
    reading: Reading

    def to_dict(self) -> dict[str, Any]:
        """Contract 2's field names plus ``id``: ``Reading.from_dict`` reads it back."""
        return {"id": self.id, **self.reading.to_dict()}


@dataclass(frozen=True)
class LogStats:
    path: Path
    rows: int
    accepted: int
    rejected: int
    first_ts: str | None
    last_ts: str | None
    per_day: list[tuple[str, int]]  # (YYYY-MM-DD, rows), oldest first
    db_bytes: int  # the database file on disk
    wal_bytes: int  # the write-ahead log next to it


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--state-dir`` if given, else ``$DIGITCAM_STATE_DIR``, else /var/lib/digitcam."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def log_path(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / LOG_NAME


def canonical_ts(value: str) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``, so text order is time order in SQL.

    A date or a naive time counts as UTC. Raises ValueError for anything else.
    """
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    text = parsed.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _row(reading: Reading) -> Row:
    try:
        ts = canonical_ts(reading.timestamp)
    except ValueError:
        # A reading with a bad timestamp is still a reading: keep it as given.
        ts = reading.timestamp
    record = reading.to_dict()
    digits, quad, latency = (json.dumps(record[k], separators=(",", ":"))
                             for k in ("digit_confidences", "quad", "latency_ms"))
    return (ts, reading.text, float(reading.confidence), digits, quad, int(reading.frame_id),
            int(bool(reading.accepted)), reading.reason, latency, reading.model_sha256)


def _log_row(raw: tuple[Any, ...]) -> LogRow:
    (row_id, ts, text, confidence, digit_confidences, quad, frame_id, accepted, reason, latency,
     sha) = raw
    return LogRow(int(row_id), Reading.from_dict({
        "timestamp": ts, "text": text, "confidence": confidence,
        "digit_confidences": json.loads(digit_confidences), "quad": json.loads(quad),
        "frame_id": frame_id, "accepted": accepted, "reason": reason,
        "latency_ms": json.loads(latency), "model_sha256": sha,
    }))


def _one_line(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back when the block (or the COMMIT) fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full)
            conn.execute("ROLLBACK")
        raise


class FieldLog:
    """The field log at ``path``.

    ``readonly=False`` (the daemon) creates the file and its directory and
    writes; ``readonly=True`` (the CLI) never creates or changes anything and
    says so when there is no log yet. Both raise ``FieldLogError`` with a
    one-line message when the log cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str], config: FieldLogConfig | None = None, *,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        self.config = config or FieldLogConfig()
        self.readonly = readonly
        self._db_lock = threading.Lock()  # the connection: one user at a time
        self._buf_lock = threading.Lock()  # the pending rows: held for microseconds only
        self._pending: list[Row] = []
        self._oldest_pending = 0.0  # monotonic time the current batch started
        self._last_prune = time.monotonic()
        self.dropped = 0  # rows lost because the disk refused writes for too long
        self._conn: sqlite3.Connection | None = (
            self._open_readonly() if readonly else self._open_writer())

    # -- opening --------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            vfs = os.statvfs(self.path.parent)
        except OSError as exc:
            raise FieldLogError(f"{self.path.parent}: cannot create the field log's directory "
                                f"({_one_line(exc)})") from None
        if vfs.f_flag & os.ST_RDONLY:
            raise FieldLogError(f"{self.path}: cannot open the field log for writing "
                                "(read-only file system)")
        free_mb = vfs.f_bavail * vfs.f_frsize / 1e6
        # f_blocks == 0: a pseudo file system that does not count space.
        if vfs.f_blocks and free_mb < MIN_FREE_MB:
            raise FieldLogError(f"{self.path}: disk full ({free_mb:.1f} MB free, the field log "
                                f"needs {MIN_FREE_MB:g} MB)")
        conn: sqlite3.Connection | None = None
        try:
            # Autocommit mode (isolation_level=None): transactions are explicit,
            # one per batch. check_same_thread=False: a flusher thread commits
            # while the pipeline appends; self._db_lock serialises the use.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise FieldLogError(f"{self.path}: cannot use WAL mode (got {mode})")
            # FULL, not NORMAL: see the module docstring (power loss).
            conn.execute("PRAGMA synchronous=FULL")
            # Keep the WAL file from staying large after a burst of writes.
            conn.execute("PRAGMA journal_size_limit=4194304")
            # The writer only appends: SQLite's default 2 MB page cache was the daemon's slow RSS rise.
            conn.execute("PRAGMA cache_size=-256")
            with _transaction(conn):  # also proves that we may write here
                for statement in SCHEMA:
                    conn.execute(statement)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise FieldLogError(f"{self.path}: written by a newer digitcam "
                                        f"(schema {version}, this one knows {SCHEMA_VERSION})")
                if version == 0:
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError, FieldLogError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, FieldLogError):
                raise
            raise FieldLogError(f"{self.path}: cannot open the field log for writing "
                                f"({_one_line(exc)})") from None
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise FieldLogError(f"{self.path}: no field log here (has the daemon run?)")
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=5.0)
            conn.execute("SELECT 1 FROM readings LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise FieldLogError(f"{self.path}: cannot read the field log ({_one_line(exc)})") from None
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise FieldLogError(f"{self.path}: the field log is closed")
        return self._conn

    # -- writing --------------------------------------------------------------

    def append(self, reading: Reading) -> bool:
        """Buffer one reading; True when a commit is due (the caller, or a
        flusher thread, then calls ``flush()``). Never touches the disk."""
        row = _row(reading)
        now = time.monotonic()
        with self._buf_lock:
            if not self._pending:
                self._oldest_pending = now
            self._pending.append(row)
            self._drop_over_max()
            return self._due(now)

    def _drop_over_max(self) -> None:
        """Keep the newest ``MAX_PENDING`` rows (the caller holds ``_buf_lock``)."""
        over = len(self._pending) - MAX_PENDING
        if over > 0:
            del self._pending[:over]
            self.dropped += over

    def _due(self, now: float) -> bool:
        return bool(self._pending) and (
            len(self._pending) >= COMMIT_EVERY_ROWS
            or now - self._oldest_pending >= self.config.commit_interval_s)

    def commit_due(self) -> bool:
        with self._buf_lock:
            return self._due(time.monotonic())

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Commit the buffered rows as one transaction; returns how many.

        On a database error the rows go back to the buffer (up to
        ``MAX_PENDING``) and the error is raised, so a full disk costs rows
        only when it lasts.
        """
        with self._db_lock:
            conn = self._connection()
            with self._buf_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                with _transaction(conn):
                    conn.executemany(INSERT, batch)
            except sqlite3.Error:
                with self._buf_lock:
                    self._pending[:0] = batch
                    self._drop_over_max()
                    self._oldest_pending = time.monotonic() - self.config.commit_interval_s
                raise
            return len(batch)

    def maintain(self, force: bool = False) -> int:
        """Prune by age and size and truncate the WAL, at most every
        ``PRUNE_EVERY_S`` unless forced; returns the rows deleted."""
        now = time.monotonic()
        if not force and now - self._last_prune < PRUNE_EVERY_S:
            return 0
        self._last_prune = now
        deleted = self.prune()
        self.checkpoint()
        return deleted

    def prune(self, now: datetime | None = None) -> int:
        """Delete rows older than ``retention_days``, then the oldest rows until
        the data fits in ``max_mb``; returns how many were deleted."""
        deleted = 0
        with self._db_lock:
            conn = self._connection()
            with _transaction(conn):  # one transaction, one fsync
                cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=self.config.retention_days)
                deleted += conn.execute("DELETE FROM readings WHERE ts < ?",
                                        (canonical_ts(cutoff.isoformat()),)).rowcount
                deleted += self._prune_size(conn, int(self.config.max_mb * 1e6))
        if deleted:
            logger.info("field log: pruned %s old row(s)", deleted)
        return deleted

    def _prune_size(self, conn: sqlite3.Connection, budget: int) -> int:
        # Pages in use, not the file size: the file keeps its freed pages (we
        # never VACUUM), and new rows reuse them.
        deleted = 0
        for _ in range(8):  # each pass is an estimate; a few converge
            used = self._used_bytes(conn)
            rows = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
            if used <= budget or rows == 0:
                break
            # Down to 90% of the budget, so the next prune is not one row later.
            target = 0.9 * budget
            count = max(1, min(rows, math.ceil(rows * (1.0 - target / used))))
            # Oldest by id (insertion order): a Pi without a real-time clock
            # can step its clock, ids never step back.
            deleted += conn.execute(
                "DELETE FROM readings WHERE id <= "
                "(SELECT id FROM readings ORDER BY id LIMIT 1 OFFSET ?)", (count - 1,)).rowcount
        return deleted

    @staticmethod
    def _used_bytes(conn: sqlite3.Connection) -> int:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it. A busy reader only
        makes it partial, which is harmless."""
        with self._db_lock:
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        """Commit what is buffered and close; safe to call twice. The
        connection closes even when the final commit fails (which raises)."""
        if self._conn is None:
            return
        try:
            if not self.readonly:
                self.flush()
                self.checkpoint()
        finally:
            with self._db_lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    def __enter__(self) -> FieldLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading (the CLI) ----------------------------------------------------

    def _select(self, where: list[str], params: tuple[Any, ...], order: str, limit: int) -> list[LogRow]:
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._db_lock:
            raw = self._connection().execute(
                f"{SELECT} {clause}ORDER BY id {order} LIMIT ?", (*params, limit)).fetchall()
        return [_log_row(r) for r in raw]

    def tail(self, n: int = 10, accepted_only: bool = False) -> list[LogRow]:
        """The last ``n`` rows, oldest first."""
        return self._select(["accepted = 1"] if accepted_only else [], (), "DESC", max(0, n))[::-1]

    def accepted_texts(self, n: int) -> list[tuple[str, str]]:
        """The last ``n`` accepted readings' (timestamp, text), oldest first: what the status
        page's plot needs; decoding whole rows every request costs the daemon memory."""
        with self._db_lock:
            raw = self._connection().execute(
                "SELECT ts, text FROM readings WHERE accepted = 1 ORDER BY id DESC LIMIT ?",
                (max(0, n),)).fetchall()
        return [(str(ts), str(text)) for ts, text in reversed(raw)]

    def after(self, last_id: int, accepted_only: bool = False, limit: int = 1000) -> list[LogRow]:
        """Rows with an id above ``last_id``, oldest first (for ``--follow``)."""
        accepted = ["accepted = 1"] if accepted_only else []
        return self._select(["id > ?", *accepted], (last_id,), "ASC", limit)

    def last_id(self) -> int:
        with self._db_lock:
            value = self._connection().execute("SELECT max(id) FROM readings").fetchone()[0]
        return int(value or 0)

    def rows(self, since: str | None = None, batch: int = 500) -> Iterator[LogRow]:
        """Every row in insertion order, streamed (for export); ``since`` is
        any ISO 8601 time, UTC when it has no offset."""
        where, params = (["ts >= ?"], (canonical_ts(since),)) if since is not None else ([], ())
        last = 0
        # Pages by id, so the lock is not held while the caller writes output.
        while page := self._select([*where, "id > ?"], (*params, last), "ASC", batch):
            yield from page
            last = page[-1].id

    def stats(self) -> LogStats:
        with self._db_lock:
            conn = self._connection()
            rows, accepted, first, last = conn.execute(
                "SELECT count(*), coalesce(sum(accepted), 0), min(ts), max(ts) FROM readings").fetchone()
            per_day = conn.execute(
                "SELECT substr(ts, 1, 10) AS day, count(*) FROM readings GROUP BY day ORDER BY day"
            ).fetchall()
        wal = self.path.with_name(self.path.name + "-wal")
        return LogStats(
            path=self.path, rows=int(rows), accepted=int(accepted), rejected=int(rows) - int(accepted),
            first_ts=first, last_ts=last, per_day=[(str(d), int(c)) for d, c in per_day],
            db_bytes=self.path.stat().st_size, wal_bytes=wal.stat().st_size if wal.exists() else 0)
