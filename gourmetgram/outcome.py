"""The outcome record `events/<id>.json`: what happened to one photo, its type, and its conditional writes.

Every part reads and writes records through this module: the function claims and finishes them, the
frontend waits for them and adds human labels, the tools list and requeue them. Nobody spells a status.
"""

from __future__ import annotations

import dataclasses
import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gourmetgram import names
from gourmetgram.store import Changed, CorruptDocument, NotFound, Store, StoreUnavailable


class Status(str, enum.Enum):
    PENDING = "pending"  # claimed by a worker; `expires_at` bounds the claim
    DONE = "done"
    REJECTED = "rejected"  # can never be classified: the object is in quarantine
    FAILED = "failed"  # a transient error outlasted the retries; the reconciler tries again later

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.DONE, Status.REJECTED})


@dataclass
class Outcome:
    id: str
    status: Status
    incoming_key: str
    incoming_etag: str
    incoming_modified: str | None = None  # the object's Last-Modified: with key and ETag, which version this is
    incoming_version: str | None = None  # MinIO's version id of it, when the bucket keeps versions
    source: str = "bucket"
    original_filename: str | None = None  # web uploads: the name of the uploader's file (keys are `<id><ext>`)
    size: int | None = None
    predicted_class: str | None = None
    class_index: int | None = None
    confidence: float | None = None
    top: list[dict] | None = None  # done: the likeliest classes, best first ({"class", "confidence"})
    production_key: str | None = None
    quarantine_key: str | None = None  # rejected: where the object was moved
    model_version: str | None = None
    decode: str | None = None  # done: how the photo was decoded ("exact", or "fast 1/4": a JPEG at 1/4)
    # The challenger's answer for this photo, labelled in the shadow (never in tags or the production path):
    # {"model_version", "predicted_class", "class_index", "confidence"}. docs/contract.md#models.
    shadow: dict | None = None
    reason: str | None = None
    attempts: int = 0
    worker: str | None = None
    expires_at: str | None = None  # pending only: when a dead worker's claim lapses
    retry_after: str | None = None  # failed only: when the reconciler may try again
    latency_ms: int | None = None  # upload (object time) -> final record
    # Human labels: the record is their one source of truth; the production tags mirror them (labels.py).
    corrected_class: str | None = None
    flagged: bool | None = None
    human_label: str | None = None
    reviewed_at: str | None = None
    feedback_token_sha256: str | None = None  # web uploads: the hash of the token the uploader got
    timestamps: dict[str, str] = field(default_factory=dict)
    # Fields this version does not know (written by a newer one): kept, so a rewrite never drops them.
    extra: dict[str, Any] = field(default_factory=dict)

    def stamp(self, step: str, moment: float | None = None) -> None:
        self.timestamps[step] = names.now_iso(moment)

    @property
    def final(self) -> bool:
        return self.status.final

    def to_json(self) -> dict:
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        doc["status"] = self.status.value
        doc["timestamps"] = dict(self.timestamps)
        return {**self.extra, **{k: v for k, v in doc.items() if v is not None}}

    @classmethod
    def from_json(cls, doc: dict) -> Outcome:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in doc.items() if k in known}
        values["status"] = Status(values["status"])
        values["timestamps"] = dict(values.get("timestamps") or {})
        return cls(**values, extra={k: v for k, v in doc.items() if k not in known})

    def same_version(self, other: Outcome) -> bool:
        """Whether both records speak of one object version (records from before `incoming_modified` or
        `incoming_version` match on what they have)."""
        modified = (
            None in (self.incoming_modified, other.incoming_modified)
            or self.incoming_modified == other.incoming_modified
        )
        version = (
            None in (self.incoming_version, other.incoming_version) or self.incoming_version == other.incoming_version
        )
        return (
            self.incoming_key == other.incoming_key
            and self.incoming_etag == other.incoming_etag
            and modified
            and version
        )

    def twin_of(self, other: Outcome) -> bool:
        """Another version of the same bytes under the same key in the same second: key, ETag and Last-Modified
        the same, version ids both known and different. The id derived from the first three is theirs both."""
        return (
            self.incoming_key == other.incoming_key
            and self.incoming_etag == other.incoming_etag
            and self.incoming_modified is not None
            and self.incoming_modified == other.incoming_modified
            and None not in (self.incoming_version, other.incoming_version)
            and self.incoming_version != other.incoming_version
        )

    def expired(self, now: float | None = None) -> bool:
        """A pending claim whose worker is presumed dead, or a failure whose back-off is over (a failure
        without a back-off may be retried at once)."""
        deadline = self.expires_at if self.status is Status.PENDING else self.retry_after
        if self.status.final or (deadline is None and self.status is Status.PENDING):
            return False
        if deadline is None:
            return True
        return (time.time() if now is None else now) >= names.parse_iso(deadline)


