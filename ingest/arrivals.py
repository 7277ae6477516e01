"""Photos the function just finished, as its answers to waiting nudges say (ingest.nudger): the long-polls of this
process waiting on one of them re-read its record at once instead of at their next poll.

Only a hint: the waiter still reads the record, and a photo that never arrives here (the nudge failed, MinIO's
event was first, another frontend process uploaded it) is found by the waiter's own polling.
"""

from __future__ import annotations

import collections
import threading


class Arrivals:
    """Thread-safe; remembers the last `remembered` arrivals that no wait has taken yet."""

    def __init__(self, remembered: int = 1024):
        self._remembered = remembered
        self._cond = threading.Condition()
        self._arrived: collections.OrderedDict[str, None] = collections.OrderedDict()

    def announce(self, pid: str) -> None:
        with self._cond:
            self._arrived[pid] = None
            self._arrived.move_to_end(pid)
            while len(self._arrived) > self._remembered:
                self._arrived.popitem(last=False)
            self._cond.notify_all()

    def __contains__(self, pid: str) -> bool:
        """`pid` arrived and no pause has taken it yet."""
        with self._cond:
            return pid in self._arrived

    def pause(self, pid: str, seconds: float) -> None:
        """Sleep up to `seconds`, less if `pid` arrives meanwhile (or has already). An arrival wakes one pause
        only, so a record that is still not final afterwards is polled at the usual pace, not in a loop."""
        with self._cond:
            if self._cond.wait_for(lambda: pid in self._arrived, timeout=seconds):
                del self._arrived[pid]
