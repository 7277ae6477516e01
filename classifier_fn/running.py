"""Starts and stops the processing machinery (batcher, workers, reconciler) around a block."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

import torch

from classifier_fn.endpoints.jetstream import JetStreamConsumer
from classifier_fn.inference.follower import Follower
from classifier_fn.inference.infer import Batcher, ServedModel
from classifier_fn.inference.model import LoadedModel, for_inference
from classifier_fn.inference.model_check import warm
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import BACKLOG, LIVE, WorkQueue
from classifier_fn.pipeline.reconciler import PassReport, Reconciler
from classifier_fn.pipeline.startup_check import CheckReport
from classifier_fn.pipeline.worker import run_workers
from classifier_fn.runtime import Runtime
from gourmetgram.settings import FunctionSettings
from gourmetgram.store import Store

log = logging.getLogger(__name__)


@contextlib.contextmanager
def running(
    settings: FunctionSettings,
    store: Store,
    loaded: LoadedModel | ServedModel,
    reconcile: bool = True,
    check: CheckReport | None = None,
    consume: bool = False,
    follow: bool = False,
) -> Iterator[Runtime]:
    """The runtime, with its batcher, workers, (with `reconcile`) reconciler, (with `consume`) stream consumer
    and (with `follow`) model follower running, stopped in order. `loaded` is served first: a model file as
    loaded, or one the registry gave, checked and built already (classifier_fn.inference.follower.initial)."""
    s = settings
    torch.set_num_threads(s.model_threads)
    if isinstance(loaded, ServedModel):
        served = loaded
    else:
        served = ServedModel(for_inference(loaded.module), loaded.version, loaded.is_demo)
        warm(served.module, s.batch_size)
    metrics = Metrics()
    store.count_requests(lambda operation: metrics.s3_requests.labels(operation=operation).inc())
    queue = WorkQueue(s.backlog_per_s, backlog_capacity=max(2 * s.workers, s.batch_size))

    def waiting() -> int:
        depth = queue.depth()
        return depth[LIVE] + depth[BACKLOG]

    # Photos held by the queue (waiting or being worked) are the ones that could still join a batch.
    batcher = Batcher(
        served.module,
        s.batch_size,
        s.batch_wait_ms,
        metrics.on_batch,
        others_coming=lambda: queue.depth()["held"],
        version=served.version,
        waiting=waiting,
        on_shadow=metrics.on_shadow,
    ).start()
    rt = Runtime(
        s,
        store,
        queue,
        batcher,
        served.version,
        metrics,
        f"fn-{uuid.uuid4().hex[:8]}",
        is_demo=served.is_demo,
        check=check or CheckReport(subscribed=True),
    )
    follower = None
    if follow:
        follower = Follower(
            store.counted_apart(lambda operation: metrics.registry_requests.labels(operation=operation).inc()),
            batcher,
            s.batch_size,
            serving=rt.now_serving,
            on_swap=lambda alias: metrics.model_swaps.labels(alias=alias).inc(),
            on_refused=lambda alias: metrics.models_refused.labels(alias=alias).inc(),
        ).start()
        rt.follower = follower
    stop = threading.Event()
    workers = run_workers(rt, s.workers, stop)
    reconciler = None
    if reconcile:

        def on_pass(report: PassReport) -> None:
            metrics.reconciled.inc(report.queued)
            rt.last_reconcile = report

        reconciler = Reconciler(
            store, s.bucket_incoming, queue, s.reconcile_grace_s, s.reconcile_interval_s, on_pass
        ).start()
    consumer = None
    if consume:
        consumer = JetStreamConsumer(rt).start()
        rt.consumer_status = consumer.describe
    log.info(
        "processing: model %s, %d workers, batches of up to %d within %d ms, events by %s",
        served.version,
        s.workers,
        s.batch_size,
        s.batch_wait_ms,
        "the stream" if consume else "webhook",
    )
    try:
        yield rt
    finally:
        # Stop taking new work, let the workers finish what they hold (their messages are settled meanwhile),
        # give back the messages of what was never worked, then stop the model.
        if consumer:
            consumer.stop_taking()
        if reconciler:
            reconciler.stop()
        queue.close()
        stop.set()
        for t in workers:
            t.join(timeout=60)
        if consumer:
            consumer.close()
        if follower:
            follower.stop()
        batcher.stop()
