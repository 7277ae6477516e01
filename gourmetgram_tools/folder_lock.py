"""One writer per folder: an advisory lock on a file in it, naming its holder (pid and start time).

flock(2) is released by the kernel when its holder ends, however it ends (SIGKILL included): a dead run
never leaves a stale lock behind. The file itself stays (removing it would let a third run lock a new
file while a second still holds the old one); its text is only read to name the holder. A symlink (or
anything but a regular file) at its path is refused, never followed: the holder's name would be written
over whatever it points to.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gourmetgram import names
from gourmetgram_tools.tool_error import ToolError

HOLDER_WAIT_S = 1.0  # a holder writes its name just after locking: how long a refused run waits to read it


class NotALockFile(ToolError):
    """The lock's path is a symlink, a folder or another non-regular file: not opened, not written."""


class Locked(ToolError):
    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is held by {holder}")
        self.path, self.holder = path, holder


def holder_text(pid: int, started: str) -> str:
    return f"pid {pid}, started {started}"


@contextmanager
def holding(path: Path) -> Iterator[None]:
    """Hold `path`'s lock for the block; `Locked` at once (naming the holder) when another process holds it."""
    try:  # O_NONBLOCK: a FIFO planted there is refused below rather than waited on
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:  # ELOOP: a symlink; EISDIR: a folder
        raise NotALockFile(
            f"{path} cannot be the lock file ({exc.strerror}): export does not follow a symlink there; remove it"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotALockFile(f"{path} cannot be the lock file (not a regular file): remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(path, _holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder_text(os.getpid(), names.now_iso()) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        text = os.pread(fd, 256, 0).decode(errors="replace").strip()
        if text or time.monotonic() >= deadline:
            return text or "another process (it has not written its pid yet)"
        time.sleep(0.05)
