"""`/healthz` (the process answers), `/readyz` (model warm, MinIO reachable and taking writes, queue state),
`/metrics`."""

from __future__ import annotations

import dataclasses

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from classifier_fn import runtime
from gourmetgram.store import StoreError


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    rt = runtime.of(request)
    try:
        await run_in_threadpool(rt.store.ping)
        minio = "ok"
    except StoreError as exc:
        minio = str(exc)
    # Reachable is not enough: with full drives MinIO still answers reads, and refuses every photo's claim.
    full = rt.store.storage_full()
    depth = rt.queue.depth()
    body = {
        "ready": minio == "ok" and not full,
        "minio": minio,
        "model_version": rt.model_version,
        "demo_model": rt.is_demo,
        "subscription": "ok" if rt.check.subscribed else "missing",
        # A refused model keeps the function ready (the model before it serves on) but is named here.
        "problems": [
            *rt.check.problems,
            *([full + "; photos wait in incoming until a write succeeds"] if full else []),
            *(rt.follower.problems() if rt.follower else []),
        ],
        "queue": {
            "live": depth["live"],
            "backlog": depth["backlog"],
            "in_flight": depth["held"],
            "oldest_age_s": rt.queue.oldest_age_s(),
        },
        # None until the first pass ends (or when this process runs no reconciler).
        "last_reconcile": dataclasses.asdict(rt.last_reconcile) if rt.last_reconcile else None,
        "transport": rt.settings.event_transport,
    }
    if rt.follower:
        # What the registry's aliases name, the challenger labelling in the shadow, the models refused and why.
        body["models"] = rt.follower.describe()
    if rt.consumer_status:
        # Not part of "ready": without NATS the reconciler still brings every photo, only later.
        body["jetstream"] = rt.consumer_status()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


async def metrics(request: Request) -> Response:
    rt = runtime.of(request)
    for lane, value in rt.queue.depth().items():
        rt.metrics.queue_depth.labels(lane=lane).set(value)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
