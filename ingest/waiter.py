"""Long-poll support: wait for an outcome record to become final, woken by MinIO's listen API.

One listener thread per frontend process follows `events/` and wakes the requests waiting for that id.
The listen API is at-most-once, so every waiter also re-reads the record at a slow fallback interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from gourmetgram import names
from gourmetgram.store import NotFound, Store

log = logging.getLogger(__name__)

FINAL = ("done", "rejected")


class OutcomeWaiter:
    def __init__(self, store: Store, bucket: str, listen: Callable[[], Iterator[str]] | None = None,
                 fallback_s: float = 1.0):
        self._store = store
        self._bucket = bucket
        self._listen = listen
        self._fallback_s = fallback_s
        self._waiting: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.listening = False

    def start(self) -> OutcomeWaiter:
        if self._listen is not None:
            threading.Thread(target=self._follow, name="outcome-listener", daemon=True).start()
        return self

    def read(self, pid: str) -> dict | None:
        try:
            doc, _ = self._store.get_json(self._bucket, names.record_key(pid))
            return doc
        except NotFound:
            return None

    def wait(self, pid: str, seconds: float) -> dict | None:
        """The record as soon as it is final, or as it stands when `seconds` run out."""
        deadline = time.monotonic() + seconds
        with self._lock:
            event = self._waiting.setdefault(pid, threading.Event())
        try:
            while True:
                event.clear()
                doc = self.read(pid)
                left = deadline - time.monotonic()
                if (doc and doc.get("status") in FINAL) or left <= 0:
                    return doc
                event.wait(min(left, self._fallback_s))
        finally:
            with self._lock:
                self._waiting.pop(pid, None)

    def _follow(self) -> None:
        backoff = 0.5
        while True:
            try:
                self.listening = True
                for key in self._listen():
                    backoff = 0.5
                    with self._lock:
                        event = self._waiting.get(key.removesuffix(".json"))
                    if event:
                        event.set()
            except Exception as exc:  # MinIO restarted or unreachable: fall back to polling, reconnect
                log.info("listening to %s stopped (%s); reconnecting", self._bucket, exc)
            self.listening = False
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
