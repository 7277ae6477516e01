"""The cores this process may use: what the model's threads, the decode budget and the bench's bound count.

os.cpu_count() counts the host's cores. A container given 2 of a host's 64 (a cpuset, or `cpus:` in compose,
which is a CPU quota) would then run 63 torch threads and admit 64 concurrent decodes onto 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

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
    still on v1, or hybrid ones whose CPU controller is v1's, set TORCH_THREADS). The cgroup2 file system is
    taken to be mounted at `root`, as on Debian 12 and in Docker's containers."""
    quotas = []
    for folder in cgroup_folders(root, membership):
        try:
            limit, period = (int(n) for n in (folder / "cpu.max").read_text().split()[:2])
            if limit > 0 and period > 0:
                quotas.append(-(-limit // period))  # whole cores, rounded up
        except (OSError, ValueError):  # no quota at this level ("max", or no cpu.max), or garbled
            pass
    return min(quotas) if quotas else None


def cgroup_folders(root: Path = CGROUP_ROOT, membership: Path = MEMBERSHIP) -> list[Path]:
    """This process's cgroup v2 folder and those above it up to `root` (the namespace's root: in a container,
    the container's own group), innermost first; none when there is no cgroup v2 to read."""
    try:
        lines = membership.read_text().splitlines()
    except (OSError, ValueError):  # unreadable, or a group name that is not UTF-8
        return []
    path = next((line[3:] for line in lines if line.startswith("0::")), None)  # v2's one hierarchy
    if path is None or ".." in PurePosixPath(path).parts:  # outside this namespace's tree: not under `root`
        return []
    group = root / path.strip("/")
    folders = []
    for folder in (group, *group.parents):
        folders.append(folder)
        if folder == root:
            break
    return folders
