"""`POST /nudge`: the frontend's word that it just stored a web upload, so the photo need not wait for MinIO.

MinIO's webhook with `queue_dir` re-lists its queue every 3 s; the frontend knows its upload at once. Its
credential (NUDGE_TOKEN) is narrower than the webhook's: it can only name a key of the form `<uuid><ext>`
at the top of `incoming` whose object carries that id as its `prediction-id` (what a web upload is), and
the object is verified by HEAD (exists, same ETag) before it is queued, exactly like a webhook event.
MinIO's own event still arrives and is the durable path; the function sees it as a duplicate.

With `?wait=S` (at most MAX_HOLD_S) the answer waits until a worker is done with the photo, or S runs out, and
says how the worker ended (`finished`: done, failed, ..., or null): the frontend then reads the record at
once instead of at its next poll (classifier_fn.pipeline.finishes).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext
from pathlib import PurePosixPath

from starlette.requests import Request
from starlette.responses import JSONResponse

from classifier_fn import runtime
from classifier_fn.body import NotAnObject, Refusal, guarded_body, json_object
from classifier_fn.pipeline.admission import Admission, admit_verified
from classifier_fn.pipeline.queue import Item
from gourmetgram import names
from gourmetgram.held_nudge import MAX_HOLD_S
from gourmetgram.store import ObjectInfo
from gourmetgram.waiter import parse_wait

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024  # {"key": "<uuid><ext>", "etag": "<md5>"} is under 100 bytes
UPLOAD_EXTENSIONS = frozenset(ext for ext, _ in names.IMAGE_FORMATS.values())
STATUS = {
    Admission.QUEUED: 202,
    Admission.DUPLICATE: 200,
    Admission.GONE: 200,
    Admission.STALE: 200,
    Admission.UNAVAILABLE: 503,
}
NOT_UPLOAD = "a nudge may only name a web upload: <uuid><ext> at the top of incoming, stored by the frontend"


def is_upload_key(key: str) -> bool:
    """The frontend stores an upload as `<prediction id><ext of the detected format>` at the top of incoming."""
    path = PurePosixPath(key)
    return "/" not in key and path.suffix in UPLOAD_EXTENSIONS and names.is_prediction_id(path.stem)


def is_web_upload(info: ObjectInfo) -> bool:
    return (
        names.honoured_upload_id(info.key, info.metadata.get("prediction-id")) is not None
        and info.metadata.get("source") == "web"
    )


async def receive(request: Request) -> JSONResponse:
    rt = runtime.of(request)
    count = rt.metrics.nudge
    try:
        doc = json_object(await guarded_body(request, rt.settings.effective_nudge_token, MAX_BODY_BYTES))
    except NotAnObject as exc:
        count.labels(result="malformed").inc()
        return JSONResponse({"error": f'{exc}; expected {{"key": ..., "etag": ...}}'}, status_code=400)
    except Refusal as exc:
        count.labels(result=exc.result).inc()
        return exc.response()
    key, etag = doc.get("key"), doc.get("etag")
    if not isinstance(key, str) or not isinstance(etag, str) or not etag.strip('"'):
        count.labels(result="malformed").inc()
        return JSONResponse(
            {"error": 'expected {"key": "<uuid><ext>", "etag": "<the upload\'s ETag>"}'}, status_code=400
        )
    hold = parse_wait(request.query_params.get("wait", "0"), MAX_HOLD_S)
    if hold is None:
        count.labels(result="malformed").inc()
        return JSONResponse({"error": f"wait must be a number of seconds from 0 to {MAX_HOLD_S:g}"}, status_code=400)
    if not is_upload_key(key):
        return _not_upload(count, key)
    etag = etag.strip('"')
    identity = Item(rt.settings.bucket_incoming, key, etag).identity
    # Expected before the offer: a worker may be done with the photo before admit_verified returns.
    with rt.finishes.expect(identity) if hold else nullcontext() as finish:
        # The nudge leaves right after the upload is stored: its arrival is the upload's time, to the millisecond.
        result = await admit_verified(rt, rt.settings.bucket_incoming, key, etag, names.now_iso(), accept=is_web_upload)
        if result is Admission.REFUSED:
            return _not_upload(count, key)
        count.labels(result=result.value).inc()
        answer = {"key": key, "result": result.value}
        if finish is not None and result in (Admission.QUEUED, Admission.DUPLICATE):
            answer["finished"] = await _finished(finish, hold)
            rt.metrics.nudge_held.labels(finished=answer["finished"] or "timeout").inc()
    return JSONResponse(answer, status_code=STATUS[result])


def _not_upload(count, key: str) -> JSONResponse:
    count.labels(result="not_upload").inc()
    log.warning("nudge for incoming/%.200r refused: not a web upload", key)
    return JSONResponse({"error": NOT_UPLOAD, "result": "not_upload"}, status_code=400)


async def _finished(finish: asyncio.Future, hold: float) -> str | None:
    """How the worker ended with the photo (its Result's value, "error" for a bug), None if not within `hold`."""
    try:
        result = await asyncio.wait_for(finish, hold)
    except TimeoutError:
        return None
    return getattr(result, "value", "error")
