"""The event log for many clients at once: `/review/api/events` answers from reads of the log shared by every
request waiting, at most one read a second (per size of page), and 503 at once past a few waiting requests.

Why shared reads rather than a cap alone: with a cap, clients past it get errors and those within it each
cost MinIO a listing, so a client that loops costs MinIO a listing per answer. Shared, the cost is one read
a second however many pages are open, and every open page still gets an answer. Not stale: a request
gets a read that began after it arrived (waiting for the next one if need be, at most a second), so a
record written before the request shows as written (old-format ids within `eventlog.OUTSIDE_REFRESH_S`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from gourmetgram.eventlog import EventLog
from ingest import tokens
from ingest.frontend_error import FrontendError

T = TypeVar("T")
PAGE_SIZES = (100, 500)  # reads are made at these sizes and cut to what was asked
READ_EVERY_S = 1.0
MAX_WAITING = 8  # requests waiting for a read (each holds a server thread); more get a 503 at once
MAX_WAIT_S = 15.0
_UNFINISHED = object()  # a read stopped by something other than an Exception (it answers nobody)


class EventLogBusy(FrontendError):
    """Enough requests wait for the event log already; ask again in a second."""


class SharedRead(Generic[T]):
    """Runs `read` for the requests that want it: one at a time, at most once per `every_s`, each request
    given the result of a read that began after it arrived (or that read's exception)."""

    def __init__(
        self,
        read: Callable[[], T],
        every_s: float = READ_EVERY_S,
        max_waiting: int = MAX_WAITING,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._read, self._every, self._max_waiting, self._max_wait = read, every_s, max_waiting, max_wait_s
        self._clock = clock
        self._changed = threading.Condition()
        self._reading = False
        self._began = float("-inf")  # when the latest read began
        self._last: tuple[float, object] | None = None  # (when it began, its result or exception)
        self._waiting = 0

    def get(self) -> T:
        arrived = self._clock()
        with self._changed:
            while True:
                if self._last is not None and self._last[0] >= arrived:
                    return _unwrap(self._last[1])
                now = self._clock()
                if not self._reading and now - self._began >= self._every:
                    break
                left = self._max_wait - (now - arrived)
                if self._waiting >= self._max_waiting or left <= 0:
                    raise EventLogBusy(f"{self._waiting} requests already wait for the event log")
                self._waiting += 1
                try:  # woken when a read ends, or when the next read may begin
                    self._changed.wait(left if self._reading else min(left, self._every - (now - self._began)))
                finally:
                    self._waiting -= 1
            self._reading, self._began = True, self._clock()
            began = self._began
        result: object = _UNFINISHED
        try:
            result = self._read()
        except Exception as exc:  # shared with every request waiting for this read
            result = exc
        finally:  # whatever happened, the next request may read
            with self._changed:
                self._reading = False
                if result is not _UNFINISHED:
                    self._last = (began, result)
                self._changed.notify_all()
        return _unwrap(result)


def _unwrap(result):
    if isinstance(result, Exception):
        raise result
    return result


class EventReads:
    """The newest records for `/review/api/events`, without the feedback token's hash, through shared reads."""

    def __init__(self, events: EventLog, **options):
        self._reads = {
            size: SharedRead(lambda size=size: [tokens.public(doc) for doc in events.newest(size)], **options)
            for size in PAGE_SIZES
        }

    def newest(self, limit: int) -> list[dict]:
        size = next(size for size in PAGE_SIZES if limit <= size)
        return self._reads[size].get()[:limit]
