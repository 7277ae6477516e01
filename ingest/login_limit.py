"""How many wrong operator logins a client address may try: a token bucket per address, in a bounded map.

The review token is long and random, but a fast frontend answers hundreds of guesses a second, and a
browser's basic-auth prompt invites typos: each address may get a few wrong in a row at once, then one more
every `refill_s` seconds; past that it is answered 429 with Retry-After, without the token being checked.
A right login clears the address's count. IPv6 clients are counted by /64, the block one host is usually
given: otherwise one machine would have 2^64 addresses to spread its guesses over.

The map holds at most `capacity` addresses and forgets the least lately seen one; a client that can send
from more addresses than that (and push its own out) is beyond what a frontend alone can stop.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gourmetgram.lru import Lru


@dataclass
class _Bucket:
    tokens: float
    at: float


class FailedLogins:
    def __init__(
        self, burst: int = 10, refill_s: float = 6.0, capacity: int = 4096, clock: Callable[[], float] = time.monotonic
    ):
        self._burst = burst
        self._refill_s = refill_s
        self._clock = clock
        self._buckets: Lru[str, _Bucket] = Lru(capacity)
        self._lock = threading.Lock()  # a bucket is read and written back as one step

    def _current(self, client: str) -> _Bucket:
        """The client's bucket, refilled up to now (not yet stored)."""
        now = self._clock()
        bucket = self._buckets.get(client) or _Bucket(self._burst, now)
        tokens = min(self._burst, bucket.tokens + (now - bucket.at) / self._refill_s)
        return _Bucket(tokens, now)

    def retry_after(self, client: str | None) -> int | None:
        """Seconds until `client` may try again (whole, at least 1), or None when it may now."""
        key = _key(client)
        with self._lock:
            bucket = self._current(key)
        if bucket.tokens >= 1:
            return None
        return max(1, math.ceil((1 - bucket.tokens) * self._refill_s))

    def failed(self, client: str | None) -> None:
        key = _key(client)
        with self._lock:
            bucket = self._current(key)
            bucket.tokens = max(0.0, bucket.tokens - 1)
            self._buckets.put(key, bucket)

    def succeeded(self, client: str | None) -> None:
        key = _key(client)
        with self._lock:
            if self._buckets.peek(key) is not None:
                self._buckets.put(key, _Bucket(self._burst, self._clock()))


def _key(client: str | None) -> str:
    """The address an allowance is counted for: IPv4 as it is, IPv6 by its /64, anything else as given."""
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return client or "unknown"
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:  # an IPv4 client of a dual-stack socket
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))
