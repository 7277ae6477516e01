"""Starts and stops the processing machinery (batcher, workers, reconciler) around a block."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator

import torch

from classifier_fn.endpoints.jetstream import JetStreamConsumer
from classifier_fn.inference.infer import Batcher
from classifier_fn.inference.model import LoadedModel, for_inference
from classifier_fn.inference.preprocess import SIZE
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import WorkQueue
from classifier_fn.pipeline.reconciler import PassReport, Reconciler
from classifier_fn.pipeline.startup_check import CheckReport
from classifier_fn.pipeline.worker import run_workers
from classifier_fn.runtime import Runtime
from gourmetgram.settings import FunctionSettings
from gourmetgram.store import Store

log = logging.getLogger(__name__)


def warm(module: torch.nn.Module, batch_size: int) -> None:
    # The first passes allocate and pick kernels; do that before the first photo waits for it.
    with torch.inference_mode():
        for size in sorted({1, batch_size}):
            module(torch.zeros(size, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last))


@contextlib.contextmanager
def running(
    settings: FunctionSettings,
    store: Store,
    loaded: LoadedModel,
    reconcile: bool = True,
    check: CheckReport | None = None,
    consume: bool = False,
) -> Iterator[Runtime]:
    """The runtime, with its batcher, workers, (with `reconcile`) reconciler and (with `consume`) stream consumer
    running, stopped in order."""
    s = settings
    torch.set_num_threads(s.model_threads)
    module = for_inference(loaded.module)
    warm(module, s.batch_size)
    metrics = Metrics()
    store.count_requests(lambda operation: metrics.s3_requests.labels(operation=operation).inc())
    queue = WorkQueue(s.backlog_per_s, backlog_capacity=max(2 * s.workers, s.batch_size))
    # Photos held by the queue (waiting or being worked) are the ones that could still join a batch.
    batcher = Batcher(
        module, s.batch_size, s.batch_wait_ms, metrics.on_batch, others_coming=lambda: queue.depth()["held"]
    ).start()
    rt = Runtime(
        s,
        store,
        queue,
        batcher,
        loaded.version,
        metrics,
        f"fn-{uuid.uuid4().hex[:8]}",
        is_demo=loaded.is_demo,
        check=check or CheckReport(subscribed=True),
    )
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
        loaded.version,
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
        batcher.stop()
