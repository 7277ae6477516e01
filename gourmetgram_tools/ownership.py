"""Whose a state folder or file is, and who else may read it: `up` and the operator's commands trust only
their own.

As git's safe.directory: a folder another user owns (a `.gourmetgram` planted in a shared folder the operator
stands in) would point the operator's commands at a MinIO of theirs, or hand `up` secrets they know. As ssh
with a private key: a secrets file that others could read is refused, not used, since its secrets may
already be known; only the operator can tell, so the message says how to check and go on.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from gourmetgram_tools.tool_error import ToolError

SHARED_BITS = 0o077  # group's and others' rights


class NotTrusted(ToolError):
    """A state folder or file that is not the operator's own, or that others can read; the message says why."""


def owner_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def check_owner(path: Path, found: os.stat_result, uid: int) -> None:
    if found.st_uid != uid:
        raise NotTrusted(
            f"{path} belongs to {owner_name(found.st_uid)}, not to you ({owner_name(uid)}): refused, "
            "since whoever owns it decides what it says (as git's safe.directory). Use a folder of "
            f"your own (--data), or `chown` it to yourself if you trust {owner_name(found.st_uid)}"
        )


def check_private(path: Path, found: os.stat_result, uid: int) -> None:
    """Raises NotTrusted unless `path` (as `found`) is `uid`'s and only theirs to read and write."""
    check_owner(path, found, uid)
    if found.st_mode & SHARED_BITS:
        raise NotTrusted(
            f"{path} holds secrets and is readable or writable by others (mode "
            f"{stat.S_IMODE(found.st_mode):04o}): refused, since they may have been read or changed. "
            f"Check who could reach it; if no one else did, `chmod 600 {path}` and start again, else "
            "move it away and choose new secrets (in the environment, or let `up` generate them)"
        )


def private_folder(folder: Path, uid: int) -> int | None:
    """Make `folder` (and its parents) if missing, readable by its owner only; tighten one of `uid`'s own that
    others could reach. Returns its former mode when it was tightened, else None. NotTrusted: another's."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # the umask only ever removes rights from 0700
    found = folder.stat()
    check_owner(folder, found, uid)
    if not found.st_mode & SHARED_BITS:
        return None
    os.chmod(folder, stat.S_IMODE(found.st_mode) & ~SHARED_BITS)
    return stat.S_IMODE(found.st_mode)
