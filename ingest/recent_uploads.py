"""Photos this process stored in `incoming` lately. Until the function's claim writes its record, such a photo
can only be waiting there, so the page's poll answers "queued" without listing `incoming` (a LIST makes MinIO
read the bucket's folder, on the cores the function is classifying that very photo with).

Only for a while (TRUSTED_S): a photo deleted from `incoming` by hand, or by its lifecycle rule, before the
function took it is then found gone by the listing, as any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gourmetgram.lru import Lru

TRUSTED_S = 60.0  # the function claims a photo in milliseconds; a minute covers a queue that is far behind


class RecentUploads:
    """Thread-safe; remembers the last `remembered` uploads for `trusted_s` seconds each."""

    def __init__(
        self, remembered: int = 4096, trusted_s: float = TRUSTED_S, clock: Callable[[], float] = time.monotonic
    ):
        self._trusted_s, self._clock = trusted_s, clock
        self._stored: Lru[str, float] = Lru(remembered)

    def add(self, pid: str) -> None:
        self._stored.put(pid, self._clock())

    def __contains__(self, pid: str) -> bool:
        """`pid` was stored by this process within the last `trusted_s` seconds."""
        stored = self._stored.peek(pid)  # a poll does not keep an upload in mind longer
        return stored is not None and self._clock() - stored <= self._trusted_s
