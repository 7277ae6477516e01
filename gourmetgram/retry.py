"""The one retrying path to the store: transient errors (StoreUnavailable) retried with exponential back-off
and full jitter; every other error is an answer and goes straight to the caller."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gourmetgram.store import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


def with_retries(
    call: Callable[[], T],
    attempts: int,
    what: str,
    base_s: float = 0.2,
    cap_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying `StoreUnavailable` up to `attempts` times in all (always at least once); the last
    attempt's error propagates."""
    for attempt in range(1, attempts):
        try:
            return call()
        except StoreUnavailable as exc:
            delay = random.uniform(0, min(cap_s, base_s * 2 ** (attempt - 1)))
            log.warning("%s: %s; retry %d/%d in %.2f s", what, exc, attempt, attempts - 1, delay)
            sleep(delay)
    return call()


class RetryingStore:
    """A store (the real one or a fake) whose every call retries transient errors, for the workers.

    Callers that must answer fast (the webhook, readiness) keep the plain store: MinIO redelivers an
    event that got a 503, and a slow answer would hold its serial sender. A listing is not retried (it
    is consumed page by page); a PUT of a stream rewinds it before each attempt.
    """

    _NOT_RETRIED = frozenset({"list", "count_requests"})

    def __init__(self, store: Any, attempts: int, sleep: Callable[[float], None] = time.sleep):
        self.plain = store
        self._attempts = attempts
        self._sleep = sleep

    def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(store, *args)` (a function of ours made of store calls), retried as a whole."""
        return with_retries(lambda: call(self.plain, *args), self._attempts, call.__name__, sleep=self._sleep)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.plain, name)
        if name in self._NOT_RETRIED or name.startswith("_") or not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("body", args[2] if name == "put" and len(args) > 2 else None)
            start = body.tell() if hasattr(body, "seek") else None

            def once() -> Any:
                if start is not None:
                    body.seek(start)
                return attr(*args, **kwargs)

            return with_retries(once, self._attempts, name, sleep=self._sleep)

        return call
