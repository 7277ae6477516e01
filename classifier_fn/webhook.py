"""`/minio/events`: authenticate, parse, verify the object, queue it, answer 2xx at once. Never infers."""

from __future__ import annotations

import hmac
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from classifier_fn.events import MalformedEvent, ObjectEvent, parse_body
from classifier_fn.queue import LIVE, Item
from classifier_fn.worker import Pipeline
from gourmetgram.store import NotFound, StoreUnavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # one MinIO record is ~2 KB; anything near this is not MinIO


def authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def head(request: Request) -> Response:
    # Older MinIO releases probe the endpoint with HEAD before sending; answer without work.
    return Response(status_code=200)


async def receive(request: Request) -> Response:
    pipeline: Pipeline = request.app.state.pipeline
    count = pipeline.metrics.webhook
    if not authorized(request, pipeline.settings.webhook_token):
        count.labels(result="unauthorized").inc()
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
    body = await _read_limited(request, MAX_BODY_BYTES)
    if body is None:
        count.labels(result="too_large").inc()
        return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
    try:
        events = parse_body(body)
    except MalformedEvent as exc:
        count.labels(result="malformed").inc()
        log.warning("malformed webhook body: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=400)
    results = []
    for event in events:
        result = await _admit(pipeline, event)
        count.labels(result=result).inc()
        results.append({"key": event.key, "result": result})
    if any(r["result"] == "unavailable" for r in results):
        # MinIO (with queue_dir) retries this event in 3 s; without queue_dir the reconciler finds it.
        return JSONResponse({"results": results}, status_code=503)
    return JSONResponse({"results": results}, status_code=202 if any(r["result"] == "queued" for r in results)
                        else 200)


async def _admit(pipeline: Pipeline, event: ObjectEvent) -> str:
    if not event.accepted:
        return "ignored"  # tagging, deletes, reads: never work, always 2xx
    if event.bucket != pipeline.settings.bucket_incoming:
        log.warning("event for bucket %r ignored: only %r is watched", event.bucket, pipeline.settings.bucket_incoming)
        return "other_bucket"
    if event.key.endswith("/"):
        return "ignored"  # a folder marker
    if pipeline.queue.holds(event.bucket, event.key, event.etag):
        return "duplicate"
    try:
        info = await run_in_threadpool(pipeline.store.head, event.bucket, event.key)
    except NotFound:
        return "gone"     # already done and removed, or deleted by its owner
    except StoreUnavailable as exc:
        log.warning("cannot verify incoming/%s: %s", event.key, exc)
        return "unavailable"
    if event.etag and info.etag != event.etag:
        return "stale"    # overwritten since; the newer version has its own event
    queued = pipeline.queue.offer(Item(event.bucket, event.key, info.etag, LIVE, info, event.time))
    return "queued" if queued else "duplicate"


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
