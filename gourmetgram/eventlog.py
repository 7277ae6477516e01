"""The event log: outcome records in `events/`, newest first, and following new ones as they land."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from gourmetgram.outcome import Outcome
from gourmetgram.store import CorruptDocument, NotFound, ObjectInfo, Store

log = logging.getLogger(__name__)

COLUMNS = ("time", "source", "incoming_key", "predicted_class", "confidence", "latency_ms", "status", "reason")


class RecordCache:
    """Records already read, by key and ETag. A page that refreshes every few seconds then costs MinIO
    one listing and a GET per record that changed, not a GET per record shown."""

    def __init__(self, capacity: int = 2000):
        self._capacity = capacity
        self._docs: OrderedDict[str, tuple[str, dict]] = OrderedDict()
        self._lock = threading.Lock()  # the frontend serves many requests at once

    def read(self, store: Store, info: ObjectInfo) -> dict:
        with self._lock:
            hit = self._docs.get(info.key)
            if hit and hit[0] == info.etag:
                self._docs.move_to_end(info.key)
                return dict(hit[1])
        doc, etag = store.get_json(info.bucket, info.key)
        if not isinstance(doc, dict):
            raise CorruptDocument(f"{info.bucket}/{info.key} is not a JSON object", etag)
        with self._lock:
            self._docs[info.key] = (etag, doc)
            self._docs.move_to_end(info.key)
            while len(self._docs) > self._capacity:
                self._docs.popitem(last=False)
        return dict(doc)


def recent(store: Store, bucket: str, limit: int = 50, cache: RecordCache | None = None) -> list[dict]:
    """The `limit` newest outcome records (by last write), newest first."""
    cache = cache or RecordCache(capacity=limit)
    newest = heapq.nlargest(limit, (o for o in store.list(bucket) if o.key.endswith(".json")),
                            key=lambda o: o.last_modified)
    records = []
    for info in newest:
        try:
            doc = cache.read(store, info)
        except NotFound:
            continue
        except CorruptDocument as exc:  # one broken record must not break the log for everyone
            log.warning("event log: %s", exc)
            continue
        if not _is_outcome(doc):
            log.warning("event log: %s/%s is not an outcome record", bucket, info.key)
            continue
        doc["time"] = info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        records.append(doc)
    return records


def _is_outcome(doc: object) -> bool:
    try:
        Outcome.from_json(doc)  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError, AttributeError):
        return False
    return True


def follow(store: Store, bucket: str, interval_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
           limit: int = 20) -> Iterator[dict]:
    """Yield the newest records, then every record written (or rewritten) after them. Never ends."""
    seen: dict[str, str] = {}
    cache = RecordCache()
    first = True
    while True:
        batch = recent(store, bucket, limit if first else 200, cache)
        for doc in reversed(batch):
            marker = f"{doc.get('status')}@{doc['time']}"
            if seen.get(doc["id"]) != marker:
                seen[doc["id"]] = marker
                yield doc
        first = False
        sleep(interval_s)


def format_row(doc: dict) -> str:
    confidence = doc.get("confidence")
    return "  ".join([
        doc.get("time", "")[:19],
        f"{doc.get('source', ''):6}",
        f"{doc.get('status', ''):8}",
        f"{doc.get('predicted_class') or '-':16}",
        f"{confidence:.3f}" if isinstance(confidence, (int, float)) else "  -  ",
        f"{doc.get('latency_ms', '-'):>6}ms",
        doc.get("incoming_key", ""),
        doc.get("reason") or "",
    ])
