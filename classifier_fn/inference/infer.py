"""The micro-batcher: one forward pass for up to N queued images or T milliseconds, one result each."""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


TOP = 3  # classes kept with each prediction, best first: what the page offers when the model hesitates

# The shadow's budget. The challenger labels at most this share of the photos (every n-th, evenly spread), so the
# batcher's forward-pass work grows by at most this share: where the model is what bounds throughput, the
# champion then stores at most 1 - 1/(1 + SHADOW_SHARE) fewer photos a second (20% at a quarter), and less
# where fetching, decoding or storing bound it (`gourmetgram bench` measures the ratio).
SHADOW_SHARE = 0.25
# And none at all while more photos than this wait in the work queue: under load the champion takes every cycle.
SHADOW_MAX_WAITING = 16

CHAMPION, CHALLENGER = "champion", "challenger"  # the two roles a served model may have (the registry's aliases)


@dataclass(frozen=True)
class Prediction:
    index: int
    probability: float
    top: tuple[tuple[int, float], ...] = ()  # the TOP likeliest (index, probability), best first
    model_version: str = ""  # the model of the batch that made it: what the record and the tag name
    shadow: Prediction | None = None  # the challenger's answer for the same photo, when it had one


@dataclass(frozen=True)
class ServedModel:
    """A model ready to serve (built by `model.for_inference`, warmed), with the version records name it by."""

    module: torch.nn.Module
    version: str
    is_demo: bool = False


@dataclass
class _Job:
    tensor: torch.Tensor
    future: Future
    shadow: bool  # may go through the challenger too (a pipeline photo, not a synchronous prediction)


_WAKE = object()  # put in the inbox so that an idle batcher applies a swap now rather than at its next photo


