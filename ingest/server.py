"""How `serve-web` runs the frontend: waitress with limits chosen on purpose, and the open files they need.

What one hostile client can do against these limits is in docs/security.md#the-frontend-what-is-open-and-its-limits.
"""

from __future__ import annotations

import logging

import waitress
from flask import Flask

from gourmetgram import openfiles
from gourmetgram.settings import FrontendSettings

log = logging.getLogger(__name__)

# A connection with no request running that sends nothing for this long is closed (looked for every
# CLEANUP_INTERVAL_S). A long-poll is a running request, so it is never cut by this.
IDLE_TIMEOUT_S = 60
CLEANUP_INTERVAL_S = 10
MAX_HEADER_BYTES = 64 * 1024
# Werkzeug's limit on a request body: the photo plus its multipart framing.
MULTIPART_OVERHEAD = 64 * 1024
# One socket per connection, and a temporary file while waitress spools a body over 512 KB.
FILES_PER_CONNECTION = 2
FILES_RESERVED = 256  # the threads' MinIO connections, logs, waitress's own pipes


def body_limit(settings: FrontendSettings) -> int:
    """The largest request body the app reads (anything larger is a JSON 413 naming MAX_UPLOAD_BYTES)."""
    return settings.max_upload_bytes + MULTIPART_OVERHEAD


def waitress_options(settings: FrontendSettings, connection_limit: int) -> dict:
    return {
        "host": settings.host,
        "port": settings.web_port,
        "threads": settings.web_threads,
        "connection_limit": connection_limit,
        # select() cannot watch descriptors past 1024; poll() has no such ceiling.
        "asyncore_use_poll": True,
        # Keep reading a connection while its request runs, so that a client hanging up is seen
        # (environ["waitress.client_disconnected"]) and its long-poll stops.
        "channel_request_lookahead": 1,
        "channel_timeout": IDLE_TIMEOUT_S,
        "cleanup_interval": CLEANUP_INTERVAL_S,
        "max_request_header_size": MAX_HEADER_BYTES,
        # waitress reads a whole body before the app sees it. Up to twice the app's limit, the app answers
        # with a clear JSON 413; anything larger waitress refuses itself, never storing more than this.
        "max_request_body_size": 2 * body_limit(settings),
        "ident": "gourmetgram",
    }


def fit_open_files(connection_limit: int) -> tuple[int, str | None]:
    """The connection limit the frontend can honour, its open-files limit raised for it (and why not, if lower)."""
    return openfiles.fit_open_files(
        connection_limit,
        files_per_connection=FILES_PER_CONNECTION,
        reserved=FILES_RESERVED,
        setting="web_connection_limit",
    )


def serve(app: Flask, settings: FrontendSettings) -> None:
    """Serve `app` until interrupted."""
    connection_limit, shortfall = fit_open_files(settings.web_connection_limit)
    if shortfall:
        log.warning("%s", shortfall)
    options = waitress_options(settings, connection_limit)
    log.info(
        "frontend: %d threads, at most %d connections, %d long-polls waiting at once",
        settings.web_threads,
        connection_limit,
        settings.long_poll_max_concurrent,
    )
    waitress.serve(app, **options)
