"""The cores this process may use: what the model's threads, the decode budget and the bench's bound count.

os.cpu_count() counts the host's cores. A container given 2 of a host's 64 (a cpuset, or `cpus:` in compose,
which is a CPU quota) would then run 63 torch threads and admit 64 concurrent decodes onto 2 cores.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")  # cgroup v2, as on Debian 12 and current Docker
MEMBERSHIP = Path("/proc/self/cgroup")


def usable_cores(root: Path = CGROUP_ROOT, membership: Path = MEMBERSHIP) -> int:
    """The CPUs this process may be scheduled on (its affinity: a cpuset, `taskset`), at most its cgroup's CPU
    quota rounded up; at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity outside Linux
        cores = os.cpu_count() or 1
    quota = cgroup_quota(root, membership)
    return max(1, min(cores, quota) if quota else cores)


def cgroup_quota(root: Path = CGROUP_ROOT, membership: Path = MEMBERSHIP) -> int | None:
    """The smallest CPU quota (cgroup v2 `cpu.max`) of this process's group and the groups above it, in whole
    cores rounded up; None when there is none, or no cgroup v2 to read (a v1 quota is not looked for: hosts
    still on v1 set TORCH_THREADS)."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    path = next((line[3:] for line in lines if line.startswith("0::")), None)  # v2's one hierarchy
    if path is None:
        return None
    group = root / path.strip("/")
    quotas = []
    for folder in (group, *group.parents):
        try:
            limit, period = (folder / "cpu.max").read_text().split()[:2]
            if limit != "max":
                quotas.append(math.ceil(int(limit) / int(period)))
        except (OSError, ValueError, ZeroDivisionError):  # none at this level (the root has none), or garbled
            pass
        if folder == root:
            break
    return min(quotas) if quotas else None
