"""A server's open-files limit: raised to what its connection limit needs, or the limit it can honour instead.

Both servers call it before they listen (`ingest.server` for waitress, `gourmetgram_tools.function_server` for
uvicorn): a process out of descriptors can no longer accept anything, not even its health check.
"""

from __future__ import annotations

import resource


def fit_open_files(
    connection_limit: int, *, files_per_connection: int, reserved: int, setting: str
) -> tuple[int, str | None]:
    """Raise this process's soft open-files limit (up to the hard one) to what `connection_limit` connections
    need (`files_per_connection` each, plus `reserved` for everything else). Returns the connection limit it
    can honour and, when that is lower, why (naming `setting`, the variable that set the limit)."""
    need = connection_limit * files_per_connection + reserved
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    if soft != infinite and soft < need:
        soft = need if hard == infinite else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == infinite or soft >= need:
        return connection_limit, None
    fit = max((soft - reserved) // files_per_connection, 1)
    return fit, (
        f"the open-files limit is {soft} (hard limit {hard}) but {setting}={connection_limit} "
        f"needs {need}: accepting at most {fit} connections; raise the hard limit (ulimit -Hn, "
        f"or nofile in the container's ulimits) or lower {setting}"
    )
