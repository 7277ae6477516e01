"""`/healthz` (the process answers), `/readyz` (model warm, MinIO reachable, queue state), `/metrics`."""

from __future__ import annotations

import dataclasses

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gourmetgram.store import StoreError


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    pipeline = state.pipeline
    try:
        await run_in_threadpool(pipeline.store.ping)
        minio = "ok"
    except StoreError as exc:
        minio = str(exc)
    depth = pipeline.queue.depth()
    body = {
        "ready": minio == "ok",
        "minio": minio,
        "model_version": pipeline.model_version,
        "demo_model": state.is_demo,
        "subscription": "ok" if state.check.subscribed else "missing",
        "problems": state.check.problems,
        "queue": {"live": depth["live"], "backlog": depth["backlog"], "in_flight": depth["held"],
                  "oldest_age_s": pipeline.queue.oldest_age_s()},
        # None until the first pass ends (or when this process runs no reconciler).
        "last_reconcile": dataclasses.asdict(pipeline.last_reconcile) if pipeline.last_reconcile else None,
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


async def metrics(request: Request) -> Response:
    pipeline = request.app.state.pipeline
    for lane, value in pipeline.queue.depth().items():
        pipeline.metrics.queue_depth.labels(lane=lane).set(value)
    return Response(generate_latest(pipeline.metrics.registry), media_type=CONTENT_TYPE_LATEST)
