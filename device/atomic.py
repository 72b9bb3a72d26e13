"""Replacing a file in one step: a reader, or a power cut, sees the old file or the new one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replacing(path: Path, mode: int = 0o644, *, binary: bool = False,
              sync_dir: bool = False) -> Iterator[IO[Any]]:
    """A file to write whose content replaces ``path`` when the block ends: a temp file
    in the same directory (same file system, so the rename is atomic), fsync, rename.
    On an error the temp file goes and ``path`` is untouched.

    ``mode`` is the new file's permissions: mkstemp's 0600 would hide a snapshot from a
    web server and the state dir's files from a user. ``sync_dir`` also fsyncs the
    directory, so the rename itself survives a power cut; without it the old file may
    come back, which for a picture refreshed every second is fine.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` (see :func:`replacing`)."""
    with replacing(path, mode, binary=True, sync_dir=sync_dir) as out:
        out.write(data)
