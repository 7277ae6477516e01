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

from classifier_fn.outcome import Outcome, Status, now_iso
from gourmetgram import names
from gourmetgram.store import AlreadyExists, Changed, NotFound, Store


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"
    BUSY = "busy"
    FINISHED = "finished"
    FOREIGN = "foreign"  # the id belongs to another object version: this one needs an id of its own


@dataclass
class Claim:
    result: ClaimResult
    outcome: Outcome


def claim(store: Store, bucket: str, fresh: Outcome, ttl_s: float) -> Claim:
    """Try to own `fresh.id`. `fresh` is the pending record to write; it is returned, updated, when claimed."""
    key = names.record_key(fresh.id)
    fresh.status = Status.PENDING
    fresh.expires_at = now_iso(time.time() + ttl_s)
    fresh.stamp("claimed")
    fresh.attempts = max(fresh.attempts, 1)
    for _ in range(3):  # a record deleted or replaced between our calls: look again
        try:
            store.put_json(bucket, key, fresh.to_json(), if_absent=True)
            return Claim(ClaimResult.CLAIMED, fresh)
        except AlreadyExists:
            pass
        try:
            doc, etag = store.get_json(bucket, key)
        except NotFound:
            continue
        existing = Outcome.from_json(doc)
        if not existing.same_version(fresh):
            return Claim(ClaimResult.FOREIGN, existing)
        if existing.status.final:
            return Claim(ClaimResult.FINISHED, existing)
        if not existing.expired():
            return Claim(ClaimResult.BUSY, existing)
        fresh.attempts = existing.attempts + 1
        fresh.timestamps = {**existing.timestamps, **fresh.timestamps}
        try:
            store.put_json(bucket, key, fresh.to_json(), if_match=etag)
            return Claim(ClaimResult.CLAIMED, fresh)
        except (Changed, NotFound):  # MinIO answers 404 when the record was deleted meanwhile (requeue)
            continue
    return Claim(ClaimResult.BUSY, fresh)
