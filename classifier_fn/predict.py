"""`POST /predict` with `{"image": <base64>}`: the course's FastAPI model server, synchronously.

Bounded like the workers: the body is capped while it streams in, at most PREDICT_CONCURRENCY requests
are worked at once (past it: 503 at once, never a queue), and decoding takes its share of the workers'
decode budget, so a burst of camera-sized photos cannot decode more at once than the function allows.
"""

from __future__ import annotations

import binascii
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from classifier_fn import preprocess, runtime
from classifier_fn.body import BodyTooLarge, NotAnObject, discard, json_object, read_capped, refuse_declared
from classifier_fn.errors import Rejected
from classifier_fn.runtime import Runtime
from gourmetgram import names

EXPECTED = 'expected a JSON object {"image": "<base64 of an image>"}'
JSON_OVERHEAD = 1024  # '{"image": ""}', spaces, and a field or two beside it
RETRY_AFTER_S = 1


def body_limit(max_object_bytes: int) -> int:
    """The longest body that can carry an image of `max_object_bytes`: its base64, and the JSON around it."""
    return 4 * math.ceil(max_object_bytes / 3) + JSON_OVERHEAD


def _detail(status: int, detail: str, **headers: str) -> JSONResponse:
    # The course server's (FastAPI's) error shape.
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


async def predict(request: Request) -> JSONResponse:
    rt = runtime.of(request)
    in_progress = rt.predict_slots
    limit = rt.settings.max_object_bytes
    try:
        refuse_declared(request, body_limit(limit))  # before taking a slot: retrying would not help
    except BodyTooLarge:
        return _detail(413, f"image over {limit:,} bytes (the body may be at most {body_limit(limit):,})")
    if not in_progress.acquire(blocking=False):
        await discard(request, body_limit(limit))  # read, never kept: so that the client reads the 503
        return _detail(503, f"busy: {rt.settings.predict_concurrency} predictions in progress, "
                            f"retry in {RETRY_AFTER_S} s", **{"Retry-After": str(RETRY_AFTER_S)})
    try:
        return await _predict(request, rt)
    finally:
        in_progress.release()


async def _predict(request: Request, rt: Runtime) -> JSONResponse:
    s = rt.settings
    try:
        doc = json_object(await read_capped(request, body_limit(s.max_object_bytes)))
    except BodyTooLarge:
        return _detail(413, f"image over {s.max_object_bytes:,} bytes "
                            f"(the body may be at most {body_limit(s.max_object_bytes):,})")
    except NotAnObject as exc:
        return _detail(400, f"{exc}; {EXPECTED}")
    try:
        # a2b_base64 reads the str in place; b64decode would first copy it to bytes (a photo's size again).
        data = binascii.a2b_base64(doc.pop("image"), strict_mode=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return _detail(422, EXPECTED)
    del doc
    if len(data) > s.max_object_bytes:
        return _detail(413, f"image over {s.max_object_bytes:,} bytes")
    try:
        prepared = await run_in_threadpool(_decode, rt, data)
    except Rejected as exc:
        return _detail(422, exc.reason)
    del data
    result = await run_in_threadpool(rt.batcher.predict, prepared.tensor)
    return JSONResponse({"prediction": names.class_name(result.index), "probability": result.probability})


def _decode(rt: Runtime, data: bytes) -> preprocess.Prepared:
    # The workers' own budget: decoding is where a photo is big (40 Mpx is 160 MB of pixels).
    return preprocess.prepare(data, rt.settings.max_pixels, rt.decode_budget)
