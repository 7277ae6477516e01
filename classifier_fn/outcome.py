"""The outcome record `events/<uuid>.json`: what happened to one photo, readable by people and tools."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


class Status(str, enum.Enum):
    PENDING = "pending"    # claimed by a worker (or queued); `expires_at` bounds the claim
    DONE = "done"
    REJECTED = "rejected"  # can never be classified: the object is in quarantine
    FAILED = "failed"      # a transient error outlasted the retries; the reconciler tries again later

    @property
    def final(self) -> bool:
        return self in (Status.DONE, Status.REJECTED)


def now_iso(moment: float | None = None) -> str:
    t = time.time() if moment is None else moment
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Outcome:
    id: str
    status: Status
    incoming_key: str
    incoming_etag: str
    incoming_modified: str | None = None  # the object's Last-Modified: with key and ETag, which version this is
    source: str = "bucket"
    size: int | None = None
    predicted_class: str | None = None
    class_index: int | None = None
    confidence: float | None = None
    production_key: str | None = None
    model_version: str | None = None
    reason: str | None = None
    attempts: int = 0
    worker: str | None = None
    expires_at: str | None = None     # pending only: when a dead worker's claim lapses
    retry_after: str | None = None    # failed only: when the reconciler may try again
    latency_ms: int | None = None     # upload (object time) -> final record
    corrected_class: str | None = None
    flagged: bool | None = None
    feedback_token_sha256: str | None = None  # web uploads: the hash of the token the uploader got
    timestamps: dict[str, str] = field(default_factory=dict)

    def stamp(self, step: str, moment: float | None = None) -> None:
        self.timestamps[step] = now_iso(moment)

    def to_json(self) -> dict:
        doc = dataclasses.asdict(self)
        doc["status"] = self.status.value
        return {k: v for k, v in doc.items() if v is not None}

    @classmethod
    def from_json(cls, doc: dict) -> Outcome:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in doc.items() if k in names}
        values["status"] = Status(values["status"])
        return cls(**values)

    def same_version(self, other: Outcome) -> bool:
        """Whether both records speak of one object version (records from before `incoming_modified` match
        on key and ETag alone)."""
        modified = None in (self.incoming_modified, other.incoming_modified) or \
            self.incoming_modified == other.incoming_modified
        return self.incoming_key == other.incoming_key and self.incoming_etag == other.incoming_etag and modified

    def expired(self, now: float | None = None) -> bool:
        """A pending claim whose worker is presumed dead, or a failure whose back-off is over."""
        deadline = self.expires_at if self.status is Status.PENDING else self.retry_after
        if deadline is None:
            return self.status is Status.FAILED
        return (time.time() if now is None else now) >= parse_iso(deadline)
