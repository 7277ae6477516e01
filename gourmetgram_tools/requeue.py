"""`gourmetgram requeue`: quarantined objects back into `incoming`, failed ones retried at once.

Nothing is overwritten and no record is deleted: a quarantined object goes back only to a free key (its
copy is a new object version, which gets a record of its own; the old verdict stays as history), and a
failed record is made due now with a conditional write, only while its photo still waits in `incoming`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from gourmetgram import names, outcome
from gourmetgram.outcome import Status
from gourmetgram.settings import Settings
from gourmetgram.store import Changed, CorruptDocument, NotFound, Store


@dataclass
class Requeued:
    moved: int = 0  # quarantined objects copied back into incoming
    retried: int = 0  # failed records made due now
    kept: int = 0  # left as they were, each with the reason printed


def requeue(store: Store, s: Settings, include_failed: bool = True, echo: Callable[[str], None] = print) -> Requeued:
    done = Requeued()
    for info in list(store.list(s.bucket_quarantine)):
        _unquarantine(store, s, info.key, echo, done)
    if include_failed:
        for info in list(store.list(s.bucket_events)):
            _retry_now(store, s, info.key.removesuffix(".json"), echo, done)
    return done


def _unquarantine(store: Store, s: Settings, qkey: str, echo: Callable[[str], None], done: Requeued) -> None:
    try:
        full = store.head(s.bucket_quarantine, qkey)
    except NotFound:
        return
    key = unquote(full.metadata.get("original-key", qkey))
    try:
        store.head(s.bucket_incoming, key)
        echo(
            f"kept {s.bucket_quarantine}/{qkey}: {s.bucket_incoming}/{key} holds another photo now; "
            f"requeue again once it is done"
        )
        done.kept += 1
        return
    except NotFound:
        pass
    # MinIO ignores If-None-Match on CopyObject: a photo uploaded to that key in the instant between the
    # HEAD and the copy would be replaced (both are operators' writes to the same name).
    store.copy(
        full,
        s.bucket_incoming,
        key,
        tags={},
        metadata={k: v for k, v in full.metadata.items() if k in ("prediction-id", "source")},
    )
    store.delete(s.bucket_quarantine, qkey, etag=full.etag)
    echo(f"requeued {s.bucket_quarantine}/{qkey} -> {s.bucket_incoming}/{key}")
    done.moved += 1


def _retry_now(store: Store, s: Settings, pid: str, echo: Callable[[str], None], done: Requeued) -> None:
    try:
        found = outcome.read(store, s.bucket_events, pid)
    except CorruptDocument as exc:
        echo(f"skipped {pid}: {exc}")
        return
    if found is None or found.outcome.status is not Status.FAILED:
        return
    record = found.outcome
    try:
        waiting = store.head(s.bucket_incoming, record.incoming_key)
    except NotFound:
        waiting = None
    if waiting is None or waiting.etag != record.incoming_etag:
        echo(f"kept {pid} ({record.incoming_key}) failed: its photo is no longer in {s.bucket_incoming}")
        done.kept += 1
        return
    due = dataclasses.replace(record, retry_after=names.now_iso())
    try:
        outcome.replace(store, s.bucket_events, due, found.etag)
    except (Changed, NotFound):
        echo(f"skipped {pid}: its record changed meanwhile (a worker is on it)")
        return
    echo(f"retry {pid} ({record.incoming_key}): was failed: {record.reason}")
    done.retried += 1
