"""The event log: outcome records in `events/`, newest first, and following new ones as they land."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator

from gourmetgram.store import NotFound, Store

COLUMNS = ("time", "source", "incoming_key", "predicted_class", "confidence", "latency_ms", "status", "reason")


def recent(store: Store, bucket: str, limit: int = 50) -> list[dict]:
    """The `limit` newest outcome records (by last write), newest first."""
    newest = heapq.nlargest(limit, (o for o in store.list(bucket) if o.key.endswith(".json")),
                            key=lambda o: o.last_modified)
    records = []
    for info in newest:
        try:
            doc, _ = store.get_json(bucket, info.key)
        except NotFound:
            continue
        doc["time"] = info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        records.append(doc)
    return records


def follow(store: Store, bucket: str, interval_s: float = 1.0, sleep: Callable[[float], None] = time.sleep,
           limit: int = 20) -> Iterator[dict]:
    """Yield the newest records, then every record written (or rewritten) after them. Never ends."""
    seen: dict[str, str] = {}
    first = True
    while True:
        batch = recent(store, bucket, limit if first else 200)
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
