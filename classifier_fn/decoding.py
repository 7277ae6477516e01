"""How much decoding may run at once: a few photos, and a bounded number of pixels in all.

A decoded photo is big (Pillow keeps RGB at 4 bytes a pixel: a 40-Mpx photo is 160 MB), and a burst or
a few `POST /predict` requests can bring several at once. Counting photos alone let two 40-Mpx decodes
(one per core) take the function past 1 GB; the pixel budget lets small photos decode side by side and
a huge one alone.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class DecodeBudget:
    """At most `slots` decodes at once, holding at most `pixels` pixels in all. A photo larger than the
    whole budget waits until nothing else decodes, then runs alone."""

    def __init__(self, slots: int, pixels: int):
        self._slots, self._pixels = slots, pixels
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
