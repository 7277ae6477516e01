"""How much decoding may run at once: a few photos, and a bounded number of pixels in all.

A decoded photo is big (Pillow keeps RGB at 4 bytes a pixel: a 40-Mpx photo is 160 MB), and a burst or
a few `POST /predict` requests can bring several at once. Counting photos alone let two 40-Mpx decodes
(one per core) take the function past 1 GB; the pixel budget lets small photos decode side by side and
a huge one alone. Synchronous predictions decode in a budget of their own beside the workers' budget (one
photo at a time, on one of its cores): beside four clients sending 40-Mpx PNGs back to back, a pipeline
photo used to wait about 4 s for the budget's pixels; in their own budget it waits for nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class DecodeBudget:
    """At most `slots` decodes at once, holding at most `pixels` pixels in all. A photo larger than the
    whole budget waits until nothing else decodes, then runs alone.

    A budget `within` another is a smaller budget beside it: its decodes count their pixels here alone, and each
    also takes one of the other's slots (a core). A budget of one slot (the synchronous predictions') thus
    holds at most one core of the shared budget, and neither waits for the other's pixels: the decodes
    that take the shared budget directly always keep its other slots and all its pixels. The price is
    memory: at most the smaller budget's pixels more than the shared budget alone."""

    def __init__(self, slots: int, pixels: int, within: DecodeBudget | None = None):
        self._slots, self._pixels, self._within = slots, pixels, within
        self._running, self._held = 0, 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def take(self, pixels: int) -> Iterator[None]:
        share = min(pixels, self._pixels)
        with self._cond:
            self._cond.wait_for(lambda: self._running < self._slots and self._held + share <= self._pixels)
            self._running += 1
            self._held += share
        try:
            with self._within.take(0) if self._within else contextlib.nullcontext():
                yield
        finally:
            with self._cond:
                self._running -= 1
                self._held -= share
                self._cond.notify_all()

    def in_use(self) -> tuple[int, int]:
        """(decodes running, pixels they hold)."""
        with self._cond:
            return self._running, self._held
