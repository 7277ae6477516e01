"""`POST /predict` with `{"image": <base64>}`: the course's FastAPI model server, synchronously.

In this order, so that a slow or idle client holds nothing others need:
1. the body is read first, capped, within a deadline that follows its size (408 past it), its bytes counted
   as they arrive against a budget shared by every request (503 at once past it): a slow sender holds what
   it has sent, never a prediction slot;
2. then one of predict_concurrency slots is taken (503 at once when none is free, the body dropped);
3. decoding runs apart from the pipeline's photos (one photo at a time, on one of the workers'
   decode slots), so predictions never take every core, nor the decode pixels, from the pipeline's photos.
"""

from __future__ import annotations

import binascii
import contextlib
import math
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from classifier_fn import runtime
from classifier_fn.body import (
    BodyPace,
    BodyTimeout,
    BodyTooLarge,
    Holding,
    NotAnObject,
    OverBudget,
    json_object,
    read_capped,
)
from classifier_fn.function_error import FunctionError
from classifier_fn.inference import preprocess
from classifier_fn.inference.errors import Rejected
from classifier_fn.runtime import Runtime
from gourmetgram import names

EXPECTED = 'expected a JSON object {"image": "<base64 of an image>"}'
JSON_OVERHEAD = 1024  # '{"image": ""}', spaces, and a field or two beside it
RETRY_AFTER_S = 1


def body_limit(max_object_bytes: int) -> int:
    """The longest body that can carry an image of `max_object_bytes`: its base64, and the JSON around it."""
    return 4 * math.ceil(max_object_bytes / 3) + JSON_OVERHEAD


class PredictRefused(FunctionError):
    """An answer other than a prediction, in the course server's (FastAPI's) error shape."""

    def __init__(self, status: int, detail: str, retry: bool = False):
        super().__init__(detail)
        self.status, self.detail, self.retry = status, detail, retry

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if self.retry else None
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=headers)


async def predict(request: Request) -> JSONResponse:
    rt = runtime.of(request)
    try:
        with rt.body_budget.holding() as holding:
            body = await _receive(request, rt, holding)
            with _prediction_slot(rt):
                doc = _parse(body)
                del body  # the JSON's string is a copy of it: one photo-sized buffer less while decoding
                return await _predict(rt, doc)
    except PredictRefused as exc:
        return exc.response()


async def _receive(request: Request, rt: Runtime, holding: Holding) -> bytearray:
    s = rt.settings
    limit = body_limit(s.max_object_bytes)
    too_large = f"image over {s.max_object_bytes:,} bytes (the body may be at most {limit:,})"
    pace = BodyPace(s.predict_body_grace_s, s.predict_body_min_bytes_per_s)
    allowed_s = pace.allowed_s(request, limit)
    try:
        return await read_capped(request, limit, allowed_s, holding)
    except BodyTooLarge:
        raise PredictRefused(413, too_large) from None
    except BodyTimeout as exc:
        raise PredictRefused(
            408,
            f"the body did not arrive in time: {exc.received:,} bytes in {allowed_s:.1f} s "
            f"(allowed: {pace.grace_s:g} s plus its length at {pace.min_bytes_per_s:,} bytes/s)",
        ) from None
    except OverBudget:
        raise PredictRefused(
            503,
            f"busy: the request bodies being received fill the function's "
            f"{s.predict_body_budget_bytes:,} bytes for them, retry in {RETRY_AFTER_S} s",
            retry=True,
        ) from None
    except ClientDisconnect:
        raise PredictRefused(400, "the client went away before its body arrived") from None  # nobody reads it


@contextlib.contextmanager
def _prediction_slot(rt: Runtime) -> Iterator[None]:
    if not rt.predict_slots.acquire(blocking=False):
        raise PredictRefused(
            503,
            f"busy: {rt.settings.predict_concurrency} predictions in progress, retry in {RETRY_AFTER_S} s",
            retry=True,
        )
    try:
        yield
    finally:
        rt.predict_slots.release()


def _parse(body: bytearray) -> dict[str, Any]:
    try:
        return json_object(body)
    except NotAnObject as exc:
        raise PredictRefused(400, f"{exc}; {EXPECTED}") from None


async def _predict(rt: Runtime, doc: dict[str, Any]) -> JSONResponse:
    s = rt.settings
    try:
        # a2b_base64 reads the str in place; b64decode would first copy it to bytes (a photo's size again).
        data = binascii.a2b_base64(doc.pop("image"), strict_mode=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PredictRefused(422, EXPECTED) from None
    del doc
    if len(data) > s.max_object_bytes:
        raise PredictRefused(413, f"image over {s.max_object_bytes:,} bytes")
    try:
        prepared = await run_in_threadpool(_decode, rt, data)
    except Rejected as exc:
        raise PredictRefused(422, exc.reason) from None
    del data
    result = await run_in_threadpool(rt.batcher.predict, prepared.tensor)
    return JSONResponse({"prediction": names.class_name(result.index), "probability": result.probability})


def _decode(rt: Runtime, data: bytes) -> preprocess.Prepared:
    # Decoding is where a photo is big (40 Mpx is 160 MB of pixels) and slow (0.5 s of a core): one
    # synchronous prediction decodes at a time, on one of the workers' decode slots.
    return preprocess.prepare(data, rt.settings.max_pixels, rt.predict_decodes)
