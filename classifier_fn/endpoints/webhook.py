"""`/minio/events`: authenticate, parse, queue the object version, answer 2xx at once. Never infers, and
sends no request to MinIO: the worker's conditional GET checks the object (see `admission`)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from classifier_fn import runtime
from classifier_fn.body import Refusal, guarded_body
from classifier_fn.pipeline.admission import Admission, admit_event, screen
from classifier_fn.pipeline.events import MalformedEvent, ObjectEvent, parse_body
from classifier_fn.runtime import Runtime
from gourmetgram import model_registry

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # one MinIO record is ~2 KB; anything near this is not MinIO


async def head(request: Request) -> Response:
    # Older MinIO releases probe the endpoint with HEAD before sending; answer without work.
    return Response(status_code=200)


async def receive(request: Request) -> Response:
    rt = runtime.of(request)
    count = rt.metrics.webhook
    try:
        events = parse_body(await guarded_body(request, rt.settings.webhook_token, MAX_BODY_BYTES))
    except (Refusal, MalformedEvent) as exc:
        if isinstance(exc, MalformedEvent):
            log.warning("malformed webhook body: %s", exc)
        refusal = exc if isinstance(exc, Refusal) else Refusal(400, str(exc), "malformed")
        count.labels(result=refusal.result).inc()
        return refusal.response()
    results = []
    for event in events:
        result = _admit(rt, event)
        count.labels(result=result.value).inc()
        results.append(
            {"key": event.key, "result": result.value, **({"reason": event.invalid} if event.invalid else {})}
        )
    return JSONResponse(
        {"results": results}, status_code=202 if any(r["result"] == Admission.QUEUED for r in results) else 200
    )


def _admit(rt: Runtime, event: ObjectEvent) -> Admission:
    if event.bucket == model_registry.BUCKET:  # an alias changed: never a photo
        rt.model_event()
        return Admission.MODEL
    # Never work (a forged or broken event, tagging, another bucket): 2xx, so a retrying sender moves on.
    return screen(event, rt.settings.bucket_incoming) or admit_event(
        rt, event.bucket, event.key, event.etag, event.time, event.version_id
    )
