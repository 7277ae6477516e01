"""Retry transient store errors with exponential back-off and full jitter."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from gourmetgram.store import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


def with_retries(call: Callable[[], T], attempts: int, what: str, base_s: float = 0.2, cap_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `call`, retrying `StoreUnavailable` up to `attempts` times in all; the last error propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except StoreUnavailable as exc:
            if attempt >= attempts:
                raise
            delay = random.uniform(0, min(cap_s, base_s * 2 ** (attempt - 1)))
            log.warning("%s: %s; retry %d/%d in %.2f s", what, exc, attempt, attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")
