"""`POST /predict` with `{"image": <base64>}`: the course's FastAPI model server, synchronously."""

from __future__ import annotations

import base64
import binascii

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from classifier_fn import preprocess
from classifier_fn.errors import Rejected
from classifier_fn.worker import Pipeline
from gourmetgram import names


async def predict(request: Request) -> JSONResponse:
    pipeline: Pipeline = request.app.state.pipeline
    try:
        doc = await request.json()
        data = base64.b64decode(doc["image"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return JSONResponse({"detail": 'expected JSON {"image": "<base64 of an image>"}'}, status_code=422)
    if len(data) > pipeline.settings.max_object_bytes:
        return JSONResponse({"detail": f"image over {pipeline.settings.max_object_bytes:,} bytes"}, status_code=413)
    try:
        prepared = await run_in_threadpool(preprocess.prepare, data, pipeline.settings.max_pixels)
    except Rejected as exc:
        return JSONResponse({"detail": exc.reason}, status_code=422)
    result = await run_in_threadpool(pipeline.batcher.predict, prepared.tensor)
    return JSONResponse({"prediction": names.class_name(result.index), "probability": result.probability})
