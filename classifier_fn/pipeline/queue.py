"""The work queue: a live queue served first (the events), a rate-limited backlog queue (the reconciler's
finds), the in-flight set, and the object
versions this process deleted lately (an event that arrives for one of those needs no look at MinIO)."""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

LIVE, BACKLOG = "live", "backlog"


class Offered(enum.Enum):
    QUEUED = "queued"
    HELD = "held"  # that object version is already queued or being worked
    DEFERRED = "deferred"  # stopped (or closed) before there was room


@dataclass
class Item:
    bucket: str
    key: str
    etag: str
    lane: str = LIVE
    event_time: str = ""
    version_id: str | None = None  # from the event (or the nudge's HEAD): the worker GETs exactly it
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.bucket, self.key, self.etag)


class WorkQueue:
    """Thread-safe. An object version is held at most once between `offer` and `done`."""

    DELETED_REMEMBERED = 4096  # version ids; MinIO's late event for a photo done via the nudge finds it here

    def __init__(self, backlog_per_s: float, backlog_capacity: int, clock: Callable[[], float] = time.monotonic):
        self._live: collections.deque[Item] = collections.deque()
        self._backlog: collections.deque[Item] = collections.deque()
        self._held: set[tuple[str, str, str]] = set()
        self._deleted: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self._rate = backlog_per_s
        self._tokens = 1.0
        self._refilled = time.monotonic()
        self.backlog_capacity = backlog_capacity
        self._clock = clock  # for the age of what waits (items are stamped with time.monotonic)
        self._on_done: list[Callable[[Item, object], None]] = []

    def on_done(self, listener: Callable[[Item, object], None]) -> None:
        """Call `listener(item, result)` whenever an item is done (after its version is released), from the
        worker's thread: how the event transport learns how a photo ended (result None: the worker failed)."""
        self._on_done.append(listener)

    def offer(self, item: Item) -> bool:
        """Queue `item` unless that object version is already queued or being worked on."""
        with self._cond:
            if item.identity in self._held or self._closed:
                return False
            if item.lane == BACKLOG and len(self._backlog) >= self.backlog_capacity:
                return False
            self._held.add(item.identity)
            (self._live if item.lane == LIVE else self._backlog).append(item)
            self._cond.notify()
            return True

    def wait_for_backlog_room(self, timeout: float) -> bool:
        """Block until the backlog queue has room (True) or `timeout` passes or the queue closes (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._backlog) >= self.backlog_capacity and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return not self._closed

    def offer_when_room(self, item: Item, stop: threading.Event) -> Offered:
        """Queue `item`, waiting for backlog room if its queue is full; never twice (HELD) and never once
        `stop` is set or the queue is closed (DEFERRED: the next pass takes it)."""
        while not self.offer(item):
            if self.holds(item.bucket, item.key, item.etag):
                return Offered.HELD
            if stop.is_set() or self._closed:
                return Offered.DEFERRED
            self.wait_for_backlog_room(timeout=1.0)
        return Offered.QUEUED

    def holds(self, bucket: str, key: str, etag: str) -> bool:
        with self._cond:
            return (bucket, key, etag) in self._held

    def take(self, timeout: float | None = None) -> Item | None:
        """The next item: live first; backlog only as the rate allows. None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                if self._live:
                    return self._live.popleft()
                wait = None
                if self._backlog:
                    self._refill()
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        self._cond.notify_all()  # a reconciler may be waiting for backlog room
                        return self._backlog.popleft()
                    wait = (1.0 - self._tokens) / self._rate  # a rate of 0 or less refills at once: never here
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return None

    def done(self, item: Item, result: object = None) -> None:
        with self._cond:
            self._held.discard(item.identity)
        for listener in self._on_done:
            listener(item, result)

    def deleted(self, version_id: str) -> None:
        """A worker deleted this exact object version: it can never exist again (version ids are unique)."""
        with self._cond:
            self._deleted[version_id] = None
            if len(self._deleted) > self.DELETED_REMEMBERED:
                self._deleted.popitem(last=False)

    def was_deleted(self, version_id: str | None) -> bool:
        with self._cond:
            return version_id is not None and version_id in self._deleted

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def depth(self) -> dict[str, int]:
        with self._cond:
            return {LIVE: len(self._live), BACKLOG: len(self._backlog), "held": len(self._held)}

    def oldest_age_s(self) -> float:
        with self._cond:
            heads = [q[0].queued_at for q in (self._live, self._backlog) if q]
        return round(self._clock() - min(heads), 3) if heads else 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(1.0, self._tokens + (now - self._refilled) * self._rate) if self._rate > 0 else 1.0
        self._refilled = now
