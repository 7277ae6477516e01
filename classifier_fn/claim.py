"""Claim before work: a `pending` outcome record written only if absent, with an expiry.

The record doubles as the lock, so no other service is needed and two function processes (or a
redelivered event racing the reconciler) agree through MinIO's conditional writes:

    no record            -> write pending (If-None-Match: *)          -> CLAIMED
    another object version's record (an upload id on a copy)           -> FOREIGN
    done / rejected      -> nothing to do but finish the delete        -> FINISHED
    pending, not expired -> another worker is on it                    -> BUSY
    pending expired, or failed and its back-off over
                         -> overwrite (If-Match: the record's ETag)    -> CLAIMED (attempts + 1)
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from gourmetgram import names, outcome
from gourmetgram.outcome import Outcome, Status, Versioned
from gourmetgram.store import AlreadyExists, Changed, NotFound, Store


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"
    BUSY = "busy"
    FINISHED = "finished"
    FOREIGN = "foreign"  # the id belongs to another object version: this one needs an id of its own


@dataclass(frozen=True)
class Claim:
    result: ClaimResult
    record: Versioned  # ours when CLAIMED (its ETag guards our later writes), else the one we found

    @property
    def outcome(self) -> Outcome:
        return self.record.outcome


LOOKS = 3  # a record deleted or replaced between our calls: look again, this many times


def claim(store: Store, bucket: str, fresh: Outcome, ttl_s: float) -> Claim:
    """Try to own `fresh.id`. `fresh` is the pending record to write; it is returned, updated, when claimed."""
    fresh.status = Status.PENDING
    fresh.expires_at = names.now_iso(time.time() + ttl_s)
    fresh.stamp("claimed")
    fresh.attempts = max(fresh.attempts, 1)
    for _ in range(LOOKS):
        try:
            return Claim(ClaimResult.CLAIMED, outcome.create(store, bucket, fresh))
        except AlreadyExists:
            pass
        existing = outcome.read(store, bucket, fresh.id)
        if existing is None:
            continue
        found = existing.outcome
        if not found.same_version(fresh):
            return Claim(ClaimResult.FOREIGN, existing)
        if found.final:
            return Claim(ClaimResult.FINISHED, existing)
        if not found.expired():
            return Claim(ClaimResult.BUSY, existing)
        fresh.attempts = found.attempts + 1
        fresh.timestamps = {**found.timestamps, **fresh.timestamps}
        try:
            return Claim(ClaimResult.CLAIMED, outcome.replace(store, bucket, fresh, existing.etag))
        except (Changed, NotFound):  # MinIO answers 404 when the record was deleted meanwhile (requeue)
            continue
    # Lost every race: someone else keeps writing this record; they own the photo for now.
    return Claim(ClaimResult.BUSY, Versioned(fresh, ""))
