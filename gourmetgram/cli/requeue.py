"""`gourmetgram requeue`: quarantined objects back into `incoming`, failed ones retried at once."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store


def requeue(store: Store, s: Settings, include_failed: bool = True,
            echo: Callable[[str], None] = print) -> tuple[int, int]:
    moved = 0
    for info in list(store.list(s.bucket_quarantine)):
        full = store.head(s.bucket_quarantine, info.key)
        key = unquote(full.metadata.get("original-key", info.key))
        pid = full.metadata.get("prediction-id")
        # The copy back fires a fresh event; the old verdict is removed so the claim starts afresh.
        store.copy(full, s.bucket_incoming, key, metadata={k: v for k, v in full.metadata.items()
                                                         if k in ("prediction-id", "source")}, tags={})
        if pid and names.is_prediction_id(pid):
            _delete_record(store, s, pid)
        store.delete(s.bucket_quarantine, info.key, etag=info.etag)
        echo(f"requeued {s.bucket_quarantine}/{info.key} -> {s.bucket_incoming}/{key}")
        moved += 1
    retried = 0
    if include_failed:
        for info in list(store.list(s.bucket_events)):
            try:
                doc, _ = store.get_json(s.bucket_events, info.key)
            except NotFound:
                continue
            if doc.get("status") == "failed":
                _delete_record(store, s, doc["id"])
                echo(f"retry {doc['id']} ({doc.get('incoming_key')}): was failed: {doc.get('reason')}")
                retried += 1
    return moved, retried


def _delete_record(store: Store, s: Settings, pid: str) -> None:
    try:
        store.delete(s.bucket_events, names.record_key(pid))
    except NotFound:
        pass
