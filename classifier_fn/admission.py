"""Admitting one object version to the live lane: verify it by HEAD (exists, same ETag), then queue it once.

Shared by the webhook (MinIO's events), the nudge (the frontend's word about its own upload) and, for the events
that are no work, the JetStream consumer.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from classifier_fn.events import ObjectEvent
from classifier_fn.queue import LIVE, Item
from classifier_fn.runtime import Runtime
from classifier_fn.verify import Gone, Stale, current_version
from gourmetgram import names
from gourmetgram.store import ObjectInfo, StoreUnavailable

log = logging.getLogger(__name__)


class Admission(str, enum.Enum):
    """What became of an event or a nudge (the result in the answer and the metric's label)."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"      # that object version is already queued or being worked
    GONE = "gone"                # already done and removed, or deleted by its owner
    STALE = "stale"              # overwritten since; the newer version has its own event
    UNAVAILABLE = "unavailable"  # MinIO could not be asked: MinIO redelivers, the reconciler finds it
    REFUSED = "refused"          # not an object this door takes (a nudge for something not uploaded)
    INVALID = "invalid"          # a key no object can have
    IGNORED = "ignored"          # an event that is never work (tagging, deletes, reads, folder markers)
    OTHER_BUCKET = "other_bucket"


def screen(event: ObjectEvent, watched: str) -> Admission | None:
    """What becomes of an event that is never work (an impossible key, tagging, deletes, reads, another bucket, a
    folder marker); None for an event that may be: it is then admitted (verified and queued)."""
    if event.invalid:
        log.warning("event for an impossible key %.200r ignored: %s", event.key, event.invalid)
        return Admission.INVALID
    if not event.accepted:
        return Admission.IGNORED
    if event.bucket != watched:
        log.warning("event for bucket %r ignored: only %r is watched", event.bucket, watched)
        return Admission.OTHER_BUCKET
    if names.is_folder_marker(event.key):
        return Admission.IGNORED
    return None


async def admit(rt: Runtime, bucket: str, key: str, etag: str, event_time: str,
                accept: Callable[[ObjectInfo], bool] = lambda info: True) -> Admission:
    if rt.queue.holds(bucket, key, etag):
        return Admission.DUPLICATE
    try:
        info = await run_in_threadpool(current_version, rt.store, bucket, key, etag)
    except Gone:
        return Admission.GONE
    except Stale:
        return Admission.STALE
    except StoreUnavailable as exc:
        log.warning("cannot verify %s/%s: %s", bucket, key, exc)
        return Admission.UNAVAILABLE
    if not accept(info):
        return Admission.REFUSED
    queued = rt.queue.offer(Item(bucket, key, info.etag, LIVE, info, event_time))
    return Admission.QUEUED if queued else Admission.DUPLICATE
