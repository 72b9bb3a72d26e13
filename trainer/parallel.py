"""Deterministic data synthesis over worker processes."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_chunks(work: Callable[[Job], Result], jobs: Sequence[Job],
               initializer: Callable[..., None], initargs: tuple[Any, ...],
               workers: int = 0) -> list[Result]:
    """``work`` over ``jobs`` in order, in ``workers`` forked processes (0: one per
    core) each set up once by ``initializer``; in this process when one is enough.
    Each job carries its own seed, so the result never depends on the worker count."""
    workers = workers or min(len(jobs), mp.cpu_count())
    if workers <= 1:
        initializer(*initargs)
        return [work(job) for job in jobs]
    with mp.get_context("fork").Pool(workers, initializer, initargs) as pool:
        return pool.map(work, jobs)
