"""`POST /nudge`: the frontend's word that it just stored a web upload, so the photo need not wait for MinIO.

MinIO's webhook with `queue_dir` re-lists its queue every 3 s; the frontend knows its upload at once. Its
credential (NUDGE_TOKEN) is narrower than the webhook's: it can only name a key of the form `<uuid><ext>`
at the top of `incoming` whose object carries that id as its `prediction-id` (what a web upload is), and
the object is verified by HEAD (exists, same ETag) before it is queued, exactly like a webhook event.
MinIO's own event still arrives and is the durable path; the function sees it as a duplicate.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from starlette.requests import Request
from starlette.responses import JSONResponse

from classifier_fn import runtime
from classifier_fn.admission import Admission, admit_verified
from classifier_fn.body import NotAnObject, Refusal, guarded_body, json_object
from gourmetgram import names
from gourmetgram.store import ObjectInfo

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024  # {"key": "<uuid><ext>", "etag": "<md5>"} is under 100 bytes
UPLOAD_EXTENSIONS = frozenset(ext for ext, _ in names.IMAGE_FORMATS.values())
STATUS = {Admission.QUEUED: 202, Admission.DUPLICATE: 200, Admission.GONE: 200, Admission.STALE: 200,
          Admission.UNAVAILABLE: 503}
NOT_UPLOAD = "a nudge may only name a web upload: <uuid><ext> at the top of incoming, stored by the frontend"


def is_upload_key(key: str) -> bool:
    """The frontend stores an upload as `<prediction id><ext of the detected format>` at the top of incoming."""
    path = PurePosixPath(key)
    return "/" not in key and path.suffix in UPLOAD_EXTENSIONS and names.is_prediction_id(path.stem)


def is_web_upload(info: ObjectInfo) -> bool:
    return names.honoured_upload_id(info.key, info.metadata.get("prediction-id")) is not None \
        and info.metadata.get("source") == "web"


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
        return JSONResponse({"error": 'expected {"key": "<uuid><ext>", "etag": "<the upload\'s ETag>"}'},
                            status_code=400)
    # The nudge leaves right after the upload is stored: its arrival is the upload's time, to the millisecond.
    result = Admission.REFUSED if not is_upload_key(key) else await admit_verified(
        rt, rt.settings.bucket_incoming, key, etag.strip('"'), names.now_iso(), accept=is_web_upload)
    if result is Admission.REFUSED:
        count.labels(result="not_upload").inc()
        log.warning("nudge for incoming/%.200r refused: not a web upload", key)
        return JSONResponse({"error": NOT_UPLOAD, "result": "not_upload"}, status_code=400)
    count.labels(result=result.value).inc()
    return JSONResponse({"key": key, "result": result.value}, status_code=STATUS[result])
