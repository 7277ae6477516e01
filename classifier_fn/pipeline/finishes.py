"""Waiting nudges: a nudge may wait until the worker is done with its photo, so the frontend learns it at once.

MinIO's listen API delivers nothing on the pinned server, so the frontend's long-poll otherwise re-reads the
record every 50 ms or more: about 20 ms of a single upload's label time went to that alone. The answer to a
waiting nudge is only a hint to read the record now; the record stays the one source of truth.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from classifier_fn.pipeline.queue import Item

Identity = tuple[str, str, str]  # Item.identity: bucket, key, ETag


class Finishes:
    """Futures for items being waited on, settled from the worker's thread when their item is done. At most
    `limit` waits at once: past it, a nudge is answered without waiting (the frontend then polls)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting: dict[Identity, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}
        self._count = 0

    @contextmanager
    def expect(self, identity: Identity) -> Iterator[asyncio.Future | None]:
        """A future for the result of the item `identity`, or None when `limit` waits are held already. Enter it
        before the item is offered: a worker may finish it before the offer returns. The slot is taken before
        the nudge's HEAD too: while MinIO stalls, holds run out and nudges are simply answered at once."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._count >= self.limit:
                future = None
            else:
                future = loop.create_future()
                self._waiting.setdefault(identity, []).append((loop, future))
                self._count += 1
        try:
            yield future
        finally:
            if future is not None:
                with self._lock:
                    self._count -= 1
                    waiters = self._waiting.get(identity, [])
                    if (loop, future) in waiters:
                        waiters.remove((loop, future))
                    if not waiters:
                        self._waiting.pop(identity, None)

    @property
    def held(self) -> int:
        return self._count

    def finished(self, item: Item, result: object) -> None:
        """The queue's done listener (a worker's thread): settle every wait on this item."""
        self.settle(item.identity, result)

    def settle(self, identity: Identity, result: object) -> None:
        """Settle every wait on `identity` now (a worker whose record is final need not wait for its delete)."""
        with self._lock:
            waiters = self._waiting.pop(identity, [])
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_settle, future, result)
            except RuntimeError:  # the loop closed meanwhile (shutting down): nobody waits any more
                pass


def _settle(future: asyncio.Future, result: object) -> None:
    if not future.done():  # a wait that timed out has cancelled its future
        future.set_result(result)
