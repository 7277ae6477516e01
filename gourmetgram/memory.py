"""The memory this process may still take: its cgroup's memory limit (as a container sets it) minus what it uses.

Read before the function loads a second model beside the one it serves, so that a model too large for the room
left is refused instead of getting the whole container killed by the kernel's out-of-memory killer.
"""

from __future__ import annotations

import os
from pathlib import Path

from gourmetgram.cores import CGROUP_ROOT, MEMBERSHIP, cgroup_folders

MEMINFO = Path("/proc/meminfo")
STATM = Path("/proc/self/statm")


def cgroup_memory_limit(root: Path = CGROUP_ROOT, membership: Path = MEMBERSHIP) -> int | None:
    """The smallest memory limit (cgroup v2 `memory.max`, in bytes) of this process's group and the groups above
    it; None when there is none ("max" everywhere) or no cgroup v2 to read."""
    limits = []
    for folder in cgroup_folders(root, membership):
        try:
            text = (folder / "memory.max").read_text().strip()
        except OSError:  # no memory controller at this level
            continue
        if text.isdigit():  # "max" is no limit
            limits.append(int(text))
    return min(limits) if limits else None


def resident_bytes(statm: Path = STATM) -> int:
    """What this process uses now: its resident set (0 when it cannot be read)."""
    try:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available_bytes(meminfo: Path = MEMINFO) -> int | None:
    """The machine's MemAvailable (what can still be taken without swapping), None when unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def headroom(root: Path = CGROUP_ROOT, membership: Path = MEMBERSHIP) -> tuple[int | None, str]:
    """(bytes this process may still take, how that was found). Under a cgroup memory limit: the limit minus
    this process's resident set; without one, the machine's available memory; (None, ...) when neither is known."""
    limit = cgroup_memory_limit(root, membership)
    if limit is not None:
        used = resident_bytes()
        return max(0, limit - used), f"the cgroup's memory limit of {limit:,} bytes, {used:,} used by this process"
    available = available_bytes()
    if available is not None:
        return available, "no cgroup memory limit: the machine's available memory"
    return None, "no memory limit known"
