"""How `serve-fn` runs the function: uvicorn with a connection limit, a keep-alive and the open files they need.

uvicorn's `limit_concurrency` answers 503 to a request made while too many connections are open, but it keeps
accepting them, and holds one that never sends anything for ever (it has no deadline for a request's
headers). ~20,000 idle connections so used up the process's descriptors: it then accepted nothing, not even
/healthz, and asyncio logged every failed accept. So the function holds at most function_connection_limit
connections: one more closes the connection idle longest (no request running: it never sent one, sits
between keep-alive requests, or is still trickling its headers), and only when every connection has a
request running is the newcomer answered uvicorn's 503. Idle clients cannot crowd out one that asks.
What one client can still do is in docs/security.md#the-function.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from gourmetgram.openfiles import fit_open_files
from gourmetgram.settings import FunctionSettings

log = logging.getLogger(__name__)

# Idle keep-alive connections are closed after this. MinIO posts events one after another on one connection:
# 15 s keeps it through the gaps of a burst and MinIO's 3 s retries, so most events need no new connection,
# and a client that went quiet gives its slot back within seconds (at the limit an idle one goes at once).
KEEP_ALIVE_S = 15
# The kernel's queue of connections not accepted yet, and what asyncio accepts in one turn of its loop before
# any of them reaches the code that enforces the limit (and a closed one frees its descriptor a turn later):
# the descriptors beyond the limit stay within a few of these. With uvicorn's 2048, 1,500 connects at once
# took all 1,024 descriptors of a function limited to 200 connections; with 128 it peaked at 464.
BACKLOG = 128
# One descriptor per connection (uvicorn keeps bodies in memory); the accepts in flight; the rest: the model
# and library files, the MinIO client's pool, torch's threads, the log, the listening socket.
FILES_PER_CONNECTION = 1
FILES_RESERVED = 3 * BACKLOG + 256
STARTUP_FAILURE = 3  # uvicorn's exit code for a server that never started


class IdleConnections:
    """One server's connections that have no request running, longest idle first."""

    def __init__(self) -> None:
        self._since: OrderedDict[object, float] = OrderedDict()

    def idle(self, connection: object, at: float) -> None:
        """`connection` has nothing running since `at` (kept from the first call while it stays idle)."""
        self._since.setdefault(connection, at)

    def forget(self, connection: object) -> None:
        """It runs a request again, or is gone."""
        self._since.pop(connection, None)

    def longest(self, besides: object) -> tuple[object, float] | None:
        """The connection idle longest other than `besides`, and since when; None when there is none."""
        return next(((c, at) for c, at in self._since.items() if c is not besides), None)

    def __len__(self) -> int:
        return len(self._since)


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 connection, holding at most `limit` connections of its server (`idle` is shared by them)."""

    def __init__(self, *args, idle: IdleConnections, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._idle, self._limit = idle, limit

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle.idle(self, self.loop.time())
        if len(self.connections) > self._limit:
            self._make_room()

    def handle_events(self) -> None:
        super().handle_events()
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._idle.forget(self)
        super().connection_lost(exc)

    def _track(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self._idle.forget(self)
        elif not self.transport.is_closing():
            self._idle.idle(self, self.loop.time())

    def _make_room(self) -> None:
        found = self._idle.longest(besides=self)
        if found is None:
            return  # every other connection has a request running: this one's request is answered 503
        victim, since = found
        assert isinstance(victim, LimitedH11Protocol)
        victim._close_idle()
        log.warning(
            "the connection limit (%d connections) reached: closed the connection idle longest (%s, idle %.1f s)",
            self._limit,
            _address(victim.client),
            self.loop.time() - since,
        )

    def _close_idle(self) -> None:
        self._idle.forget(self)
        self.connections.discard(self)  # its slot is free now; connection_lost follows on the next tick
        self.transport.close()


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown client"


def uvicorn_config(app: Starlette, settings: FunctionSettings, connection_limit: int) -> uvicorn.Config:
    protocol = functools.partial(LimitedH11Protocol, idle=IdleConnections(), limit=connection_limit)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.function_port,
        http=protocol,
        # uvicorn answers 503 to a request made while this many connections (its own included) are open or
        # this many requests run: with the limit above, only once every held connection is working.
        limit_concurrency=connection_limit + 1,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=30,
        backlog=BACKLOG,
        # Our logging set-up (and its filter of repeated lines) handles uvicorn's loggers too.
        log_config=None,
        log_level="warning",
    )


def serve(app: Starlette, settings: FunctionSettings) -> None:
    """Serve `app` until interrupted; exit 3 when it never started (as `uvicorn.run`)."""
    connection_limit, shortfall = fit_open_files(
        settings.function_connection_limit,
        files_per_connection=FILES_PER_CONNECTION,
        reserved=FILES_RESERVED,
        setting="function_connection_limit",
    )
    if shortfall:
        log.warning("%s", shortfall)
    log.info(
        "function: at most %d connections, idle keep-alive connections closed after %d s",
        connection_limit,
        KEEP_ALIVE_S,
    )
    server = uvicorn.Server(uvicorn_config(app, settings, connection_limit))
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
