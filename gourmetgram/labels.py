"""Human labels of a photo (feedback now, review later), with the outcome record as their one source of truth.

A writer changes the record `events/<id>.json` with a conditional write (If-Match on its ETag, re-read
and re-applied on a conflict), then writes the production object's label tags FROM the record, never
from its own request. Two writers that each tagged from their own request could leave the tags with
either one's change alone; written from the record, the tags end equal to it (see `sync_label_tags`).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import Changed, NotFound, Store, StoreUnavailable

# Record fields that are mirrored as production tags of the same name; every other tag (the model's five)
# is left as it is. A new kind of human label is one more name here.
LABEL_TAGS = ("corrected_class", "flagged", "human_label", "reviewed_at")
CONFLICT_TRIES = 10
SYNC_ROUNDS = 20


@dataclass(frozen=True)
class Version:
    """A record as read or written, with its ETag."""

    doc: dict
    etag: str


def update_record(store: Store, bucket: str, pid: str, change: Callable[[dict], dict]) -> Version:
    """Apply `change` to the record of `pid` with a conditional write, retried on a conflict.

    `change` gets a copy of the current record and returns the new one, or raises to refuse (then nothing
    is written). A change that alters nothing writes nothing. Raises NotFound without a record, and
    StoreUnavailable when other writers keep winning.
    """
    key = names.record_key(pid)
    for attempt in range(CONFLICT_TRIES):
        try:
            current, etag = store.get_json(bucket, key)
            new = change(copy.deepcopy(current))
            if new == current:
                return Version(current, etag)
            return Version(new, store.put_json(bucket, key, new, if_match=etag))
        except NotFound as exc:  # MinIO answers If-Match on a deleted record with 404 too
            raise NotFound(f"no outcome record of prediction {pid}") from exc
        except Changed:
            # Someone wrote in between: read their version and apply the change to it. The jitter keeps
            # two writers that collided from colliding again in lockstep.
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise StoreUnavailable(f"record {bucket}/{key} kept changing: gave up after {CONFLICT_TRIES} tries")


def label_tags(record: dict) -> dict[str, str]:
    """The production tags of the record's human labels (booleans as "true"/"false")."""
    tags = {}
    for name in LABEL_TAGS:
        value = record.get(name)
        if isinstance(value, bool):
            tags[name] = "true" if value else "false"
        elif value is not None:
            tags[name] = names.tag_value(str(value))
    return tags


def write_label_tags(store: Store, bucket: str, record: dict) -> dict[str, str]:
    """Make the production object's label tags those of `record`, keeping its other tags; returns the set."""
    key = record["production_key"]
    try:
        current = store.get_tags(bucket, key)
        tags = {k: v for k, v in current.items() if k not in LABEL_TAGS} | label_tags(record)
        store.put_tags(bucket, key, tags)
    except NotFound as exc:
        raise NotFound(f"the labelled photo {bucket}/{key} is gone") from exc
    return tags


def sync_label_tags(store: Store, settings: Settings, pid: str, written: Version) -> Version:
    """Write the label tags from `written` (the record as this writer left it), then again from any newer
    record, until the record is unchanged across one tag write. Returns the version last written as tags.

    Why the tags end equal to the record, whatever the interleaving: every writer of the record runs this
    loop after its write. Take the last tag write of all; it replaces every label tag, so the tags are
    exactly the labels of the version V it was made from (the model's tags never change after the copy, so
    an older read of them does no harm). The loop that made it re-read the record afterwards and stopped,
    so it saw V still. A record write after that re-read would be followed by its writer's own loop and a
    later tag write, and ours would not be the last: so V is the record's final version. The record itself
    loses nothing, as every writer changes the version it read (If-Match). A writer that dies between its
    record write and this loop leaves the tags behind until the next writer of that photo: the frontend
    then answers 503, and sending the same feedback again repairs them.
    """
    key = names.record_key(pid)
    version = written
    for _ in range(SYNC_ROUNDS):
        if not version.doc.get("production_key"):
            return version  # nothing in production to tag (not done)
        write_label_tags(store, settings.bucket_production, version.doc)
        doc, etag = store.get_json(settings.bucket_events, key)
        if etag == version.etag:
            return version
        version = Version(doc, etag)
    raise StoreUnavailable(f"record {settings.bucket_events}/{key} kept changing while its tags were written")


def change_labels(store: Store, settings: Settings, pid: str, change: Callable[[dict], dict]) -> dict:
    """Change the record of `pid` (see `update_record`), then its production tags from it; returns the record."""
    written = update_record(store, settings.bucket_events, pid, change)
    return sync_label_tags(store, settings, pid, written).doc