class Batcher:
    """`others_coming()` says how many photos may still join a batch (in flight elsewhere); when none
    can, the batch runs at once instead of waiting `wait_ms` for company that will not come.

    The served models change only between batches (`swap`): a batch is labelled whole by the model it started
    with, and each Prediction names that model. With a challenger set, a share of each batch's photos (within
    the shadow budget) also goes through it, on the tensor already stacked for the champion; its answers go
    to `Prediction.shadow`."""

    def __init__(
        self,
        module: torch.nn.Module,
        batch_size: int,
        wait_ms: float,
        on_batch=None,
        others_coming: Callable[[], int] = lambda: 1,
        version: str = "",
        waiting: Callable[[], int] = lambda: 0,
        on_shadow: Callable[[str, int], None] | None = None,
    ):
        self._models: dict[str, ServedModel | None] = {CHAMPION: ServedModel(module, version), CHALLENGER: None}
        self._pending: dict[str, tuple[ServedModel | None, Future]] = {}
        self._lock = threading.Lock()
        self._batch_size = batch_size
        self._wait_s = wait_ms / 1000.0
        self._others_coming = others_coming
        self._waiting = waiting
        self._shadow_credit = 0.0
        self._inbox: queue.SimpleQueue[_Job | object | None] = queue.SimpleQueue()
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._on_shadow = on_shadow or (lambda result, count: None)
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)

    def start(self) -> Batcher:
        self._thread.start()
        return self

    def submit(self, tensor: torch.Tensor, shadow: bool = False) -> Future:
        """`shadow`: the photo may go through the challenger too (a pipeline photo, whose record keeps the answer;
        a synchronous prediction keeps nothing)."""
        future: Future = Future()
        self._inbox.put(_Job(tensor, future, shadow))
        return future

    def predict(self, tensor: torch.Tensor, timeout: float = 120.0, shadow: bool = False) -> Prediction:
        return self.submit(tensor, shadow).result(timeout)

    def serving(self, role: str = CHAMPION) -> ServedModel | None:
        """The model in `role` now (the champion always has one)."""
        return self._models[role]

    def swap(self, role: str, model: ServedModel | None) -> Future:
        """Serve `model` in `role` (None: no challenger) from the next batch on; the future is done once it
        serves (a later swap of the same role before that replaces this one, whose future is then done too)."""
        if role == CHAMPION and model is None:
            raise ValueError("the champion cannot be removed")
        future: Future = Future()
        with self._lock:
            replaced = self._pending.get(role)
            self._pending[role] = (model, future)
        if replaced:
            replaced[1].set_result(False)
        self._inbox.put(_WAKE)
        return future

    def stop(self) -> None:
        self._inbox.put(None)
        self._thread.join(timeout=10)

    def _apply_swaps(self) -> None:
        """On the batcher's thread, between batches: no forward pass is running."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for role in (CHAMPION, CHALLENGER):
            if role in pending:
                model, future = pending[role]
                self._models[role] = model
                future.set_result(True)

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                self._apply_swaps()
                return
            self._apply_swaps()
            if first is _WAKE:
                continue
            batch = [first]
            deadline = time.monotonic() + self._wait_s
            stop = False
            while len(batch) < self._batch_size:
                if self._inbox.empty() and self._others_coming() <= len(batch):
                    break  # everything that could join is already here
                left = deadline - time.monotonic()
                try:
                    nxt = self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt is not _WAKE:  # a swap waits for this batch to end
                    batch.append(nxt)
            self._forward(batch)  # type: ignore[arg-type]
            if stop:
                self._apply_swaps()
                return

    def _forward(self, batch: list[_Job]) -> None:
        champion = self._models[CHAMPION]
        assert champion is not None
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                inputs = torch.stack([job.tensor for job in batch]).contiguous(memory_format=torch.channels_last)
                answers = _answers(champion.module, inputs, champion.version)
        except Exception as exc:  # a model failure fails each item, never the batcher
            log.exception("forward pass of %d images failed", len(batch))
            for job in batch:
                job.future.set_exception(exc)
            return
        self._on_batch(len(batch), time.perf_counter() - started)
        chosen = self._shadowed(batch)
        for i, (job, answer) in enumerate(zip(batch, answers, strict=True)):
            if i not in chosen:  # never kept waiting for the shadow's pass
                job.future.set_result(answer)
        if not chosen:
            return
        shadows = self._shadow_pass(inputs, chosen)
        for position, i in enumerate(chosen):
            answer = answers[i]
            if shadows is not None:
                answer = dataclasses.replace(answer, shadow=shadows[position])
            batch[i].future.set_result(answer)

    def _shadowed(self, batch: list[_Job]) -> list[int]:
        """The photos of this batch the challenger labels too, within the budget (none without a challenger)."""
        if self._models[CHALLENGER] is None:
            return []
        eligible = [i for i, job in enumerate(batch) if job.shadow]
        if not eligible:
            return []
        if self._waiting() > SHADOW_MAX_WAITING:
            self._on_shadow("over_backlog", len(eligible))
            return []
        chosen = []
        for i in eligible:  # every n-th eligible photo, whatever the batch sizes
            self._shadow_credit += SHADOW_SHARE
            if self._shadow_credit >= 1.0:
                self._shadow_credit -= 1.0
                chosen.append(i)
        if len(eligible) > len(chosen):
            self._on_shadow("outside_share", len(eligible) - len(chosen))
        return chosen

    def _shadow_pass(self, inputs: torch.Tensor, chosen: list[int]) -> list[Prediction | None] | None:
        challenger = self._models[CHALLENGER]
        assert challenger is not None
        try:
            with torch.inference_mode():
                picked = inputs[chosen].contiguous(memory_format=torch.channels_last)
                shadows = _answers(challenger.module, picked, challenger.version)
        except Exception:  # the challenger failing never touches the champion's answers
            log.exception("the challenger %s failed on %d images", challenger.version, len(chosen))
            self._on_shadow("failed", len(chosen))
            return None
        # A challenger may pass its check on the bundled photos and answer NaN on others: no answer for those (a
        # record's NaN is JSON no browser parses), counted as failed.
        kept = [answer if math.isfinite(answer.probability) else None for answer in shadows]
        unanswered = kept.count(None)
        if unanswered:
            self._on_shadow("failed", unanswered)
        if unanswered < len(kept):
            self._on_shadow("labelled", len(kept) - unanswered)
        return kept


def _answers(module: torch.nn.Module, inputs: torch.Tensor, version: str) -> list[Prediction]:
    """One Prediction per image of `inputs`, named after `version` (call under inference_mode)."""
    probs = torch.softmax(module(inputs), dim=1)
    top_p, top_i = probs.topk(min(TOP, probs.shape[1]), dim=1)
    return [
        Prediction(indices[0], ps[0], tuple(zip(indices, ps, strict=True)), version)
        for indices, ps in zip(top_i.tolist(), top_p.tolist(), strict=True)
    ]
