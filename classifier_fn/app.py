"""The function's Starlette app: explicit routes, and a lifespan that owns the model and the workers."""

from __future__ import annotations

import contextlib
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from classifier_fn.endpoints import health, nudge, predict, webhook
from classifier_fn.inference import follower
from classifier_fn.inference import model as model_module
from classifier_fn.inference.infer import ServedModel
from classifier_fn.pipeline.startup_check import CheckReport, check
from classifier_fn.running import running
from gourmetgram.settings import FunctionSettings
from gourmetgram.store import Store

log = logging.getLogger(__name__)


def create_app(
    settings: FunctionSettings,
    store: Store | None = None,
    loaded: model_module.LoadedModel | None = None,
    run_check: bool = True,
    run_reconciler: bool = True,
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        the_store = store or Store.connect(settings)
        # Refuses to start (UnsafeSubscription) when the subscription would make the function trigger itself.
        report = await run_in_threadpool(check, settings, the_store) if run_check else CheckReport(subscribed=True)
        for problem in report.problems:
            log.warning("start-up check: %s", problem)
        # The registry's champion when it has one (checked as any swap is), else MODEL_PATH or the demo model.
        the_model: model_module.LoadedModel | ServedModel | None = loaded
        if the_model is None:
            the_model, why = await run_in_threadpool(follower.initial, the_store, settings.batch_size)
            log.info("start-up model: %s", why)
        if the_model is None:
            the_model = await run_in_threadpool(model_module.load, settings.model_path)
        with running(
            settings,
            the_store,
            the_model,
            reconcile=run_reconciler,
            check=report,
            consume=settings.jetstream,
            # A model given by the caller (a test, a tool) is served as given; otherwise the registry's is followed.
            follow=loaded is None,
        ) as runtime:
            app.state.runtime = runtime
            yield

    routes = [
        Route("/minio/events", webhook.receive, methods=["POST"]),
        Route("/minio/events", webhook.head, methods=["HEAD", "GET"]),
        Route("/nudge", nudge.receive, methods=["POST"]),
        Route("/predict", predict.predict, methods=["POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
