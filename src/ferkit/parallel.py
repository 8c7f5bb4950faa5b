"""The CPU's cores, and runs of a model put side by side on them.

ferkit's models are small: inside one ONNX Runtime run, a second thread waits for the first at
every layer, so on 2 cores a batch of faces cut in two and run as two one-thread runs side by
side is classified in 0.8-0.9x the time of one run on both threads (docs/MODEL_CARD.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def available_cores() -> int:
    """The cores this process may use: the CPUs it may run on, fewer when a container's CPU
    quota (`docker run --cpus 2`, a Kubernetes limit) allows less, as in Go and the JVM:
    a thread per CPU of a 64-core host in a 2-CPU container would be throttled, not faster."""
    affinity = getattr(os, "sched_getaffinity", None)  # not on macOS or Windows
    cpus = len(affinity(0)) if affinity else os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return min(cpus, math.ceil(quota)) if quota else cpus


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup"),
                     membership: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs' worth of time per second that Linux cgroups (v2 or v1) allow this process, the
    tightest limit of its cgroup and the cgroups above it; None without one."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy, cpu.max = "QUOTA PERIOD" or "max PERIOD"
            limits += [_read(_cpu_max, f) for f in _files(root, path, "cpu.max")]
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own hierarchy
            mount = next((root / n for n in (controllers, "cpu", "cpu,cpuacct")
                          if (root / n).is_dir()), None)
            if mount:
                limits += [_read(_cfs_quota, f) for f in _files(mount, path, "cpu.cfs_quota_us")]
    limits = [x for x in limits if x and x > 0]
    return min(limits) if limits else None


def _files(mount: Path, path: str, name: str) -> list[Path]:
    """`name` in the cgroup at `path` and each one above it. Inside a container the mount is
    often the container's own cgroup while `path` still names it from the host's root, so the
    mount's top is looked at too."""
    here = mount / path.strip("/")
    dirs = [here, *(p for p in here.parents if p.is_relative_to(mount))]
    return [d / name for d in dict.fromkeys(dirs) if (d / name).is_file()]


def _read(parse: Callable[[Path], float | None], path: Path) -> float | None:
    try:
        return parse(path)
    except (OSError, ValueError, ZeroDivisionError):  # unreadable or malformed: no limit known
        return None


def _cpu_max(path: Path) -> float | None:
    """cgroup v2's cpu.max: "QUOTA PERIOD", or "max PERIOD" for no limit."""
    quota, period = path.read_text().split()
    return None if quota == "max" else int(quota) / int(period)


def _cfs_quota(path: Path) -> float | None:
    """cgroup v1's cpu.cfs_quota_us (-1 for no limit) over cpu.cfs_period_us beside it."""
    quota = int(path.read_text())
    return quota / int(path.with_name("cpu.cfs_period_us").read_text()) if quota > 0 else None


def side_by_side(pool: ThreadPoolExecutor | None, jobs: list[Callable[[], T]]) -> list[T]:
    """Each job's result, in order: the first job runs in the caller's thread, the others in
    `pool` meanwhile (without a pool, one after another in the caller's thread)."""
    if pool is None or len(jobs) < 2:
        return [job() for job in jobs]
    others = [pool.submit(job) for job in jobs[1:]]
    return [jobs[0](), *(future.result() for future in others)]
