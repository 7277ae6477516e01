"""The function's runtime: everything a handler or a worker needs, built once (`running.running`) and typed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from classifier_fn.body import ByteBudget
from classifier_fn.inference.decoding import DecodeBudget
from classifier_fn.inference.follower import Follower
from classifier_fn.inference.infer import Batcher, ServedModel
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.finishes import Finishes
from classifier_fn.pipeline.queue import WorkQueue
from classifier_fn.pipeline.reconciler import PassReport
from classifier_fn.pipeline.startup_check import CheckReport
from gourmetgram import held_nudge
from gourmetgram.cores import usable_cores
from gourmetgram.retry import RetryingStore
from gourmetgram.settings import FunctionSettings
from gourmetgram.store import Store

PREDICT_DECODES = 1  # synchronous predictions decoding at once


@dataclass
class Runtime:
    settings: FunctionSettings
    # Fail-fast: the webhook's verification and readiness answer at once (MinIO redelivers a 503'd event).
    store: Store
    queue: WorkQueue
    batcher: Batcher
    model_version: str
    metrics: Metrics
    worker_id: str
    is_demo: bool = False
    check: CheckReport = field(default_factory=lambda: CheckReport(subscribed=True))
    # The reconciler's last pass, for /readyz: what `incoming` held that events had not brought.
    last_reconcile: PassReport | None = None
    # With EVENT_TRANSPORT=jetstream, the stream consumer's state for /readyz (classifier_fn.endpoints.jetstream).
    consumer_status: Callable[[], dict] | None = None
    # The model follower (classifier_fn.inference.follower): woken by `models` events, read for /readyz.
    follower: Follower | None = None
    # Decoding is CPU and memory: at most one photo per core, and max_pixels pixels in all at once.
    decode_budget: DecodeBudget = field(init=False)
    # Synchronous predictions decode one photo at a time (max_pixels of their own) on one of decode_budget's
    # slots: on two cores or more the pipeline's photos always keep the other slots and all their pixels.
    predict_decodes: DecodeBudget = field(init=False)
    # Synchronous predictions in progress; past the limit `POST /predict` answers 503 at once.
    predict_slots: threading.BoundedSemaphore = field(init=False)
    # Bytes of `POST /predict` bodies held at once (arriving, or being worked), every client together.
    body_budget: ByteBudget = field(init=False)
    # The workers' store: transient errors retried with back-off (transient_retries attempts in all).
    retrying: RetryingStore = field(init=False)
    # Nudges waiting for their photo's item to be done (`POST /nudge?wait=S`), told by the queue.
    finishes: Finishes = field(init=False)

    def __post_init__(self) -> None:
        # At least two slots: the synchronous predictions take one, and the pipeline must keep another on one core too.
        self.decode_budget = DecodeBudget(max(2, usable_cores()), self.settings.max_pixels)
        self.predict_decodes = DecodeBudget(PREDICT_DECODES, self.settings.max_pixels, within=self.decode_budget)
        self.predict_slots = threading.BoundedSemaphore(self.settings.predict_concurrency)
        self.body_budget = ByteBudget(self.settings.predict_body_budget_bytes)
        self.retrying = RetryingStore(self.store, self.settings.transient_retries)
        # A held nudge is a request in progress, which the connection limit never evicts: a quarter at most (of
        # the limit set; `serve-fn` lowers the one it applies only when the open-files limit is too low for it).
        self.finishes = Finishes(min(held_nudge.HELD, self.settings.function_connection_limit // 4))
        self.queue.on_done(self.finishes.finished)

    def now_serving(self, served: ServedModel) -> None:
        """The champion changed: /readyz and /healthz name the model that serves now."""
        self.model_version, self.is_demo = served.version, served.is_demo

    def model_event(self) -> None:
        """An event of the `models` bucket came: an alias may have changed, the follower checks at once."""
        if self.follower is not None:
            self.follower.wake()


def of(request: Request) -> Runtime:
    """The runtime of the app serving `request`."""
    return request.app.state.runtime