@dataclass(frozen=True)
class Versioned:
    """A record as read or written, with the ETag that a conditional write of it must name."""

    outcome: Outcome
    etag: str


def read(store: Store, bucket: str, pid: str) -> Versioned | None:
    """The record of `pid`, None without one; CorruptDocument (with its ETag) for one that is no outcome."""
    try:
        doc, etag = store.get_json(bucket, names.record_key(pid))
    except NotFound:
        return None
    try:
        return Versioned(Outcome.from_json(doc), etag)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # not an object, no status, a bad field
        raise CorruptDocument(f"the record of {pid} is not an outcome record ({exc})", etag) from None


# What an operator looks for in a record, shown by the MinIO console's object view (which cannot preview
# JSON) and by `mc stat`/`mc tag list`, written with the record in the same conditional PUT so they never
# disagree with it. Tags carry the short values one filters on, spelled as tags allow; user metadata the
# exact file name and reason, any Unicode (percent-encoded: the console decodes it). MinIO refuses a PUT
# with more than 10 tags or over 2 KB of user metadata (header names included), so both are bounded here.
FILE_NAME_TAG, REASON_TAG = "file_name", "reason"
FILE_NAME_METADATA, REASON_METADATA = "file-name", "reason"
METADATA_VALUE_MAX = 900  # two values and their header names stay under MinIO's 2 KB


def console_tags(record: Outcome) -> dict[str, str]:
    """The record's tags: status, source, the file's name and, when the record has them, the model's class
    and confidence, the reason of a rejection or failure, and the human labels (at most 9 of S3's 10)."""
    tags = {
        "status": record.status.value,
        "source": _text(record.source),
        FILE_NAME_TAG: _text(file_name(record)),
        "predicted_class": _text(record.predicted_class),
        "confidence": _confidence(record.confidence),
        REASON_TAG: _text(record.reason),
        "corrected_class": _text(record.corrected_class),
        "flagged": _flag(record.flagged),
        "human_label": _text(record.human_label),
    }
    return {name: names.tag_value(value) for name, value in tags.items() if value}


def console_metadata(record: Outcome) -> dict[str, str]:
    """The record's user metadata: the exact file name and reason (names without `x-amz-meta-`)."""
    metadata = {FILE_NAME_METADATA: _text(file_name(record)), REASON_METADATA: _text(record.reason)}
    return {name: names.metadata_value(value, METADATA_VALUE_MAX) for name, value in metadata.items() if value}


def file_name(record: Outcome) -> str:
    """The name an operator knows the photo by: the uploader's file name, else the key it was dropped under."""
    return record.original_filename or record.incoming_key


def _text(value: object) -> str:
    # A record written by a newer version (or by hand) may hold anything: never a reason to refuse its write.
    return "" if value is None else str(value)


def _confidence(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return names.confidence_tag(value)
    return _text(value)


def _flag(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else _text(value)


def _put(store: Store, bucket: str, outcome: Outcome, **condition: Any) -> str:
    return store.put_json(
        bucket,
        names.record_key(outcome.id),
        outcome.to_json(),
        tags=console_tags(outcome),
        metadata=console_metadata(outcome),
        **condition,
    )


def create(store: Store, bucket: str, outcome: Outcome) -> Versioned:
    """Write a record that must not exist yet (If-None-Match: *); AlreadyExists otherwise."""
    return Versioned(outcome, _put(store, bucket, outcome, if_absent=True))


def replace(store: Store, bucket: str, outcome: Outcome, etag: str) -> Versioned:
    """Write over exactly the version `etag` (If-Match); Changed if someone wrote since (NotFound: deleted)."""
    return Versioned(outcome, _put(store, bucket, outcome, if_match=etag))


CONFLICT_TRIES = 10


def update(store: Store, bucket: str, pid: str, change: Callable[[Outcome], Outcome]) -> Versioned:
    """Apply `change` to the record of `pid`: read, change, write with If-Match, again on a conflict.

    `change` gets its own copy of the record and returns the new one, or raises to refuse (then nothing is
    written). A change that alters nothing writes nothing. NotFound without a record; StoreUnavailable when
    other writers keep winning.
    """
    for attempt in range(CONFLICT_TRIES):
        current = read(store, bucket, pid)
        if current is None:
            raise NotFound(f"no outcome record of prediction {pid}")
        new = change(Outcome.from_json(current.outcome.to_json()))
        if new.to_json() == current.outcome.to_json():
            return current
        try:
            return replace(store, bucket, new, current.etag)
        except NotFound as exc:  # MinIO answers If-Match on a deleted record with 404
            raise NotFound(f"no outcome record of prediction {pid}") from exc
        except Changed:
            # Someone wrote in between: apply the change to their version. The jitter keeps two writers
            # that collided from colliding again in lockstep.
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise StoreUnavailable(f"record of {pid} kept changing: gave up after {CONFLICT_TRIES} tries")
