"""Claim before work: a `pending` outcome record written only if absent, with an expiry.

The record doubles as the lock, so no other service is needed and two function processes (or a
redelivered event racing the reconciler) agree through MinIO's conditional writes:

    no record            -> write pending (If-None-Match: *)          -> CLAIMED
    another object version's record (an upload id on a copy, or the same
    bytes under the same key in the same second: the next id, `IdFrom`) -> FOREIGN
    done / rejected      -> nothing to do but finish the delete        -> FINISHED
    pending, not expired -> another worker is on it                    -> BUSY
    pending expired, or failed and its back-off over
                         -> overwrite (If-Match: the record's ETag)    -> CLAIMED (attempts + 1)

A record is data anyone with write access to `events` (the frontend, for labels) could have written, so
one that cannot be genuine is taken over like an expired claim: a record that is not an outcome; a
final one without `proof` that the function did the work; a claim or back-off longer than any this
function grants; another version's record under an id derived from this very version (unless that version is a copy
of this one, `Outcome.twin_of`: the same key, ETag and second under another version id share the id derived
from those).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gourmetgram import names, outcome
from gourmetgram.outcome import Outcome, Status, Versioned
from gourmetgram.store import AlreadyExists, Changed, CorruptDocument, NotFound, Store

log = logging.getLogger(__name__)


class IdFrom(enum.Enum):
    """Where the id being claimed comes from, which says whether another version's record may be genuine."""

    UPLOAD = "upload"  # the frontend's id in the object's metadata: genuine for its own upload only
    OBJECT = "object"  # derived from key, ETag and second: two real versions can share it (their version ids differ)
    VERSION = "version"  # derived from the version id too: no other version's record under it can be genuine


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


def claim(
    store: Store,
    bucket: str,
    fresh: Outcome,
    ttl_s: float,
    *,
    id_from: IdFrom = IdFrom.UPLOAD,
    proof: Callable[[Outcome], bool] = lambda record: True,
    max_backoff_s: float = 300.0,
) -> Claim:
    """Try to own `fresh.id`. `fresh` is the pending record to write; it is returned, updated, when claimed.

    `id_from`: where the id comes from (`IdFrom`). `proof(record)`: whether a final record's work really
    exists.
    """
    now = time.time()
    fresh.status = Status.PENDING
    fresh.expires_at = names.now_iso(now + ttl_s)
    fresh.stamp("claimed")
    fresh.attempts = max(fresh.attempts, 1)
    for _ in range(LOOKS):
        try:
            return Claim(ClaimResult.CLAIMED, outcome.create(store, bucket, fresh))
        except AlreadyExists:
            pass
        try:
            existing = outcome.read(store, bucket, fresh.id)
        except CorruptDocument as exc:
            log.warning("%s: taken over", exc)
            existing = Versioned(fresh, exc.etag)  # replaced below as if it had expired
        else:
            if existing is None:
                continue
            found = existing.outcome
            if not found.same_version(fresh):
                if id_from is IdFrom.UPLOAD or (id_from is IdFrom.OBJECT and found.twin_of(fresh)):
                    return Claim(ClaimResult.FOREIGN, existing)
                log.warning("record %s names another object version under this version's own id: taken over", fresh.id)
            elif found.final and proof(found):
                return Claim(ClaimResult.FINISHED, existing)
            elif found.final:
                log.warning("record %s says %s but its work is nowhere: taken over", fresh.id, found.status.value)
            elif not (_beyond_anything_granted(found, now, ttl_s, max_backoff_s) or found.expired(now)):
                return Claim(ClaimResult.BUSY, existing)
            else:
                fresh.attempts = found.attempts + 1
                fresh.timestamps = {**found.timestamps, **fresh.timestamps}
        try:
            return Claim(ClaimResult.CLAIMED, outcome.replace(store, bucket, fresh, existing.etag))
        except (Changed, NotFound):  # MinIO answers 404 when the record was deleted meanwhile (requeue)
            continue
    # Lost every race: someone else keeps writing this record; they own the photo for now.
    return Claim(ClaimResult.BUSY, Versioned(fresh, ""))


def _beyond_anything_granted(found: Outcome, now: float, ttl_s: float, max_backoff_s: float) -> bool:
    """A claim or back-off longer than this function ever grants (a forged or broken record): also one with
    no end (a claim without `expires_at` would never lapse) or whose end is no time."""
    deadline = found.expires_at if found.status is Status.PENDING else found.retry_after
    try:
        left = names.parse_iso(deadline) - now
    except (ValueError, TypeError, AttributeError):  # none, not a time, no time zone, not even a string
        return True
    slack = 60.0  # clocks of several machines
    return left > (ttl_s if found.status is Status.PENDING else max_backoff_s) + slack
