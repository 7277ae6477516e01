"""Waiting for an outcome record to be final, re-reading it at a short interval (the frontend's
long-poll, the bench and the tests).

MinIO's listen API would push record writes to us, but on the pinned server it delivers nothing
(`mc watch` sees no events either), so the waiter polls: every 50 ms at first, when a photo's
label is most likely to land, then backing off to 250 ms. A read is one small GET on MinIO. The frontend's
pause between reads ends early when the function says the photo is done (ingest.arrivals).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from gourmetgram import outcome
from gourmetgram.outcome import Outcome
from gourmetgram.store import Store


def parse_wait(raw: str, most: float) -> float | None:
    """A `?wait=` of seconds (the page's long-poll, the function's waiting nudge), or None unless it is a finite
    number within 0..most."""
    try:
        wait = float(raw)
    except ValueError:
        return None
    return wait if math.isfinite(wait) and 0 <= wait <= most else None


class OutcomeWaiter:
    def __init__(
        self,
        store: Store,
        bucket: str,
        first_interval_s: float = 0.05,
        max_interval_s: float = 0.25,
        pause: Callable[[str, float], None] = lambda pid, seconds: time.sleep(seconds),
    ):
        self._store = store
        self._bucket = bucket
        self._first = first_interval_s
        self._max = max_interval_s
        self._pause = pause  # (pid, seconds): between two reads of pid's record

    def read(self, pid: str) -> Outcome | None:
        found = outcome.read(self._store, self._bucket, pid)
        return found.outcome if found else None

    def wait(
        self, pid: str, seconds: float, should_stop: Callable[[], bool] = lambda: False, read_first: bool = True
    ) -> Outcome | None:
        """The record as soon as it is final, or as it stands when `seconds` run out or `should_stop()`
        says nobody is waiting any more (the client hung up): no read is made after that. Without
        `read_first` (the caller has just read it) the first read waits for the first pause."""
        deadline = time.monotonic() + seconds
        interval = self._first
        record = None
        while not should_stop():
            if read_first:
                record = self.read(pid)
            read_first = True
            left = deadline - time.monotonic()
            if (record and record.final) or left <= 0:
                return record
            self._pause(pid, min(interval, left))
            interval = min(interval * 1.25, self._max)
        return record
