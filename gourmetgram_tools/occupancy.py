"""Who holds a data folder or a port: `up` refuses to start over another one and says whom it found.

A folder is held by an exclusive `flock` on `<folder>/up.pid`, for the holder's whole life: the kernel
drops it when the process ends, however it ends, so a killed `up` never leaves a stale lock. The file
also names the holder and its children, for the message a second `up` prints.

A port's holder is found the way `ss -ltnp` finds it: the listening socket's inode in /proc/net/tcp
(and tcp6), then the process with that inode among its open files in /proc/*/fd. Without /proc (or
without the right to read another user's fds) the message just says that the port is in use.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from gourmetgram_tools.ownership import private_folder
from gourmetgram_tools.tool_error import ToolError

PID_FILE = "up.pid"
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


class Occupied(ToolError):
    """A folder or a port is held by someone else; the message names the holder when it can be found."""


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie waits for an init that may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class FolderLock:
    """An exclusive lock on a data folder, held until `release` or the end of the process."""

    def __init__(self, folder: Path, uid: int | None = None):
        self.path = folder / PID_FILE
        self.uid = os.geteuid() if uid is None else uid  # who may own the folder (a test gives another)
        self.tightened_from: int | None = None  # the folder's mode before `acquire` made it private
        self._fd: int | None = None
        self._started = ""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Raises Occupied naming the holder (its pid, command line and children) when another process has it, and
        NotTrusted when the folder is another user's. The folder is made (or tightened to) 0700: MinIO's store
        under it holds the parts' secret keys in plain text, and every photo and record."""
        self.tightened_from = private_folder(self.path.parent, self.uid)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited: children never hold it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise Occupied(
                f"{self.path.parent.resolve()} is in use by {self.describe_holder()}: stop that one first "
                f"(Ctrl-C in its terminal), or give this one another --data folder"
            ) from None
        self._fd = fd
        self._started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.record({})

    def record(self, children: dict[str, int]) -> None:
        """Write our pid and our children's into the file (for diagnostics and for the tests)."""
        if self._fd is None:
            return
        doc = {"pid": os.getpid(), "command": command_line(os.getpid()), "started": self._started, "children": children}
        data = (json.dumps(doc, indent=1) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def describe_holder(self) -> str:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return "another process (it holds the lock on up.pid)"
        children = ", ".join(f"{name} pid {pid}" for name, pid in doc.get("children", {}).items())
        text = f"pid {doc.get('pid')} ({doc.get('command') or 'unknown command'}, started {doc.get('started')}"
        return text + (f"; its parts: {children})" if children else ")")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays, with its last pids, for diagnostics
            self._fd = None


def read_pids(folder: Path) -> dict:
    """The pid file's content: {"pid": ..., "children": {name: pid}}, or {} when there is none."""
    try:
        return json.loads((folder / PID_FILE).read_text())
    except (OSError, ValueError):
        return {}


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR as servers set it: TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on `port`, any address, IPv4 and IPv6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int | str) -> set[str]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def port_holders(port: int) -> list[Holder]:
    """The processes listening on `port` that we may look at (empty when none can be found)."""
    inodes = listening_inodes(port)
    if not inodes:
        return []
    holders = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _socket_inodes(entry) & inodes:
            holders.append(Holder(int(entry), command_line(int(entry))))
    return holders


def holds_port(pid: int, port: int) -> bool | None:
    """Whether process `pid` has a socket listening on `port`; None when /proc cannot tell."""
    inodes = listening_inodes(port)
    if not inodes:
        return None
    return bool(_socket_inodes(pid) & inodes)


def describe_port(port: int) -> str:
    """`port 9000 is in use by pid 123 (minio server ...)`, or `port 9000 is in use` when /proc cannot tell."""
    holders = port_holders(port)
    if not holders:
        return f"port {port} is in use"
    return f"port {port} is in use by " + ", ".join(str(h) for h in holders)


def check_ports(ports: dict[str, tuple[str, int]]) -> None:
    """Raises Occupied naming every port of {what: (host, port)} that is already taken, and by whom."""
    busy = [f"{what} {describe_port(port)}" for what, (host, port) in ports.items() if not port_free(host, port)]
    if busy:
        raise Occupied(
            "; ".join(busy) + ". Stop what holds them, or choose other ports (--minio-port, "
            "--console-port, --function-port, --web-port)"
        )
