"""Admitting one object version to the live lane: verify it by HEAD (exists, same ETag), then queue it once.

Shared by the webhook (MinIO's events) and the nudge (the frontend's word about its own upload).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from classifier_fn.queue import LIVE, Item
from classifier_fn.worker import Pipeline
from gourmetgram.store import NotFound, ObjectInfo, StoreUnavailable

log = logging.getLogger(__name__)


async def admit(pipeline: Pipeline, bucket: str, key: str, etag: str, event_time: str,
                accept: Callable[[ObjectInfo], bool] = lambda info: True) -> str:
    """queued, duplicate, gone, stale, unavailable, or refused (the object is not one `accept` takes)."""
    if pipeline.queue.holds(bucket, key, etag):
        return "duplicate"
    try:
        info = await run_in_threadpool(pipeline.store.head, bucket, key)
    except NotFound:
        return "gone"     # already done and removed, or deleted by its owner
    except StoreUnavailable as exc:
        log.warning("cannot verify %s/%s: %s", bucket, key, exc)
        return "unavailable"
    if etag and info.etag != etag:
        return "stale"    # overwritten since; the newer version has its own event
    if not accept(info):
        return "refused"
    queued = pipeline.queue.offer(Item(bucket, key, info.etag, LIVE, info, event_time))
    return "queued" if queued else "duplicate"
