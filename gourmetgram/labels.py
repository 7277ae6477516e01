"""Human labels of a photo (feedback now, review later), with the outcome record as their one source of truth.

A writer changes the record `events/<id>.json` with a conditional write (If-Match on its ETag, re-read
and re-applied on a conflict), then writes the production object's label tags FROM the record, never
from its own request. Two writers that each tagged from their own request could leave the tags with
either one's change alone; written from the record, the tags end equal to it (see `sync_label_tags`).
"""

from __future__ import annotations

from collections.abc import Callable

from gourmetgram import names, outcome
from gourmetgram.outcome import Outcome, Versioned
from gourmetgram.settings import SharedSettings
from gourmetgram.store import NotFound, Store, StoreUnavailable

# Record fields that are mirrored as production tags of the same name; every other tag (the model's five)
# is left as it is. A new kind of human label is one more field of Outcome and one more name here.
LABEL_TAGS = ("corrected_class", "flagged", "human_label", "reviewed_at")
SYNC_ROUNDS = 20


def label_tags(record: Outcome) -> dict[str, str]:
    """The production tags of the record's human labels."""
    return tag_values({name: getattr(record, name) for name in LABEL_TAGS})


def tag_values(labels: dict[str, object]) -> dict[str, str]:
    """Label values as tag values (booleans as "true"/"false"); unset ones are left out."""
    tags = {}
    for name, value in labels.items():
        if isinstance(value, bool):
            tags[name] = "true" if value else "false"
        elif value is not None:
            tags[name] = names.tag_value(str(value))
    return tags


def write_label_tags(store: Store, bucket: str, record: Outcome) -> dict[str, str]:
    """Make the production object's label tags those of `record`, keeping its other tags; returns the set."""
    key = record.production_key
    try:
        current = store.get_tags(bucket, key)
        tags = {k: v for k, v in current.items() if k not in LABEL_TAGS} | label_tags(record)
        store.put_tags(bucket, key, tags)
    except NotFound as exc:
        raise NotFound(f"the labelled photo {bucket}/{key} is gone") from exc
    return tags


def sync_label_tags(store: Store, settings: SharedSettings, written: Versioned) -> Versioned:
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
    version: Versioned | None = written
    for _ in range(SYNC_ROUNDS):
        if version is None or not version.outcome.production_key:
            return written  # nothing in production to tag (not done, or the record is gone)
        write_label_tags(store, settings.bucket_production, version.outcome)
        latest = outcome.read(store, settings.bucket_events, version.outcome.id)
        if latest is None or latest.etag == version.etag:
            return version
        version = latest
    raise StoreUnavailable(f"record of {written.outcome.id} kept changing while its tags were written")


def change_labels(store: Store, settings: SharedSettings, pid: str, change: Callable[[Outcome], Outcome]) -> Outcome:
    """Change the record of `pid` (`outcome.update`), then its production tags from it; returns the record."""
    written = outcome.update(store, settings.bucket_events, pid, change)
    return sync_label_tags(store, settings, written).outcome
