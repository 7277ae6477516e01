"""Admitting one object version to the live queue, once.

MinIO's events are queued as they come, without a request: the worker's first request is a GET made
conditional on the event's ETag (and version), which checks the object as a HEAD here would, and answers
everything the worker needs besides. The frontend's nudge is checked here by HEAD (exists, same ETag, a
web upload), because its narrow token must only ever hurry the frontend's own uploads.
The JetStream consumer screens its messages with `screen` and queues them as `admit_event` does (no
request: the worker's GET verifies).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from classifier_fn.pipeline.events import ObjectEvent
from classifier_fn.pipeline.queue import LIVE, Item
from classifier_fn.pipeline.verify import Gone, Stale, current_version
from classifier_fn.runtime import Runtime
from gourmetgram.store import ObjectInfo, StoreUnavailable

log = logging.getLogger(__name__)


class Admission(str, enum.Enum):
    """What became of an event or a nudge (the result in the answer and the metric's label)."""

    QUEUED = "queued"
    DUPLICATE = "duplicate"  # that object version is already queued or being worked
    GONE = "gone"  # already done and removed, or deleted by its owner
    STALE = "stale"  # overwritten since; the newer version has its own event
    UNAVAILABLE = "unavailable"  # MinIO could not be asked: the frontend's upload waits for MinIO's event
    REFUSED = "refused"  # not an object this endpoint takes (a nudge for something not uploaded)
    INVALID = "invalid"  # a key no object can have
    IGNORED = "ignored"  # an event that is never work (tagging, deletes, reads, zero-byte folder markers)
    OTHER_BUCKET = "other_bucket"
    MODEL = "model"  # an event of the models bucket: an alias may have changed, the model follower checks at once


def screen(event: ObjectEvent, watched: str) -> Admission | None:
    """What becomes of an event that is never work (an impossible key, tagging, deletes, reads, another bucket, a
    zero-byte folder marker); None for an event that may be: it is then queued."""
    if event.invalid:
        log.warning("event for an impossible key %.200r ignored: %s", event.key, event.invalid)
        return Admission.INVALID
    if not event.accepted:
        return Admission.IGNORED
    if event.bucket != watched:
        log.warning("event for bucket %r ignored: only %r is watched", event.bucket, watched)
        return Admission.OTHER_BUCKET
    if event.folder_marker:
        return Admission.IGNORED
    return None


def admit_event(rt: Runtime, bucket: str, key: str, etag: str, event_time: str, version_id: str | None) -> Admission:
    """Queue a MinIO event's object version; no request (the worker's GET verifies it)."""
    if rt.queue.was_deleted(version_id):
        return Admission.GONE  # this process deleted exactly that version: a late or repeated event
    queued = rt.queue.offer(Item(bucket, key, etag, LIVE, event_time, version_id))
    return Admission.QUEUED if queued else Admission.DUPLICATE


async def admit_verified(
    rt: Runtime, bucket: str, key: str, etag: str, event_time: str, accept: Callable[[ObjectInfo], bool]
) -> Admission:
    """Queue an object version after a HEAD shows it exists, is version `etag` and is one `accept`s."""
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
    queued = rt.queue.offer(Item(bucket, key, info.etag, LIVE, event_time, info.version_id))
    return Admission.QUEUED if queued else Admission.DUPLICATE
