"""The one way the product connects to NATS (the JetStream event transport): servers, token, reconnects."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client

from gourmetgram.settings import FunctionSettings

log = logging.getLogger(__name__)


async def connect(
    settings: FunctionSettings,
    name: str,
    connect_timeout_s: float = 2.0,
    on_change: Callable[[str], Awaitable[None]] | None = None,
) -> Client:
    """A client of the settings' NATS servers that reconnects for ever (to any server of the cluster it learns
    of); raises (nats.errors.NoServersError, OSError, ...) when no server answers now."""

    async def report(what: str) -> None:
        if on_change:
            await on_change(what)

    async def error(exc: Exception) -> None:
        log.warning("NATS (%s): %s: %s", name, exc.__class__.__name__, exc)

    async def disconnected() -> None:
        if client.is_closed:  # closed by us: nothing to say
            return
        log.warning("NATS (%s): disconnected, reconnecting", name)
        await report("disconnected")

    async def reconnected() -> None:
        log.info("NATS (%s): reconnected to %s", name, client.connected_url.netloc if client.connected_url else "?")
        await report("reconnected")

    client = await nats.connect(
        servers=settings.nats_servers,
        token=settings.effective_nats_token,
        name=name,
        # At first each server is tried twice, then NoServersError: a caller must learn that nothing answers
        # (nats-py would otherwise try for ever, even a wrong token).
        connect_timeout=connect_timeout_s,
        allow_reconnect=True,
        max_reconnect_attempts=1,
        # A killed server is noticed at once on loopback (connection reset); the next is tried after this pause.
        reconnect_time_wait=0.5,
        ping_interval=10,
        max_outstanding_pings=2,
        error_cb=error,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    # Once connected, never give up a server: a cluster node that is restarted comes back. (nats-py reads the
    # option at each reconnect; 0 or less discards no server.)
    client.options["max_reconnect_attempts"] = -1
    return client


def address(url: str) -> str:
    """`host:port` of a NATS URL (MinIO's NATS target takes one address, no scheme)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"
