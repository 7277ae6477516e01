"""The micro-batcher: one forward pass for up to N queued images or T milliseconds, one result each."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


TOP = 3  # classes kept with each prediction, best first: what the page offers when the model hesitates


@dataclass(frozen=True)
class Prediction:
    index: int
    probability: float
    top: tuple[tuple[int, float], ...] = ()  # the TOP likeliest (index, probability), best first


class Batcher:
    """`others_coming()` says how many photos may still join a batch (in flight elsewhere); when none
    can, the batch runs at once instead of waiting `wait_ms` for company that will not come."""

    def __init__(
        self,
        module: torch.nn.Module,
        batch_size: int,
        wait_ms: float,
        on_batch=None,
        others_coming: Callable[[], int] = lambda: 1,
    ):
        self._module = module
        self._batch_size = batch_size
        self._wait_s = wait_ms / 1000.0
        self._others_coming = others_coming
        self._inbox: queue.SimpleQueue[tuple[torch.Tensor, Future] | None] = queue.SimpleQueue()
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)

    def start(self) -> Batcher:
        self._thread.start()
        return self

    def submit(self, tensor: torch.Tensor) -> Future:
        future: Future = Future()
        self._inbox.put((tensor, future))
        return future

    def predict(self, tensor: torch.Tensor, timeout: float = 120.0) -> Prediction:
        return self.submit(tensor).result(timeout)

    def stop(self) -> None:
        self._inbox.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
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
                batch.append(nxt)
            self._forward(batch)
            if stop:
                return

    def _forward(self, batch: list[tuple[torch.Tensor, Future]]) -> None:
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                inputs = torch.stack([t for t, _ in batch]).contiguous(memory_format=torch.channels_last)
                logits = self._module(inputs)
                probs = torch.softmax(logits, dim=1)
                top_p, top_i = probs.topk(min(TOP, probs.shape[1]), dim=1)
        except Exception as exc:  # a model failure fails each item, never the batcher
            log.exception("forward pass of %d images failed", len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        self._on_batch(len(batch), time.perf_counter() - started)
        for (_, future), indices, ps in zip(batch, top_i.tolist(), top_p.tolist(), strict=True):
            future.set_result(Prediction(indices[0], ps[0], tuple(zip(indices, ps, strict=True))))
