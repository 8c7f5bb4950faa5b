"""The CPU's cores, and runs of a model put side by side on them.

ferkit's models are small: inside one ONNX Runtime run, a second thread waits for the first at
every layer, so on 2 cores a batch of faces cut in two and run as two one-thread runs side by
side is classified in 0.8-0.9x the time of one run on both threads (docs/MODEL_CARD.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def side_by_side(pool: ThreadPoolExecutor | None, jobs: list[Callable[[], T]]) -> list[T]:
    """Each job's result, in order: the first job runs in the caller's thread, the others in
    `pool` meanwhile (without a pool, one after another in the caller's thread)."""
    if pool is None or len(jobs) < 2:
        return [job() for job in jobs]
    others = [pool.submit(job) for job in jobs[1:]]
    return [jobs[0](), *(future.result() for future in others)]
